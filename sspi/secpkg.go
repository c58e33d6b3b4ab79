package sspi

import (
	"context"
	"time"
)

// This file holds the security package function tables: what a package
// implements so that a host can load it. They mirror ntsecpkg.h.
//
//   - LsaModePackage is SECPKG_FUNCTION_TABLE: the half that runs in the
//     package host ("LSA mode") and holds the secrets: credentials, the
//     handshake, the account store and the keytab.
//   - UserModePackage is SECPKG_USER_FUNCTION_TABLE: the half that runs in
//     the application. It rebuilds a context from the ContextData the LSA
//     half returned (SpInitUserModeContext), and signs and seals messages.
//
// The two halves talk only through ContextData, a versioned byte string, so
// that the LSA half can move into a separate process. A user-mode context
// must work from its ContextData alone.
//
// Functions return error values that are a Status or an *Error; any other
// error is reported to the caller as SEC_E_INTERNAL_ERROR.

// AuthIdentity is the pAuthData of AcquireCredentialsHandle
// (SEC_WINNT_AUTH_IDENTITY_EX and its package-specific extensions). It
// crosses the host boundary, so it holds only plain data.
//
// Packages keep the least secret form that works: NTLM derives the NT hash
// at once and drops the password.
type AuthIdentity struct {
	User     string // user name; may be written DOMAIN\user or user@domain
	Domain   string // domain or realm; may be empty
	Password string // plaintext password; may be empty
	// NTHash is an NT one-way function of the password (MD4 of UTF-16LE),
	// usable by NTLM instead of Password.
	NTHash []byte
	// PackageList filters Negotiate's mechanisms, as on Windows:
	// "kerberos,!ntlm" prefers Kerberos and excludes NTLM.
	PackageList string
	// Options holds package-specific settings by name, such as
	// "keytab" = "/etc/krb5.keytab" or "ccache" = "FILE:/tmp/krb5cc_0".
	// Packages document the names they read.
	Options map[string]string
}

// CredentialRequest is what SpAcquireCredentialsHandle receives.
type CredentialRequest struct {
	Principal string        // pszPrincipal: the name of the principal, or empty for the default
	Use       CredentialUse // fCredentialUse
	AuthData  *AuthIdentity // pAuthData: nil means the default credentials
}

// InitContextParams is what SpInitLsaModeContext receives besides the
// credential and context.
type InitContextParams struct {
	TargetName    string
	ContextReq    ISCReq
	TargetDataRep uint32
	Input         *SecBufferDesc // nil on a first call with no input
}

// AcceptContextParams is what SpAcceptLsaModeContext receives besides the
// credential and context.
type AcceptContextParams struct {
	ContextReq    ASCReq
	TargetDataRep uint32
	Input         *SecBufferDesc
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
	Status      Status
	Output      []SecBuffer  // usually one SECBUFFER_TOKEN; may be sent even with SEC_E_OK
	Flags       ContextFlags // attributes established so far
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
	GetInfo() PackageInfo

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
	QueryAttributes(attr ContextAttribute) (any, error)
}

// LsaCredentialAttributes is the optional SpQueryCredentialsAttributes.
type LsaCredentialAttributes interface {
	QueryCredentialsAttributes(attr uint32) (any, error)
}

// LsaCompleter is the optional LSA-side CompleteAuthToken, for a context
// that returned SEC_I_COMPLETE_NEEDED before it was mapped.
type LsaCompleter interface {
	CompleteAuthToken(ctx context.Context, token *SecBufferDesc) error
}

// UserModePackage is SECPKG_USER_FUNCTION_TABLE: the user-mode half of a
// package, loaded into the application next to the SSPI surface.
type UserModePackage interface {
	// Name returns the package name, as in PackageInfo.Name.
	Name() string
	// InitUserModeContext is SpInitUserModeContext: it rebuilds a context
	// from the ContextData the LSA half returned, or from the output of
	// ExportContext (SpImportSecurityContext uses the same format).
	InitUserModeContext(contextData []byte) (UserModeContext, error)
}

// UserModeContext is a mapped context: the per-message half of an
// established security context. The surface serializes calls on one
// context, so implementations need no locking of their own.
type UserModeContext interface {
	// MakeSignature is SpMakeSignature: it writes the signature into the
	// SECBUFFER_TOKEN of msg, covering the SECBUFFER_DATA buffers.
	MakeSignature(qop uint32, msg *SecBufferDesc, seqNo uint32) error
	// VerifySignature is SpVerifySignature.
	VerifySignature(msg *SecBufferDesc, seqNo uint32) (qop uint32, err error)
	// SealMessage is SpSealMessage (EncryptMessage): it encrypts the
	// SECBUFFER_DATA buffers in place and fills the SECBUFFER_TOKEN (and
	// SECBUFFER_PADDING, where the package uses one).
	SealMessage(qop uint32, msg *SecBufferDesc, seqNo uint32) error
	// UnsealMessage is SpUnsealMessage (DecryptMessage). It accepts either
	// a SECBUFFER_TOKEN plus SECBUFFER_DATA, or one SECBUFFER_STREAM holding
	// the whole wrap token and an empty SECBUFFER_DATA that receives the
	// plaintext.
	UnsealMessage(msg *SecBufferDesc, seqNo uint32) (qop uint32, err error)
	// QueryAttributes is SpQueryContextAttributes on the user-mode side.
	QueryAttributes(attr ContextAttribute) (any, error)
	// Delete is SpDeleteUserModeContext.
	Delete()
}

// UserModeExporter is the optional SpExportSecurityContext: it returns the
// context's current state (sequence numbers included) in the ContextData
// format, for InitUserModeContext in another process.
type UserModeExporter interface {
	ExportContext() ([]byte, error)
}

// UserModeCompleter is the optional SpCompleteAuthToken.
type UserModeCompleter interface {
	CompleteAuthToken(token *SecBufferDesc) error
}
