//go:build linux

package netlogon

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/sspi"
)

// calls counts the requests of each operation a client sends, from its
// trace: a request's opnum is at offset 22.
type calls struct {
	mu sync.Mutex
	n  map[uint16]int
}

func (c *calls) hook(cl *Client) {
	c.n = map[uint16]int{}
	cl.trace = func(_ int, out bool, pdu []byte) {
		if out && pdu[2] == 0 && pdu[3]&1 != 0 { // first fragment of a request
			c.mu.Lock()
			c.n[uint16(pdu[22])|uint16(pdu[23])<<8]++
			c.mu.Unlock()
		}
	}
}

func (c *calls) count(op uint16) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

// TestWrongPasswordNotRetried: a refused logon reaches the DC once.
func TestWrongPasswordNotRetried(t *testing.T) {
	c := dcClient(t, nil)
	var n calls
	n.hook(c)
	r, _ := ntlmv2(addc.Alice.Name, addc.Domain, "wrong", [8]byte{3})
	if _, err := c.VerifyResponse(testCtx(t), r); !errors.Is(err, sspi.SEC_E_LOGON_DENIED) {
		t.Fatal(err)
	}
	if got := n.count(opLogonSamLogonEx); got != 1 {
		t.Errorf("%d NetrLogonSamLogonEx calls for one wrong password", got)
	}
}

// TestStaleChannel: another process sets up a secure channel for the same
// machine account, so the DC no longer knows this client's session key; a
// new connection's first call is refused (ACCESS_DENIED), the channel is
// set up again once, and the logon succeeds.
func TestStaleChannel(t *testing.T) {
	a := dcClient(t, nil)
	var n calls
	n.hook(a)
	r, _ := ntlmv2(addc.Alice.Name, addc.Domain, addc.Alice.Password, [8]byte{4})
	if _, err := a.VerifyResponse(testCtx(t), r); err != nil {
		t.Fatal(err)
	}
	b := dcClient(t, nil)
	if _, err := b.VerifyResponse(testCtx(t), r); err != nil {
		t.Fatal(err)
	}
	// a's idle connection would still work (the DC keeps each bound
	// connection's key); drop it so that a dials anew.
	a.mu.Lock()
	for _, ch := range a.idle {
		ch.conn.Close()
	}
	a.idle = nil
	a.mu.Unlock()
	if _, err := a.VerifyResponse(testCtx(t), r); err != nil {
		t.Fatalf("after another process's secure channel: %v", err)
	}
	if got := n.count(opServerAuthenticate3); got != 2 {
		t.Errorf("%d NetrServerAuthenticate3 calls, want 2 (the channel set up again once)", got)
	}
	t.Logf("calls: %v", n.n)
}

// TestConcurrencyBound: N+10 logons at once with a bound of N all
// succeed, over at most N sealed connections.
func TestConcurrencyBound(t *testing.T) {
	const bound = 3
	c := dcClient(t, func(cfg *Config) { cfg.MaxConcurrent = bound })
	var inFlight, peak atomic.Int32
	var n calls
	n.hook(c)
	trace := c.trace
	c.trace = func(conn int, out bool, pdu []byte) {
		trace(conn, out, pdu)
		if pdu[2] == 0 && uint16(pdu[22]) == opLogonSamLogonEx && out {
			v := inFlight.Add(1)
			for p := peak.Load(); v > p && !peak.CompareAndSwap(p, v); p = peak.Load() {
			}
		}
		if pdu[2] == 2 && !out && inFlight.Load() > 0 {
			inFlight.Add(-1)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, bound+10)
	for i := 0; i < bound+10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, _ := ntlmv2(addc.Alice.Name, addc.Domain, addc.Alice.Password, [8]byte{byte(i)})
			_, err := c.VerifyResponse(testCtx(t), r)
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if c.nconns > bound+1 { // the handshake's connection and at most bound sealed ones
		t.Errorf("%d connections for a bound of %d", c.nconns, bound)
	}
	if p := peak.Load(); p > bound {
		t.Errorf("%d logons in flight at once, bound %d", p, bound)
	}
	t.Logf("%d connections, peak %d in flight, %d logons", c.nconns, peak.Load(), n.count(opLogonSamLogonEx))
}

// TestHungDC: a DC that accepts connections and never answers costs a
// logon no more than the timeout, gives SEC_E_NO_AUTHENTICATING_AUTHORITY,
// and leaves no goroutine or connection behind; a caller that gives up
// early gets its answer at once.
func TestHungDC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var closed atomic.Int32
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, nc); closed.Add(1); nc.Close() }()
		}
	}()
	before := runtime.NumGoroutine()
	c, err := New(Config{DC: ln.Addr().String(), Domain: addc.Domain, Account: addc.Machine.Name, NTHash: [16]byte{1}, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ntlmv2(addc.Alice.Name, addc.Domain, addc.Alice.Password, [8]byte{5})
	start := time.Now()
	_, err = c.VerifyResponse(context.Background(), r)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a hung DC took %v with a 500 ms timeout", d)
	}
	if !errors.Is(err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung DC: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }() // the caller gives up mid-call
	if _, err := c.VerifyResponse(ctx, r); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	c.Close()
	for i := 0; i < 100 && (closed.Load() < 2 || runtime.NumGoroutine() > before+1); i++ {
		time.Sleep(20 * time.Millisecond) // waiting for the listener's goroutines to see EOF
	}
	if closed.Load() < 2 {
		t.Errorf("%d of 2 connections closed", closed.Load())
	}
	if g := runtime.NumGoroutine(); g > before+1 {
		t.Errorf("%d goroutines, %d before", g, before)
	}
}

// TestDCStoppedAndRestarted: with the DC stopped a logon fails fast with
// SEC_E_NO_AUTHENTICATING_AUTHORITY (never SEC_E_LOGON_DENIED); after a
// restart the client reconnects (its idle connection is dead) and logons
// succeed again.
func TestDCStoppedAndRestarted(t *testing.T) {
	dc := addc.Start(t)
	c := dcClient(t, func(cfg *Config) { cfg.Timeout = 5 * time.Second })
	r, _ := ntlmv2(addc.Alice.Name, addc.Domain, addc.Alice.Password, [8]byte{6})
	if _, err := c.VerifyResponse(testCtx(t), r); err != nil {
		t.Fatal(err)
	}
	dc.Stop()
	restarted := false
	defer func() {
		if !restarted {
			dc.Restart()
		}
	}()
	start := time.Now()
	_, err := c.VerifyResponse(testCtx(t), r)
	if !errors.Is(err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY) {
		t.Errorf("DC stopped: %v", err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("DC stopped: %v to fail", d)
	}
	t.Logf("DC stopped: %v after %v", err, time.Since(start))
	if err := dc.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	if _, err := c.VerifyResponse(testCtx(t), r); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}

// TestSambaCrossCheck: Samba's own NETLOGON client (python3-samba,
// netr_LogonSamLogonEx over a sealed schannel) and ours get the same SID,
// groups and user session key for the same responses from the same DC.
func TestSambaCrossCheck(t *testing.T) {
	dc := addc.Start(t)
	c := dcClient(t, nil)
	r, key := ntlmv2(addc.Alice.Name, addc.Domain, addc.Alice.Password, [8]byte{7, 7})
	ours, err := c.VerifyResponse(testCtx(t), r)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "testdata/samba_samlogon.py", dc.SMBConf, addc.Machine.Name, addc.Machine.Password,
		addc.Domain, addc.Realm, r.User, r.Domain, hex.EncodeToString(r.ServerChallenge[:]),
		hex.EncodeToString(r.NTResponse), hex.EncodeToString(r.LMResponse)).CombinedOutput()
	if err != nil {
		t.Fatalf("Samba's client: %v\n%s", err, out)
	}
	var s struct {
		User, Domain, SID, Key string
		Groups, Extra          []string
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := append(s.Groups, s.Extra...)
	got := slices.Clone(ours.Groups)
	slices.Sort(want)
	slices.Sort(got)
	if ours.User != s.User || ours.Domain != s.Domain || ours.SID != s.SID || hex.EncodeToString(ours.SessionKey[:]) != s.Key ||
		!slices.Equal(got, slices.Compact(want)) || ours.SessionKey != key {
		t.Errorf("ours %+v\nSamba's %+v", ours, s)
	}
}
