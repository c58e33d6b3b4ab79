package sspi_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/sspi"
)

// firstToken returns a client's first token and its context.
func firstToken(t *testing.T, tbl *sspi.FunctionTable, cc *sspi.CredHandle) ([]byte, sspi.CtxtHandle) {
	t.Helper()
	var cli sspi.CtxtHandle
	out := outDesc()
	if st := tbl.InitializeSecurityContext(cc, nil, "x", 0, 0, nil, &cli, out, nil, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		t.Fatal(st)
	}
	return out.Token(), cli
}

func TestAsyncLifecycle(t *testing.T) {
	// In a bubble: synctest.Wait is the moment every goroutine of the
	// table is idle, so "no second callback" is checked without a sleep.
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		tbl, _, _ := newTable(t, sspi.Config{AsyncWorkers: 1, AsyncQueue: 4}, sspitest.Config{Gate: gate})
		cc, sc := acquire(t, tbl, "alice", "correct horse")
		hello, cli := firstToken(t, tbl, &cc)
		defer tbl.DeleteSecurityContext(&cli)

		ac := sspi.SspiCreateAsyncContext()
		if st := sspi.SspiGetAsyncCallStatus(ac); st != sspi.SEC_E_INVALID_PARAMETER {
			t.Errorf("idle status = %v", st)
		}
		var calls atomic.Int32
		var statusInCallback atomic.Uint32
		if st := sspi.SspiSetAsyncNotifyCallback(ac, func(a *sspi.AsyncContext, data any) {
			statusInCallback.Store(uint32(sspi.SspiGetAsyncCallStatus(a)))
			calls.Add(1) // last: the test reads the status once it sees the count
			if data.(string) != "cookie" {
				t.Errorf("callback data = %v", data)
			}
		}, "cookie"); st != sspi.SEC_E_OK {
			t.Fatal(st)
		}
		if !sspi.SspiAsyncContextRequiresNotify(ac) {
			t.Error("RequiresNotify = false with a callback")
		}
		var srv sspi.CtxtHandle
		var attr sspi.ASCRet
		var exp sspi.TimeStamp
		out := outDesc()
		if st := tbl.SspiAcceptSecurityContextAsync(ac, &sc, nil, tokenDesc(hello), 0, 0, &srv, out, &attr, &exp); st != sspi.SEC_E_OK {
			t.Fatalf("queueing = %v", st)
		}
		// Held at the gate: pending, and busy.
		if st := sspi.SspiGetAsyncCallStatus(ac); st != sspi.SEC_I_ASYNC_CALL_PENDING {
			t.Errorf("status while running = %v", st)
		}
		if st := sspi.SspiReinitAsyncContext(ac); st != sspi.ErrContextBusy.Status {
			t.Errorf("Reinit while busy = %v", st)
		}
		if st := tbl.SspiAcceptSecurityContextAsync(ac, &sc, nil, tokenDesc(hello), 0, 0, &srv, out, &attr, &exp); st != sspi.ErrContextBusy.Status {
			t.Errorf("second call on a busy async context = %v", st)
		}
		if st := sspi.SspiSetAsyncNotifyCallback(ac, nil, nil); st != sspi.ErrContextBusy.Status {
			t.Errorf("SetAsyncNotifyCallback while busy = %v", st)
		}
		if calls.Load() != 0 {
			t.Fatal("callback before the call finished")
		}
		gate <- struct{}{}
		st, err := ac.Wait(context.Background())
		if st != sspi.SEC_I_CONTINUE_NEEDED || err != nil {
			t.Fatalf("Wait = %v, %v", st, err)
		}
		if sspi.SspiGetAsyncCallStatus(ac) != sspi.SEC_I_CONTINUE_NEEDED || !srv.IsValid() || len(out.Token()) == 0 {
			t.Fatalf("out-parameters not written: %v %d", srv, len(out.Token()))
		}
		waitFor(t, func() bool { return calls.Load() == 1 })
		if sspi.Status(statusInCallback.Load()) != sspi.SEC_I_CONTINUE_NEEDED {
			t.Errorf("status seen by the callback = %v", sspi.Status(statusInCallback.Load()))
		}
		synctest.Wait()
		if calls.Load() != 1 {
			t.Errorf("callback fired %d times", calls.Load())
		}

		// Reuse after Reinit; a failing call still fires the callback once.
		if st := sspi.SspiReinitAsyncContext(ac); st != sspi.SEC_E_OK {
			t.Fatal(st)
		}
		if st := sspi.SspiGetAsyncCallStatus(ac); st != sspi.SEC_E_INVALID_PARAMETER {
			t.Errorf("status after Reinit = %v", st)
		}
		bad := tokenDesc([]byte{0, 0, 0, 1, 3, 0})
		if st := tbl.SspiAcceptSecurityContextAsync(ac, &sc, &srv, bad, 0, 0, &srv, outDesc(), nil, nil); st != sspi.SEC_E_OK {
			t.Fatal(st)
		}
		gate <- struct{}{}
		if st, err := ac.Wait(context.Background()); st != sspi.SEC_E_LOGON_DENIED || !errors.Is(err, sspi.SEC_E_LOGON_DENIED) {
			t.Fatalf("failing call = %v %v", st, err)
		}
		waitFor(t, func() bool { return calls.Load() == 2 })
		tbl.DeleteSecurityContext(&srv)

		// Delete and free asynchronously.
		ac2 := sspi.SspiCreateAsyncContext()
		var c2 sspi.CredHandle
		if st := tbl.SspiAcquireCredentialsHandleAsync(ac2, "", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &c2, nil); st != sspi.SEC_E_OK {
			t.Fatal(st)
		}
		if st, _ := ac2.Wait(context.Background()); st != sspi.SEC_E_OK || !c2.IsValid() {
			t.Fatalf("async acquire = %v", st)
		}
		if st := tbl.SspiFreeCredentialsHandleAsync(ac2, &c2); st != sspi.SEC_E_OK {
			t.Fatal(st)
		}
		if st, _ := ac2.Wait(context.Background()); st != sspi.SEC_E_OK {
			t.Fatalf("async free = %v", st)
		}
		if st := tbl.SspiFreeCredentialsHandleAsync(ac2, &c2); st != sspi.SEC_E_OK {
			t.Fatal(st)
		}
		if st, _ := ac2.Wait(context.Background()); st != sspi.SEC_E_INVALID_HANDLE {
			t.Fatalf("async double free = %v", st)
		}
		_, cli2 := firstToken(t, tbl, &cc)
		if st := tbl.SspiDeleteSecurityContextAsync(ac2, &cli2); st != sspi.SEC_E_OK {
			t.Fatal(st)
		}
		if st, _ := ac2.Wait(context.Background()); st != sspi.SEC_E_OK {
			t.Fatalf("async delete = %v", st)
		}
		sspi.SspiFreeAsyncContext(ac2)
		if st := sspi.SspiGetAsyncCallStatus(ac2); st != sspi.SEC_E_INVALID_HANDLE {
			t.Errorf("status of a freed async context = %v", st)
		}
		if st := tbl.SspiDeleteSecurityContextAsync(ac2, &cli2); st != sspi.SEC_E_INVALID_HANDLE {
			t.Errorf("call on a freed async context = %v", st)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAsyncQueueFullAndCancel fills the bounded queue, then cancels queued
// calls three ways: Cancel, the bound context.Context, and freeing.
func TestAsyncQueueFullAndCancel(t *testing.T) {
	// In a bubble: synctest.Wait is the moment every goroutine of the
	// table is idle, so "no second callback" is checked without a sleep.
	synctest.Test(t, func(t *testing.T) {
		gate, entered := make(chan struct{}), make(chan struct{}, 8)
		tbl, host, pkg := newTable(t, sspi.Config{AsyncWorkers: 1, AsyncQueue: 3}, sspitest.Config{Gate: gate, Entered: entered})
		cc, sc := acquire(t, tbl, "alice", "correct horse")
		hello, cli := firstToken(t, tbl, &cc)
		defer tbl.DeleteSecurityContext(&cli)

		type call struct {
			ac  *sspi.AsyncContext
			srv sspi.CtxtHandle
			n   atomic.Int32
		}
		ctx, cancel := context.WithCancel(context.Background())
		calls := make([]*call, 5)
		for i := range calls {
			c := &call{ac: sspi.SspiCreateAsyncContext()}
			if i == 2 {
				c.ac = sspi.NewAsyncContext(ctx)
			}
			sspi.SspiSetAsyncNotifyCallback(c.ac, func(*sspi.AsyncContext, any) { c.n.Add(1) }, nil)
			calls[i] = c
		}
		queue := func(c *call) sspi.Status {
			return tbl.SspiAcceptSecurityContextAsync(c.ac, &sc, nil, tokenDesc(hello), 0, 0, &c.srv, outDesc(), nil, nil)
		}
		// Call 0 runs (held at the gate); 1, 2 and 3 fill the queue of 3.
		if st := queue(calls[0]); st != sspi.SEC_E_OK {
			t.Fatal(st)
		}
		<-entered // the one worker holds call 0 inside the package
		for _, c := range calls[1:4] {
			if st := queue(c); st != sspi.SEC_E_OK {
				t.Fatalf("queueing = %v", st)
			}
		}
		if st := queue(calls[4]); st != sspi.SEC_E_INSUFFICIENT_MEMORY {
			t.Fatalf("full queue = %v", st)
		}
		if st := sspi.SspiGetAsyncCallStatus(calls[4].ac); st != sspi.SEC_E_INVALID_PARAMETER {
			t.Errorf("refused call left status %v", st)
		}
		if !calls[1].ac.Cancel() {
			t.Error("Cancel of a queued call = false")
		}
		cancel()                               // call 2's context.Context
		sspi.SspiFreeAsyncContext(calls[3].ac) // freed while queued: cancelled, no callback
		gate <- struct{}{}                     // let call 0 finish

		if st, _ := calls[0].ac.Wait(context.Background()); st != sspi.SEC_I_CONTINUE_NEEDED {
			t.Fatalf("call 0 = %v", st)
		}
		for _, i := range []int{1, 2} {
			st, err := calls[i].ac.Wait(context.Background())
			if st != sspi.SEC_E_UNFINISHED_CONTEXT_DELETED || !errors.Is(err, sspi.SEC_E_UNFINISHED_CONTEXT_DELETED) {
				t.Errorf("cancelled call %d = %v %v", i, st, err)
			}
			if calls[i].srv.IsValid() {
				t.Errorf("cancelled call %d created a context", i)
			}
		}
		<-calls[3].ac.Done()
		waitFor(t, func() bool { return calls[0].n.Load() == 1 && calls[1].n.Load() == 1 && calls[2].n.Load() == 1 })
		synctest.Wait()
		if calls[3].n.Load() != 0 {
			t.Error("callback fired for a freed async context")
		}
		if st := sspi.SspiGetAsyncCallStatus(calls[3].ac); st != sspi.SEC_E_INVALID_HANDLE {
			t.Errorf("freed = %v", st)
		}
		// Wait with a context that ends first.
		c := calls[4]
		if st := queue(c); st != sspi.SEC_E_OK {
			t.Fatal(st)
		}
		short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel2()
		if st, err := c.ac.Wait(short); st != sspi.SEC_I_ASYNC_CALL_PENDING || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait with an expired ctx = %v %v", st, err)
		}
		gate <- struct{}{}
		if st, _ := c.ac.Wait(context.Background()); st != sspi.SEC_I_CONTINUE_NEEDED {
			t.Errorf("call 4 = %v", st)
		}
		tbl.DeleteSecurityContext(&calls[0].srv)
		tbl.DeleteSecurityContext(&c.srv)
		if n := host.Stats().Contexts; n != 1 { // the client context
			t.Errorf("contexts = %d", n)
		}
		tbl.DeleteSecurityContext(&cli)
		if pkg.LiveContexts() != 0 {
			t.Errorf("package contexts leaked: %d", pkg.LiveContexts())
		}
	})
}

// TestConcurrentCallsOnOneContext: a second handshake call on a context
// that has one in flight is refused, never run concurrently.
func TestConcurrentCallsOnOneContext(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan struct{}, 8)
	tbl, _, _ := newTable(t, sspi.Config{AsyncWorkers: 2}, sspitest.Config{Gate: gate, Entered: entered})
	cc, sc := acquire(t, tbl, "alice", "correct horse")
	hello, cli := firstToken(t, tbl, &cc)
	defer tbl.DeleteSecurityContext(&cli)
	var srv sspi.CtxtHandle
	go func() { <-entered; gate <- struct{}{} }()
	out := outDesc()
	if st := tbl.AcceptSecurityContext(&sc, nil, tokenDesc(hello), 0, 0, &srv, out, nil, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		t.Fatal(st)
	}
	defer tbl.DeleteSecurityContext(&srv)
	ac := sspi.SspiCreateAsyncContext()
	if st := tbl.SspiAcceptSecurityContextAsync(ac, &sc, &srv, tokenDesc([]byte{0, 0, 0, 0, 3}), 0, 0, &srv, outDesc(), nil, nil); st != sspi.SEC_E_OK {
		t.Fatal(st)
	}
	<-entered // the call is now inside the package, at the gate
	st, err := tbl.WithContext(context.Background()).AcceptSecurityContext(&sc, &srv, tokenDesc([]byte{0, 0, 0, 0, 3}), 0, 0, &srv, outDesc(), nil, nil)
	if !errors.Is(err, sspi.ErrContextBusy) || st != sspi.SEC_E_INVALID_PARAMETER {
		t.Errorf("concurrent call = %v %v", st, err)
	}
	gate <- struct{}{}
	ac.Wait(context.Background())
}

// TestCloseWhileAsyncStarting closes the table while goroutines make their
// first asynchronous calls (which start the worker pool): under -race this
// is the Close / pool start ordering. Every call either runs to its end or
// is refused with SEC_E_SHUTDOWN_IN_PROGRESS, and no worker outlives Close.
func TestCloseWhileAsyncStarting(t *testing.T) {
	for round := 0; round < 200; round++ {
		tbl, _, _ := newTable(t, sspi.Config{AsyncWorkers: 2}, sspitest.Config{})
		start := make(chan struct{})
		var wg sync.WaitGroup
		var ran, refused, entered atomic.Int32
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ac := sspi.SspiCreateAsyncContext()
				defer sspi.SspiFreeAsyncContext(ac)
				var c sspi.CredHandle
				entered.Add(1)
				switch st := tbl.SspiAcquireCredentialsHandleAsync(ac, "", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &c, nil); st {
				case sspi.SEC_E_OK:
					if st, _ := ac.Wait(context.Background()); st != sspi.SEC_E_OK {
						t.Errorf("queued call ended with %v", st)
					}
					ran.Add(1)
				case sspi.SEC_E_SHUTDOWN_IN_PROGRESS:
					refused.Add(1)
				default:
					t.Errorf("async call during Close = %v", st)
				}
			}()
		}
		close(start)
		for entered.Load() == 0 { // Close while the first calls start the pool
			runtime.Gosched()
		}
		tbl.Close()
		wg.Wait()
		if ran.Load()+refused.Load() != 8 {
			t.Fatalf("%d ran, %d refused, of 8", ran.Load(), refused.Load())
		}
		ac := sspi.SspiCreateAsyncContext()
		var c sspi.CredHandle
		if st := tbl.SspiAcquireCredentialsHandleAsync(ac, "", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &c, nil); st != sspi.SEC_E_SHUTDOWN_IN_PROGRESS {
			t.Fatalf("call after Close = %v", st)
		}
		sspi.SspiFreeAsyncContext(ac)
	}
}
