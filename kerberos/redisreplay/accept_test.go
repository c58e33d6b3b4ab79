package redisreplay_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/internal/redistest"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/kerberos/redisreplay"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

const svcSPN = "HTTP/svc.localhost"

// exampleRedis is the server the Example talks to (REDIS_URL).
var exampleRedis *redistest.Server

func TestMain(m *testing.M) {
	s, err := redistest.Start(redistest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exampleRedis = s
	os.Setenv("REDIS_URL", s.UnixURL())
	code := m.Run()
	s.Close()
	os.Exit(code)
}

// farm is a realm with a user and a service, and an initiator.
type farm struct {
	realm  *krbtest.Realm
	keytab string
	client *kerberos.Package
	ccred  secpkg.LsaCredential
}

func newFarm(t testing.TB) *farm {
	t.Helper()
	r := krbtest.NewRealm(t, krbtest.Options{})
	if err := r.AddPrincipal("alice", "alice-Secret-1"); err != nil {
		t.Fatal(err)
	}
	kt, err := r.AddService(svcSPN)
	if err != nil {
		t.Fatal(err)
	}
	f := &farm{realm: r, keytab: kt, client: kerberos.New(kerberos.Config{Krb5Conf: r.Krb5Con, DisableReplayCache: true})}
	f.ccred, _, err = f.client.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
		Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: "alice", Password: "alice-Secret-1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.ccred.Free)
	return f
}

// node is an acceptor of the farm on the replay cache (nil: the memory
// cache).
func (f *farm) node(t testing.TB, rc kerberos.ReplayCache) (*kerberos.Package, secpkg.LsaCredential) {
	t.Helper()
	p := kerberos.New(kerberos.Config{Krb5Conf: f.realm.Krb5Con, ReplayCache: rc})
	c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
		Use: sspi.SECPKG_CRED_INBOUND, AuthData: &sspi.AuthIdentity{Options: map[string]string{"keytab": f.keytab}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Free)
	return p, c
}

// apReqs makes n fresh AP-REQs (one service ticket, n authenticators).
func (f *farm) apReqs(t testing.TB, n int) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for i := range out {
		c, o, err := f.client.InitLsaModeContext(context.Background(), f.ccred, nil, &secpkg.InitContextParams{
			TargetName: svcSPN, ContextReq: sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY})
		if err != nil {
			t.Fatal(err)
		}
		c.Delete()
		for _, b := range o.Output {
			if b.BufferType == sspi.SECBUFFER_TOKEN {
				out[i] = b.Buffer
			}
		}
	}
	return out
}

func accept(p *kerberos.Package, cred secpkg.LsaCredential, tok []byte) error {
	c, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{
		Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok})})
	if c != nil {
		c.Delete()
	}
	return err
}

// TestAcceptorsShareTheCache: two acceptors on one Redis; an AP-REQ that
// one accepted is a replay (SEC_E_OUT_OF_SEQUENCE) on the other; with
// Redis down both refuse fresh AP-REQs with SEC_E_INTERNAL_ERROR, the
// cause attached, and no goroutine is left behind once Redis answers.
func TestAcceptorsShareTheCache(t *testing.T) {
	f := newFarm(t)
	s := redistest.New(t, redistest.Options{})
	rcA, rcB := redisreplay.New(client(t, s), redisreplay.Options{Timeout: 200 * time.Millisecond}),
		redisreplay.New(client(t, s), redisreplay.Options{Timeout: 200 * time.Millisecond})
	a, credA := f.node(t, rcA)
	b, credB := f.node(t, rcB)
	toks := f.apReqs(t, 40)
	if err := accept(a, credA, toks[0]); err != nil {
		t.Fatalf("node A: %v", err)
	}
	for name, n := range map[string]struct {
		p *kerberos.Package
		c secpkg.LsaCredential
	}{"A": {a, credA}, "B": {b, credB}} {
		err := accept(n.p, n.c, toks[0])
		if st := sspi.StatusOf(err); st != sspi.SEC_E_OUT_OF_SEQUENCE {
			t.Errorf("replay to node %s: %v", name, err)
		}
	}
	if err := accept(b, credB, toks[1]); err != nil {
		t.Fatalf("fresh AP-REQ on node B: %v", err)
	}

	base := runtime.NumGoroutine()
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var refused atomic.Int32
	for i := 2; i < 34; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, c := a, credA
			if i%2 == 1 {
				p, c = b, credB
			}
			err := accept(p, c, toks[i])
			if sspi.StatusOf(err) == sspi.SEC_E_INTERNAL_ERROR && errors.Is(err, redisreplay.ErrUnavailable) && !errors.Is(err, kerberos.ErrReplay) {
				refused.Add(1)
			} else {
				t.Errorf("AP-REQ with Redis frozen: %v", err)
			}
		}()
	}
	wg.Wait()
	if refused.Load() != 32 {
		t.Fatalf("%d of 32 refused", refused.Load())
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "accept after SIGCONT", func() bool { return accept(a, credA, toks[34]) == nil })
	// The flushers and the Checks that gave up have all returned.
	waitFor(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base+2 })
	if err := accept(b, credB, toks[35]); err != nil {
		t.Errorf("node B after SIGCONT: %v", err)
	}
	t.Logf("A %+v, B %+v", rcA.Stats(), rcB.Stats())
}

// BenchmarkAcceptParallel accepts fresh AP-REQs from 64 goroutines on the
// memory replay cache and on the Redis one (unix socket, batched), the two
// alternating in rounds of 1024 within one run, and reports each side's
// accepts per second, the Redis side's share of the memory side's
// throughput, and its Redis round trips per accept. Sub-benchmarks set the
// Redis cache's batching: "batched" (the default: one pipeline in flight),
// "unbatched" (MaxBatch 1: one command per Check), "inflight4" (four
// pipelines in flight) and "goredis-autopipeline" (unbatched Checks on
// go-redis's experimental AutoPipeline, whose round trips the cache cannot
// count). GOSSPI_REDIS_CPUS=1 with taskset -c 0 and -cpu 1 keeps
// redis-server off the benchmark's CPU, as a Redis on its own host.
func BenchmarkAcceptParallel(b *testing.B) {
	f := newFarm(b)
	s := redistest.New(b, redistest.Options{})
	for _, tc := range []struct {
		name string
		o    redisreplay.Options
	}{
		{"batched", redisreplay.Options{}},
		{"unbatched", redisreplay.Options{MaxBatch: 1}},
		{"inflight4", redisreplay.Options{MaxInFlight: 4}},
		{"goredis-autopipeline", redisreplay.Options{MaxBatch: 1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			opts, err := redisreplay.ParseURL(s.UnixURL())
			if err != nil {
				b.Fatal(err)
			}
			opts.PoolSize = 128
			cl := newClient(b, opts)
			if tc.name == "goredis-autopipeline" {
				ap, err := cl.AutoPipeline()
				if err != nil {
					b.Fatal(err)
				}
				cl = ap
			}
			rc := redisreplay.New(cl, tc.o)
			mem, memCred := f.node(b, nil)
			red, redCred := f.node(b, rc)
			toks := f.apReqs(b, b.N)
			const conc, round = 64, 1024
			// CPU time of a side: this process's (getrusage) and
			// redis-server's (schedstat), so that the ratio is what the
			// throughputs would be on CPUs the two have to themselves,
			// whatever else runs on the machine.
			var cpuMem, cpuRed time.Duration
			run := func(p *kerberos.Package, cred secpkg.LsaCredential, toks [][]byte) time.Duration {
				var next atomic.Int64
				var wg sync.WaitGroup
				cpu0, rcpu0 := testutil.ProcessCPU(), s.CPUTime()
				defer func() {
					d := testutil.ProcessCPU() - cpu0 + s.CPUTime() - rcpu0
					if p == mem {
						cpuMem += d
					} else {
						cpuRed += d
					}
				}()
				start := time.Now()
				for g := 0; g < conc; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := next.Add(1) - 1; i < int64(len(toks)); i = next.Add(1) - 1 {
							if err := accept(p, cred, toks[i]); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				return time.Since(start)
			}
			before := rc.Stats()
			b.ResetTimer()
			var tMem, tRed time.Duration
			for off, i := 0, 0; off < b.N; off, i = off+round, i+1 {
				chunk := toks[off:min(off+round, b.N)]
				if i%2 == 0 {
					tMem += run(mem, memCred, chunk)
					tRed += run(red, redCred, chunk)
				} else {
					tRed += run(red, redCred, chunk)
					tMem += run(mem, memCred, chunk)
				}
			}
			b.StopTimer()
			st := rc.Stats()
			n := float64(b.N)
			b.ReportMetric(n/tMem.Seconds(), "memory-accepts/s")
			b.ReportMetric(n/tRed.Seconds(), "redis-accepts/s")
			b.ReportMetric(100*tMem.Seconds()/tRed.Seconds(), "redis/memory-%")
			b.ReportMetric(cpuMem.Seconds()*1e6/n, "memory-cpu-µs/accept")
			b.ReportMetric(cpuRed.Seconds()*1e6/n, "redis-cpu-µs/accept")
			b.ReportMetric(100*cpuMem.Seconds()/cpuRed.Seconds(), "cpu-redis/memory-%")
			b.ReportMetric(float64(st.RoundTrips-before.RoundTrips)/float64(st.Checks-before.Checks), "roundtrips/accept")
		})
	}
}
