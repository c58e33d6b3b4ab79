// Package ntlm is the NTLM security package (MS-NLMP) of gosspi: both the
// LSA-mode half (credentials, the NEGOTIATE / CHALLENGE / AUTHENTICATE
// handshake, the account store) and the user-mode half (signing and
// sealing of a mapped context).
//
// New returns a *Package, which implements secpkg.LsaModePackage and
// sspi.UserModePackage; UserMode returns the user-mode half alone, for an
// application whose host runs elsewhere. Register them with a package host
// (lsa.New) and the SSPI surface (sspi.InitSecurityInterface), or use the
// idiomatic layer of package gosspi.
//
// What it does:
//
//   - NTLMv2 with extended session security, 128-bit keys and KEY_EXCH by
//     default; the client always sends a Version, an MsvAvFlags with a MIC,
//     MsvAvChannelBindings (the RFC 4121 hash of the bindings given in a
//     SECBUFFER_CHANNEL_BINDINGS, or zeros) and MsvAvTargetName.
//   - NTLMv1 and NTLMv1 with NTLM2 session security only with
//     Config.AllowNTLMv1 (like a low LmCompatibilityLevel) on both sides;
//     otherwise a server refuses them with SEC_E_LOGON_DENIED.
//   - The server always verifies the NTProofStr, in constant time; an
//     unknown user costs the same as a wrong password (a dummy hash is
//     verified) and gets the same SEC_E_LOGON_DENIED. It checks the
//     NTLMv2 timestamp (Config.MaxClockSkew, SEC_E_TIME_SKEW), verifies a
//     MIC announced by MsvAvFlags (SEC_E_MESSAGE_ALTERED) and can require
//     one (Config.RequireMIC), and applies a channel binding policy
//     (Config.ChannelBindings; SEC_E_BAD_BINDINGS).
//   - Signing and sealing need 128-bit keys (NTLMSSP_NEGOTIATE_128), as
//     with Windows' default NtlmMinServerSec and NtlmMinClientSec: a server
//     refuses a client that asks for either without it, and a client a
//     server that drops it, with SEC_E_UNSUPPORTED_FUNCTION.
//     Config.AllowWeakSealing is the legacy opt-in for 56- and 40-bit keys.
//   - NTLM reflection (MS08-068): unless Config.AllowReflection, the
//     server refuses (SEC_E_LOGON_DENIED) an
//     AUTHENTICATE that the package's own client produced for the
//     server's CHALLENGE, as Windows recognises challenges its own client
//     answered. The record is bounded and expires with Config.MaxClockSkew.
//   - Anonymous (NULL session) logons only with ASC_REQ_ALLOW_NULL_SESSION.
//   - Per-message calls in user mode, built from ContextData alone, with
//     separate keys, sequence numbers and RC4 states per direction:
//     replayed or reordered messages get SEC_E_OUT_OF_SEQUENCE, altered
//     ones SEC_E_MESSAGE_ALTERED, and neither disturbs the context.
//     SealMessage writes the 16-byte signature into the SECBUFFER_TOKEN and
//     encrypts the SECBUFFER_DATA in place; UnsealMessage also takes one
//     SECBUFFER_STREAM (signature || ciphertext, the GSS_Wrap layout of
//     gss-ntlmssp) with an empty SECBUFFER_DATA for the plaintext.
//   - Context attributes: SIZES (16-byte signature and trailer), NAMES
//     (DOMAIN\user), NATIVE_NAMES, SESSION_KEY, FLAGS, LIFESPAN,
//     PACKAGE_INFO, NEGOTIATION_INFO and SECPKG_ATTR_GOSSPI_IDENTITY.
//
// Accounts live behind the AccountStore interface. MemoryStore holds them
// in memory; HashFile is the built-in file of NT hashes (see
// HashFileMagic), managed with `gosspi accounts`, which a server opens
// with LoadHashFile so that a missing or malformed file fails at start;
// ParseUserFile and LoadAccounts read gss-ntlmssp's NTLM_USER_FILE
// (DOMAIN:USER:PASSWORD).
// Passwords are hashed when they are read and never kept. Domain users
// are verified by a Verifier in Config.Verifier (package netlogon: NETLOGON
// pass-through to a domain controller), which returns their SID, groups
// and session key; the server still checks the rest itself.
//
// Parsers validate every payload offset and length against the message:
// fields before the fixed header, overlapping fields and messages over 64
// KiB are SEC_E_INVALID_TOKEN; a message cut short is
// SEC_E_INCOMPLETE_MESSAGE with the number of missing bytes. Whether
// Version and MIC are present is decided by the payload offsets, not by
// NTLMSSP_NEGOTIATE_VERSION (curl keeps the flag and sends neither), and a
// 32-byte NEGOTIATE without Version is accepted.
//
// The code follows MS-NLMP; functions named after the spec (NTOWFv2,
// KXKEY, SIGNKEY, SEALKEY) reproduce its section 4.2 test vectors.
package ntlm
