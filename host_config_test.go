//go:build unix

package gosspi_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/ntlm"
)

// TestNewHostFailsAtStart (issue 11): each misconfiguration of a server's
// files makes NewHost fail, with an error that names the file or principal
// and says what to do.
func TestNewHostFailsAtStart(t *testing.T) {
	t.Setenv("KRB5_KTNAME", "")
	dir := t.TempDir()
	kt := testutil.WriteKeytab(t, filepath.Join(dir, "http.keytab"), "HTTP/web.example.test@EXAMPLE.TEST")
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("not a keytab at all"), 0o600)
	accounts := filepath.Join(dir, "accounts")
	if err := ntlm.OpenHashFile(accounts).Add("EXAMPLE", "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	malformed := filepath.Join(dir, "malformed")
	os.WriteFile(malformed, []byte(ntlm.HashFileMagic+"\nEXAMPLE:alice:nothex\n"), 0o600)
	missing := filepath.Join(dir, "typo")
	hashFile := func(p string) ntlm.AccountStore { return ntlm.OpenHashFile(p) }

	for _, tc := range []struct {
		name string
		cfg  gosspi.HostConfig
		env  string // KRB5_KTNAME
		want []string
	}{
		{name: "wrong keytab path", cfg: gosspi.HostConfig{Kerberos: kerberos.Config{Keytab: missing}},
			want: []string{"keytab " + missing + " (from kerberos.Config.Keytab) does not exist"}},
		{name: "keytab is a directory", cfg: gosspi.HostConfig{Kerberos: kerberos.Config{Keytab: dir}},
			want: []string{"keytab " + dir, "is a directory"}},
		{name: "not a keytab", cfg: gosspi.HostConfig{Kerberos: kerberos.Config{Keytab: "FILE:" + garbage}},
			want: []string{"keytab " + garbage, "is not a keytab"}},
		{name: "principal not in keytab", cfg: gosspi.HostConfig{Kerberos: kerberos.Config{Keytab: kt, ServicePrincipal: "HTTP/other.example.test"}},
			want: []string{"keytab " + kt, "no key for HTTP/other.example.test (from kerberos.Config.ServicePrincipal)", "HTTP/web.example.test@EXAMPLE.TEST"}},
		{name: "no principal matches", cfg: gosspi.HostConfig{Kerberos: kerberos.Config{Keytab: "FILE:" + kt, AcceptorPrincipals: []string{"imap/*"}}},
			want: []string{"no principal of keytab " + kt, "imap/* (from kerberos.Config.AcceptorPrincipals)"}},
		{name: "KRB5_KTNAME missing", env: "FILE:" + missing, cfg: gosspi.HostConfig{Kerberos: kerberos.Config{ServicePrincipal: "HTTP/web.example.test"}},
			want: []string{"keytab " + missing + " (from the environment, KRB5_KTNAME) does not exist"}},
		{name: "missing account file", cfg: gosspi.HostConfig{NTLM: ntlm.Config{Accounts: hashFile(missing)}},
			want: []string{"account file " + missing + " does not exist", "gosspi accounts -file " + missing + " add"}},
		{name: "malformed account file", cfg: gosspi.HostConfig{NTLM: ntlm.Config{Accounts: hashFile(malformed)}},
			want: []string{"account file " + malformed, "line 2", "bad NT hash"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KRB5_KTNAME", tc.env)
			h, err := gosspi.NewHost(tc.cfg)
			if err == nil {
				h.Close()
				t.Fatal("NewHost accepted the configuration")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	// The good files pass; a client configuration is not checked.
	for _, cfg := range []gosspi.HostConfig{
		{Kerberos: kerberos.Config{Keytab: kt, ServicePrincipal: "HTTP/web.example.test", AcceptorPrincipals: []string{"HTTP/*"}},
			NTLM: ntlm.Config{Accounts: hashFile(accounts)}},
		{},
	} {
		h, err := gosspi.NewHost(cfg)
		if err != nil {
			t.Fatalf("NewHost: %v", err)
		}
		h.Close()
	}
}

// TestNewHostUnreadableKeytab: a keytab the server's user may not read.
// Root reads any file, so NewHost runs in a child process as nobody.
func TestNewHostUnreadableKeytab(t *testing.T) {
	if testutil.IsUnprivilegedChild() {
		_, err := gosspi.NewHost(gosspi.HostConfig{Kerberos: kerberos.Config{Keytab: os.Getenv("KEYTAB")}})
		t.Logf("ERROR: %v", err)
		return
	}
	kt := testutil.WriteKeytab(t, filepath.Join(testutil.SharedDir(t), "root-only.keytab"), "HTTP/a@R")
	os.Chmod(kt, 0)
	out, err := testutil.RunUnprivileged(t, "TestNewHostUnreadableKeytab", "KEYTAB="+kt)
	if err != nil || !strings.Contains(out, "ERROR: gosspi: Kerberos acceptor: keytab "+kt+" (from kerberos.Config.Keytab): permission denied") {
		t.Errorf("child: %v\n%s", err, out)
	}
}
