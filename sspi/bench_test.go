package sspi_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/sspi"
)

func benchTable(b *testing.B, cfg sspi.Config, pc sspitest.Config) (*sspi.FunctionTable, sspi.CredHandle, sspi.CredHandle, []byte) {
	tbl, _, _ := newTable(b, cfg, pc)
	var cc, sc sspi.CredHandle
	tbl.AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: "alice", Password: "correct horse"}, &cc, nil)
	tbl.AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &sc, nil)
	var cli sspi.CtxtHandle
	out := outDesc()
	tbl.InitializeSecurityContext(&cc, nil, "x", 0, 0, nil, &cli, out, nil, nil)
	return tbl, cc, sc, out.Token()
}

// BenchmarkAcceptSync is the first AcceptSecurityContext leg (plus the
// DeleteSecurityContext that frees it), called synchronously.
func BenchmarkAcceptSync(b *testing.B) {
	tbl, _, sc, hello := benchTable(b, sspi.Config{}, sspitest.Config{})
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		var srv sspi.CtxtHandle
		if st := tbl.AcceptSecurityContext(&sc, nil, tokenDesc(hello), 0, 0, &srv, outDesc(), nil, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
			b.Fatal(st)
		}
		tbl.DeleteSecurityContext(&srv)
	}
	cpu.report(b)
}

// BenchmarkAcceptAsync is the same leg through
// SspiAcceptSecurityContextAsync and Wait; the difference from
// BenchmarkAcceptSync is the async path's cost per call.
func BenchmarkAcceptAsync(b *testing.B) {
	tbl, _, sc, hello := benchTable(b, sspi.Config{}, sspitest.Config{})
	ac := sspi.SspiCreateAsyncContext()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		var srv sspi.CtxtHandle
		if st := tbl.SspiAcceptSecurityContextAsync(ac, &sc, nil, tokenDesc(hello), 0, 0, &srv, outDesc(), nil, nil); st != sspi.SEC_E_OK {
			b.Fatal(st)
		}
		if st, _ := ac.Wait(ctx); st != sspi.SEC_I_CONTINUE_NEEDED {
			b.Fatal(st)
		}
		tbl.DeleteSecurityContext(&srv)
	}
	cpu.report(b)
}

// BenchmarkAsyncInflightMemory queues 100,000 asynchronous accepts held
// before they reach the package, and reports the heap each one costs
// (AsyncContext, queue slot, closure and request; the package has not run).
func BenchmarkAsyncInflightMemory(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		gate := make(chan struct{})
		tbl, _, sc, hello := benchTable(b, sspi.Config{AsyncWorkers: 1, AsyncQueue: n + 1}, sspitest.Config{Gate: gate})
		// Occupy the one worker so the rest stay queued.
		block := sspi.SspiCreateAsyncContext()
		var h0 sspi.CtxtHandle
		tbl.SspiAcceptSecurityContextAsync(block, &sc, nil, tokenDesc(hello), 0, 0, &h0, outDesc(), nil, nil)
		acs := make([]*sspi.AsyncContext, n)
		handles := make([]sspi.CtxtHandle, n)
		in := tokenDesc(hello)
		out := make([]*sspi.SecBufferDesc, n)
		for j := range out {
			out[j] = outDesc()
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for j := 0; j < n; j++ {
			acs[j] = sspi.SspiCreateAsyncContext()
			if st := tbl.SspiAcceptSecurityContextAsync(acs[j], &sc, nil, in, 0, 0, &handles[j], out[j], nil, nil); st != sspi.SEC_E_OK {
				b.Fatal(st)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/inflight")
		close(gate)
		for _, ac := range acs {
			ac.Wait(context.Background())
		}
		block.Wait(context.Background())
	}
}

// BenchmarkHandshake is a full TestPkg handshake through the surface and
// the host (four legs, mutual authentication).
func BenchmarkHandshake(b *testing.B) {
	tbl, cc, sc, _ := benchTable(b, sspi.Config{}, sspitest.Config{})
	s := testSetup(sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		p := &sspitest.Pair{T: tbl, ClientCred: cc, SrvCred: sc}
		if err := s.HandshakeWith(tbl, p); err != nil {
			b.Fatal(err)
		}
		tbl.DeleteSecurityContext(&p.Client)
		tbl.DeleteSecurityContext(&p.Server)
	}
	cpu.report(b)
}

// BenchmarkQueryParallel is a context-handle lookup under parallel load:
// QueryContextAttributes(SIZES) on established contexts.
func BenchmarkQueryParallel(b *testing.B) {
	tbl, _, _ := newTable(b, sspi.Config{}, sspitest.Config{})
	s := testSetup(sspi.ISC_REQ_CONFIDENTIALITY)
	var hs []sspi.CtxtHandle
	for i := 0; i < 64; i++ {
		p, err := s.Handshake(b, tbl, s.Client)
		if err != nil {
			b.Fatal(err)
		}
		hs = append(hs, p.Client, p.Server)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		var sz sspi.SecPkgContextSizes
		for pb.Next() {
			if st := tbl.QueryContextAttributes(&hs[i%len(hs)], sspi.SECPKG_ATTR_SIZES, &sz); st.Failed() {
				b.Fatal(st)
			}
			i++
		}
	})
}

// BenchmarkSealUnseal1K is EncryptMessage plus DecryptMessage of 1 KiB
// through the surface (TestPkg's AES-CTR and HMAC-SHA256).
func BenchmarkSealUnseal1K(b *testing.B) {
	tbl, _, _ := newTable(b, sspi.Config{}, sspitest.Config{})
	s := testSetup(sspi.ISC_REQ_CONFIDENTIALITY)
	p, err := s.Handshake(b, tbl, s.Client)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, _ := sspitest.SealStream(tbl, &p.Client, msg)
		if _, st := sspitest.Unseal(tbl, &p.Server, w); st.Failed() {
			b.Fatal(st)
		}
	}
}

// BenchmarkCallSync and BenchmarkCallAsync isolate the async path's own
// cost: the call is FreeCredentialsHandle of an unknown handle, which the
// host answers at once.
func BenchmarkCallSync(b *testing.B) {
	tbl, _, _, _ := benchTable(b, sspi.Config{}, sspitest.Config{})
	h := sspi.CredHandle{Lower: 1, Upper: 1}
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		if st := tbl.FreeCredentialsHandle(&h); st != sspi.SEC_E_INVALID_HANDLE {
			b.Fatal(st)
		}
	}
	cpu.report(b)
}

func BenchmarkCallAsync(b *testing.B) {
	tbl, _, _, _ := benchTable(b, sspi.Config{}, sspitest.Config{})
	h := sspi.CredHandle{Lower: 1, Upper: 1}
	ac := sspi.SspiCreateAsyncContext()
	ctx := context.Background()
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		if st := tbl.SspiFreeCredentialsHandleAsync(ac, &h); st != sspi.SEC_E_OK {
			b.Fatal(st)
		}
		if st, _ := ac.Wait(ctx); st != sspi.SEC_E_INVALID_HANDLE {
			b.Fatal(st)
		}
	}
	cpu.report(b)
}
