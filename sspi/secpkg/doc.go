// Package secpkg is the security package SPI: what a package implements so
// that a package host loads it, as ntsecpkg.h is on Windows. It stands to
// package sspi as database/sql/driver stands to database/sql: applications
// call sspi (or the idiomatic package gosspi); packages (NTLM, Kerberos,
// Negotiate, or one of your own) and hosts (package lsa, and the
// out-of-process host that dials gosspi lsad) implement and consume this.
//
// LsaModePackage is SECPKG_FUNCTION_TABLE: the half that runs in the host
// ("LSA mode") and holds the secrets: credentials, the handshake, the
// account store and the keytab. Its SpInitLsaModeContext and
// SpAcceptLsaModeContext return a ContextOutput whose ContextData (when
// Mapped) is all the application's half gets.
//
// The application's half, SECPKG_USER_FUNCTION_TABLE, is
// sspi.UserModePackage: the surface loads it itself, as secur32 does, and
// rebuilds each context from ContextData alone (SpInitUserModeContext).
//
// The two halves talk only through ContextData, a versioned byte string,
// so that the LSA half can run in a separate, privileged process.
//
// RecognizeToken is the one place that tells tokens apart (NTLMSSP,
// SPNEGO, Kerberos, GSS framing), as Samba GENSEC's magic does, for hosts
// and transports that must route a token without parsing it.
//
// Functions return error values that are an sspi.Status or an *sspi.Error;
// any other error is reported to the caller as SEC_E_INTERNAL_ERROR.
package secpkg
