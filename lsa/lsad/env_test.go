package lsad

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/lsa/remote"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// The caller's environment, resolved in the application and sent as data,
// names the caller's own files: a KRB5CCNAME ccache from kinit and an
// NTLM_USER_FILE give working initiator credentials through the daemon;
// the same NTLM file owned by another uid is refused.
func TestCallerEnvironmentOwnFiles(t *testing.T) {
	r := startRealmForDaemon(t)
	cc, err := r.realm.Kinit(r.user, r.pw)
	if err != nil {
		t.Fatal(err)
	}
	f := ntlmPolicy(t)
	f.Krb5Conf = r.realm.Krb5Con
	f.Services[0].Keytab = r.keytab
	ip := startInProcess(t, f)
	userFile := filepath.Join(t.TempDir(), "ntlm_user_file")
	if err := os.WriteFile(userFile, []byte("CONTOSO:alice:correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KRB5CCNAME": "FILE:" + cc, "NTLM_USER_FILE": userFile}
	h, err := remote.Dial("unix:"+ip.sock, remote.Config{Env: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	tbl := sspi.New(h, sspi.Config{UserPackages: []sspi.UserModePackage{kerberos.UserMode(), ntlm.UserMode()}})
	t.Cleanup(func() { tbl.Close(); h.Close() })
	for _, s := range []sspitest.Setup{
		{Package: "Kerberos", Target: "HTTP/svc.localhost", ServerPrincipal: "HTTP/svc.localhost", ClientReq: sspi.ISC_REQ_MUTUAL_AUTH, ServerReq: sspi.ASC_REQ_MUTUAL_AUTH},
		{Package: "NTLM", Target: "host/srv", ClientReq: sspi.ISC_REQ_CONNECTION, ServerReq: sspi.ASC_REQ_CONNECTION},
	} {
		p, err := s.Handshake(t, tbl, nil) // default credentials: the caller's own files
		if err != nil {
			t.Fatalf("%s with the caller's own files: %v", s.Package, err)
		}
		var names sspi.SecPkgContextNames
		if st := tbl.QueryContextAttributes(&p.Server, sspi.SECPKG_ATTR_NAMES, &names); st != sspi.SEC_E_OK || names.UserName == "" {
			t.Errorf("%s: names %v %q", s.Package, st, names.UserName)
		}
		p.Close()
	}
	if err := os.Chown(userFile, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err = h.AcquireCredentialsHandle(context.Background(), &sspi.AcquireCredentialsRequest{Package: "NTLM", Use: sspi.SECPKG_CRED_OUTBOUND})
	if !errors.Is(err, sspi.SEC_E_NO_CREDENTIALS) {
		t.Errorf("another uid's NTLM_USER_FILE: %v", err)
	}
}
