package kerberos

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gosspi/gosspi/internal/kcmtest"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// kcmRecorder keeps the KCM replies of a test, for testdata/kcm (with
// -record) and the fuzz seeds.
type kcmRecorder struct {
	mu      sync.Mutex
	replies map[uint16][][]byte
}

func recordKCM(t testing.TB) *kcmRecorder {
	rec := &kcmRecorder{replies: map[uint16][][]byte{}}
	kcmTrace = func(op uint16, body []byte) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.replies[op]) < 4 {
			rec.replies[op] = append(rec.replies[op], append([]byte(nil), body...))
		}
	}
	t.Cleanup(func() {
		kcmTrace = nil
		if !*record {
			return
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for op, frames := range rec.replies {
			for i, b := range frames {
				recordBytes(t, "kcm", fmt.Sprintf("op%d-%d", op, i), b)
			}
		}
	})
	return rec
}

// KCM: against sssd-kcm, with MIT's kinit, klist and kvno on the same
// daemon: what MIT's kinit stores we read and log on with (over
// GET_CRED_LIST, and over GET_CRED_UUID_LIST and GET_CRED_BY_UUID); what
// we store (REPLACE, which sssd-kcm refuses, then INITIALIZE and STORE)
// MIT's klist lists and kvno uses. KRB5CCNAME=KCM: is a collection, as
// kinit has it: another principal's logon goes into a new cache (GEN_NEW)
// that becomes the default (SET_DEFAULT_CACHE); alice's goes back into
// hers.
func TestKCMCCache(t *testing.T) {
	r := liveRealm(t)
	d := kcmtest.New(t)
	rec := recordKCM(t)
	conf, err := d.Krb5Conf(r.Krb5Con)
	if err != nil {
		t.Fatal(err)
	}
	bobPW := ccUser(t, r, "kcmbob")
	t.Setenv("KRB5_CONFIG", conf)
	t.Setenv("KRB5CCNAME", "KCM:")
	env := testutil.Env(r.Env(), "KRB5_CONFIG="+conf, "KRB5CCNAME=KCM:")
	ctx := context.Background()

	mit(t, env, r.userPW+"\n", "kinit", "alice")
	p := New(Config{Krb5Conf: conf})
	svc := serverCred(t, p, r.svcKeytab, "")
	useCCache(t, p, svc, "KCM:", "alice@"+r.Name)
	ld, err := p.libdefaults()
	if err != nil {
		t.Fatal(err)
	}
	e := p.ccEnv(ld)
	if e.kcmSocket != d.Socket {
		t.Fatalf("kcm_socket: %s, want %s", e.kcmSocket, d.Socket)
	}
	primary, _, err := e.resolve(ctx, "KCM:")
	if err != nil {
		t.Fatal(err)
	}
	aliceCache := primary.fullName()
	useCCache(t, p, svc, aliceCache, "alice@"+r.Name)
	// The same cache over the UUID operations.
	k, err := dialKCM(ctx, d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	byList, err := k.load(strings.TrimPrefix(aliceCache, "KCM:"), false)
	if err != nil {
		t.Fatal(err)
	}
	byUUID, err := k.load(strings.TrimPrefix(aliceCache, "KCM:"), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(byList.Creds) != 1 || len(byUUID.Creds) != 1 || string(byList.Creds[0].Ticket) != string(byUUID.Creds[0].Ticket) {
		t.Fatalf("GET_CRED_LIST read %d credentials, the UUID operations %d", len(byList.Creds), len(byUUID.Creds))
	}

	// Our logons: bob into a new cache that becomes the default.
	bob := logon(t, p, "kcmbob", bobPW)
	name, err := p.StoreCCache(ctx, bob, "")
	if err != nil {
		t.Fatal(err)
	}
	if name == aliceCache || !strings.HasPrefix(name, "KCM:") {
		t.Fatalf("bob's logon went into %s (alice's is %s)", name, aliceCache)
	}
	out := mit(t, env, "", "klist")
	klistHas(t, out, "kcmbob@"+r.Name, "krbtgt/"+r.Name+"@"+r.Name, svcSPN+"@"+r.Name)
	l := mit(t, env, "", "klist", "-l")
	if !strings.Contains(l, "alice@"+r.Name) || !strings.Contains(l, "kcmbob@"+r.Name) {
		t.Fatalf("klist -l:\n%s", l)
	}
	mit(t, env, "", "kvno", otherSPN) // MIT uses our TGT and stores its ticket
	useCCache(t, p, svc, "KCM:", "kcmbob@"+r.Name)
	cc, err := e.load(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.Creds) != 3 {
		t.Fatalf("bob's cache holds %d credentials after MIT's kvno, want 3", len(cc.Creds))
	}
	cc.wipe()

	alice := logon(t, p, "alice", r.userPW)
	if n, err := p.StoreCCache(ctx, alice, ""); err != nil || n != aliceCache {
		t.Fatalf("alice's logon went into %s, %v; want her cache %s", n, err, aliceCache)
	}
	klistHas(t, mit(t, env, "", "klist"), "alice@"+r.Name, svcSPN)

	// An explicit name, without the REPLACE extension, and a refusal.
	if err := k.store(strings.TrimPrefix(name, "KCM:"), mustCCache(t, bob), true); err != nil {
		t.Fatal(err)
	}
	klistHas(t, mit(t, env, "", "klist", "-c", name), "kcmbob@"+r.Name, svcSPN)
	_, err = p.StoreCCache(ctx, bob, "KCM:someone-else")
	var ke *kcmError
	if !errors.As(err, &ke) || ke.Op != kcmOpInitialize {
		t.Fatalf("a name sssd-kcm does not give us: %v", err)
	}
	if err := p.DestroyCCache(ctx, name); err != nil {
		t.Fatal(err)
	}
	if l := mit(t, env, "", "klist", "-l"); strings.Contains(l, "kcmbob") {
		t.Fatalf("klist -l after DestroyCCache:\n%s", l)
	}
	if err := p.DestroyCCache(ctx, name); !errors.Is(err, errNoCCache) {
		t.Fatalf("DestroyCCache of no cache: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, op := range []uint16{kcmOpGetPrincipal, kcmOpGetCredList, kcmOpGetCredUUIDList, kcmOpGetCredByUUID, kcmOpGetCacheUUIDList, kcmOpGetCacheByUUID, kcmOpGetDefaultCache, kcmOpGenNew} {
		if len(rec.replies[op]) == 0 {
			t.Errorf("no reply to operation %d recorded", op)
		}
	}
}

func mustCCache(t testing.TB, c secpkg.LsaCredential) *ccache {
	t.Helper()
	cc, err := c.(*credential).toCCache()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.wipe)
	return cc
}

// A KCM daemon that is not there is an error that names the socket.
func TestKCMNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	e := ccEnv{kcmSocket: sock}
	_, err := e.load(context.Background(), "KCM:")
	if err == nil || !strings.Contains(err.Error(), sock) {
		t.Fatalf("load from no daemon: %v", err)
	}
	if _, err := (ccEnv{kcmSocket: "-"}).load(context.Background(), "KCM:0"); err == nil {
		t.Fatal("kcm_socket = - reached a daemon")
	}
}
