// Package sspi is the Security Support Provider Interface as Windows
// defines it, in Go: the calls an application makes
// (AcquireCredentialsHandle, InitializeSecurityContext,
// AcceptSecurityContext, CompleteAuthToken, QueryContextAttributes,
// MakeSignature, EncryptMessage, the Sspi*Async forms...), with the
// Windows values and types: SEC_E_* and SEC_I_* statuses, ISC_REQ_* and
// ASC_REQ_* flags, SECBUFFER_* buffer types, SECPKG_ATTR_* attributes,
// CredHandle and CtxtHandle.
//
// The calls are methods of a FunctionTable (SecurityFunctionTable), made
// by InitSecurityInterface or New over a Host: the boundary to the package
// host (the LSA) that holds the secrets. A Host is in process (package
// lsa, which gosspi.NewHost sets up with the standard packages) or in a
// separate process. What comes back across the boundary for an
// established context is ContextData only, from which the surface
// rebuilds the user-mode half of the package (UserModePackage,
// SpInitUserModeContext) that signs and seals messages.
//
// The semantics are the Windows ones: the first call passes no context
// handle and gets one; a token that comes with SEC_E_OK is still sent;
// SEC_E_INCOMPLETE_MESSAGE asks for more input, with SECBUFFER_MISSING;
// input left over is returned as SECBUFFER_EXTRA; an unmet requirement is
// SEC_E_UNSUPPORTED_FUNCTION. Errors are Status values or *Error, which
// wraps its cause, so both errors.Is(err, SEC_E_LOGON_DENIED) and
// errors.Is(err, context.DeadlineExceeded) work.
//
// Most Go programs want package gosspi instead: a Client or Server
// security context driven by Step, then Wrap and Unwrap. Security packages
// implement package sspi/secpkg.
package sspi
