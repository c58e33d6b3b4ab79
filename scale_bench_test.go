package gosspi_test

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// How cost grows with what a host holds (issue 16): accept latency with
// 1k, 100k and 1M contexts in the host, the memory of an established and
// of a half-built context, and replay-cache lookups with 10k and 1M
// entries. The hosts run on a fixed clock, so nothing expires or is reaped
// while they are filled and measured.

var scaleEpoch = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

const (
	scaleDomain = "SCALE"
	scaleUser   = "carol"
	scalePass   = "Scale-Pass-1"
)

// scaleHosts is a server host (NTLM accounts in memory, room for maxCtx
// contexts) and a client host with an outbound credential: two hosts,
// because a host refuses to answer its own CHALLENGE (NTLM reflection).
type scaleHosts struct {
	srv, cli  *sspi.FunctionTable
	scred, cc sspi.CredHandle
	negotiate []byte
}

func newScaleHosts(tb testing.TB, maxCtx int) *scaleHosts {
	now := func() time.Time { return scaleEpoch }
	store := ntlm.NewMemoryStore()
	store.Add(scaleDomain, scaleUser, scalePass)
	sh, err := gosspi.NewHost(gosspi.HostConfig{MaxContexts: maxCtx, HandshakeTimeout: 24 * time.Hour, NTLM: ntlm.Config{Accounts: store}, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	ch, err := gosspi.NewHost(gosspi.HostConfig{Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sh.Close(); ch.Close() })
	h := &scaleHosts{srv: sh.SSPI(), cli: ch.SSPI()}
	if st := h.srv.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_INBOUND, nil, &h.scred, nil); st != sspi.SEC_E_OK {
		tb.Fatal(st)
	}
	id := &sspi.AuthIdentity{User: scaleUser, Domain: scaleDomain, Password: scalePass}
	if st := h.cli.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_OUTBOUND, id, &h.cc, nil); st != sspi.SEC_E_OK {
		tb.Fatal(st)
	}
	return h
}

func scaleOut() *sspi.SecBufferDesc {
	return sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 0, 2048)})
}

func scaleIn(tok []byte) *sspi.SecBufferDesc {
	return sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok})
}

// clientStart makes a client context and its NEGOTIATE.
func (h *scaleHosts) clientStart(tb testing.TB) (sspi.CtxtHandle, []byte) {
	var c sspi.CtxtHandle
	out := scaleOut()
	if st := h.cli.InitializeSecurityContext(&h.cc, nil, "HTTP/scale.example", sspi.ISC_REQ_CONFIDENTIALITY, 0, nil, &c, out, nil, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		tb.Fatalf("client NEGOTIATE: %v", st)
	}
	return c, slices.Clone(out.Token())
}

// halfBuilt adds one server context that has answered a NEGOTIATE with its
// CHALLENGE and waits for the AUTHENTICATE.
func (h *scaleHosts) halfBuilt(tb testing.TB) {
	if h.negotiate == nil {
		c, neg := h.clientStart(tb)
		h.cli.DeleteSecurityContext(&c)
		h.negotiate = neg
	}
	var s sspi.CtxtHandle
	if st := h.srv.AcceptSecurityContext(&h.scred, nil, scaleIn(h.negotiate), 0, 0, &s, scaleOut(), nil, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		tb.Fatalf("half-built context: %v", st)
	}
}

// accept runs one complete NTLM handshake and returns the time the server
// host spent in its two AcceptSecurityContext calls (the client's legs
// are not timed). With keep, the server context stays in the host
// (established); otherwise it is deleted.
func (h *scaleHosts) accept(tb testing.TB, keep bool) time.Duration {
	c, neg := h.clientStart(tb)
	var s sspi.CtxtHandle
	out := scaleOut()
	t0 := time.Now()
	st := h.srv.AcceptSecurityContext(&h.scred, nil, scaleIn(neg), 0, 0, &s, out, nil, nil)
	d := time.Since(t0)
	if st != sspi.SEC_I_CONTINUE_NEEDED {
		tb.Fatalf("accept NEGOTIATE: %v", st)
	}
	cout := scaleOut()
	if st := h.cli.InitializeSecurityContext(&h.cc, &c, "HTTP/scale.example", sspi.ISC_REQ_CONFIDENTIALITY, 0, scaleIn(out.Token()), &c, cout, nil, nil); st != sspi.SEC_E_OK {
		tb.Fatalf("client AUTHENTICATE: %v", st)
	}
	h.cli.DeleteSecurityContext(&c)
	t1 := time.Now()
	st = h.srv.AcceptSecurityContext(&h.scred, &s, scaleIn(cout.Token()), 0, 0, &s, scaleOut(), nil, nil)
	if !keep {
		h.srv.DeleteSecurityContext(&s)
	}
	d += time.Since(t1)
	if st != sspi.SEC_E_OK {
		tb.Fatalf("accept AUTHENTICATE: %v", st)
	}
	return d
}

// fill puts n contexts in the server host: established ones, or
// half-built ones. It returns the live heap each added (after a GC).
func (h *scaleHosts) fill(tb testing.TB, n int, established bool) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		if established {
			h.accept(tb, true)
		} else {
			h.halfBuilt(tb)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

func median(d []time.Duration) float64 {
	slices.Sort(d)
	return float64(d[len(d)/2].Nanoseconds())
}

// BenchmarkAcceptScale: the server's time for a complete NTLM accept (both
// AcceptSecurityContext calls, then delete) on three hosts holding 1k,
// 100k and 1M contexts (half of them established, half half-built; at
// most 1M in all), the three alternating in one loop. It also reports the
// heap per established and per half-built context measured while filling.
// It needs a few GB and a minute or two to fill: run it with -benchtime
// 20000x (-short for a quick run at 1k, 10k and 20k).
func BenchmarkAcceptScale(b *testing.B) {
	sizes := []int{1_000, 100_000, 1_000_000}
	if testing.Short() { // a quick check of the harness: 1k, 10k, 20k
		sizes = []int{1_000, 10_000, 20_000}
	}
	if v := os.Getenv("GOSSPI_SCALE_SIZES"); v != "" { // e.g. "1000000", to profile one size alone
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	hosts := make([]*scaleHosts, len(sizes))
	var estB, halfB float64
	for i, n := range sizes {
		hosts[i] = newScaleHosts(b, n+n/8+1024)
		e := hosts[i].fill(b, n/2, true)
		hf := hosts[i].fill(b, n-n/2, false)
		if n == sizes[len(sizes)-1] {
			estB, halfB = e, hf
		}
	}
	lat := make([][]time.Duration, len(sizes))
	i := 0
	for b.Loop() {
		for k := range hosts {
			j := (i + k) % len(hosts)
			lat[j] = append(lat[j], hosts[j].accept(b, false))
		}
		i++
	}
	for k, n := range sizes {
		b.ReportMetric(median(lat[k]), "accept-ns/"+strconv.Itoa(n/1000)+"k")
	}
	b.ReportMetric(median(lat[len(sizes)-1])/median(lat[0]), "largest/smallest")
	b.ReportMetric(estB, "B/established")
	b.ReportMetric(halfB, "B/half-built")
}

// BenchmarkReplayCacheScale: MemoryReplayCache.Check of a fresh
// authenticator key and of a replayed one, on caches holding 10k and 1M
// live entries (keys in the acceptor's format), the two alternating in
// batches in one loop. Each cache stays at its size: its clock moves one
// step per batch and the batch's oldest entries expire, so every insert
// also pays for one expiry, as in a steady stream of AP-REQs.
func BenchmarkReplayCacheScale(b *testing.B) {
	const batch = 64
	key := func(i int) string {
		return "alice@EXAMPLE.COM|HTTP/www.example.com@EXAMPLE.COM|" + strconv.FormatInt(scaleEpoch.Unix()-int64(i%300), 10) + "|" + strconv.Itoa(i%1_000_000) + "|" + fmt.Sprintf("%024x", i)
	}
	// One batch every 100 ms: 640 AP-REQs a second; the 1M cache then
	// spans 26 minutes of them.
	step := func(t int) time.Time { return scaleEpoch.Add(time.Duration(t) * 100 * time.Millisecond) }
	sizes := []int{10_000, 1_000_000}
	caches := make([]*kerberos.MemoryReplayCache, len(sizes))
	ticks := make([]int, len(sizes))
	for k, n := range sizes {
		k := k
		caches[k] = kerberos.NewMemoryReplayCacheWithClock(n+16*batch, func() time.Time { return step(ticks[k]) })
		for i := range n { // entry i expires at step i/batch+1
			if err := caches[k].Check(key(i), step(i/batch+1)); err != nil {
				b.Fatal(err)
			}
		}
	}
	fresh := make([][]string, len(sizes))
	tf := make([][]time.Duration, len(sizes))
	tr := make([][]time.Duration, len(sizes))
	next := []int{sizes[0], sizes[1]}
	i := 0
	for b.Loop() {
		for k := range caches {
			j := (i + k) % len(caches)
			c, n := caches[j], sizes[j]
			keys := fresh[j][:0]
			for range batch {
				keys = append(keys, key(next[j]))
				next[j]++
			}
			fresh[j] = keys
			ticks[j]++ // the oldest batch expires now
			exp := step(ticks[j] + n/batch)
			t0 := time.Now()
			for _, s := range keys {
				if err := c.Check(s, exp); err != nil {
					b.Fatal(err)
				}
			}
			t1 := time.Now()
			for _, s := range keys { // the same keys again: replays
				if err := c.Check(s, exp); err != kerberos.ErrReplay {
					b.Fatalf("replay not detected: %v", err)
				}
			}
			tf[j] = append(tf[j], t1.Sub(t0))
			tr[j] = append(tr[j], time.Since(t1))
			// Memory is reclaimed by the second: up to 10 batches more.
			if l := c.Len(); l < n-batch || l > n+11*batch {
				b.Fatalf("cache holds %d entries, want %d to %d", l, n, n+11*batch)
			}
		}
		i++
	}
	for k, n := range sizes {
		name := strconv.Itoa(n/1000) + "k"
		b.ReportMetric(median(tf[k])/batch, "fresh-ns/"+name)
		b.ReportMetric(median(tr[k])/batch, "replay-ns/"+name)
	}
	b.ReportMetric(median(tf[1])/median(tf[0]), "fresh-1M/10k")
	b.ReportMetric(median(tr[1])/median(tr[0]), "replay-1M/10k")
}
