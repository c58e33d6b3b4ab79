package httpauth

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"
)

// raiseFDLimit makes sure the process may hold need file descriptors,
// raising the soft RLIMIT_NOFILE up to the hard one for the test.
func raiseFDLimit(t *testing.T, need uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur >= need {
		return
	}
	if rl.Max < need {
		t.Fatalf("RLIMIT_NOFILE: hard limit %d, the test needs %d descriptors", rl.Max, need)
	}
	old := rl.Cur
	rl.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rl.Cur = old
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	})
}

// bodyProbe tells, through reads, when the middleware began to read the
// body of a request marked X-Probe: that request's token has been
// processed.
func bodyProbe(reads chan<- struct{}) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Probe") != "" {
				r.Body = &probedBody{ReadCloser: r.Body, reads: reads}
			}
			h.ServeHTTP(w, r)
		})
	}
}

type probedBody struct {
	io.ReadCloser
	once  sync.Once
	reads chan<- struct{}
}

func (b *probedBody) Read(p []byte) (int, error) {
	b.once.Do(func() { b.reads <- struct{}{} })
	return b.ReadCloser.Read(p)
}

// rawLeg writes an NTLM leg by hand: the Authorization header, a
// Content-Length and what of the body there is.
func rawLeg(t *testing.T, c net.Conn, token []byte, contentLength int, body string) {
	t.Helper()
	req := fmt.Sprintf("POST / HTTP/1.1\r\nHost: test\r\nAuthorization: %s\r\nX-Probe: 1\r\nContent-Length: %d\r\n\r\n%s",
		FormatAuthorization(SchemeNTLM, token), contentLength, body)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
}

// logOnBoth logs the test users on with NTLM and with Kerberos through
// the Transport, each on a connection of its own.
func logOnBoth(t *testing.T, s *testServer) {
	t.Helper()
	for _, tc := range []struct {
		name string
		tr   *Transport
		url  string
	}{
		{"NTLM", &Transport{Host: clientHost(t), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}}, s.URL},
		{"Kerberos", &Transport{Host: clientHost(t), Identity: kerberosIdentity()}, strings.Replace(s.URL, "127.0.0.1", "localhost", 1)},
	} {
		resp, err := (&http.Client{Transport: tc.tr}).Get(tc.url)
		if err != nil {
			t.Fatalf("%s logon: %v", tc.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tc.tr.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s logon with the stalled connections open: status %d: %s", tc.name, resp.StatusCode, b)
		}
	}
}

// TestAttackStalledBodiesHoldNoSlot is the denial of service of issue 10,
// item 1: DefaultMaxHandshakes connections each send an NTLM NEGOTIATE
// with "Content-Length: 1000000" and one byte of body, then nothing. The
// server must not hold a handshake slot (or the connection's lock) while
// it waits for those bodies: NTLM and Kerberos logons go on.
func TestAttackStalledBodiesHoldNoSlot(t *testing.T) {
	const n = DefaultMaxHandshakes
	raiseFDLimit(t, 2*n+256)
	reads := make(chan struct{}, n)
	s := newServerOpts(t, Config{}, BindingsWhenSupported, nil, bodyProbe(reads))
	neg, _, err := ntlmClient(t, nil, ntlmIdentity()).Step(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(s.URL, "http://")
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		rawLeg(t, c, neg, 1000000, "x")
	}
	// Every NEGOTIATE has been processed once the middleware reads its body.
	timeout := time.After(2 * time.Minute)
	for i := 0; i < n; i++ {
		select {
		case <-reads:
		case <-timeout:
			t.Fatalf("only %d of %d stalled requests reached the middleware", i, n)
		}
	}
	if h := s.auth.Handshakes(); h != 0 {
		t.Errorf("%d handshake slots held by connections stalled in their body, want 0", h)
	}
	logOnBoth(t, s)
}

// TestAttackParkedHandshakesReclaimed: DefaultMaxHandshakes connections
// take their CHALLENGE and go silent. Kerberos, which completes in one leg,
// needs no slot and logs on at once; a new NTLM handshake gets 503 until
// the parked ones are older than HandshakeTimeout, then their slots are
// reclaimed (without their connections' help) and NTLM logs on.
func TestAttackParkedHandshakesReclaimed(t *testing.T) {
	const n = DefaultMaxHandshakes
	raiseFDLimit(t, 2*n+256)
	clock := testutil.NewClock(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	s := newServer(t, Config{Now: clock.Now}, BindingsWhenSupported, nil)
	neg, _, err := ntlmClient(t, nil, ntlmIdentity()).Step(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(s.URL, "http://")
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					failed.Add(1)
					return
				}
				conns[i] = c
				fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: test\r\nAuthorization: %s\r\n\r\n", FormatAuthorization(SchemeNTLM, neg))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					failed.Add(1)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "NTLM ") {
					failed.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d parked handshakes did not get their CHALLENGE", failed.Load())
	}
	if h := s.auth.Handshakes(); h != n {
		t.Fatalf("%d handshakes in progress, want %d", h, n)
	}
	// Kerberos completes in one leg: no slot needed.
	tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity()}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(strings.Replace(s.URL, "127.0.0.1", "localhost", 1))
	if err != nil {
		t.Fatal(err)
	}
	decodeWhoami(t, resp)
	// NTLM needs a slot: 503 while the parked handshakes are live.
	ntr := &Transport{Host: clientHost(t), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}}
	defer ntr.Close()
	resp, err = (&http.Client{Transport: ntr}).Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("NTLM with the table full of live handshakes: %d, want 503", resp.StatusCode)
	}
	clock.Advance(DefaultHandshakeTimeout + time.Second)
	resp, err = (&http.Client{Transport: ntr}).Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	decodeWhoami(t, resp)
	if h := s.auth.Handshakes(); h != 0 {
		t.Errorf("%d handshakes in progress after the stale ones were reclaimed, want 0", h)
	}
}

// TestAttackHandshakeBodyBounded: the body of a leg that continues a
// handshake is read within a bound of time and size, else the connection
// closes (and the handshake with it) instead of waiting for the client.
func TestAttackHandshakeBodyBounded(t *testing.T) {
	s := newServer(t, Config{HandshakeTimeout: 300 * time.Millisecond}, BindingsWhenSupported, nil)
	neg, _, err := ntlmClient(t, nil, ntlmIdentity()).Step(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(s.URL, "http://")
	for _, tc := range []struct {
		name          string
		contentLength int
		body          string
	}{
		{"stalled body", 1000000, "x"},
		{"body over the bound", maxDrain + 1, ""},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// Against the real clock: a server that waits for the body
		// fails here instead of hanging the test.
		c.SetDeadline(time.Now().Add(20 * time.Second))
		rawLeg(t, c, neg, tc.contentLength, tc.body)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !resp.Close || strings.Join(resp.Header.Values("WWW-Authenticate"), ",") != "Negotiate,NTLM" {
			t.Errorf("%s: %d close=%v %q, want 401, the connection closed and no CHALLENGE", tc.name, resp.StatusCode, resp.Close, resp.Header.Values("WWW-Authenticate"))
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%s: connection still open after the answer: %v", tc.name, err)
		}
		c.Close()
	}
	wantLog(t, s.logs, "level=WARN", "too large or too slow; closing the connection")
	if h := s.auth.Handshakes(); h != 0 {
		t.Errorf("%d handshakes in progress, want 0", h)
	}
}

// TestSlotReclaimedWhileHolderBusy: a stale slot is reclaimed although
// its connection's lock is held (the old reaper skipped such connections
// with TryLock), and a live one is not.
func TestSlotReclaimedWhileHolderBusy(t *testing.T) {
	var tbl slotTable
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	busy := &connState{id: 1}
	s, _ := tbl.acquire(busy, t0, time.Second, 1)
	if s == nil {
		t.Fatal("no slot in an empty table")
	}
	busy.mu.Lock() // the holder is stuck, its lock held
	defer busy.mu.Unlock()
	if s2, _ := tbl.acquire(&connState{id: 2}, t0.Add(time.Second/2), time.Second, 1); s2 != nil {
		t.Fatal("a live slot was taken over")
	}
	s2, reclaimed := tbl.acquire(&connState{id: 2}, t0.Add(2*time.Second), time.Second, 1)
	if s2 == nil || len(reclaimed) != 1 || reclaimed[0] != s || !s.reclaimed.Load() || tbl.len() != 1 {
		t.Fatalf("stale slot not reclaimed: %v %v %d", s2, reclaimed, tbl.len())
	}
	// Deleting the reclaimed contexts does not wait for the busy holder.
	a := &Authenticator{log: slog.New(slog.DiscardHandler)}
	a.closeReclaimed(reclaimed)
	tbl.release(s) // the holder's own release, later, is a no-op
	if tbl.len() != 1 {
		t.Errorf("%d slots, want 1", tbl.len())
	}
}
