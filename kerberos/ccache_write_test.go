package kerberos

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Helpers of the credential-cache tests (FILE, DIR, MEMORY here; KCM and
// KEYRING in their own files).

var ccUsersMu sync.Mutex

// ccUser adds a principal of its own to the shared realm (once per name)
// and returns its password.
func ccUser(t testing.TB, r *testRealm, name string) string {
	t.Helper()
	ccUsersMu.Lock()
	defer ccUsersMu.Unlock()
	pw := name + "-Secret-1"
	// kadmin.local exits 0 on errors: read its output.
	if out, _ := r.Kadmin("getprinc " + name); strings.Contains(out, "Principal: "+name+"@") {
		return pw
	}
	if err := r.AddPrincipal(name, pw); err != nil {
		t.Fatal(err)
	}
	return pw
}

// logon acquires an outbound credential with a password and gets a
// service ticket for svcSPN with it, so that it holds a TGT and a ticket.
func logon(t testing.TB, p *Package, user, pw string) secpkg.LsaCredential {
	t.Helper()
	c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
		Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: user, Password: pw}})
	if err != nil {
		t.Fatalf("logon %s: %v", user, err)
	}
	t.Cleanup(c.Free)
	if _, _, err := p.InitLsaModeContext(context.Background(), c, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC}); err != nil {
		t.Fatalf("InitLsaModeContext: %v", err)
	}
	return c
}

// useCCache acquires a credential from the cache name, checks that its
// principal is want, and logs on to the service with it.
func useCCache(t testing.TB, p *Package, svc secpkg.LsaCredential, name, want string) {
	t.Helper()
	c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
		Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{Options: map[string]string{"ccache": name}}})
	if err != nil {
		t.Fatalf("credential from %s: %v", name, err)
	}
	defer c.Free()
	cr := c.(*credential)
	if got := principalString(cr.cname, cr.realm); got != want {
		t.Fatalf("credential from %s is %s, want %s", name, got, want)
	}
	_, out, err := p.InitLsaModeContext(context.Background(), c, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC})
	if err != nil {
		t.Fatalf("%s: InitLsaModeContext: %v", name, err)
	}
	if _, err := accept(p, svc, outToken(out), nil, 0); err != nil {
		t.Fatalf("%s: accept: %v", name, err)
	}
}

// recordFile copies a file a peer wrote into testdata/dir/name.hex, with
// -record.
func recordFile(t testing.TB, path, dir, name string) {
	t.Helper()
	if !*record {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recordBytes(t, dir, name, b)
}

func recordBytes(t testing.TB, dir, name string, b []byte) {
	t.Helper()
	if !*record {
		return
	}
	os.MkdirAll(filepath.Join("testdata", dir), 0o755)
	if err := os.WriteFile(filepath.Join("testdata", dir, name+".hex"), []byte(hex.EncodeToString(b)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mit runs an MIT tool with env and returns its output.
func mit(t testing.TB, env []string, stdin string, tool string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// klistHas checks that MIT's klist output shows the principal and the
// servers.
func klistHas(t testing.TB, out, principal string, servers ...string) {
	t.Helper()
	if !strings.Contains(out, "Default principal: "+principal) {
		t.Fatalf("klist does not show %s:\n%s", principal, out)
	}
	for _, s := range servers {
		if !strings.Contains(out, s) {
			t.Fatalf("klist does not show %s:\n%s", s, out)
		}
	}
}

// A password logon stored in a FILE: cache (kinit -c FILE:) is what MIT's
// klist lists, MIT's kvno gets a ticket with, and a later credential of
// ours logs on with.
func TestStoreCCacheFile(t *testing.T) {
	r := liveRealm(t)
	p := New(Config{})
	svc := serverCred(t, p, r.svcKeytab, "")
	c := logon(t, p, "alice", r.userPW)
	path := filepath.Join(t.TempDir(), "cc")
	name, err := p.StoreCCache(context.Background(), c, "FILE:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if name != "FILE:"+path {
		t.Fatalf("StoreCCache wrote %s", name)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v %v", st.Mode(), err)
	}
	env := r.Env()
	out := mit(t, env, "", "klist", "-f", "-e", "-c", name)
	t.Logf("MIT klist of our FILE cache:\n%s", out)
	klistHas(t, out, "alice@"+r.Name, "krbtgt/"+r.Name+"@"+r.Name, svcSPN+"@"+r.Name)
	mit(t, env, "", "kvno", "-c", name, "HTTP/other.localhost")
	useCCache(t, p, svc, name, "alice@"+r.Name)
	// MIT's kvno added its ticket: ours reads it back with the others.
	cc, err := loadCCache(name)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cc.Creds); n != 3 {
		t.Fatalf("cache holds %d credentials after kvno, want 3", n)
	}
	// A symbolic link at the path is replaced, not followed.
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	link := filepath.Join(t.TempDir(), "cc")
	os.Symlink(victim, link)
	if _, err := p.StoreCCache(context.Background(), c, link); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatal("StoreCCache wrote through a symbolic link")
	}
	if err := p.DestroyCCache(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("DestroyCCache left the file")
	}
	if err := p.DestroyCCache(context.Background(), name); !errors.Is(err, sspi.SEC_E_NO_CREDENTIALS) {
		t.Fatalf("DestroyCCache of no cache: %v", err)
	}
}

// A DIR: collection as KRB5CCNAME: MIT's kinit puts alice in the primary;
// our logon of another principal with no name goes, as kinit's does, into
// a new cache of the collection that becomes the primary (MIT's klist then
// shows it, klist -l both); a second logon of alice goes back into her
// cache and makes it the primary again. DIR:: names one cache.
func TestStoreCCacheDIRCollection(t *testing.T) {
	r := liveRealm(t)
	bobPW := ccUser(t, r, "ccbob")
	dir := filepath.Join(t.TempDir(), "cc")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5CCNAME", "DIR:"+dir)
	env := testutil.Env(r.Env(), "KRB5CCNAME=DIR:"+dir)
	mit(t, env, r.userPW+"\n", "kinit", "alice")
	recordFile(t, filepath.Join(dir, "primary"), "dircc", "primary-mit")
	p := New(Config{})
	svc := serverCred(t, p, r.svcKeytab, "")

	bob := logon(t, p, "ccbob", bobPW)
	name, err := p.StoreCCache(context.Background(), bob, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "DIR::"+dir+"/tkt") || name == "DIR::"+dir+"/tkt" {
		t.Fatalf("bob's logon went into %s, want a new cache of the collection", name)
	}
	klistHas(t, mit(t, env, "", "klist"), "ccbob@"+r.Name, svcSPN)
	recordFile(t, filepath.Join(dir, "primary"), "dircc", "primary-ours")
	l := mit(t, env, "", "klist", "-l")
	if !strings.Contains(l, "alice@"+r.Name) || !strings.Contains(l, "ccbob@"+r.Name) {
		t.Fatalf("klist -l:\n%s", l)
	}
	useCCache(t, p, svc, "DIR:"+dir, "ccbob@"+r.Name)
	useCCache(t, p, svc, name, "ccbob@"+r.Name)

	alice := logon(t, p, "alice", r.userPW)
	aname, err := p.StoreCCache(context.Background(), alice, "")
	if err != nil {
		t.Fatal(err)
	}
	if aname != "DIR::"+dir+"/tkt" {
		t.Fatalf("alice's logon went into %s, want her cache DIR::%s/tkt", aname, dir)
	}
	klistHas(t, mit(t, env, "", "klist"), "alice@"+r.Name, svcSPN)
	useCCache(t, p, svc, "DIR:"+dir, "alice@"+r.Name)
	if ents, _ := os.ReadDir(dir); len(ents) != 3 { // primary, tkt, tktXXXXXX
		t.Fatalf("collection holds %d files, want 3", len(ents))
	}

	// A user named with no password picks its cache in the collection,
	// as MIT's gss_acquire_cred does for a desired name.
	for user, want := range map[string]string{"ccbob": "ccbob@" + r.Name, "alice@" + r.Name: "alice@" + r.Name} {
		c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
			Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: user}})
		if err != nil {
			t.Fatalf("credential for %s from the collection: %v", user, err)
		}
		if cr := c.(*credential); principalString(cr.cname, cr.realm) != want {
			t.Fatalf("credential for %s is %s", user, principalString(cr.cname, cr.realm))
		}
		c.Free()
	}
	t.Setenv("KRB5_CLIENT_KTNAME", filepath.Join(dir, "no-keytab"))
	if _, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
		Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: "nobody"}}); !errors.Is(err, sspi.SEC_E_NO_CREDENTIALS) {
		t.Fatalf("a user with no cache in the collection: %v", err)
	}

	// An explicit DIR: name writes the primary (kinit -c DIR:dir).
	if n, err := p.StoreCCache(context.Background(), bob, "DIR:"+dir); err != nil || n != "DIR::"+dir+"/tkt" {
		t.Fatalf("StoreCCache(DIR:) = %s, %v", n, err)
	}
	klistHas(t, mit(t, env, "", "klist"), "ccbob@"+r.Name)
}

// MEMORY: caches are the process's: a logon stored there is a credential
// for this process (any Package), invisible to MIT's klist in another
// process, and gone with DestroyCCache, its keys wiped.
func TestStoreCCacheMemory(t *testing.T) {
	r := liveRealm(t)
	p := New(Config{})
	svc := serverCred(t, p, r.svcKeytab, "")
	c := logon(t, p, "alice", r.userPW)
	name, err := p.StoreCCache(context.Background(), c, "MEMORY:gosspi-test")
	if err != nil || name != "MEMORY:gosspi-test" {
		t.Fatalf("StoreCCache = %s, %v", name, err)
	}
	q := New(Config{})
	useCCache(t, q, serverCred(t, q, r.svcKeytab, ""), name, "alice@"+r.Name)
	useCCache(t, p, svc, name, "alice@"+r.Name)
	cmd := exec.Command("klist", "-c", name)
	cmd.Env = r.Env()
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("MIT's klist in another process sees our MEMORY cache:\n%s", out)
	}
	memCaches.Lock()
	keys := [][]byte{}
	for _, cr := range memCaches.m["gosspi-test"].Creds {
		keys = append(keys, cr.Key)
	}
	memCaches.Unlock()
	if err := p.DestroyCCache(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		for _, b := range k {
			if b != 0 {
				t.Fatal("DestroyCCache left a session key in memory")
			}
		}
	}
	_, _, err = p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
		Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{Options: map[string]string{"ccache": name}}})
	if !errors.Is(err, sspi.SEC_E_NO_CREDENTIALS) {
		t.Fatalf("credential from a destroyed MEMORY cache: %v", err)
	}
}

// krb5.conf's default_ccache_name is the default cache when KRB5CCNAME is
// unset, as MIT has it.
func TestDefaultCCacheName(t *testing.T) {
	t.Setenv("KRB5CCNAME", "")
	os.Unsetenv("KRB5CCNAME")
	v := "DIR:%{TEMP}/krb5cc_%{uid}"
	got := defaultCCacheName(libdefaults{defaultCCache: &v})
	if want := "DIR:" + os.TempDir() + "/krb5cc_" + strconv.Itoa(os.Getuid()); got != want {
		t.Fatalf("default_ccache_name: %s, want %s", got, want)
	}
	if got, want := defaultCCacheName(libdefaults{}), "FILE:/tmp/krb5cc_"+strconv.Itoa(os.Getuid()); got != want {
		t.Fatalf("built-in default: %s, want %s", got, want)
	}
	t.Setenv("KRB5CCNAME", "KCM:")
	if got := defaultCCacheName(libdefaults{defaultCCache: &v}); got != "KCM:" {
		t.Fatalf("KRB5CCNAME: %s", got)
	}
	for _, bad := range []string{"API:x", "MSLSA:", "FILE:", "KEYRING:bogus:x", "KEYRING:session:c:", "KCM:a\x00b"} {
		if _, _, err := (ccEnv{}).resolve(context.Background(), bad); err == nil {
			t.Errorf("resolve(%q) accepted", bad)
		}
	}
}
