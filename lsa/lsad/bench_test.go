package lsad

import (
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// benchEnv is one package's handshake, in process and through a daemon
// process, with the same packages and files on both sides.
type benchEnv struct {
	d      *realDaemon
	inproc *sspi.FunctionTable
	lsad   *sspi.FunctionTable
	ntlm   sspitest.Setup
	krb    sspitest.Setup
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	e := &benchEnv{}
	e.d = startRealDaemon(b, func(f *FileConfig) { f.ReplayCacheSize = 1 << 23 })
	f := e.d.file
	std, err := standardPackages(f, nil, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	host, err := lsa.New(lsa.Config{}, std...)
	if err != nil {
		b.Fatal(err)
	}
	users := []sspi.UserModePackage{ntlm.UserMode(), kerberos.UserMode()}
	e.inproc = sspi.New(host, sspi.Config{UserPackages: users})
	b.Cleanup(func() { e.inproc.Close(); host.Close() })
	e.lsad = e.d.table(b, users...)
	e.ntlm = sspitest.Setup{Package: "NTLM", Target: "host/srv", Client: &sspi.AuthIdentity{User: "alice", Domain: "CONTOSO", Password: "correct horse"},
		ServerAuthData: &sspi.AuthIdentity{Options: map[string]string{"accounts": f.Services[0].NTLMAccounts}},
		ClientReq:      sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_CONNECTION, ServerReq: sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_CONNECTION}
	e.krb = sspitest.Setup{Package: "Kerberos", Target: "HTTP/svc.localhost", ServerPrincipal: "HTTP/svc.localhost", Client: &sspi.AuthIdentity{User: e.d.user, Password: e.d.pw},
		ServerAuthData: &sspi.AuthIdentity{Options: map[string]string{"keytab": e.d.keytab}},
		ClientReq:      sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY, ServerReq: sspi.ASC_REQ_MUTUAL_AUTH | sspi.ASC_REQ_CONFIDENTIALITY}
	return e
}

// handshakes runs b.N handshakes with credentials acquired once, and
// reports the time per host call (a handshake leg).
func handshakes(b *testing.B, tbl *sspi.FunctionTable, s sspitest.Setup) {
	p, err := s.Handshake(b, tbl, s.Client)
	if err != nil {
		b.Fatal(err)
	}
	legs := len(p.Legs)
	tbl.DeleteSecurityContext(&p.Client)
	tbl.DeleteSecurityContext(&p.Server)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := &sspitest.Pair{T: tbl, ClientCred: p.ClientCred, SrvCred: p.SrvCred}
		if err := s.HandshakeWith(tbl, q); err != nil {
			b.Fatal(err)
		}
		tbl.DeleteSecurityContext(&q.Client)
		tbl.DeleteSecurityContext(&q.Server)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(legs), "ns/leg")
	tbl.FreeCredentialsHandle(&p.ClientCred)
	tbl.FreeCredentialsHandle(&p.SrvCred)
}

// BenchmarkHandshake is a full NTLM and Kerberos handshake (client and
// server legs, credentials acquired once) with the package host in
// process and through gosspi lsad in another process; ns/leg is the time
// per host call.
func BenchmarkHandshake(b *testing.B) {
	e := newBenchEnv(b)
	for _, pc := range []struct {
		name string
		s    sspitest.Setup
	}{{"NTLM", e.ntlm}, {"Kerberos", e.krb}} {
		b.Run(pc.name+"/inproc", func(b *testing.B) { handshakes(b, e.inproc, pc.s) })
		b.Run(pc.name+"/lsad", func(b *testing.B) { handshakes(b, e.lsad, pc.s) })
	}
}

// BenchmarkConcurrent64 is 64 clients doing NTLM and Kerberos handshakes
// at once, in process and through one connection to gosspi lsad.
func BenchmarkConcurrent64(b *testing.B) {
	e := newBenchEnv(b)
	for _, pc := range []struct {
		name string
		s    sspitest.Setup
	}{{"NTLM", e.ntlm}, {"Kerberos", e.krb}} {
		for _, side := range []struct {
			name string
			tbl  *sspi.FunctionTable
		}{{"inproc", e.inproc}, {"lsad", e.lsad}} {
			b.Run(pc.name+"/"+side.name, func(b *testing.B) {
				s := pc.s
				p, err := s.Handshake(b, side.tbl, s.Client)
				if err != nil {
					b.Fatal(err)
				}
				p.Close()
				var cc, sc sspi.CredHandle
				if st := side.tbl.AcquireCredentialsHandle("", s.Package, sspi.SECPKG_CRED_OUTBOUND, s.Client, &cc, nil); st.Failed() {
					b.Fatal(st)
				}
				if st := side.tbl.AcquireCredentialsHandle(s.ServerPrincipal, s.Package, sspi.SECPKG_CRED_INBOUND, s.ServerAuthData, &sc, nil); st.Failed() {
					b.Fatal(st)
				}
				b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						q := &sspitest.Pair{T: side.tbl, ClientCred: cc, SrvCred: sc}
						if err := s.HandshakeWith(side.tbl, q); err != nil {
							b.Error(err)
							return
						}
						side.tbl.DeleteSecurityContext(&q.Client)
						side.tbl.DeleteSecurityContext(&q.Server)
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
				side.tbl.FreeCredentialsHandle(&cc)
				side.tbl.FreeCredentialsHandle(&sc)
			})
		}
	}
}

// An asynchronous accept waiting on the daemon costs the application
// under 4 KiB and no goroutine: 2,000 SspiAcceptSecurityContextAsync calls
// are held in flight by a daemon process whose package waits, then
// released and completed.
func TestAsyncAcceptMemory(t *testing.T) {
	const n = 2000
	dir := t.TempDir()
	sock := filepath.Join(dir, "lsad.sock")
	f := baseConfig(sock)
	f.MaxInFlight = 2 * n
	c := &child{sock: sock, cfg: writeConfig(t, dir, f), logs: &testutil.SyncBuffer{}, env: []string{gateEnv + "=1"}}
	c.start(t)
	t.Cleanup(func() {
		if c.cmd.Process != nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	tbl, _ := dialTable(t, sock, sspitest.UserMode{})
	var cc, sc sspi.CredHandle
	if st := tbl.AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: "alice", Password: "correct horse"}, &cc, nil); st.Failed() {
		t.Fatal(st)
	}
	if st := tbl.AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &sc, nil); st.Failed() {
		t.Fatal(st)
	}
	out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	var cli sspi.CtxtHandle
	if st := tbl.InitializeSecurityContext(&cc, nil, "host/srv", sspi.ISC_REQ_CONFIDENTIALITY, 0, nil, &cli, out, nil, nil); st.Failed() {
		t.Fatal(st)
	}
	tok := out.Token()

	type call struct {
		ac  *sspi.AsyncContext
		in  *sspi.SecBufferDesc
		out *sspi.SecBufferDesc
		ctx sspi.CtxtHandle
	}
	calls := make([]call, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	for i := range calls {
		c := &calls[i]
		c.ac = sspi.SspiCreateAsyncContext()
		c.in = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok})
		c.out = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		if st := tbl.SspiAcceptSecurityContextAsync(c.ac, &sc, nil, c.in, sspi.ASC_REQ_CONFIDENTIALITY, 0, &c.ctx, c.out, nil, nil); st != sspi.SEC_E_OK {
			t.Fatalf("queue %d: %v", i, st)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	g1 := runtime.NumGoroutine()
	pending := 0
	for i := range calls {
		if sspi.SspiGetAsyncCallStatus(calls[i].ac) == sspi.SEC_I_ASYNC_CALL_PENDING {
			pending++
		}
	}
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d async accepts in flight (%d pending): %d B of heap each, %d goroutines more", n, pending, per, g1-g0)
	if pending < n*9/10 {
		t.Errorf("only %d of %d calls were pending while the daemon held them", pending, n)
	}
	if per >= 4096 {
		t.Errorf("%d B per in-flight async accept, want < 4 KiB", per)
	}
	if g1-g0 > 16 {
		t.Errorf("%d more goroutines for %d calls in flight", g1-g0, n)
	}
	if err := c.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func(c *call) {
			defer wg.Done()
			st, err := c.ac.Wait(t.Context())
			if st != sspi.SEC_E_OK && st != sspi.SEC_I_CONTINUE_NEEDED {
				t.Errorf("released call: %v %v", st, err)
			}
			tbl.DeleteSecurityContext(&c.ctx)
		}(&calls[i])
	}
	wg.Wait()
}

// BenchmarkRoundTrip is one call that does no package work
// (QuerySecurityPackageInfo) through gosspi lsad: the protocol's own
// cost, sequential and with 64 callers on one connection.
func BenchmarkRoundTrip(b *testing.B) {
	dir := b.TempDir()
	sock := filepath.Join(dir, "lsad.sock")
	startChild(b, writeConfig(b, dir, baseConfig(sock)), sock)
	tbl, _ := dialTable(b, sock)
	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, st := tbl.QuerySecurityPackageInfo("NTLM"); st != sspi.SEC_E_OK {
				b.Fatal(st)
			}
		}
	})
	b.Run("parallel64", func(b *testing.B) {
		b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, st := tbl.QuerySecurityPackageInfo("NTLM"); st != sspi.SEC_E_OK {
					b.Error(st)
					return
				}
			}
		})
	})
}
