package sspi

// This file holds SECPKG_USER_FUNCTION_TABLE: the user-mode half of a
// security package, which the surface (FunctionTable) loads itself, as
// secur32 does on Windows. It rebuilds a context from the ContextData the
// LSA-mode half returned (SpInitUserModeContext), and signs and seals
// messages. It must work from its ContextData alone, so that the LSA half
// can move into a separate process. The LSA-mode half and the parameter
// types of its calls are in package sspi/secpkg.
//
// Functions return error values that are a Status or an *Error; any other
// error is reported to the caller as SEC_E_INTERNAL_ERROR.

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
