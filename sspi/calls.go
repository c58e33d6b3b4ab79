package sspi

import "context"

// Calls are the calls of a FunctionTable that take part in a Go program's
// cancellation and error handling: each passes its context.Context to the
// host (a KDC exchange, a domain controller, a daemon round trip honours
// its deadline), and a failure comes back as an error that carries both
// the Status and its cause. WithContext returns them; the Windows calls
// of FunctionTable are these with context.Background() and the status
// alone.
//
// Calls that run in the background with a notification are the Sspi*Async
// forms, over an AsyncContext made by NewAsyncContext(ctx).
type Calls struct {
	t   *FunctionTable
	ctx context.Context
}

// WithContext returns t's calls bound to ctx.
func (t *FunctionTable) WithContext(ctx context.Context) Calls {
	if ctx == nil {
		ctx = context.Background()
	}
	return Calls{t: t, ctx: ctx}
}

// AcquireCredentialsHandle is FunctionTable.AcquireCredentialsHandle.
func (c Calls) AcquireCredentialsHandle(principal, pkg string, use CredentialUse, authData *AuthIdentity, cred *CredHandle, expiry *TimeStamp) error {
	return c.t.acquireCredentialsHandle(c.ctx, principal, pkg, use, authData, cred, expiry)
}

// InitializeSecurityContext is FunctionTable.InitializeSecurityContext. It
// returns the status and, for a failure, an error that carries it.
func (c Calls) InitializeSecurityContext(phCredential *CredHandle, phContext *CtxtHandle, targetName string, fContextReq ISCReq, targetDataRep uint32, pInput *SecBufferDesc, phNewContext *CtxtHandle, pOutput *SecBufferDesc, pfContextAttr *ISCRet, ptsExpiry *TimeStamp) (Status, error) {
	return c.t.initializeSecurityContext(c.ctx, phCredential, phContext, targetName, fContextReq, targetDataRep, pInput, phNewContext, pOutput, pfContextAttr, ptsExpiry)
}

// AcceptSecurityContext is FunctionTable.AcceptSecurityContext. It returns
// the status and, for a failure, an error that carries it.
func (c Calls) AcceptSecurityContext(phCredential *CredHandle, phContext *CtxtHandle, pInput *SecBufferDesc, fContextReq ASCReq, targetDataRep uint32, phNewContext *CtxtHandle, pOutput *SecBufferDesc, pfContextAttr *ASCRet, ptsExpiry *TimeStamp) (Status, error) {
	return c.t.acceptSecurityContext(c.ctx, phCredential, phContext, pInput, fContextReq, targetDataRep, phNewContext, pOutput, pfContextAttr, ptsExpiry)
}

// DeleteSecurityContext is FunctionTable.DeleteSecurityContext.
func (c Calls) DeleteSecurityContext(phContext *CtxtHandle) error {
	return c.t.deleteSecurityContext(c.ctx, phContext)
}

// QueryContextAttributes returns a context attribute as a value: one of
// the SecPkgContext* structs for attr, or an *Identity for
// SECPKG_ATTR_GOSSPI_IDENTITY.
func (c Calls) QueryContextAttributes(phContext *CtxtHandle, attr ContextAttribute) (any, error) {
	return c.t.queryContextAttributes(c.ctx, phContext, attr)
}
