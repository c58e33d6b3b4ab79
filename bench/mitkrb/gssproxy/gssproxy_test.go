package gssproxy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosspi/gosspi/bench/mitkrb"
	"github.com/gosspi/gosspi/internal/krbtest"
)

// The run's setup, made once by TestMain: an MIT realm with alice and
// HTTP/svc.localhost, whose keytab stays in the realm's root-only
// directory; gssproxy (as root) serving that keytab to uidProxied; and two
// long-lived worker processes of this binary:
//
//   - direct: uidDirect, KRB5_KTNAME its own copy of the keytab, no proxy;
//   - proxied: uidProxied, GSS_USE_PROXY=yes and GSSPROXY_SOCKET, and
//     KRB5_KTNAME the daemon's keytab, which this uid cannot open, so an
//     accept that succeeds went through the daemon.
//
// Both have MIT's replay cache off (the daemon too), so one AP-REQ is
// accepted again and again, as in bench/mitkrb's BenchmarkAccept.
var (
	realm   *krbtest.Realm
	keytab  string // the daemon's keytab (root only)
	pub     string // the directory workers can reach (0755)
	daemon  *Daemon
	direct  *Worker
	proxied *Worker
	exe     string // the test binary's copy the workers run
)

const (
	spn      = "HTTP/svc.localhost"
	hostName = "HTTP@svc.localhost"
	password = "bench-Secret-1"

	// Worker uids: no account needed, gssproxy matches the numeric euid.
	uidDirect   = 61001
	uidProxied  = 61002
	uidStranger = 61003 // in no gssproxy service section
)

func TestMain(m *testing.M) {
	if os.Getenv(WorkerEnv) == "1" {
		if err := ServeWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	teardown()
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	if os.Geteuid() != 0 {
		return 1, fmt.Errorf("gssproxy bench: must run as root (the daemon reads a keytab the workers, other uids, cannot)")
	}
	var err error
	if realm, err = krbtest.Start(krbtest.Options{}); err != nil {
		return 1, err
	}
	if err := realm.AddPrincipal("alice", password); err != nil {
		return 1, err
	}
	if keytab, err = realm.AddService(spn); err != nil {
		return 1, err
	}
	cc, err := realm.Kinit("alice", password)
	if err != nil {
		return 1, err
	}
	// This process is only the initiator.
	os.Setenv("KRB5_CONFIG", realm.Krb5Con)
	os.Setenv("KRB5CCNAME", "FILE:"+cc)
	os.Setenv("KRB5_KTNAME", "FILE:/nonexistent/keytab")

	if pub, err = os.MkdirTemp("", "gssproxy-bench-"); err != nil {
		return 1, err
	}
	if err := os.Chmod(pub, 0o755); err != nil {
		return 1, err
	}
	conf := filepath.Join(pub, "krb5.conf")
	if err := copyFile(realm.Krb5Con, conf, 0o644, 0); err != nil {
		return 1, err
	}
	self, err := os.Executable()
	if err != nil {
		return 1, err
	}
	exe = filepath.Join(pub, "worker.test")
	if err := copyFile(self, exe, 0o755, 0); err != nil {
		return 1, err
	}
	directKT := filepath.Join(pub, "direct.keytab")
	if err := copyFile(keytab, directKT, 0o400, uidDirect); err != nil {
		return 1, err
	}
	if daemon, err = StartDaemon(DaemonConfig{Dir: pub, Keytab: keytab, EUID: uidProxied, Krb5Conf: conf}); err != nil {
		return 1, err
	}
	if direct, err = StartWorker(WorkerConfig{Exe: exe, UID: uidDirect, GID: uidDirect, Env: []string{
		"KRB5_CONFIG=" + conf, "KRB5_KTNAME=FILE:" + directKT, "KRB5RCACHETYPE=none", workerCCache,
	}}); err != nil {
		return 1, err
	}
	if proxied, err = StartWorker(WorkerConfig{Exe: exe, UID: uidProxied, GID: uidProxied, Env: proxiedEnv(conf)}); err != nil {
		return 1, err
	}
	return m.Run(), nil
}

// workerCCache is the workers' credential cache. The interposer keeps the
// handle of a credential that gss_acquire_cred got from the daemon in the
// default ccache (krb5.conf names one in the realm's root-only directory):
// without a cache of its own the proxied worker's gss_acquire_cred fails
// with KRB5_FCC_PERM.
const workerCCache = "KRB5CCNAME=MEMORY:gssproxy-worker"

// proxiedEnv is the proxied worker's environment: the interposer on, the
// daemon's socket, and a keytab name this uid cannot open.
func proxiedEnv(conf string) []string {
	return []string{
		"KRB5_CONFIG=" + conf, "KRB5_KTNAME=FILE:" + keytab, "KRB5RCACHETYPE=none", workerCCache,
		"GSS_USE_PROXY=yes", "GSSPROXY_SOCKET=" + daemon.Socket,
	}
}

func teardown() {
	for _, w := range []*Worker{direct, proxied} {
		if w != nil {
			w.Close()
		}
	}
	if daemon != nil {
		daemon.Close()
	}
	if pub != "" {
		os.RemoveAll(pub)
	}
	if realm != nil {
		realm.Close()
	}
}

func copyFile(from, to string, mode os.FileMode, uid int) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		return err
	}
	if err := os.Chmod(to, mode); err != nil {
		return err
	}
	if uid != 0 {
		return os.Chown(to, uid, uid)
	}
	return nil
}

const flags = mitkrb.FlagMutual | mitkrb.FlagConf | mitkrb.FlagInteg

// apReq is a fresh AP-REQ from alice's MIT initiator context for
// HTTP@svc.localhost; the caller deletes ic.
func apReq(t testing.TB) (*mitkrb.Context, []byte) {
	t.Helper()
	ic := new(mitkrb.Context)
	tok, _, err := ic.Init(hostName, flags, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ic, tok
}

func startWorker(t *testing.T, uid int, env []string) *Worker {
	t.Helper()
	w, err := StartWorker(WorkerConfig{Exe: exe, UID: uid, GID: uid, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// TestProxiedAccept: the proxied worker, which cannot open the keytab,
// accepts alice's AP-REQ through gssproxy with the right names, its AP-REP
// completes alice's context, and the context it got from the daemon
// unwraps what alice seals. The direct worker gives the same names.
func TestProxiedAccept(t *testing.T) {
	wantSrc, wantTarget := realm.Principal("alice"), spn+"@"+realm.Name
	for _, c := range []struct {
		name string
		w    *Worker
		uid  int
	}{{"gssproxy", proxied, uidProxied}, {"direct", direct, uidDirect}} {
		t.Run(c.name, func(t *testing.T) {
			ic, tok := apReq(t)
			defer ic.Delete()
			acc, err := c.w.Accept(tok)
			if err != nil {
				t.Fatalf("accept: %v", err)
			}
			if acc.Src != wantSrc || acc.Target != wantTarget || acc.UID != c.uid {
				t.Fatalf("accepted %q for %q as uid %d; want %q for %q as uid %d", acc.Src, acc.Target, acc.UID, wantSrc, wantTarget, c.uid)
			}
			if _, done, err := ic.Init(hostName, flags, acc.Token); err != nil || !done {
				t.Fatalf("alice's second leg with the AP-REP: done %v, %v", done, err)
			}
			msg := []byte("sealed by alice for " + c.name)
			wrapped, err := ic.Wrap(msg, true)
			if err != nil {
				t.Fatal(err)
			}
			got, conf, err := c.w.Unwrap(wrapped)
			if err != nil || !conf || !bytes.Equal(got, msg) {
				t.Fatalf("unwrap in the worker: %q conf %v: %v", got, conf, err)
			}
			// The benchmarks' loops, with and without a held credential,
			// serial and from 4 threads.
			c0, err := daemon.CPU()
			if err != nil {
				t.Fatal(err)
			}
			for _, cred := range []bool{true, false} {
				if _, err := c.w.AcceptLoop(tok, 3, cred); err != nil {
					t.Fatalf("accept loop (held credential %v): %v", cred, err)
				}
				if _, err := c.w.AcceptParallel(tok, 8, 4, cred); err != nil {
					t.Fatalf("parallel accepts (held credential %v): %v", cred, err)
				}
			}
			// The daemon did the proxied side's work.
			if c1, err := daemon.CPU(); err != nil || (c.w == proxied && c1 <= c0) {
				t.Fatalf("daemon CPU %v before, %v after 22 accepts by the %s worker (%v)", c0, c1, c.name, err)
			}
		})
	}
	// The proxied worker cannot read the keytab it names.
	if ok, err := proxied.CanOpen(keytab); err != nil || ok {
		t.Fatalf("the proxied worker can open the keytab %s (%v, %v)", keytab, ok, err)
	}
}

// TestWithoutProxyNoAccept is the control that makes TestProxiedAccept
// mean something: the same uid and environment without GSS_USE_PROXY
// cannot accept (MIT cannot read the keytab). With GSSPROXY_BEHAVIOR=
// REMOTE_ONLY (no local fallback) the proxied uid still accepts, and a uid
// that no service section names is refused by the daemon.
func TestWithoutProxyNoAccept(t *testing.T) {
	conf := filepath.Join(pub, "krb5.conf")
	var local []string
	for _, e := range proxiedEnv(conf) {
		if !strings.HasPrefix(e, "GSS_USE_PROXY=") {
			local = append(local, e)
		}
	}
	remoteOnly := append(proxiedEnv(conf), "GSSPROXY_BEHAVIOR=REMOTE_ONLY")
	for _, c := range []struct {
		name string
		uid  int
		env  []string
		ok   bool
	}{
		{"no-proxy", uidProxied, local, false},
		{"remote-only", uidProxied, remoteOnly, true},
		{"stranger-remote-only", uidStranger, remoteOnly, false},
		{"stranger", uidStranger, proxiedEnv(conf), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := startWorker(t, c.uid, c.env)
			ic, tok := apReq(t)
			defer ic.Delete()
			acc, err := w.Accept(tok)
			switch {
			case c.ok && err != nil:
				t.Fatalf("accept as uid %d: %v", c.uid, err)
			case c.ok && acc.Src != realm.Principal("alice"):
				t.Fatalf("accepted %q, want %q", acc.Src, realm.Principal("alice"))
			case !c.ok && err == nil:
				t.Fatalf("accepted %q as uid %d", acc.Src, acc.UID)
			case !c.ok:
				t.Logf("refused as expected: %v", err)
			}
		})
	}
}

type side struct {
	name string
	w    func() *Worker
}

var sides = []side{{"direct", func() *Worker { return direct }}, {"gssproxy", func() *Worker { return proxied }}}

// credModes: "held-cred" acquires the acceptor credential once (a server
// that keeps it, as lsad's benchmarks do); "no-cred" passes
// GSS_C_NO_CREDENTIAL to every accept.
var credModes = []struct {
	name string
	cred bool
}{{"held-cred", true}, {"no-cred", false}}

// BenchmarkAccept: one gss_accept_sec_context (AP-REQ verified, AP-REP
// built, context deleted), MIT directly in the direct worker or through
// gssproxy in the proxied worker. b.N accepts run in one cgo call in the
// worker; the time includes one request to the worker per b.N.
func BenchmarkAccept(b *testing.B) {
	ic, tok := apReq(b)
	defer ic.Delete()
	for _, m := range credModes {
		for _, sd := range sides {
			b.Run(m.name+"/"+sd.name, func(b *testing.B) {
				if _, err := sd.w().AcceptLoop(tok, b.N, m.cred); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// alternate runs n operations on each side in alternating batches (so
// that both see the same machine load) and returns each side's totals:
// wall time as the workers measured it, and CPU time (the workers', plus
// the daemon's for the proxied side).
func alternate(b *testing.B, n, batch int, run func(w *Worker, k int) (Timing, error)) (dDirect, dProxied Timing) {
	for done := 0; done < n; done += batch {
		k := min(batch, n-done)
		d, err := run(direct, k)
		if err != nil {
			b.Fatal(err)
		}
		c0, err := daemon.CPU()
		if err != nil {
			b.Fatal(err)
		}
		p, err := run(proxied, k)
		if err != nil {
			b.Fatal(err)
		}
		c1, err := daemon.CPU()
		if err != nil {
			b.Fatal(err)
		}
		dDirect.Wall += d.Wall
		dDirect.CPU += d.CPU
		dProxied.Wall += p.Wall
		dProxied.CPU += p.CPU + c1 - c0
	}
	return dDirect, dProxied
}

func reportPair(b *testing.B, d, p Timing, n int) {
	per := func(t time.Duration) float64 { return float64(t.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(d.Wall), "direct-ns/accept")
	b.ReportMetric(per(p.Wall), "gssproxy-ns/accept")
	b.ReportMetric(per(p.Wall)-per(d.Wall), "added-ns/accept")
	b.ReportMetric(per(p.Wall)/per(d.Wall), "gssproxy/direct")
	b.ReportMetric(per(d.CPU), "direct-cpu-ns/accept")
	b.ReportMetric(per(p.CPU), "gssproxy-cpu-ns/accept")
}

// BenchmarkAcceptAlternating: an op is one accept direct plus one through
// gssproxy, in alternating batches of 100 in the same run.
// direct-ns/accept, gssproxy-ns/accept and their difference,
// added-ns/accept (what gssproxy adds per accept), are the figures to
// read; ns/op is about their sum.
func BenchmarkAcceptAlternating(b *testing.B) {
	ic, tok := apReq(b)
	defer ic.Delete()
	for _, m := range credModes {
		b.Run(m.name, func(b *testing.B) {
			d, p := alternate(b, b.N, 100, func(w *Worker, k int) (Timing, error) { return w.AcceptLoop(tok, k, m.cred) })
			reportPair(b, d, p, b.N)
		})
	}
}

// BenchmarkAcceptParallel64: 64 concurrent callers (threads) in one
// worker process accepting, direct and through gssproxy, in alternating
// batches of 640 accepts (10 per thread). direct-ns/accept and
// gssproxy-ns/accept are wall time per accept (1e9 / throughput);
// gssproxy/direct is the inverse of the throughput ratio. gssproxy's
// client library sends one call at a time per process (one socket, its
// lock held for the whole call), so the daemon sees one caller.
func BenchmarkAcceptParallel64(b *testing.B) {
	ic, tok := apReq(b)
	defer ic.Delete()
	for _, m := range credModes {
		b.Run(m.name, func(b *testing.B) {
			d, p := alternate(b, b.N, 640, func(w *Worker, k int) (Timing, error) { return w.AcceptParallel(tok, k, 64, m.cred) })
			reportPair(b, d, p, b.N)
		})
	}
}

// BenchmarkAcceptParallel64Procs is BenchmarkAcceptParallel64 with the 64
// callers spread over 8 worker processes per side (8 threads each), so
// that gssproxy gets 8 connections with a call in flight on each. Times
// are the parent's wall time per batch of 640 accepts (80 per process).
func BenchmarkAcceptParallel64Procs(b *testing.B) {
	const procs, threads = 8, 8
	conf := filepath.Join(pub, "krb5.conf")
	start := func(uid int, env []string) []*Worker {
		ws := make([]*Worker, procs)
		for i := range ws {
			w, err := StartWorker(WorkerConfig{Exe: exe, UID: uid, GID: uid, Env: env})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { w.Close() })
			ws[i] = w
		}
		return ws
	}
	directs := start(uidDirect, []string{"KRB5_CONFIG=" + conf, "KRB5_KTNAME=FILE:" + filepath.Join(pub, "direct.keytab"), "KRB5RCACHETYPE=none", workerCCache})
	proxieds := start(uidProxied, proxiedEnv(conf))
	ic, tok := apReq(b)
	defer ic.Delete()
	// fan runs k accepts over ws at once and returns the wall time.
	type result struct {
		t   Timing
		err error
	}
	fan := func(ws []*Worker, k int, cred bool) (Timing, error) {
		res := make(chan result, len(ws))
		t0 := time.Now()
		for i, w := range ws {
			share := k / len(ws)
			if i < k%len(ws) {
				share++
			}
			go func() { t, err := w.AcceptParallel(tok, share, threads, cred); res <- result{t, err} }()
		}
		var sum Timing
		var err error
		for range ws {
			r := <-res
			sum.CPU += r.t.CPU
			if r.err != nil {
				err = r.err
			}
		}
		sum.Wall = time.Since(t0)
		return sum, err
	}
	for _, m := range credModes {
		b.Run(m.name, func(b *testing.B) {
			d, p := alternate(b, b.N, 640, func(w *Worker, k int) (Timing, error) {
				if w == direct {
					return fan(directs, k, m.cred)
				}
				return fan(proxieds, k, m.cred)
			})
			reportPair(b, d, p, b.N)
		})
	}
}
