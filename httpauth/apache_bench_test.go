package httpauth

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gosspi/gosspi"
)

// HTTP against Apache httpd + mod_auth_gssapi (issue 16): `gosspi serve`
// and Apache on the same machine, driven by the same Go load client in
// alternating rounds of one benchmark run.

// apacheBench switches startApache to a configuration for load: warnings
// only, no access log, and apacheBenchWorkers prefork processes.
var apacheBench bool

const apacheBenchWorkers = "StartServers 8\nMinSpareServers 8\nMaxSpareServers 16\nMaxRequestWorkers 16"

// Load: loadWorkers connections in flight, rounds of loadRound.
const (
	loadWorkers = 8
	loadRound   = time.Second
)

var gosspiBin struct {
	once sync.Once
	path string
	err  error
}

// buildGosspi builds cmd/gosspi once per test binary.
func buildGosspi(tb testing.TB) string {
	gosspiBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "gosspi-bin-")
		if err != nil {
			gosspiBin.err = err
			return
		}
		gosspiBin.path = filepath.Join(dir, "gosspi")
		out, err := exec.Command("go", "build", "-o", gosspiBin.path, "github.com/gosspi/gosspi/cmd/gosspi").CombinedOutput()
		if err != nil {
			gosspiBin.err = fmt.Errorf("go build ./cmd/gosspi: %v\n%s", err, out)
		}
	})
	if gosspiBin.err != nil {
		tb.Fatal(gosspiBin.err)
	}
	return gosspiBin.path
}

// startServe runs `gosspi serve` on a free loopback port with the test
// keytab and the NTLM account in gss-ntlmssp's format (NTLM_USER_FILE),
// as Apache gets them, and returns its address and process group.
func startServe(tb testing.TB, args ...string) (string, int) {
	bin := buildGosspi(tb)
	dir := tb.TempDir()
	users := filepath.Join(dir, "ntlm-users")
	if err := os.WriteFile(users, []byte(fmt.Sprintf("%s:%s:%s\n", ntDomain, ntUser, ntPW)), 0o600); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, append([]string{"serve", "-addr", addr, "-keytab", realm.keytab, "-spn", "any"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "KRB5_CONFIG=" + realm.Krb5Con, "NTLM_USER_FILE=" + users}
	logf, _ := os.Create(filepath.Join(dir, "serve.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	tb.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err := http.Get("http://" + addr + "/whoami"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return addr, cmd.Process.Pid
			}
		}
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
			tb.Fatalf("gosspi serve exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatal("gosspi serve does not answer")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rawConn is the load client's side of one connection: requests written
// by hand, responses read with http.ReadResponse, bodies drained.
type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, r: bufio.NewReader(c)}, nil
}

// do sends a GET (with an Authorization header when auth is set) and
// returns the status and the Negotiate token of WWW-Authenticate.
func (rc *rawConn) do(path, auth string) (int, []byte, error) {
	req := "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n"
	if auth != "" {
		req += "Authorization: " + auth + "\r\n"
	}
	if _, err := io.WriteString(rc.c, req+"\r\n"); err != nil {
		return 0, nil, err
	}
	resp, err := http.ReadResponse(rc.r, nil)
	if err != nil {
		return 0, nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var tok []byte
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if _, t, err := ParseAuthorization(v); err == nil && strings.HasPrefix(v, "Negotiate ") {
			tok = t
		}
	}
	return resp.StatusCode, tok, nil
}

// loadClient makes the client's tokens: Negotiate (SPNEGO) carrying NTLM
// or Kerberos, as curl and browsers send them to both servers.
type loadClient struct {
	h    *gosspi.Host
	ntlm *gosspi.Credential
	krb  *gosspi.Credential
}

func newLoadClient(tb testing.TB) *loadClient {
	h := clientHost(tb)
	ctx := context.Background()
	nc, err := h.AcquireCredential(ctx, gosspi.CredentialConfig{Package: "Negotiate", Identity: ntlmIdentity()})
	if err != nil {
		tb.Fatal(err)
	}
	kc, err := h.AcquireCredential(ctx, gosspi.CredentialConfig{Package: "Negotiate", Identity: kerberosIdentity()})
	if err != nil {
		tb.Fatal(err)
	}
	return &loadClient{h: h, ntlm: nc, krb: kc}
}

// ntlmHandshake is one complete Negotiate/NTLM handshake on a new
// connection: NegTokenInit(NEGOTIATE) → 401 CHALLENGE → AUTHENTICATE (with
// the mechListMIC) → 200, then close. (The client does not check the
// server's final mechListMIC, as wrk would not: both servers make it.)
func (lc *loadClient) ntlmHandshake(addr, path string) error {
	ctx := context.Background()
	sc, err := lc.h.NewClient(ctx, gosspi.ClientConfig{Package: "Negotiate", Target: "HTTP/localhost", Credential: lc.ntlm})
	if err != nil {
		return err
	}
	defer sc.Close()
	out, _, err := sc.Step(ctx, nil)
	if err != nil {
		return err
	}
	rc, err := dialRaw(addr)
	if err != nil {
		return err
	}
	defer rc.c.Close()
	st, tok, err := rc.do(path, FormatAuthorization("Negotiate", out))
	if err != nil {
		return err
	}
	if st != http.StatusUnauthorized || len(tok) == 0 {
		return fmt.Errorf("first leg: status %d, token %d bytes", st, len(tok))
	}
	if out, _, err = sc.Step(ctx, tok); err != nil {
		return err
	}
	if st, _, err = rc.do(path, FormatAuthorization("Negotiate", out)); err != nil {
		return err
	}
	if st != http.StatusOK {
		return fmt.Errorf("second leg: status %d", st)
	}
	return nil
}

// apReqs makes n Negotiate/Kerberos Authorization headers, each a fresh
// AP-REQ (mutual authentication), outside the timed rounds: the replay
// caches stay on for gosspi, and the client's cost is not in the figure.
func (lc *loadClient) apReqs(tb testing.TB, n int) []string {
	ctx := context.Background()
	out := make([]string, n)
	for i := range out {
		sc, err := lc.h.NewClient(ctx, gosspi.ClientConfig{Package: "Negotiate", Target: "HTTP/localhost", Credential: lc.krb})
		if err != nil {
			tb.Fatal(err)
		}
		tok, _, err := sc.Step(ctx, nil)
		if err != nil {
			tb.Fatal(err)
		}
		sc.Close()
		out[i] = FormatAuthorization("Negotiate", tok)
	}
	return out
}

// krbRequest is one Kerberos-authenticated request on a new connection.
func krbRequest(addr, path, auth string) error {
	rc, err := dialRaw(addr)
	if err != nil {
		return err
	}
	defer rc.c.Close()
	st, _, err := rc.do(path, auth)
	if err != nil {
		return err
	}
	if st != http.StatusOK {
		return fmt.Errorf("status %d", st)
	}
	return nil
}

// groupCPU is the CPU time (user + system, live processes and reaped
// children) of the processes in process group pgid, from /proc.
func groupCPU(tb testing.TB, pgid int) time.Duration {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	var ticks int64
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ... utime(14) stime(15) cutime(16) cstime(17)
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 15 {
			continue
		}
		var pg int
		fmt.Sscan(f[2], &pg)
		if pg != pgid {
			continue
		}
		for _, k := range []int{11, 12, 13, 14} {
			var v int64
			fmt.Sscan(f[k], &v)
			ticks += v
		}
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}

// serverRound is a round against the server whose processes are in
// process group pgid: operations per second, and the server's CPU time
// per operation.
func serverRound(b *testing.B, pgid int, op func(worker int) error) (perSec float64, cpuPerOp time.Duration) {
	c0 := groupCPU(b, pgid)
	t0 := time.Now()
	n := round(b, op)
	ops := n * time.Since(t0).Seconds()
	return n, time.Duration(float64(groupCPU(b, pgid)-c0) / ops)
}

// round runs op from loadWorkers goroutines for loadRound and returns the
// operations completed per second; any failure fails the benchmark.
func round(b *testing.B, op func(worker int) error) float64 {
	var n atomic.Int64
	var first atomic.Value
	deadline := time.Now().Add(loadRound)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range loadWorkers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := op(w); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if err := first.Load(); err != nil {
		b.Fatal(err)
	}
	return float64(n.Load()) / time.Since(t0).Seconds()
}

// pairedRounds alternates a round of a and one of b per iteration
// (alternating which goes first) and reports both medians and the median
// of the per-pair ratios a/b.
func pairedRounds(b *testing.B, unit, nameA, nameB string, a, bb func() float64) {
	var ra, rb, ratio []float64
	i := 0
	for b.Loop() {
		var x, y float64
		if i%2 == 0 {
			x = a()
			y = bb()
		} else {
			y = bb()
			x = a()
		}
		ra, rb, ratio = append(ra, x), append(rb, y), append(ratio, x/y)
		i++
	}
	med := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
	b.ReportMetric(med(ra), nameA+"-"+unit)
	b.ReportMetric(med(rb), nameB+"-"+unit)
	b.ReportMetric(med(ratio), nameA+"/"+nameB)
	b.ReportMetric(slices.Min(ratio), "ratio-min")
	b.ReportMetric(slices.Max(ratio), "ratio-max")
}

// serverPair alternates rounds against gosspi serve and Apache (which
// goes first alternates too) and reports, medians over the rounds: each
// server's rate, the ratio of the rates per pair, each server's CPU time
// per operation and the ratio of those (Apache's CPU per op ÷ gosspi's:
// how many times more work each server can do with the same CPU).
func serverPair(b *testing.B, unit string, gPG, aPG int, g, a func(pg int) (float64, time.Duration)) {
	var rg, ra, rr, cg, ca, cr []float64
	i := 0
	for b.Loop() {
		var x, y float64
		var cx, cy time.Duration
		if i%2 == 0 {
			x, cx = g(gPG)
			y, cy = a(aPG)
		} else {
			y, cy = a(aPG)
			x, cx = g(gPG)
		}
		rg, ra, rr = append(rg, x), append(ra, y), append(rr, x/y)
		cg, ca, cr = append(cg, float64(cx)), append(ca, float64(cy)), append(cr, float64(cy)/float64(cx))
		i++
	}
	med := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
	b.ReportMetric(med(rg), "gosspi-"+unit)
	b.ReportMetric(med(ra), "apache-"+unit)
	b.ReportMetric(med(rr), "rate-gosspi/apache")
	b.ReportMetric(slices.Min(rr), "rate-ratio-min")
	b.ReportMetric(slices.Max(rr), "rate-ratio-max")
	b.ReportMetric(med(cg)/1e3, "gosspi-cpu-us/op")
	b.ReportMetric(med(ca)/1e3, "apache-cpu-us/op")
	b.ReportMetric(med(cr), "cpu-apache/gosspi")
	b.ReportMetric(slices.Min(cr), "cpu-ratio-min")
	b.ReportMetric(slices.Max(cr), "cpu-ratio-max")
}

// BenchmarkServeVsApache: new connection per handshake, `gosspi serve`
// against Apache + mod_auth_gssapi, rounds of one second alternating;
// run with -benchtime 8x (eight pairs of rounds).
//   - NTLM: complete Negotiate/NTLM handshakes per second; Apache's NTLM
//     is gss-ntlmssp's, through MIT's SPNEGO.
//   - Kerberos: Negotiate/Kerberos requests per second (one leg, AP-REP
//     made by the server); tokens made before each round.
//
// The load client shares the machine's CPUs with the server it drives,
// so the rate is bounded by the client too; the server's own CPU time per
// operation (its process group's, from /proc) is the capacity figure.
func BenchmarkServeVsApache(b *testing.B) {
	apacheBench = true
	defer func() { apacheBench = false }()
	lc := newLoadClient(b)
	b.Run("NTLM", func(b *testing.B) {
		serve, spg := startServe(b, "-schemes", "Negotiate")
		ap := startApache(b, "ntlmssp", fmt.Sprintf("%s:%s:%s\n", ntDomain, ntUser, ntPW))
		apAddr := strings.TrimPrefix(ap.URL, "http://")
		serverPair(b, "handshakes/s", spg, ap.proc.Process.Pid,
			func(pg int) (float64, time.Duration) {
				return serverRound(b, pg, func(int) error { return lc.ntlmHandshake(serve, "/whoami") })
			},
			func(pg int) (float64, time.Duration) {
				return serverRound(b, pg, func(int) error { return lc.ntlmHandshake(apAddr, "/index.html") })
			})
	})
	b.Run("Kerberos", func(b *testing.B) {
		serve, spg := startServe(b, "-schemes", "Negotiate")
		ap := startApache(b, "krb5", "")
		apAddr := strings.TrimPrefix(ap.URL, "http://")
		// Enough fresh AP-REQs for a round of each server, made before it.
		var toks []string
		var next atomic.Int64
		krbRound := func(pg int, addr, path string) (float64, time.Duration) {
			toks = lc.apReqs(b, 20000)
			next.Store(0)
			return serverRound(b, pg, func(int) error {
				i := next.Add(1) - 1
				if int(i) >= len(toks) {
					return fmt.Errorf("more than %d requests in a round: make more tokens", len(toks))
				}
				return krbRequest(addr, path, toks[i])
			})
		}
		serverPair(b, "requests/s", spg, ap.proc.Process.Pid,
			func(pg int) (float64, time.Duration) { return krbRound(pg, serve, "/whoami") },
			func(pg int) (float64, time.Duration) { return krbRound(pg, apAddr, "/index.html") })
	})
}

// BenchmarkKeepAliveRatio: requests per second on kept-alive connections,
// authenticated (one NTLM handshake per connection, then the middleware's
// persistence: no Authorization header on later requests) against the
// same handler without authentication, same raw load client, rounds
// alternating. `gosspi serve` has no unauthenticated route, so both sides
// are the httpauth middleware (as serve runs it) and net/http in this
// process. Run with -benchtime 6x.
func BenchmarkKeepAliveRatio(b *testing.B) {
	a, err := New(Config{Host: serverHost(b, BindingsWhenSupported), Schemes: []string{SchemeNegotiate}, Persist: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	authAddr := benchServer(b, a.Middleware(whoamiPlain), a)
	plainAddr := benchServer(b, whoamiPlain, nil)
	lc := newLoadClient(b)
	// One connection per worker on each server, authenticated once.
	authConns, plainConns := make([]*rawConn, loadWorkers), make([]*rawConn, loadWorkers)
	ctx := context.Background()
	for w := range loadWorkers {
		sc, err := lc.h.NewClient(ctx, gosspi.ClientConfig{Package: "Negotiate", Target: "HTTP/localhost", Credential: lc.ntlm})
		if err != nil {
			b.Fatal(err)
		}
		rc, err := dialRaw(authAddr)
		if err != nil {
			b.Fatal(err)
		}
		out, _, err := sc.Step(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		st, tok, err := rc.do("/", FormatAuthorization("Negotiate", out))
		if err != nil || st != http.StatusUnauthorized || len(tok) == 0 {
			b.Fatalf("first leg: status %d, token %d bytes, %v", st, len(tok), err)
		}
		out, _, err = sc.Step(ctx, tok)
		if err != nil {
			b.Fatal(err)
		}
		if st, _, err := rc.do("/", FormatAuthorization("Negotiate", out)); err != nil || st != 200 {
			b.Fatalf("handshake: %d %v", st, err)
		}
		sc.Close()
		if st, _, err := rc.do("/", ""); err != nil || st != 200 {
			b.Fatalf("persisted request: %d %v", st, err)
		}
		authConns[w] = rc
		if plainConns[w], err = dialRaw(plainAddr); err != nil {
			b.Fatal(err)
		}
		defer rc.c.Close()
		defer plainConns[w].c.Close()
	}
	get := func(conns []*rawConn) func() float64 {
		return func() float64 {
			return round(b, func(w int) error {
				st, _, err := conns[w].do("/", "")
				if err == nil && st != 200 {
					err = fmt.Errorf("status %d", st)
				}
				return err
			})
		}
	}
	pairedRounds(b, "requests/s", "authenticated", "unauthenticated", get(authConns), get(plainConns))
}

// benchServer serves h on a loopback port with a plain http.Server (the
// Authenticator's connection hooks installed when a is set) and returns
// its address.
func benchServer(tb testing.TB, h http.Handler, a *Authenticator) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	if a != nil {
		a.Install(srv)
	}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
