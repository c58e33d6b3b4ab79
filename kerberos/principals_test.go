package kerberos

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// mergeKeytabs writes the entries of the keytab files into one.
func mergeKeytabs(t *testing.T, paths ...string) string {
	t.Helper()
	out := keytab.New()
	for _, p := range paths {
		kt, err := keytab.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		out.Entries = append(out.Entries, kt.Entries...)
	}
	b, err := out.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "merged.keytab")
	writeFile(t, path, b)
	return path
}

// TestAcceptorPrincipals: a keytab holding HTTP/ keys (two kvnos, after a
// rekey) and host/ keys of the same host, as a machine keytab does. With
// AcceptorPrincipals "HTTP/*" (what gosspi serve sets), a ticket for the
// host/ principal is refused with SEC_E_WRONG_PRINCIPAL: a client, or an
// attacker relaying a host/ ticket, cannot log on to the web service with
// it. The library default (no patterns) still accepts any principal of the
// keytab.
var (
	principalsOnce    sync.Once
	principalsErr     error
	principalsKeytabs []string
)

func TestAcceptorPrincipals(t *testing.T) {
	realm := liveRealm(t)
	const httpSPN, hostSPN = "HTTP/princ.localhost", "host/princ.localhost"
	// The principals are made once per realm, so the test runs again
	// under -count.
	principalsOnce.Do(func() {
		kt1, err := realm.AddService(httpSPN)
		if err != nil {
			principalsErr = err
			return
		}
		kt2, err := realm.Rekey(httpSPN)
		if err != nil {
			principalsErr = err
			return
		}
		kt3, err := realm.AddService(hostSPN)
		if err != nil {
			principalsErr = err
			return
		}
		principalsKeytabs = []string{kt1, kt2, kt3}
	})
	if principalsErr != nil {
		t.Fatal(principalsErr)
	}
	kt := mergeKeytabs(t, principalsKeytabs...)

	run := func(t *testing.T, patterns []string, target string) error {
		t.Helper()
		p := New(Config{AcceptorPrincipals: patterns})
		_, err := handshake(t, p, p, clientCred(t, p), serverCred(t, p, kt, ""), target, stdISC, 0, nil, nil)
		return err
	}
	for _, c := range []struct {
		name     string
		patterns []string
		target   string
		want     sspi.Status
	}{
		{"HTTP/* takes HTTP", []string{"HTTP/*"}, httpSPN, sspi.SEC_E_OK},
		{"HTTP/* refuses host", []string{"HTTP/*"}, hostSPN, sspi.SEC_E_WRONG_PRINCIPAL},
		{"host-based name", []string{"HTTP/*"}, "host@princ.localhost", sspi.SEC_E_WRONG_PRINCIPAL},
		{"case-insensitive", []string{"http/PRINC.localhost"}, httpSPN, sspi.SEC_E_OK},
		{"with the realm", []string{"HTTP/*@" + realm.Name}, httpSPN, sspi.SEC_E_OK},
		{"several patterns", []string{"HTTP/*", "host/princ.*"}, hostSPN, sspi.SEC_E_OK},
		{"library default: any", nil, hostSPN, sspi.SEC_E_OK},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := sspi.StatusOf(run(t, c.patterns, c.target)); got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
	// Patterns that match no principal of the keytab, or are malformed, fail
	// the credential.
	for _, patterns := range [][]string{{"HTTP/*@OTHER.REALM"}, {"ldap/*"}, {"HTTP/["}} {
		p := New(Config{AcceptorPrincipals: patterns})
		_, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND,
			AuthData: &sspi.AuthIdentity{Options: map[string]string{"keytab": kt}}})
		wantStatus(t, err, sspi.SEC_E_NO_CREDENTIALS)
	}
}
