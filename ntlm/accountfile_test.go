package ntlm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// TestWorldWritableAccountFile is the attack: a local user who can write to
// the account file appends an account and logs on with it, without a
// restart (HashFile rereads a changed file). A file that becomes group- or
// world-writable must stop being used (fail closed), with an error that
// says how to fix it; fixing the mode brings the (unchanged) accounts back.
func TestWorldWritableAccountFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts")
	hf := OpenHashFile(path)
	if err := hf.Add(testDomain, testUser, testPassword); err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Accounts: hf})
	if _, _, err := runHandshake(t, hsOpts{server: srv}); err != nil {
		t.Fatalf("alice before: %v", err)
	}

	// The file becomes world-writable and mallory appends herself.
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%s:mallory:%x\n", testDomain, ntlmssp.NTOWFv1("mallory-pw"))
	f.Close()
	mallory := &sspi.AuthIdentity{User: "mallory", Domain: testDomain, Password: "mallory-pw"}
	_, _, err = runHandshake(t, hsOpts{server: srv, ai: mallory})
	if err == nil {
		t.Fatal("mallory, appended to a world-writable account file, logged on")
	}
	if !strings.Contains(err.Error(), "permissions 0666 for '"+path+"' are too open") || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("error does not say how to fix the file: %v", err)
	}
	if _, _, err := runHandshake(t, hsOpts{server: srv}); err == nil {
		t.Error("alice logged on from a world-writable account file (not failing closed)")
	}
	if _, err := LoadAccounts(path); err == nil || !strings.Contains(err.Error(), "too open") {
		t.Errorf("LoadAccounts: %v", err)
	}
	if err := hf.Add(testDomain, "other", "pw"); err == nil {
		t.Error("gosspi accounts add carried a world-writable file's accounts over")
	}
	// Group-writable is as bad.
	if err := os.Chmod(path, 0o620); err != nil {
		t.Fatal(err)
	}
	if _, err := hf.List(); err == nil || !strings.Contains(err.Error(), "permissions 0620") {
		t.Errorf("group-writable: %v", err)
	}
	// The administrator fixes the mode (and would remove mallory).
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runHandshake(t, hsOpts{server: srv}); err != nil {
		t.Errorf("alice after chmod 600: %v", err)
	}
	if err := hf.Remove(testDomain, "mallory"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runHandshake(t, hsOpts{server: srv, ai: mallory}); status(err) != sspi.SEC_E_LOGON_DENIED {
		t.Errorf("mallory after removal: %v", err)
	}
}

// TestAccountFileRefusedOnLoad: a world-writable file is refused from the
// start, by OpenHashFile's store, LoadAccounts and the "accounts" option.
func TestAccountFileRefusedOnLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte(testDomain+":"+testUser+":"+testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o646); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAccounts(path); err == nil || !strings.Contains(err.Error(), "run chmod 600 "+path) {
		t.Errorf("LoadAccounts: %v", err)
	}
	p := New(Config{})
	_, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND,
		AuthData: &sspi.AuthIdentity{Options: map[string]string{"accounts": path}}})
	if status(err) != sspi.SEC_E_NO_CREDENTIALS || !strings.Contains(err.Error(), "too open") {
		t.Errorf("accounts option: %v", err)
	}
	if _, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{User: testUser, Options: map[string]string{"credfile": path}}}); status(err) != sspi.SEC_E_NO_CREDENTIALS {
		t.Errorf("credfile option: %v", err)
	}
	hashes := filepath.Join(t.TempDir(), "accounts")
	if err := os.WriteFile(hashes, MarshalHashFile([]Account{{Domain: testDomain, User: testUser, NTHash: ntlmssp.NTOWFv1(testPassword)}}), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(hashes, 0o666)
	if _, err := OpenHashFile(hashes).LookupAccount(context.Background(), testDomain, testUser); err == nil {
		t.Error("OpenHashFile: world-writable file used")
	}
	// Owned by another user that is not root: refused too. Only root can
	// hand a file to another user, so this part needs it.
	if err := os.Chmod(hashes, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	if err := os.Chown(hashes, 4242, 4242); err != nil {
		t.Skipf("chown: %v", err)
	}
	_, err = OpenHashFile(hashes).LookupAccount(context.Background(), testDomain, testUser)
	if err == nil || !strings.Contains(err.Error(), "owned by uid 4242") || !strings.Contains(err.Error(), "run chown 0 "+hashes) {
		t.Errorf("foreign owner: %v", err)
	}
	if _, err := LoadAccounts(hashes); err == nil {
		t.Error("LoadAccounts: foreign owner accepted")
	}
	// Root's own files are fine.
	if err := os.Chown(hashes, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenHashFile(hashes).LookupAccount(context.Background(), testDomain, testUser); err != nil {
		t.Errorf("root-owned 0600 file: %v", err)
	}
}

// TestLoadHashFileFailsAtStart (issue 11): a missing, malformed or
// foreign file is an error of LoadHashFile (and of Check) that names the
// file and says what to do, not an empty store in which every logon looks
// like a wrong password.
func TestLoadHashFileFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "typo")
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"missing", missing, []string{missing, "does not exist", "gosspi accounts -file " + missing + " add"}},
		{"directory", dir, []string{dir, "is a directory"}},
		{"not an account file", write("garbage", "\x05\x02garbage\n"), []string{"garbage", "not a gosspi account file", HashFileMagic}},
		{"empty", write("empty", ""), []string{"empty", "not a gosspi account file"}},
		{"bad line", write("badline", HashFileMagic+"\nEXAMPLE:alice\n"), []string{"badline", "line 2", "want DOMAIN:user:hash"}},
		{"bad hash", write("badhash", HashFileMagic+"\nEXAMPLE:alice:123\n"), []string{"badhash", "line 2", "bad NT hash"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hf, err := LoadHashFile(tc.path)
			if err == nil || hf != nil {
				t.Fatalf("LoadHashFile(%s) = %v, %v", tc.path, hf, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if err := OpenHashFile(tc.path).Check(); err == nil || err.Error() != fmt.Sprint(errOf(LoadHashFile(tc.path))) {
				t.Errorf("Check: %v", err)
			}
		})
	}
	// The legacy OpenHashFile store: a file never seen is an empty store.
	if l, err := OpenHashFile(missing).List(); err != nil || len(l) != 0 {
		t.Errorf("OpenHashFile of a missing file: %v %v", l, err)
	}
	// gss-ntlmssp's format through LoadAccounts: a bad line is named.
	users := write("users", "EXAMPLE:alice:pw\nno colon here\n")
	if _, err := LoadAccounts(users); err == nil || !strings.Contains(err.Error(), users+": user file line 2") {
		t.Errorf("LoadAccounts: %v", err)
	}
	if _, err := LoadAccounts(missing); err == nil || !strings.Contains(err.Error(), missing+" does not exist") {
		t.Errorf("LoadAccounts of a missing file: %v", err)
	}
	// And NTLM_USER_FILE as the package reads it says where the name came from.
	t.Setenv("NTLM_USER_FILE", missing)
	_, _, err := New(Config{}).AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND})
	if status(err) != sspi.SEC_E_NO_CREDENTIALS || !strings.Contains(err.Error(), "NTLM_USER_FILE") || !strings.Contains(err.Error(), missing) {
		t.Errorf("NTLM_USER_FILE missing: %v", err)
	}
}

func errOf(_ any, err error) error { return err }

// TestHashFileDisappearsLater: a file that was read and then disappears
// or goes bad fails every logon (fail closed, with an error the server
// logs), not an empty store; when it is back, logons work again.
func TestHashFileDisappearsLater(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts")
	if err := OpenHashFile(path).Add(testDomain, testUser, testPassword); err != nil {
		t.Fatal(err)
	}
	hf, err := LoadHashFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Accounts: hf})
	if _, _, err := runHandshake(t, hsOpts{server: srv}); err != nil {
		t.Fatalf("before: %v", err)
	}
	data, _ := os.ReadFile(path)
	os.Remove(path)
	_, _, err = runHandshake(t, hsOpts{server: srv})
	if status(err) != sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY || !strings.Contains(err.Error(), path+" has disappeared") {
		t.Errorf("after removal: %v", err)
	}
	if _, err := hf.List(); err == nil {
		t.Error("List of a vanished file: no error")
	}
	// Overwritten with garbage: refused, with the line.
	os.WriteFile(path, []byte(HashFileMagic+"\nbroken\n"), 0o600)
	if _, _, err := runHandshake(t, hsOpts{server: srv}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("malformed later: %v", err)
	}
	os.WriteFile(path, data, 0o600)
	if _, _, err := runHandshake(t, hsOpts{server: srv}); err != nil {
		t.Errorf("restored: %v", err)
	}
}
