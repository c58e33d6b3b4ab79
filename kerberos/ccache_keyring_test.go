//go:build linux

package kerberos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Keyrings are per session and per user, and the user and persistent
// keyrings of root are shared by every root process of the machine. So
// the keyring tests run again in a child test process in a user namespace
// of its own (its user and persistent keyrings are its own) and a new
// session keyring (keyctl session), which MIT's tools started by the test
// share.
func inKeyringChild(t *testing.T, env ...string) bool {
	t.Helper()
	if os.Getenv("GOSSPI_KEYRING_CHILD") == "1" {
		return true
	}
	args := []string{"--user", "--map-root-user", "--", "keyctl", "session", "-",
		os.Args[0], "-test.run=^" + t.Name() + "$", "-test.v", "-test.count=1"}
	if *record {
		args = append(args, "-record")
	}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(append(os.Environ(), "GOSSPI_KEYRING_CHILD=1"), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("child test process (unshare --user, keyctl session):\n%s", out)
	if err != nil {
		t.Fatalf("keyring child: %v (needs unshare from util-linux and keyctl from keyutils)", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatal("the child process did not run the test")
	}
	return false
}

// KEYRING: with MIT's kinit, klist and kvno on the same keyrings: what
// kinit stores under the session, persistent, user and legacy anchors we
// read and log on with; what we store MIT's klist lists and kvno uses;
// KRB5CCNAME=KEYRING:persistent:0 is a collection as kinit has it; the
// process and thread anchors are this process's. The keys expire with
// their tickets.
func TestKEYRINGCCache(t *testing.T) {
	if !inKeyringChild(t) {
		return
	}
	r := liveRealm(t)
	bobPW := ccUser(t, r, "krbob")
	env := r.Env()
	ctx := context.Background()
	p := New(Config{})
	svc := serverCred(t, p, r.svcKeytab, "")
	alice := "alice@" + r.Name

	// MIT writes, we read.
	for _, name := range []string{"KEYRING:session:gosspi", "KEYRING:persistent:0", "KEYRING:user:gosspi", "KEYRING:gosspilegacy"} {
		mit(t, env, r.userPW+"\n", "kinit", "-c", name, "alice")
		useCCache(t, p, svc, name, alice)
	}
	useCCache(t, p, svc, "KEYRING:persistent:", alice) // the caller's UID
	useCCache(t, p, svc, "KEYRING:session:gosspi:gosspi", alice)
	recordKeyring(t, keyringName{anchor: "session", collection: "gosspi"})

	// We write, MIT reads.
	c := logon(t, p, "alice", r.userPW)
	for _, name := range []string{"KEYRING:session:ours", "KEYRING:user:ours", "KEYRING:persistent:0:ours", "KEYRING:ourlegacy"} {
		got, err := p.StoreCCache(ctx, c, name)
		if err != nil {
			t.Fatalf("StoreCCache(%s): %v", name, err)
		}
		klistHas(t, mit(t, env, "", "klist", "-c", got), alice, "krbtgt/"+r.Name+"@"+r.Name, svcSPN+"@"+r.Name)
		mit(t, env, "", "kvno", "-c", got, otherSPN)
		cc, err := p.ccEnv(libdefaults{}).load(ctx, got)
		if err != nil {
			t.Fatal(err)
		}
		if len(cc.Creds) != 3 {
			t.Fatalf("%s holds %d credentials after MIT's kvno, want 3", got, len(cc.Creds))
		}
		cc.wipe()
		useCCache(t, p, svc, got, alice)
	}
	if !strings.Contains(mit(t, env, "", "klist", "-c", "KEYRING:session:ours"), "Default principal: "+alice) {
		t.Fatal("the collection name does not resolve to the cache we wrote")
	}
	keyTimeouts(t, "krbtgt/"+r.Name+"@"+r.Name)

	// The persistent collection as the default cache, kinit's way.
	t.Setenv("KRB5CCNAME", "KEYRING:persistent:0")
	env = testutil.Env(env, "KRB5CCNAME=KEYRING:persistent:0")
	bob := logon(t, p, "krbob", bobPW)
	bname, err := p.StoreCCache(ctx, bob, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(bname, "KEYRING:persistent:0:krb_ccache_") {
		t.Fatalf("bob's logon went into %s, want a new cache of the collection", bname)
	}
	klistHas(t, mit(t, env, "", "klist"), "krbob@"+r.Name, svcSPN)
	if l := mit(t, env, "", "klist", "-l"); !strings.Contains(l, alice) || !strings.Contains(l, "krbob@"+r.Name) {
		t.Fatalf("klist -l:\n%s", l)
	}
	useCCache(t, p, svc, "KEYRING:persistent:0", "krbob@"+r.Name)
	// alice has two caches there (MIT's kinit and our explicit write):
	// either is hers, as krb5_cc_cache_match takes the first.
	if n, err := p.StoreCCache(ctx, c, ""); err != nil || n != "KEYRING:persistent:0:0" && n != "KEYRING:persistent:0:ours" {
		t.Fatalf("alice's logon went into %s, %v; want one of her caches", n, err)
	}
	klistHas(t, mit(t, env, "", "klist"), alice)

	// The process and thread anchors: this process's, not MIT's.
	for _, name := range []string{"KEYRING:process:p", "KEYRING:thread:t"} {
		got, err := p.StoreCCache(ctx, c, name)
		if err != nil {
			t.Fatal(err)
		}
		useCCache(t, p, svc, got, alice)
		cmd := exec.Command("klist", "-c", got)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("MIT's klist in another process reads our %s:\n%s", got, out)
		}
	}

	// kdestroy.
	if err := p.DestroyCCache(ctx, bname); err != nil {
		t.Fatal(err)
	}
	if l := mit(t, env, "", "klist", "-l"); strings.Contains(l, "krbob") {
		t.Fatalf("klist -l after DestroyCCache:\n%s", l)
	}
	if err := p.DestroyCCache(ctx, bname); !errors.Is(err, sspi.SEC_E_NO_CREDENTIALS) {
		t.Fatalf("DestroyCCache of no cache: %v", err)
	}
}

// recordKeyring copies the payloads MIT's kinit wrote into the collection
// n into testdata/keyring, with -record.
func recordKeyring(t *testing.T, n keyringName) {
	if !*record {
		return
	}
	onKeyringThread(func() {
		col, err := krCollection(n, false)
		if err != nil {
			t.Error(err)
			return
		}
		if id, err := krSearch(col, "user", krPrimaryKey, 0); err == nil {
			b, _ := krRead(id)
			recordBytes(t, "keyring", "primary-0", b)
		}
		cache, err := krSearch(col, "keyring", n.collection, 0)
		if err != nil {
			t.Error(err)
			return
		}
		list, _ := krRead(cache)
		for i, id := range parseKeySerials(list) {
			d, _ := unix.KeyctlString(unix.KEYCTL_DESCRIBE, int(id))
			recordBytes(t, "keyring", fmt.Sprintf("desc-%d", i), []byte(d))
			b, _ := krRead(int(id))
			kind := "cred"
			if strings.HasSuffix(d, ";"+krPrincKey) {
				kind = "princ"
			}
			recordBytes(t, "keyring", fmt.Sprintf("%s-%d", kind, i), b)
		}
		recordBytes(t, "keyring", "serials-0", list)
	})
}

// keyTimeouts checks in /proc/keys that the credential keys named desc
// expire (MIT's store sets their timeout to the ticket's end).
func keyTimeouts(t *testing.T, desc string) {
	t.Helper()
	b, err := os.ReadFile("/proc/keys")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 8 && strings.HasPrefix(f[8], desc) {
			if f[3] == "perm" {
				t.Fatalf("credential key does not expire: %s", line)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no key %s in /proc/keys:\n%s", desc, b)
	}
}

// denyKeyctl installs a seccomp filter on every thread of the process that
// fails keyctl, add_key and request_key with errno, as a container's
// profile does (Docker's default answers EPERM).
func denyKeyctl(errno syscall.Errno) error {
	arch := map[string]uint32{"amd64": 0xc000003e, "386": 0x40000003, "arm64": 0xc00000b7}[runtime.GOARCH]
	if arch == 0 {
		return fmt.Errorf("no seccomp architecture for %s", runtime.GOARCH)
	}
	const (
		ldAbs    = 0x20       // BPF_LD | BPF_W | BPF_ABS
		jeq      = 0x15       // BPF_JMP | BPF_JEQ | BPF_K
		ret      = 0x06       // BPF_RET | BPF_K
		retAllow = 0x7fff0000 // SECCOMP_RET_ALLOW
		retErrno = 0x00050000 // SECCOMP_RET_ERRNO
	)
	prog := []unix.SockFilter{
		{Code: ldAbs, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 0, Jf: 4, K: arch},
		{Code: ldAbs, K: 0}, // seccomp_data.nr
		{Code: jeq, Jt: 3, K: uint32(unix.SYS_KEYCTL)},
		{Code: jeq, Jt: 2, K: uint32(unix.SYS_ADD_KEY)},
		{Code: jeq, Jt: 1, K: uint32(unix.SYS_REQUEST_KEY)},
		{Code: ret, K: retAllow},
		{Code: ret, K: retErrno | uint32(errno)},
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	const setModeFilter, flagTsync = 1, 1
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, setModeFilter, flagTsync, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return e
	}
	return nil
}

// Where seccomp blocks the keyring (EPERM, as Docker's default profile;
// ENOSYS, as a kernel without keys), KEYRING: caches fail with an error
// that says so, for a write and for a credential.
func TestKEYRINGUnavailable(t *testing.T) {
	for _, errno := range []syscall.Errno{unix.EPERM, unix.ENOSYS} {
		t.Run(errno.Error(), func(t *testing.T) {
			if os.Getenv("GOSSPI_KEYRING_DENY") == "" {
				cmd := exec.Command(os.Args[0], "-test.run=^"+strings.ReplaceAll(t.Name(), "/", "$/^")+"$", "-test.v", "-test.count=1")
				cmd.Env = append(os.Environ(), "GOSSPI_KEYRING_DENY="+fmt.Sprint(int(errno)))
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
					t.Fatalf("child test process: %v\n%s", err, out)
				}
				return
			}
			if err := denyKeyctl(errno); err != nil {
				t.Fatalf("seccomp: %v", err)
			}
			if _, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false); !errors.Is(err, errno) {
				t.Fatalf("the filter does not block keyctl: %v", err)
			}
			conf := t.TempDir() + "/krb5.conf"
			os.WriteFile(conf, []byte("[libdefaults]\n\tdefault_realm = GOSSPI.TEST\n"), 0o644)
			p := New(Config{Krb5Conf: conf})
			e := p.ccEnv(libdefaults{})
			s, _, err := e.resolve(context.Background(), "KEYRING:session:x")
			if err != nil {
				t.Fatal(err)
			}
			cc := &ccache{Principal: ccPrincipal{NameType: 1, Realm: "GOSSPI.TEST", Components: []string{"alice"}}}
			if err := s.store(context.Background(), cc); err == nil || !strings.Contains(err.Error(), "kernel keyring is not available") || !errors.Is(err, errno) {
				t.Fatalf("store: %v", err)
			}
			_, _, err = p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
				Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{Options: map[string]string{"ccache": "KEYRING:persistent:0"}}})
			if !errors.Is(err, sspi.SEC_E_NO_CREDENTIALS) || !strings.Contains(err.Error(), "kernel keyring is not available") {
				t.Fatalf("credential: %v", err)
			}
		})
	}
}
