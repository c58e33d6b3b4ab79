package httpauth

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// TestNewNoCredential (issue 11): a scheme whose package cannot accept
// fails New with what the package said and what it needs, naming the
// file, the principal and the environment variable it came from.
func TestNewNoCredential(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no.keytab")
	t.Setenv("KRB5_KTNAME", "FILE:"+missing)
	t.Setenv("NTLM_USER_FILE", "")
	bare, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	withKeytab, err := gosspi.NewHost(gosspi.HostConfig{Kerberos: kerberos.Config{Keytab: realm.keytab}})
	if err != nil {
		t.Fatal(err)
	}
	defer withKeytab.Close()
	ntlmOnly, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: testAccounts()}})
	if err != nil {
		t.Fatal(err)
	}
	defer ntlmOnly.Close()

	for _, tc := range []struct {
		name      string
		host      *gosspi.Host
		schemes   []string
		principal string
		want      []string
	}{
		{"Kerberos without a keytab", bare, []string{SchemeKerberos}, "",
			[]string{"scheme Kerberos has no credential", "cannot load keytab " + missing, "KRB5_KTNAME (set to FILE:" + missing + ")"}},
		{"NTLM without accounts", bare, []string{SchemeNTLM}, "",
			[]string{"scheme NTLM has no credential", "no account store", "ntlm.LoadHashFile", "NTLM_USER_FILE (unset)"}},
		{"Negotiate with neither", bare, []string{SchemeNegotiate, SchemeNTLM}, "",
			[]string{"scheme Negotiate has no credential: no package in it can accept", "Kerberos: ", "cannot load keytab " + missing, "NTLM: ", "no account store"}},
		{"principal not in the keytab", withKeytab, []string{SchemeKerberos}, "HTTP/other.example.test",
			[]string{"scheme Kerberos has no credential for HTTP/other.example.test", "principal not in keytab"}},
		{"NTLM host asked for Kerberos", ntlmOnly, []string{SchemeNegotiate, SchemeKerberos}, "",
			[]string{"scheme Kerberos has no credential", "cannot load keytab " + missing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuf
			a, err := New(Config{Host: tc.host, Schemes: tc.schemes, Principal: tc.principal, Logger: logs.logger()})
			if err == nil {
				a.Close()
				t.Fatal("New accepted a scheme without a credential")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if !errors.Is(err, sspi.SEC_E_NO_CREDENTIALS) {
				t.Errorf("errors.Is(SEC_E_NO_CREDENTIALS) is false: %v", err)
			}
		})
	}

	// Negotiate on a host with accounts only: New succeeds and logs that
	// Kerberos is left out, and why.
	var logs logBuf
	a, err := New(Config{Host: ntlmOnly, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if l := logs.String(); !strings.Contains(l, `"httpauth: Negotiate without Kerberos"`) || !strings.Contains(l, "cannot load keytab "+missing) {
		t.Errorf("log:\n%s", l)
	}
}
