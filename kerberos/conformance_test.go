package kerberos_test

import (
	"testing"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/sspi"
)

// TestConformance runs the host and surface suite (internal/sspitest)
// against Kerberos with the throwaway MIT realm. Kerberos rejects a wrong
// password at AcquireCredentialsHandle (the AS exchange), not in a later
// leg, so the suite's wrong-password case, written for NTLM's three legs,
// is left out; TestNegativeInitiator covers it.
func TestConformance(t *testing.T) {
	keytab, user, password, realmName := kerberos.SharedRealmInfo(t)
	newTbl := func(t testing.TB) *sspi.FunctionTable {
		host, err := lsa.New(lsa.Config{}, kerberos.New(kerberos.Config{}))
		if err != nil {
			t.Fatal(err)
		}
		tbl := sspi.InitSecurityInterface(host, kerberos.UserMode())
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
			return sspi.InitSecurityInterface(host, kerberos.UserMode())
		},
		Package:         kerberos.PackageName,
		Target:          "HTTP/svc.localhost",
		Client:          &sspi.AuthIdentity{User: user, Password: password},
		ServerPrincipal: "HTTP/svc.localhost",
		ServerAuthData:  &sspi.AuthIdentity{Options: map[string]string{"keytab": keytab}},
		ClientReq:       sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT | sspi.ISC_REQ_CONNECTION,
		ServerReq:       sspi.ASC_REQ_MUTUAL_AUTH | sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_INTEGRITY | sspi.ASC_REQ_SEQUENCE_DETECT | sspi.ASC_REQ_REPLAY_DETECT | sspi.ASC_REQ_CONNECTION,
		WantUser:        user + "@" + realmName,
		Concurrent:      200,
	})
}
