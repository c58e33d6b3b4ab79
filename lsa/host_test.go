package lsa_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/sspi"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func startHandshake(t *testing.T, h *lsa.Host, cred sspi.CredHandle) (*sspi.ContextResult, error) {
	t.Helper()
	return h.InitLsaModeContext(context.Background(), &sspi.InitContextRequest{Credential: cred, TargetName: "x"})
}

// TestBoundedTableAndReaping: a peer that starts handshakes and never
// finishes them fills the table up to its cap, no further; half-built
// contexts are reaped after the handshake timeout and their package state
// freed; established contexts are never reaped.
func TestBoundedTableAndReaping(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	pkg := sspitest.New(sspitest.Config{Accounts: map[string]string{"alice": "pw"}})
	h, err := lsa.New(lsa.Config{MaxContexts: 50, HandshakeTimeout: time.Minute, ReapInterval: -1, Now: clk.Now}, pkg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	cr, err := h.AcquireCredentialsHandle(ctx, &sspi.AcquireCredentialsRequest{Package: sspitest.Name, Use: sspi.SECPKG_CRED_BOTH, AuthData: &sspi.AuthIdentity{User: "alice", Password: "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	// One established pair first.
	tbl := sspi.InitSecurityInterface(h, sspitest.UserMode{})
	setup := sspitest.Setup{Package: sspitest.Name, Client: &sspi.AuthIdentity{User: "alice", Password: "pw"}}
	pair, err := setup.Handshake(t, tbl, setup.Client)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 48; i++ {
		if _, err := startHandshake(t, h, cr.Credential); err != nil {
			t.Fatalf("handshake %d: %v", i, err)
		}
	}
	if h.Stats().Contexts != 50 || pkg.LiveContexts() != 50 {
		t.Fatalf("contexts = %d, package %d", h.Stats().Contexts, pkg.LiveContexts())
	}
	_, err = startHandshake(t, h, cr.Credential)
	if !errors.Is(err, sspi.SEC_E_INSUFFICIENT_MEMORY) {
		t.Fatalf("over the cap: %v", err)
	}
	if pkg.LiveContexts() != 50 {
		t.Fatalf("refused handshake leaked package state: %d", pkg.LiveContexts())
	}
	clk.Add(50 * time.Second)
	if n := h.Reap(); n != 0 {
		t.Fatalf("reaped %d before the timeout", n)
	}
	clk.Add(20 * time.Second) // 70 s after the 48 half-built ones started
	if n := h.Reap(); n != 48 {
		t.Fatalf("reaped %d, want 48", n)
	}
	if h.Stats().Contexts != 2 || pkg.LiveContexts() != 2 {
		t.Fatalf("after reaping: host %d, package %d", h.Stats().Contexts, pkg.LiveContexts())
	}
	// The established pair survives and still works.
	msg := []byte("still here")
	if got, st := sspitest.Unseal(tbl, &pair.Server, sspitest.Seal(t, tbl, &pair.Client, msg)); st.Failed() || string(got) != string(msg) {
		t.Fatalf("established pair after reaping: %v", st)
	}
	// A reaped handle is invalid, and the table takes new handshakes again,
	// reaping on demand when it is full.
	for i := 0; i < 48; i++ {
		if _, err := startHandshake(t, h, cr.Credential); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(2 * time.Minute)
	if _, err := startHandshake(t, h, cr.Credential); err != nil {
		t.Fatalf("insert into a full table of expired entries: %v", err)
	}
	if h.Stats().Contexts != 3 {
		t.Fatalf("contexts = %d, want 3", h.Stats().Contexts)
	}
	pair.Close()
}

// TestBackgroundReaper runs in a synctest bubble: the reaper's ticker and
// the host's clock are the bubble's, so the handshake timeout passes
// without waiting for it.
func TestBackgroundReaper(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pkg := sspitest.New(sspitest.Config{})
		h, err := lsa.New(lsa.Config{HandshakeTimeout: 20 * time.Second, ReapInterval: 5 * time.Second}, pkg)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		cr, _ := h.AcquireCredentialsHandle(context.Background(), &sspi.AcquireCredentialsRequest{Package: sspitest.Name, Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: "u", Password: "p"}})
		res, err := startHandshake(t, h, cr.Credential)
		if err != nil {
			t.Fatal(err)
		}
		// Just before the timeout the context is still there.
		time.Sleep(19 * time.Second)
		synctest.Wait()
		if h.Stats().Contexts != 1 || pkg.LiveContexts() != 1 {
			t.Fatalf("reaped early: host %d, package %d", h.Stats().Contexts, pkg.LiveContexts())
		}
		// One reap interval past it, the table has forgotten it and the
		// package has deleted its state.
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if h.Stats().Contexts != 0 || pkg.LiveContexts() != 0 {
			t.Fatalf("background reaper did not free the context: host %d, package %d", h.Stats().Contexts, pkg.LiveContexts())
		}
		if err := h.DeleteContext(context.Background(), res.Context); !errors.Is(err, sspi.SEC_E_INVALID_HANDLE) {
			t.Errorf("delete of a reaped context = %v", err)
		}
	})
}

func TestRegistry(t *testing.T) {
	h, err := lsa.New(lsa.Config{}, sspitest.New(sspitest.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Register(sspitest.New(sspitest.Config{})); err == nil {
		t.Error("duplicate registration accepted")
	}
	pk, _ := h.EnumerateSecurityPackages(context.Background())
	if len(pk) != 1 || pk[0].Name != sspitest.Name || pk[0].OIDs[0] != sspitest.OID {
		t.Errorf("EnumerateSecurityPackages = %+v", pk)
	}
	if info, err := h.QuerySecurityPackageInfo(context.Background(), "testpkg"); err != nil || info.Name != sspitest.Name {
		t.Errorf("case-insensitive lookup: %v", err)
	}
	if _, err := h.QuerySecurityPackageInfo(context.Background(), "nope"); !errors.Is(err, sspi.SEC_E_SECPKG_NOT_FOUND) {
		t.Errorf("unknown = %v", err)
	}
	if _, err := h.AcquireCredentialsHandle(context.Background(), &sspi.AcquireCredentialsRequest{Package: sspitest.Name, Use: 7}); !errors.Is(err, sspi.SEC_E_INVALID_PARAMETER) {
		t.Errorf("bad credential use = %v", err)
	}
	if _, err := h.QueryCredentialsAttributes(context.Background(), sspi.CredHandle{Lower: 1, Upper: 2}, 0); !errors.Is(err, sspi.SEC_E_INVALID_HANDLE) {
		t.Errorf("unknown credential = %v", err)
	}
}

// TestCloseFreesEverything: Close deletes every context and credential.
func TestCloseFreesEverything(t *testing.T) {
	pkg := sspitest.New(sspitest.Config{})
	h, _ := lsa.New(lsa.Config{}, pkg)
	cr, _ := h.AcquireCredentialsHandle(context.Background(), &sspi.AcquireCredentialsRequest{Package: sspitest.Name, Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: "u", Password: "p"}})
	for i := 0; i < 10; i++ {
		startHandshake(t, h, cr.Credential)
	}
	h.Close()
	if pkg.LiveContexts() != 0 || h.Stats() != (lsa.Stats{}) {
		t.Errorf("after Close: package %d, host %+v", pkg.LiveContexts(), h.Stats())
	}
}
