package kerberos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// TestCrossRealm: two MIT realms with a two-way trust. A client of A
// reaches a service of B by its domain_realm mapping (a cross-realm TGT
// krbtgt/B@A, then B's TGS), and, when the client's krb5.conf does not
// map the host, by the referral A's KDC answers with (RFC 6806 section 8).
// The acceptor, with B's keytab, sees the client's own realm.
func TestCrossRealm(t *testing.T) {
	b := krbtest.NewRealm(t, krbtest.Options{Realm: "B.GOSSPI.TEST"})
	a := krbtest.NewRealm(t, krbtest.Options{Realm: "A.GOSSPI.TEST", Peers: []*krbtest.Realm{b},
		DomainRealm: map[string]string{".b.test": b.Name}})
	if err := a.Trust(b); err != nil {
		t.Fatal(err)
	}
	const pw = "carol-Secret-1"
	if err := a.AddPrincipal("carol", pw); err != nil {
		t.Fatal(err)
	}
	const spn = "HTTP/svc.b.test"
	kt, err := b.AddService(spn)
	if err != nil {
		t.Fatal(err)
	}
	// The referral client knows both KDCs but not which realm b.test is in.
	bare := filepath.Join(t.TempDir(), "krb5.conf")
	conf := fmt.Sprintf("[libdefaults]\n\tdefault_realm = %s\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n\trdns = false\n\tdns_canonicalize_hostname = false\n\n"+
		"[realms]\n\t%s = {\n\t\tkdc = %s\n\t}\n\t%s = {\n\t\tkdc = %s\n\t}\n", a.Name, a.Name, a.KDCAddr(), b.Name, b.KDCAddr())
	if err := os.WriteFile(bare, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, krb5conf string }{
		{"domain_realm", a.Krb5Con},
		{"referral", bare},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := New(Config{Krb5Conf: tc.krb5conf})
			ccred, _, err := cp.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
				Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: "carol", Password: pw}})
			if err != nil {
				t.Fatal(err)
			}
			defer ccred.Free()
			sp := New(Config{Krb5Conf: b.Krb5Con})
			pr, err := handshake(t, cp, sp, ccred, serverCred(t, sp, kt, ""), spn, stdISC, 0, nil, nil)
			if err != nil {
				t.Fatalf("handshake with %s@%s from %s: %v", spn, b.Name, a.Name, err)
			}
			id, _ := pr.server.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
			if got := id.(sspi.Identity).Principal; got != "carol@"+a.Name {
				t.Fatalf("the acceptor saw %q, want carol@%s", got, a.Name)
			}
			sealRoundTrip(t, pr.client, pr.server, []byte("across realms"), 0)
			// The service ticket came from B's KDC on a cross-realm TGT.
			c := ccred.(*credential)
			c.mu.Lock()
			_, cross := c.tgts[b.Name]
			c.mu.Unlock()
			if !cross {
				t.Fatalf("no krbtgt/%s@%s in the credential", b.Name, a.Name)
			}
		})
	}
}
