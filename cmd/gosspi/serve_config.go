package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/gosspi/gosspi/httpauth"
	"github.com/gosspi/gosspi/internal/preflight"
	"github.com/gosspi/gosspi/ntlm"
)

// configError is a misconfiguration found at start (a file that is
// missing or wrong, a scheme with no credential): the command exits with
// exitConfig.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func configErrorf(format string, args ...any) error {
	return &configError{fmt.Errorf(format, args...)}
}

// usageError is a flag value or combination that cannot work: the command
// exits with exitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitCodeOf maps an error at start to the exit code.
func exitCodeOf(err error) int {
	var ce *configError
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ce):
		return exitConfig
	}
	return exitFailure
}

// serveKerberos is the Kerberos side of serve, as resolved at start.
type serveKerberos struct {
	keytab *preflight.Keytab // nil: Kerberos is off
	off    string            // why it is off
}

// logValue is what the start log says about Kerberos.
func (k serveKerberos) logValue() string {
	if k.keytab == nil {
		return "off: " + k.off
	}
	return k.keytab.Path + " (from " + k.keytab.Source + ")"
}

// resolveKerberos finds and checks serve's keytab: -keytab, else
// KRB5_KTNAME, else /etc/krb5.keytab. Kerberos is wanted when the keytab
// was named (flag or environment), -principal is given, or -schemes asks
// for Kerberos: any problem is then an error. Otherwise (the default
// keytab) a missing or unusable keytab turns Kerberos off, with the reason.
// -schemes without Negotiate or Kerberos leaves the keytab alone.
func resolveKerberos(o *serveOptions, schemes []string) (serveKerberos, error) {
	if !slices.Contains(schemes, httpauth.SchemeNegotiate) && !slices.Contains(schemes, httpauth.SchemeKerberos) {
		return serveKerberos{off: "not asked for (-schemes " + strings.Join(schemes, ",") + ")"}, nil
	}
	path, source := preflight.KeytabPath(o.keytab, "-keytab")
	wanted := source != preflight.SourceDefault || o.principal != "" || o.schemesExplicit && slices.Contains(schemes, httpauth.SchemeKerberos)
	kt, err := preflight.LoadKeytab(path, source)
	if err == nil {
		err = kt.CheckPrincipal(o.principal, "-principal")
	}
	if err == nil {
		src := "-accept-principals"
		if strings.TrimSpace(o.acceptPrincipals) == "" || o.acceptPrincipals == defaultAcceptPrincipals {
			src = "-accept-principals, whose default is " + defaultAcceptPrincipals
		}
		err = kt.CheckPatterns(acceptorPrincipals(o), src)
	}
	switch {
	case err == nil:
		return serveKerberos{keytab: kt}, nil
	case wanted:
		return serveKerberos{}, &configError{err}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return serveKerberos{off: "no keytab: " + path + " (the default) does not exist; give the service's keytab with -keytab or KRB5_KTNAME"}, nil
	}
	return serveKerberos{off: err.Error() + " (give the service's keytab with -keytab or KRB5_KTNAME)"}, nil
}

// serveNTLM is the NTLM side of serve, as resolved at start.
type serveNTLM struct {
	store    ntlm.AccountStore // nil: no local accounts
	verifier ntlm.Verifier     // -dc: domain users through the DC (dc.go)
	desc     string            // the file and where it came from, or why NTLM is off
}

// on reports whether NTLM can accept anyone.
func (n serveNTLM) on() bool { return n.store != nil || n.verifier != nil }

func (n serveNTLM) logValue() string {
	if !n.on() {
		return "off: " + n.desc
	}
	return n.desc
}

// serveAccounts finds and loads the NTLM account store of the options:
// -accounts, else GOSSPI_NTLM_ACCOUNTS, else defaultAccountFile when it
// exists, else gss-ntlmssp's NTLM_USER_FILE; plus the demo account with
// -demo. A file that is named but missing, unreadable or malformed is a
// configError that names the file and where its name came from. No file
// and no -demo leaves NTLM off.
func serveAccounts(o *serveOptions) (serveNTLM, error) {
	path, source := o.accounts, "-accounts"
	if path == "" {
		path, source = os.Getenv("GOSSPI_NTLM_ACCOUNTS"), "the environment, GOSSPI_NTLM_ACCOUNTS"
	}
	if path == "" {
		if _, err := os.Stat(defaultAccountFile); !errors.Is(err, os.ErrNotExist) {
			path, source = defaultAccountFile, "the default"
		}
	}
	if path == "" {
		path, source = os.Getenv("NTLM_USER_FILE"), "the environment, NTLM_USER_FILE"
	}
	var n serveNTLM
	if path != "" {
		store, err := loadAccountFile(path)
		if err != nil {
			return serveNTLM{}, configErrorf("NTLM account file (from %s): %w", source, err)
		}
		n = serveNTLM{store: store, desc: path + " (from " + source + ")"}
	}
	if o.demo {
		demo := demoAccounts()
		if n.store == nil {
			return serveNTLM{store: demo, desc: "demo account"}, nil
		}
		return serveNTLM{store: chainStore{n.store, demo}, desc: n.desc + " + demo account"}, nil
	}
	if n.store == nil {
		n.desc = "no account file (give -accounts, made with 'gosspi accounts', or -demo)"
	}
	return n, nil
}

// loadAccountFile loads an account file at start: a gosspi account file
// through ntlm.LoadHashFile (reread when it changes), or gss-ntlmssp's
// DOMAIN:USER:PASSWORD format through ntlm.LoadAccounts.
func loadAccountFile(path string) (ntlm.AccountStore, error) {
	hf, err := ntlm.LoadHashFile(path)
	if err == nil {
		return hf, nil
	}
	if !startsWithout(path, ntlm.HashFileMagic) {
		return nil, err
	}
	m, uerr := ntlm.LoadAccounts(path)
	if uerr != nil {
		return nil, uerr
	}
	if len(m.List()) == 0 {
		return nil, fmt.Errorf("%s holds no accounts (neither a gosspi account file nor DOMAIN:USER:PASSWORD lines): "+
			"make one with 'gosspi accounts -file %s add DOMAIN\\user'", path, path)
	}
	return m, nil
}

// startsWithout reports whether the file at path can be read and does not
// start with prefix.
func startsWithout(path, prefix string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, len(prefix))
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false
	}
	return !bytes.Equal(b[:n], []byte(prefix))
}

// parseSchemes parses -schemes into package names.
func parseSchemes(v string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		name := ""
		for _, n := range []string{httpauth.SchemeNegotiate, httpauth.SchemeNTLM, httpauth.SchemeKerberos} {
			if strings.EqualFold(s, n) {
				name = n
			}
		}
		if name == "" {
			return nil, &usageError{fmt.Sprintf("-schemes: unknown scheme %q (the schemes are Negotiate, NTLM and Kerberos)", s)}
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, &usageError{"-schemes is empty (give Negotiate, NTLM or Kerberos)"}
	}
	return out, nil
}

// usableSchemes keeps the schemes that have a credential. With -schemes
// given, a scheme without one is a configError; with the default, it is
// left out (logged by the caller through dropped), and only none left is
// an error.
func usableSchemes(schemes []string, explicit bool, krb serveKerberos, nt serveNTLM) (usable []string, dropped map[string]string, err error) {
	dropped = map[string]string{}
	for _, s := range schemes {
		var why string
		switch s {
		case httpauth.SchemeKerberos:
			if krb.keytab == nil {
				why = "Kerberos is off: " + krb.off
			}
		case httpauth.SchemeNTLM:
			if !nt.on() {
				why = "NTLM is off: " + nt.desc
			}
		case httpauth.SchemeNegotiate:
			if krb.keytab == nil && !nt.on() {
				why = "neither Kerberos nor NTLM can accept: Kerberos is off: " + krb.off + "; NTLM is off: " + nt.desc
			}
		}
		switch {
		case why == "":
			usable = append(usable, s)
		case explicit:
			return nil, nil, configErrorf("-schemes %s: scheme %s has no credential: %s", strings.Join(schemes, ","), s, why)
		default:
			dropped[s] = why
		}
	}
	if len(usable) == 0 {
		return nil, nil, configErrorf("no scheme of %s can accept: Kerberos is off: %s; NTLM is off: %s",
			strings.Join(schemes, ","), krb.off, nt.desc)
	}
	return usable, dropped, nil
}
