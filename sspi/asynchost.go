package sspi

import "context"

// AsyncHost is a Host that completes handshake legs without a goroutine
// blocked per call: a host in another process (package lsa/remote) sends
// the request and calls done when the reply arrives. The surface's
// Sspi*SecurityContextAsync calls use it instead of their worker pool, so
// that a pending call costs only its request's bookkeeping.
//
// done is called exactly once, possibly before the method returns, on a
// goroutine of the host's; it must not block.
type AsyncHost interface {
	Host
	InitLsaModeContextAsync(ctx context.Context, req *InitContextRequest, done func(*ContextResult, error))
	AcceptLsaModeContextAsync(ctx context.Context, req *AcceptContextRequest, done func(*ContextResult, error))
}

// startDirect marks ac running for a call that an AsyncHost completes; it
// returns SEC_E_OK and the context to run under, or the status refusing
// the call.
func (t *FunctionTable) startDirect(ac *AsyncContext) (context.Context, Status) {
	if ac == nil {
		return nil, SEC_E_INVALID_HANDLE
	}
	if t.closed.Load() {
		return nil, SEC_E_SHUTDOWN_IN_PROGRESS
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	switch ac.state {
	case asyncFreed:
		return nil, SEC_E_INVALID_HANDLE
	case asyncQueued, asyncRunning:
		return nil, ErrContextBusy.Status
	case asyncDone:
		ac.done = make(chan struct{})
	}
	ac.state, ac.work, ac.cancelled, ac.status, ac.err = asyncRunning, nil, false, 0, nil
	return ac.ctx, SEC_E_OK
}

func (t *FunctionTable) initDirect(ah AsyncHost, ac *AsyncContext, phCredential *CredHandle, phContext *CtxtHandle, targetName string, fContextReq ISCReq, targetDataRep uint32, pInput *SecBufferDesc, phNewContext *CtxtHandle, pOutput *SecBufferDesc, pfContextAttr *ISCRet, ptsExpiry *TimeStamp) Status {
	ctx, st := t.startDirect(ac)
	if st != SEC_E_OK {
		return st
	}
	req, err := t.initRequest(phCredential, phContext, targetName, fContextReq, targetDataRep, pInput, pOutput)
	if err != nil {
		ac.complete(StatusOf(err), err)
		return SEC_E_OK
	}
	ah.InitLsaModeContextAsync(ctx, req, func(res *ContextResult, err error) {
		ac.complete(t.finishLeg("InitializeSecurityContext", res, err, pInput, phNewContext, pOutput, ptsExpiry, func(f ContextFlags) {
			if pfContextAttr != nil {
				*pfContextAttr = f.ISCRet()
			}
		}))
	})
	return SEC_E_OK
}

func (t *FunctionTable) acceptDirect(ah AsyncHost, ac *AsyncContext, phCredential *CredHandle, phContext *CtxtHandle, pInput *SecBufferDesc, fContextReq ASCReq, targetDataRep uint32, phNewContext *CtxtHandle, pOutput *SecBufferDesc, pfContextAttr *ASCRet, ptsExpiry *TimeStamp) Status {
	ctx, st := t.startDirect(ac)
	if st != SEC_E_OK {
		return st
	}
	req, err := t.acceptRequest(phCredential, phContext, pInput, fContextReq, targetDataRep, pOutput)
	if err != nil {
		ac.complete(StatusOf(err), err)
		return SEC_E_OK
	}
	ah.AcceptLsaModeContextAsync(ctx, req, func(res *ContextResult, err error) {
		ac.complete(t.finishLeg("AcceptSecurityContext", res, err, pInput, phNewContext, pOutput, ptsExpiry, func(f ContextFlags) {
			if pfContextAttr != nil {
				*pfContextAttr = f.ASCRet()
			}
		}))
	})
	return SEC_E_OK
}
