package kerberos

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// A DIR: collection written by MIT's kinit: the primary cache (named by
// the collection's primary file) and a DIR:: name of one cache of it both
// give a credential that logs on to the service.
func TestDIRCCache(t *testing.T) {
	r := liveRealm(t)
	dir := filepath.Join(t.TempDir(), "cc")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	kinit := exec.Command("kinit", "-c", "DIR:"+dir, "alice")
	kinit.Env, kinit.Stdin = r.Env(), strings.NewReader(r.userPW+"\n")
	if out, err := kinit.CombinedOutput(); err != nil {
		t.Fatalf("kinit -c DIR:: %v\n%s", err, out)
	}
	primary, err := os.ReadFile(filepath.Join(dir, "primary"))
	if err != nil {
		t.Fatalf("MIT wrote no primary file: %v", err)
	}
	sub := filepath.Join(dir, strings.TrimSpace(string(primary)))
	p := New(Config{})
	svc := serverCred(t, p, r.svcKeytab, "")
	for _, name := range []string{"DIR:" + dir, "DIR::" + sub} {
		c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
			Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{Options: map[string]string{"ccache": name}}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, out, err := p.InitLsaModeContext(context.Background(), c, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC})
		if err != nil {
			t.Fatalf("%s: InitLsaModeContext: %v", name, err)
		}
		if _, err := accept(p, svc, outToken(out), nil, 0); err != nil {
			t.Fatalf("%s: accept: %v", name, err)
		}
		c.Free()
	}
	// Names that are not a collection's cache are errors, never followed.
	if err := os.WriteFile(filepath.Join(dir, "primary"), []byte("../../etc/passwd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"DIR:" + dir, "DIR:relative", "DIR::" + filepath.Join(dir, "primary"), "KEYRING:persistent:0"} {
		if _, err := ccachePath(name); err == nil {
			t.Errorf("ccachePath(%q) accepted", name)
		}
	}
}
