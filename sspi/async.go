package sspi

import (
	"context"
	"runtime"
	"sync"

	"github.com/gosspi/gosspi/internal/workpool"
)

// AsyncNotifyFunc is SspiAsyncNotifyCallback: it is called once when an
// asynchronous call finishes, after its status is final, on a worker
// goroutine. It must not block for long.
type AsyncNotifyFunc func(ac *AsyncContext, data any)

type asyncState uint8

const (
	asyncIdle asyncState = iota
	asyncQueued
	asyncRunning
	asyncDone
	asyncFreed
)

// AsyncContext is SspiAsyncContext: it tracks one asynchronous call at a
// time. Create it with SspiCreateAsyncContext (or NewAsyncContext to bind a
// context.Context), queue a call with one of the Sspi*Async methods of
// FunctionTable, then poll SspiGetAsyncCallStatus, wait on Done or Wait, or
// set a notify callback. Reuse it for another call after
// SspiReinitAsyncContext.
type AsyncContext struct {
	mu         sync.Mutex
	state      asyncState
	status     Status
	err        error
	notify     AsyncNotifyFunc
	notifyData any
	done       chan struct{}
	ctx        context.Context
	cancelled  bool
	freed      bool
	work       func(ctx context.Context) (Status, error)
}

// SspiCreateAsyncContext returns a new, idle async context.
func SspiCreateAsyncContext() *AsyncContext { return NewAsyncContext(context.Background()) }

// NewAsyncContext returns an async context whose calls run under ctx: a
// call still queued when ctx ends does not run, and the host sees ctx while
// it runs.
func NewAsyncContext(ctx context.Context) *AsyncContext {
	return &AsyncContext{ctx: ctx, done: make(chan struct{})}
}

// SspiSetAsyncNotifyCallback sets the callback fired when a call finishes.
// It fails with ErrContextBusy while a call is in flight.
func SspiSetAsyncNotifyCallback(ac *AsyncContext, fn AsyncNotifyFunc, data any) Status {
	if ac == nil {
		return SEC_E_INVALID_HANDLE
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if st := ac.idleLocked(); st != SEC_E_OK {
		return st
	}
	ac.notify, ac.notifyData = fn, data
	return SEC_E_OK
}

// idleLocked reports whether no call is in flight: SEC_E_OK, or the status
// to refuse a change with.
func (ac *AsyncContext) idleLocked() Status {
	switch ac.state {
	case asyncFreed:
		return SEC_E_INVALID_HANDLE
	case asyncQueued, asyncRunning:
		return ErrContextBusy.Status
	}
	return SEC_E_OK
}

// SspiAsyncContextRequiresNotify reports whether a notify callback is set.
func SspiAsyncContextRequiresNotify(ac *AsyncContext) bool {
	if ac == nil {
		return false
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return ac.notify != nil
}

// SspiGetAsyncCallStatus returns SEC_I_ASYNC_CALL_PENDING while the call is
// queued or running, then its final status. An idle context (no call
// queued since it was made or reinitialized) returns SEC_E_INVALID_PARAMETER
// and a freed one SEC_E_INVALID_HANDLE.
func SspiGetAsyncCallStatus(ac *AsyncContext) Status {
	if ac == nil {
		return SEC_E_INVALID_HANDLE
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	switch ac.state {
	case asyncQueued, asyncRunning:
		return SEC_I_ASYNC_CALL_PENDING
	case asyncDone:
		return ac.status
	case asyncFreed:
		return SEC_E_INVALID_HANDLE
	}
	return SEC_E_INVALID_PARAMETER
}

// SspiReinitAsyncContext makes a finished async context ready for another
// call. It fails with ErrContextBusy's status while a call is in flight.
func SspiReinitAsyncContext(ac *AsyncContext) Status {
	if ac == nil {
		return SEC_E_INVALID_HANDLE
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if st := ac.idleLocked(); st != SEC_E_OK {
		return st
	}
	if ac.state == asyncDone {
		ac.state, ac.status, ac.err, ac.cancelled, ac.work = asyncIdle, 0, nil, false, nil
		ac.done = make(chan struct{})
	}
	return SEC_E_OK
}

// SspiFreeAsyncContext frees the async context. A queued call is cancelled;
// a running call finishes but its callback does not fire.
func SspiFreeAsyncContext(ac *AsyncContext) Status {
	if ac == nil {
		return SEC_E_INVALID_HANDLE
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if ac.state == asyncFreed || ac.freed {
		return SEC_E_INVALID_HANDLE
	}
	ac.freed = true
	ac.notify, ac.notifyData = nil, nil
	switch ac.state {
	case asyncQueued:
		ac.cancelled = true
	case asyncRunning:
	default:
		ac.state = asyncFreed
	}
	return SEC_E_OK
}

// Cancel cancels a queued call: it will not run, and it finishes with
// SEC_E_UNFINISHED_CONTEXT_DELETED (its callback fires). A call already
// running is not interrupted. Cancel reports whether the call was still
// queued.
func (ac *AsyncContext) Cancel() bool {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if ac.state != asyncQueued {
		return false
	}
	ac.cancelled = true
	return true
}

// Done returns a channel closed when the current call finishes.
func (ac *AsyncContext) Done() <-chan struct{} {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return ac.done
}

// Wait waits for the current call to finish or for ctx to end. It returns
// the final status and, for a failure, an error carrying it; if ctx ends
// first it returns SEC_I_ASYNC_CALL_PENDING and ctx.Err().
func (ac *AsyncContext) Wait(ctx context.Context) (Status, error) {
	select {
	case <-ac.Done():
	case <-ctx.Done():
		return SEC_I_ASYNC_CALL_PENDING, ctx.Err()
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return ac.status, ac.err
}

// Run is the worker side (workpool.Task).
func (ac *AsyncContext) Run() {
	ac.mu.Lock()
	work, ctx := ac.work, ac.ctx
	skip := ac.cancelled || ctx.Err() != nil
	if !skip {
		ac.state = asyncRunning
	}
	ac.mu.Unlock()

	var st Status
	var err error
	if skip {
		st = SEC_E_UNFINISHED_CONTEXT_DELETED
		err = &Error{Status: st, Detail: "asynchronous call cancelled before it ran"}
	} else {
		st, err = work(ctx)
	}
	ac.complete(st, err)
}

// complete makes a call's status final and fires its callback.
func (ac *AsyncContext) complete(st Status, err error) {
	ac.mu.Lock()
	freed := ac.freed
	ac.status, ac.err, ac.work = st, err, nil
	ac.state = asyncDone
	if freed {
		ac.state = asyncFreed
	}
	fn, data := ac.notify, ac.notifyData
	close(ac.done)
	ac.mu.Unlock()
	if fn != nil && !freed {
		fn(ac, data)
	}
}

// startPool returns the worker pool, starting it on first use, or nil once
// the table is closed. poolMu orders it against Close.
func (t *FunctionTable) startPool() *workpool.Pool {
	t.poolMu.Lock()
	defer t.poolMu.Unlock()
	if t.closed.Load() {
		return nil
	}
	if t.pool == nil {
		w := t.cfg.AsyncWorkers
		if w <= 0 {
			w = 2 * runtime.GOMAXPROCS(0)
		}
		q := t.cfg.AsyncQueue
		if q <= 0 {
			q = 4096
		}
		t.pool = workpool.New(w, q)
	}
	return t.pool
}

// queue starts an asynchronous call: it returns SEC_E_OK once the work is
// queued, or the queueing error.
func (t *FunctionTable) queue(ac *AsyncContext, work func(ctx context.Context) (Status, error)) Status {
	if ac == nil {
		return SEC_E_INVALID_HANDLE
	}
	pool := t.startPool()
	if pool == nil {
		return SEC_E_SHUTDOWN_IN_PROGRESS
	}
	ac.mu.Lock()
	switch ac.state {
	case asyncFreed:
		ac.mu.Unlock()
		return SEC_E_INVALID_HANDLE
	case asyncQueued, asyncRunning:
		ac.mu.Unlock()
		return ErrContextBusy.Status
	case asyncDone:
		// Implicit reinit: a finished context may start a new call.
		ac.done = make(chan struct{})
	}
	ac.state, ac.work, ac.cancelled, ac.status, ac.err = asyncQueued, work, false, 0, nil
	ac.mu.Unlock()
	if !pool.Submit(ac) {
		ac.mu.Lock()
		ac.state, ac.work = asyncIdle, nil
		ac.mu.Unlock()
		if t.closed.Load() {
			return SEC_E_SHUTDOWN_IN_PROGRESS
		}
		return SEC_E_INSUFFICIENT_MEMORY
	}
	return SEC_E_OK
}

// SspiAcquireCredentialsHandleAsync is the asynchronous
// AcquireCredentialsHandle. The out-parameters are written before the
// status becomes final.
func (t *FunctionTable) SspiAcquireCredentialsHandleAsync(ac *AsyncContext, principal, pkg string, use CredentialUse, authData *AuthIdentity, cred *CredHandle, expiry *TimeStamp) Status {
	return t.queue(ac, func(ctx context.Context) (Status, error) {
		err := t.acquireCredentialsHandle(ctx, principal, pkg, use, authData, cred, expiry)
		return StatusOf(err), err
	})
}

// SspiInitializeSecurityContextAsync is the asynchronous
// InitializeSecurityContext.
func (t *FunctionTable) SspiInitializeSecurityContextAsync(ac *AsyncContext, phCredential *CredHandle, phContext *CtxtHandle, targetName string, fContextReq ISCReq, targetDataRep uint32, pInput *SecBufferDesc, phNewContext *CtxtHandle, pOutput *SecBufferDesc, pfContextAttr *ISCRet, ptsExpiry *TimeStamp) Status {
	if ah, ok := t.host.(AsyncHost); ok {
		return t.initDirect(ah, ac, phCredential, phContext, targetName, fContextReq, targetDataRep, pInput, phNewContext, pOutput, pfContextAttr, ptsExpiry)
	}
	return t.queue(ac, func(ctx context.Context) (Status, error) {
		return t.initializeSecurityContext(ctx, phCredential, phContext, targetName, fContextReq, targetDataRep, pInput, phNewContext, pOutput, pfContextAttr, ptsExpiry)
	})
}

// SspiAcceptSecurityContextAsync is the asynchronous AcceptSecurityContext:
// it returns SEC_E_OK once the work is queued; SspiGetAsyncCallStatus
// returns SEC_I_ASYNC_CALL_PENDING until it is done, then its status.
func (t *FunctionTable) SspiAcceptSecurityContextAsync(ac *AsyncContext, phCredential *CredHandle, phContext *CtxtHandle, pInput *SecBufferDesc, fContextReq ASCReq, targetDataRep uint32, phNewContext *CtxtHandle, pOutput *SecBufferDesc, pfContextAttr *ASCRet, ptsExpiry *TimeStamp) Status {
	if ah, ok := t.host.(AsyncHost); ok {
		return t.acceptDirect(ah, ac, phCredential, phContext, pInput, fContextReq, targetDataRep, phNewContext, pOutput, pfContextAttr, ptsExpiry)
	}
	return t.queue(ac, func(ctx context.Context) (Status, error) {
		return t.acceptSecurityContext(ctx, phCredential, phContext, pInput, fContextReq, targetDataRep, phNewContext, pOutput, pfContextAttr, ptsExpiry)
	})
}

// SspiDeleteSecurityContextAsync is the asynchronous DeleteSecurityContext.
func (t *FunctionTable) SspiDeleteSecurityContextAsync(ac *AsyncContext, phContext *CtxtHandle) Status {
	return t.queue(ac, func(ctx context.Context) (Status, error) {
		err := t.deleteSecurityContext(ctx, phContext)
		return StatusOf(err), err
	})
}

// SspiFreeCredentialsHandleAsync is the asynchronous FreeCredentialsHandle.
func (t *FunctionTable) SspiFreeCredentialsHandleAsync(ac *AsyncContext, phCredential *CredHandle) Status {
	return t.queue(ac, func(ctx context.Context) (Status, error) {
		if phCredential == nil {
			return SEC_E_INVALID_HANDLE, SEC_E_INVALID_HANDLE
		}
		err := t.host.FreeCredentialsHandle(ctx, *phCredential)
		return StatusOf(err), err
	})
}
