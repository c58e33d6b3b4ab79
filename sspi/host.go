package sspi

import (
	"context"
	"time"
)

// Host is the boundary between the SSPI surface, in the application, and
// the package host ("LSA"), which runs the LSA-mode halves of the packages
// and holds the secrets. lsa.Host implements it in-process; a
// privilege-separated daemon can implement it later, so every argument and
// result is plain, serializable data: no func values and no pointers into
// the other side's memory. Attribute values are the SecPkgContext* structs
// of this package.
type Host interface {
	// EnumerateSecurityPackages lists the registered packages.
	EnumerateSecurityPackages(ctx context.Context) ([]PackageInfo, error)
	// QuerySecurityPackageInfo returns one package's information, or
	// SEC_E_SECPKG_NOT_FOUND.
	QuerySecurityPackageInfo(ctx context.Context, name string) (PackageInfo, error)

	AcquireCredentialsHandle(ctx context.Context, req *AcquireCredentialsRequest) (*AcquireCredentialsResult, error)
	FreeCredentialsHandle(ctx context.Context, cred CredHandle) error
	QueryCredentialsAttributes(ctx context.Context, cred CredHandle, attr uint32) (any, error)

	// InitLsaModeContext and AcceptLsaModeContext run one leg of a
	// handshake. On failure the result may still carry an output token or
	// a Missing count; on a failed first call no handle is returned.
	InitLsaModeContext(ctx context.Context, req *InitContextRequest) (*ContextResult, error)
	AcceptLsaModeContext(ctx context.Context, req *AcceptContextRequest) (*ContextResult, error)
	// CompleteAuthToken runs the LSA-side CompleteAuthToken of an
	// unmapped context.
	CompleteAuthToken(ctx context.Context, c CtxtHandle, token *SecBufferDesc) error
	DeleteContext(ctx context.Context, c CtxtHandle) error
	QueryContextAttributes(ctx context.Context, c CtxtHandle, attr ContextAttribute) (any, error)
}

// AcquireCredentialsRequest carries AcquireCredentialsHandle's arguments.
type AcquireCredentialsRequest struct {
	Package   string
	Principal string
	Use       CredentialUse
	AuthData  *AuthIdentity
}

// AcquireCredentialsResult is AcquireCredentialsHandle's output.
type AcquireCredentialsResult struct {
	Credential CredHandle
	Expiry     time.Time
}

// InitContextRequest carries InitializeSecurityContext's arguments.
// Context is the zero handle on the first call.
type InitContextRequest struct {
	Credential    CredHandle
	Context       CtxtHandle
	TargetName    string
	ContextReq    ISCReq
	TargetDataRep uint32
	Input         *SecBufferDesc
}

// AcceptContextRequest carries AcceptSecurityContext's arguments.
// Context is the zero handle on the first call.
type AcceptContextRequest struct {
	Credential    CredHandle
	Context       CtxtHandle
	ContextReq    ASCReq
	TargetDataRep uint32
	Input         *SecBufferDesc
}

// ContextResult is one handshake leg's output, as it crosses the boundary.
type ContextResult struct {
	Status           Status     // SEC_E_OK or a SEC_I_* code when the call succeeded
	Context          CtxtHandle // the (new) context handle
	Package          string     // the package that owns the context
	Output           []SecBuffer
	Flags            ContextFlags
	Expiry           time.Time
	Mapped           bool
	ContextData      []byte // serialized user-mode state; the surface wipes it once it has built the context
	Extra            int
	Missing          int
	NegotiationState uint32
}
