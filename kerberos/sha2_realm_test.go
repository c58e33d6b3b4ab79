package kerberos

import (
	"context"
	"testing"

	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// TestAESSHA2Realm: a realm whose only enctypes are those of RFC 8009.
// The initiator's password logon (PA-ENC-TIMESTAMP under the RFC 8009
// string-to-key), its TGS-REQ (authenticator and checksum under an
// aes-sha2 TGT session key), the AP exchange and the messages all run on
// aes-sha2.
func TestAESSHA2Realm(t *testing.T) {
	for _, tc := range []struct {
		name    string
		enctype string
		etype   int32
	}{
		{"aes256-sha384", "aes256-cts-hmac-sha384-192", etypeAES256SHA384},
		{"aes128-sha256", "aes128-cts-hmac-sha256-128", etypeAES128SHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := krbtest.NewRealm(t, krbtest.Options{Realm: "SHA2.GOSSPI.TEST", Enctypes: []string{tc.enctype},
				ExtraLibdefaults: []string{"default_tkt_enctypes = " + tc.enctype, "default_tgs_enctypes = " + tc.enctype, "permitted_enctypes = " + tc.enctype}})
			const pw = "erin-Secret-1"
			if err := r.AddPrincipal("erin", pw, tc.enctype); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Kadmin("modprinc +requires_preauth erin"); err != nil {
				t.Fatal(err)
			}
			const spn = "HTTP/sha2only.localhost"
			kt, err := r.AddService(spn, tc.enctype)
			if err != nil {
				t.Fatal(err)
			}
			p := New(Config{Krb5Conf: r.Krb5Con})
			cred, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
				Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: "erin", Password: pw}})
			if err != nil {
				t.Fatalf("password logon: %v", err)
			}
			defer cred.Free()
			pr, err := handshake(t, p, p, cred, serverCred(t, p, kt, ""), spn, stdISC, 0, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := cred.(*credential)
			c.mu.Lock()
			tgt := c.tgts[r.Name]
			c.mu.Unlock()
			if tgt == nil || tgt.key.KeyType != tc.etype || tgt.ticket.EncPart.EType != tc.etype {
				t.Fatalf("TGT %+v, want %s throughout", tgt, tc.enctype)
			}
			if et := pr.server.(*userContext).s.etype; et != tc.etype {
				t.Fatalf("message enctype %d, want %d", et, tc.etype)
			}
			sealRoundTrip(t, pr.client, pr.server, []byte("RFC 8009"), 0)
			signRoundTrip(t, pr.server, pr.client, []byte("RFC 8009"))
		})
	}
}
