package secpkg

import (
	"context"
	"time"

	"github.com/gosspi/gosspi/sspi"
)

// CredentialRequest is what SpAcquireCredentialsHandle receives.
type CredentialRequest struct {
	Principal string             // pszPrincipal: the name of the principal, or empty for the default
	Use       sspi.CredentialUse // fCredentialUse
	AuthData  *sspi.AuthIdentity // pAuthData: nil means the default credentials
}

// InitContextParams is what SpInitLsaModeContext receives besides the
// credential and context.
type InitContextParams struct {
	TargetName    string
	ContextReq    sspi.ISCReq
	TargetDataRep uint32
	Input         *sspi.SecBufferDesc // nil on a first call with no input
}

// AcceptContextParams is what SpAcceptLsaModeContext receives besides the
// credential and context.
type AcceptContextParams struct {
	ContextReq    sspi.ASCReq
	TargetDataRep uint32
	Input         *sspi.SecBufferDesc
}

// ContextOutput is what SpInitLsaModeContext and SpAcceptLsaModeContext
// return besides the context: the output buffers, the attributes, and for a
// finished context the MappedContext flag and ContextData.
//
// Status is SEC_E_OK, SEC_I_CONTINUE_NEEDED, SEC_I_COMPLETE_NEEDED or
// SEC_I_COMPLETE_AND_CONTINUE. A package that fails returns an error and may
// still fill Output (an error token for ISC_REQ_EXTENDED_ERROR) or Missing
// (with SEC_E_INCOMPLETE_MESSAGE).
type ContextOutput struct {
	Status      sspi.Status
	Output      []sspi.SecBuffer  // usually one SECBUFFER_TOKEN; may be sent even with SEC_E_OK
	Flags       sspi.ContextFlags // attributes established so far
	Expiry      time.Time
	Mapped      bool   // MappedContext: ContextData rebuilds a user-mode context
	ContextData []byte // versioned, serialized: keys, sequence numbers, flags, names, expiry
	Extra       int    // bytes at the end of the input token that were not consumed (SECBUFFER_EXTRA)
	Missing     int    // bytes still needed (SECBUFFER_MISSING, with SEC_E_INCOMPLETE_MESSAGE)
	// NegotiationState reports SECPKG_NEGOTIATION_* for Negotiate-like packages.
	NegotiationState uint32
}

// LsaModePackage is SECPKG_FUNCTION_TABLE, the LSA-mode half of a security
// package. The host owns the handle tables; a package hands back Go values
// (LsaCredential, LsaContext) and never sees handles.
//
// Implementations must be safe for concurrent use: the host calls them from
// many goroutines, though never on the same context at once.
type LsaModePackage interface {
	// GetInfo is SpGetInfo.
	GetInfo() sspi.PackageInfo

	// AcquireCredentialsHandle is SpAcquireCredentialsHandle.
	AcquireCredentialsHandle(ctx context.Context, req *CredentialRequest) (LsaCredential, time.Time, error)

	// InitLsaModeContext is SpInitLsaModeContext. c is nil on the first call;
	// the package returns the context to keep (usually a new one on the
	// first call and c itself later).
	InitLsaModeContext(ctx context.Context, cred LsaCredential, c LsaContext, p *InitContextParams) (LsaContext, ContextOutput, error)

	// AcceptLsaModeContext is SpAcceptLsaModeContext.
	AcceptLsaModeContext(ctx context.Context, cred LsaCredential, c LsaContext, p *AcceptContextParams) (LsaContext, ContextOutput, error)
}

// LsaCredential is a package's credential.
type LsaCredential interface {
	// Free is SpFreeCredentialsHandle. Contexts made from the credential
	// may outlive it.
	Free()
}

// LsaContext is a package's LSA-mode context.
type LsaContext interface {
	// Delete is SpDeleteContext. It must forget the context's secrets.
	Delete()
	// QueryAttributes is SpQueryContextAttributes on the LSA side, for a
	// context that is not (yet) mapped. It returns SEC_E_UNSUPPORTED_FUNCTION
	// for attributes it does not know.
	QueryAttributes(attr sspi.ContextAttribute) (any, error)
}

// LsaCredentialAttributes is the optional SpQueryCredentialsAttributes.
type LsaCredentialAttributes interface {
	QueryCredentialsAttributes(attr uint32) (any, error)
}

// LsaCompleter is the optional LSA-side CompleteAuthToken, for a context
// that returned SEC_I_COMPLETE_NEEDED before it was mapped.
type LsaCompleter interface {
	CompleteAuthToken(ctx context.Context, token *sspi.SecBufferDesc) error
}
