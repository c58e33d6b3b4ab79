package httpauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/gosspi/gosspi"
)

// noCredentialError is New's error for a scheme that has no inbound
// credential: what the package said, and what it needs. Unwrap gives the
// package's error (and so its Status).
type noCredentialError struct {
	msg string
	err error
}

func (e *noCredentialError) Error() string { return e.msg }
func (e *noCredentialError) Unwrap() error { return e.err }

// acquireInbound acquires the inbound credential of a scheme's package.
func acquireInbound(h *gosspi.Host, principal, pkg string) (*gosspi.Credential, error) {
	return h.AcquireCredential(context.Background(), gosspi.CredentialConfig{Package: pkg, Server: true, Principal: principal})
}

// innerPackages are the packages Negotiate can hold, in the order it
// prefers them.
var innerPackages = []string{SchemeKerberos, SchemeNTLM}

// innerReasons acquires an inbound credential of each package Negotiate can
// hold that the table has, and returns, by package, why the ones that fail
// cannot accept.
func innerReasons(h *gosspi.Host, principal string) map[string]error {
	out := map[string]error{}
	for _, pkg := range innerPackages {
		if _, st := h.SSPI().QuerySecurityPackageInfo(pkg); st.Failed() {
			continue
		}
		c, err := acquireInbound(h, principal, pkg)
		if err != nil {
			out[pkg] = err
			continue
		}
		c.Close()
	}
	return out
}

// credentialFailure explains why scheme has no inbound credential (err is
// the package's error): for Negotiate, the reason of each package inside it.
func credentialFailure(t *gosspi.Host, principal, scheme string, err error) error {
	target := ""
	if principal != "" {
		target = " for " + principal
	}
	if scheme == SchemeNegotiate {
		reasons := innerReasons(t, principal)
		var parts []string
		for _, pkg := range innerPackages {
			if r, ok := reasons[pkg]; ok {
				parts = append(parts, pkg+": "+r.Error()+" ("+packageNeeds(pkg)+")")
			}
		}
		if len(parts) > 0 {
			return &noCredentialError{fmt.Sprintf("httpauth: scheme Negotiate has no credential%s: no package in it can accept; %s",
				target, strings.Join(parts, "; ")), err}
		}
	}
	return &noCredentialError{fmt.Sprintf("httpauth: scheme %s has no credential%s: %v (%s)", scheme, target, err, packageNeeds(scheme)), err}
}

// packageNeeds says what a package needs to accept, and where it looks,
// with the environment variables as they are now.
func packageNeeds(pkg string) string {
	switch pkg {
	case SchemeKerberos:
		env := "unset"
		if v := os.Getenv("KRB5_KTNAME"); v != "" {
			env = "set to " + v
		}
		def := "/etc/krb5.keytab"
		if _, err := os.Stat(def); errors.Is(err, os.ErrNotExist) {
			def += ", which does not exist"
		}
		return "Kerberos needs a keytab holding the service principal's key: kerberos.Config.Keytab, else the environment's KRB5_KTNAME (" +
			env + "), else " + def
	case SchemeNTLM:
		env := "unset"
		if v := os.Getenv("NTLM_USER_FILE"); v != "" {
			env = "set to " + v
		}
		return "NTLM needs an account store: ntlm.Config.Accounts (ntlm.LoadHashFile of a file made with `gosspi accounts`), else the environment's NTLM_USER_FILE (" +
			env + ")"
	}
	return "the package has no inbound credential"
}

// logInner logs, for a Negotiate credential that was acquired, each
// package inside it that cannot accept and why: Negotiate then offers
// only the others, and a client that has only that mechanism fails.
func logInner(log *slog.Logger, t *gosspi.Host, principal string) {
	reasons := innerReasons(t, principal)
	for _, pkg := range innerPackages {
		if r, ok := reasons[pkg]; ok {
			log.Info("httpauth: Negotiate without "+pkg, "reason", r.Error(), "fix", packageNeeds(pkg))
		}
	}
}
