package sasl

import (
	"context"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/ntlm"
)

// TestGSSSPNEGONTLMLDAPStyle: NTLM under GSS-SPNEGO the way Windows LDAP
// clients and an AD DC run it. The client asks only for signing (its
// NEGOTIATE has NTLMSSP_NEGOTIATE_SIGN and not _SEAL), and with
// ntlm.Config.SealWhenSigning on both hosts both ends seal all the same:
// the layer is confidentiality on both sides and sealed messages flow
// both ways. Without it on the server, the server would sign only while
// such a client seals.
func TestGSSSPNEGONTLMLDAPStyle(t *testing.T) {
	accounts := ntlm.NewMemoryStore()
	accounts.Add("CONTOSO", "alice", "correct horse")
	sh := newHost(t, gosspi.HostConfig{NTLM: ntlm.Config{Accounts: accounts, SealWhenSigning: true}})
	ch := newHost(t, gosspi.HostConfig{NTLM: ntlm.Config{SealWhenSigning: true}})
	ctx := context.Background()
	c, err := NewClient(ctx, ch, ClientConfig{Mechanism: GSSSPNEGO, Layers: LayerIntegrity, Context: gosspi.ClientConfig{
		Package: "NTLM", Target: "ldap/server.contoso.com", Identity: &gosspi.Identity{User: `CONTOSO\alice`, Password: "correct horse"},
		Flags: gosspi.FlagMutualAuth | gosspi.FlagIntegrity | gosspi.FlagReplayDetect | gosspi.FlagSequenceDetect}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := NewServer(ctx, sh, ServerConfig{Mechanism: GSSSPNEGO, Layers: AllLayers, Context: gosspi.ServerConfig{Package: "NTLM"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	csec, ssec, tr := run(t, c, s)
	neg, err := ntlmssp.ParseNegotiate(tr.messages[0])
	if err != nil {
		t.Fatalf("first message: %v", err)
	}
	if neg.Flags&ntlmssp.NegotiateSign == 0 || neg.Flags&ntlmssp.NegotiateSeal != 0 {
		t.Fatalf("NEGOTIATE flags %#x: want SIGN without SEAL", neg.Flags)
	}
	if csec.Layer() != LayerConfidentiality || ssec.Layer() != LayerConfidentiality {
		t.Fatalf("layers: client %v, server %v, want confidentiality (SIGN handled as SEAL)", csec.Layer(), ssec.Layer())
	}
	talk(t, csec, ssec)
}
