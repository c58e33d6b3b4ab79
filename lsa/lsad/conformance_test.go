package lsad

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/lsa/remote"
	"github.com/gosspi/gosspi/negotiate"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// realDaemon is a daemon process with TestPkg, NTLM (an NTLM_USER_FILE)
// and Kerberos (a throwaway MIT realm) for the conformance suite.
type realDaemon struct {
	*child
	realm    *krbtest.Realm
	keytab   string
	user, pw string
	file     *FileConfig
}

// startRealmForDaemon starts an MIT realm with alice and HTTP/svc.localhost.
func startRealmForDaemon(t testing.TB) *realDaemon {
	t.Helper()
	r := krbtest.NewRealm(t, krbtest.Options{})
	d := &realDaemon{realm: r, user: "alice", pw: "alice-Secret-1"}
	kt, _, err := r.UserAndService(d.user, d.pw, "HTTP/svc.localhost")
	if err != nil {
		t.Fatal(err)
	}
	d.keytab = kt
	return d
}

func startRealDaemon(t testing.TB, opts ...func(*FileConfig)) *realDaemon {
	t.Helper()
	dir := t.TempDir()
	d := startRealmForDaemon(t)
	r, kt := d.realm, d.keytab
	accounts := filepath.Join(dir, "ntlm_users")
	if err := os.WriteFile(accounts, []byte("CONTOSO:alice:correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "lsad.sock")
	f := baseConfig(sock)
	f.Krb5Conf = r.Krb5Con
	f.Services[0].Keytab = kt
	f.Services[0].NTLMAccounts = accounts
	for _, o := range opts {
		o(f)
	}
	d.file = f
	d.child = startChild(t, writeConfig(t, dir, f), sock)
	return d
}

// table returns an SSPI surface over the daemon with the user-mode halves.
func (d *realDaemon) table(t testing.TB, user ...sspi.UserModePackage) *sspi.FunctionTable {
	t.Helper()
	h, err := remote.Dial("unix:"+d.sock, remote.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tbl := sspi.New(h, sspi.Config{UserPackages: user})
	t.Cleanup(func() { tbl.Close(); h.Close() })
	return tbl
}

func userOnly(user ...sspi.UserModePackage) func(t testing.TB) *sspi.FunctionTable {
	return func(t testing.TB) *sspi.FunctionTable {
		host, err := lsa.New(lsa.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { host.Close() })
		return sspi.InitSecurityInterface(host, user...)
	}
}

// TestConformanceThroughDaemon runs the host and surface conformance
// suite (internal/sspitest) with TestPkg, NTLM, Kerberos and Negotiate
// through a daemon in a separate process, on a Unix socket: the
// application side holds only handles and ContextData.
func TestConformanceThroughDaemon(t *testing.T) {
	d := startRealDaemon(t)
	krbReq := sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT | sspi.ISC_REQ_CONNECTION
	krbASC := sspi.ASC_REQ_MUTUAL_AUTH | sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_INTEGRITY | sspi.ASC_REQ_SEQUENCE_DETECT | sspi.ASC_REQ_REPLAY_DETECT | sspi.ASC_REQ_CONNECTION
	t.Run("TestPkg", func(t *testing.T) {
		sspitest.RunConformance(t, sspitest.Setup{
			NewTable:         func(t testing.TB) *sspi.FunctionTable { return d.table(t, sspitest.UserMode{}) },
			NewUserOnlyTable: userOnly(sspitest.UserMode{}),
			Package:          sspitest.Name,
			Target:           "host/server.example",
			Client:           &sspi.AuthIdentity{User: "alice", Password: "correct horse"},
			WrongPassword:    &sspi.AuthIdentity{User: "alice", Password: "wrong"},
			UnknownUser:      &sspi.AuthIdentity{User: "mallory", Password: "correct horse"},
			ClientReq:        sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT,
			ServerReq:        sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_INTEGRITY | sspi.ASC_REQ_SEQUENCE_DETECT | sspi.ASC_REQ_REPLAY_DETECT,
			WantUser:         "alice",
			Concurrent:       200,
		})
	})
	t.Run("NTLM", func(t *testing.T) {
		sspitest.RunConformance(t, sspitest.Setup{
			NewTable:         func(t testing.TB) *sspi.FunctionTable { return d.table(t, ntlm.UserMode()) },
			NewUserOnlyTable: userOnly(ntlm.UserMode()),
			Package:          "NTLM",
			Target:           "host/server.contoso.com",
			Client:           &sspi.AuthIdentity{User: "alice", Domain: "CONTOSO", Password: "correct horse"},
			WrongPassword:    &sspi.AuthIdentity{User: "alice", Domain: "CONTOSO", Password: "wrong"},
			UnknownUser:      &sspi.AuthIdentity{User: "mallory", Domain: "CONTOSO", Password: "correct horse"},
			ClientReq:        sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT | sspi.ISC_REQ_CONNECTION,
			ServerReq:        sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_INTEGRITY | sspi.ASC_REQ_SEQUENCE_DETECT | sspi.ASC_REQ_REPLAY_DETECT | sspi.ASC_REQ_CONNECTION,
			WantUser:         `CONTOSO\alice`,
			Concurrent:       200,
		})
	})
	t.Run("Kerberos", func(t *testing.T) {
		sspitest.RunConformance(t, sspitest.Setup{
			NewTable:         func(t testing.TB) *sspi.FunctionTable { return d.table(t, kerberos.UserMode()) },
			NewUserOnlyTable: userOnly(kerberos.UserMode()),
			Package:          kerberos.PackageName,
			Target:           "HTTP/svc.localhost",
			Client:           &sspi.AuthIdentity{User: d.user, Password: d.pw},
			ServerPrincipal:  "HTTP/svc.localhost",
			ServerAuthData:   &sspi.AuthIdentity{Options: map[string]string{"keytab": d.keytab}},
			ClientReq:        krbReq,
			ServerReq:        krbASC,
			WantUser:         d.user + "@" + d.realm.Name,
			Concurrent:       200,
		})
	})
	t.Run("Negotiate", func(t *testing.T) {
		um := negotiate.NewUserMode(kerberos.UserMode(), ntlm.UserMode())
		sspitest.RunConformance(t, sspitest.Setup{
			NewTable:         func(t testing.TB) *sspi.FunctionTable { return d.table(t, um, kerberos.UserMode(), ntlm.UserMode()) },
			NewUserOnlyTable: userOnly(um, kerberos.UserMode(), ntlm.UserMode()),
			Package:          "Negotiate",
			Target:           "HTTP/svc.localhost",
			Client:           &sspi.AuthIdentity{User: d.user, Password: d.pw},
			ServerPrincipal:  "HTTP/svc.localhost",
			ServerAuthData:   &sspi.AuthIdentity{Options: map[string]string{"keytab": d.keytab}},
			ClientReq:        krbReq,
			ServerReq:        krbASC,
			WantUser:         d.user + "@" + d.realm.Name,
			Concurrent:       200,
		})
	})
}
