package ntlm

import (
	"context"
	"testing"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// TestOutboundPrincipalOfAnotherUser: a principal naming another user
// than the identity supplied (a service acting for a user, as Kerberos
// S4U does) gets no NTLM credential: NTLM has none of that user, and
// Negotiate must not fall back to the service's own. The same user, in any
// spelling, is fine.
func TestOutboundPrincipalOfAnotherUser(t *testing.T) {
	p := New(Config{})
	svc := &sspi.AuthIdentity{User: "svc-front", Domain: "ADDC", Password: "Front-Pass-1!"}
	for _, c := range []struct {
		principal string
		ok        bool
	}{
		{"alice", false},
		{`ADDC\alice`, false},
		{"alice@addc.gosspi.test", false},
		{"", true},
		{"svc-front", true},
		{`addc\SVC-FRONT`, true},
	} {
		cred, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, Principal: c.principal, AuthData: svc})
		if c.ok != (err == nil) {
			t.Errorf("principal %q: %v", c.principal, err)
		}
		if err == nil {
			cred.Free()
		} else if sspi.StatusOf(err) != sspi.SEC_E_NO_CREDENTIALS {
			t.Errorf("principal %q: status %v", c.principal, sspi.StatusOf(err))
		}
	}
}
