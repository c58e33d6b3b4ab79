package sspi_test

import (
	"testing"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// TestConformanceNTLM runs the same host and surface suite against the
// real NTLM package.
func TestConformanceNTLM(t *testing.T) {
	store := ntlm.NewMemoryStore()
	store.Add("CONTOSO", "alice", "correct horse")
	newTbl := func(t testing.TB) *sspi.FunctionTable {
		host, err := lsa.New(lsa.Config{}, ntlm.New(ntlm.Config{Accounts: store, AllowReflection: true}))
		if err != nil {
			t.Fatal(err)
		}
		tbl := sspi.InitSecurityInterface(host, ntlm.UserMode())
		t.Cleanup(func() { tbl.Close(); host.Close() })
		return tbl
	}
	sspitest.RunConformance(t, sspitest.Setup{
		NewTable: newTbl,
		NewUserOnlyTable: func(t testing.TB) *sspi.FunctionTable {
			host, err := lsa.New(lsa.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { host.Close() })
			return sspi.InitSecurityInterface(host, ntlm.UserMode())
		},
		Package:       "NTLM",
		Target:        "host/server.contoso.com",
		Client:        &sspi.AuthIdentity{User: "alice", Domain: "CONTOSO", Password: "correct horse"},
		WrongPassword: &sspi.AuthIdentity{User: "alice", Domain: "CONTOSO", Password: "wrong"},
		UnknownUser:   &sspi.AuthIdentity{User: "mallory", Domain: "CONTOSO", Password: "correct horse"},
		ClientReq:     sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT | sspi.ISC_REQ_CONNECTION,
		ServerReq:     sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_INTEGRITY | sspi.ASC_REQ_SEQUENCE_DETECT | sspi.ASC_REQ_REPLAY_DETECT | sspi.ASC_REQ_CONNECTION,
		WantUser:      `CONTOSO\alice`,
	})
}
