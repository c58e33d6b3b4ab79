package secpkg

import (
	"strconv"
	"strings"

	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/internal/oid"
)

// TokenKind is what RecognizeToken makes of an authentication token: the
// mechanism and message it is, from its first bytes. The base kind may
// carry the TokenFramed bit.
type TokenKind uint16

// Token kinds. A kind is a guess from the first bytes, made without
// parsing the rest, and says nothing about whether the token is valid.
const (
	TokenUnknown TokenKind = iota // none of the below

	// TokenNTLM is an NTLMSSP message whose MessageType is not one of the
	// three below or is cut off (MS-NLMP 2.2.1).
	TokenNTLM
	TokenNTLMNegotiate    // NEGOTIATE_MESSAGE, MessageType 1 (MS-NLMP 2.2.1.1)
	TokenNTLMChallenge    // CHALLENGE_MESSAGE, MessageType 2 (MS-NLMP 2.2.1.2)
	TokenNTLMAuthenticate // AUTHENTICATE_MESSAGE, MessageType 3 (MS-NLMP 2.2.1.3)

	// TokenSPNEGOInit is a NegTokenInit (RFC 4178 4.2.1) or NegTokenInit2
	// (MS-SPNG 2.2.1): an InitialContextToken for the SPNEGO OID, so always
	// with TokenFramed.
	TokenSPNEGOInit
	// TokenSPNEGOResp is a NegTokenResp (RFC 4178 4.2.2): tag [1], never
	// framed.
	TokenSPNEGOResp

	// TokenKerberos is a Kerberos mechanism token of another kind, such as
	// an RFC 1964 per-message token, or one cut off before its TOK_ID
	// (RFC 4121 4.1).
	TokenKerberos
	// TokenKerberosAPReq is a KRB_AP_REQ (RFC 4120 5.5.1): [APPLICATION
	// 14], or framed with TOK_ID 01 00 (RFC 4121 4.1).
	TokenKerberosAPReq
	// TokenKerberosAPRep is a KRB_AP_REP (RFC 4120 5.5.2): [APPLICATION
	// 15], or framed with TOK_ID 02 00.
	TokenKerberosAPRep
	// TokenKerberosError is a KRB_ERROR (RFC 4120 5.9.1): [APPLICATION 30],
	// or framed with TOK_ID 03 00.
	TokenKerberosError

	// TokenGSS is an InitialContextToken (RFC 2743 3.1) of another
	// mechanism, or one whose header is malformed or cut off: always with
	// TokenFramed.
	TokenGSS

	// TokenFramed is set when the token starts with an RFC 2743 3.1
	// InitialContextToken header (tag 0x60) and the kind is that of the
	// inner token its mechanism OID announces: Kerberos tokens with the
	// RFC 4121 4.1 TOK_ID, NTLMSSP as gss-ntlmssp can frame it, SPNEGO's
	// NegTokenInit.
	TokenFramed TokenKind = 0x8000
)

var tokenKindNames = [...]string{
	TokenUnknown:          "unknown",
	TokenNTLM:             "NTLM message",
	TokenNTLMNegotiate:    "NTLM NEGOTIATE",
	TokenNTLMChallenge:    "NTLM CHALLENGE",
	TokenNTLMAuthenticate: "NTLM AUTHENTICATE",
	TokenSPNEGOInit:       "SPNEGO NegTokenInit",
	TokenSPNEGOResp:       "SPNEGO NegTokenResp",
	TokenKerberos:         "Kerberos token",
	TokenKerberosAPReq:    "Kerberos AP-REQ",
	TokenKerberosAPRep:    "Kerberos AP-REP",
	TokenKerberosError:    "Kerberos KRB-ERROR",
	TokenGSS:              "GSS InitialContextToken",
}

// Base returns the kind without TokenFramed.
func (k TokenKind) Base() TokenKind { return k &^ TokenFramed }

// Framed reports whether the token starts with an InitialContextToken
// header (RFC 2743 3.1).
func (k TokenKind) Framed() bool { return k&TokenFramed != 0 }

// IsNTLM reports whether the token is an NTLMSSP message, framed or not.
func (k TokenKind) IsNTLM() bool {
	b := k.Base()
	return b >= TokenNTLM && b <= TokenNTLMAuthenticate
}

// IsKerberos reports whether the token is a Kerberos message, framed or
// not.
func (k TokenKind) IsKerberos() bool {
	b := k.Base()
	return b >= TokenKerberos && b <= TokenKerberosError
}

// String returns a name such as "NTLM NEGOTIATE" or "Kerberos AP-REQ
// (framed)".
func (k TokenKind) String() string {
	b := k.Base()
	if int(b) >= len(tokenKindNames) {
		return "TokenKind(0x" + strings.ToUpper(strconv.FormatUint(uint64(k), 16)) + ")"
	}
	s := tokenKindNames[b]
	if k.Framed() && b != TokenSPNEGOInit && b != TokenGSS {
		s += " (framed)"
	}
	return s
}

// ntlmSignature starts every NTLMSSP message (MS-NLMP 2.2.1).
const ntlmSignature = "NTLMSSP\x00"

// RecognizeToken says which mechanism's message tok is, from its first
// bytes, as Samba's GENSEC asks each mechanism's magic function: the
// NTLMSSP signature and MessageType (MS-NLMP 2.2.1), the RFC 2743 3.1
// InitialContextToken header and its mechanism OID (SPNEGO, RFC 4178 4.2;
// Kerberos with the RFC 4121 4.1 TOK_ID, either Kerberos OID as in MS-KILE
// 1.9), the NegTokenResp tag [1] (RFC 4178 4.2.2), and the Kerberos
// [APPLICATION 14], [15] and [30] tags (RFC 4120 5.5.1, 5.5.2, 5.9.1). It
// reads at most the header and a few bytes after it, never panics, and
// does not validate the rest: the mechanism's parser does that.
func RecognizeToken(tok []byte) TokenKind {
	if len(tok) == 0 {
		return TokenUnknown
	}
	switch tok[0] {
	case 0x60:
		return recognizeFramed(tok)
	case 0xa1:
		return TokenSPNEGOResp
	case 0x6e:
		return TokenKerberosAPReq
	case 0x6f:
		return TokenKerberosAPRep
	case 0x7e:
		return TokenKerberosError
	}
	return recognizeNTLM(tok)
}

func recognizeNTLM(tok []byte) TokenKind {
	if len(tok) < len(ntlmSignature) || string(tok[:len(ntlmSignature)]) != ntlmSignature {
		return TokenUnknown
	}
	if len(tok) < 12 {
		return TokenNTLM
	}
	// MessageType is a little-endian uint32 (MS-NLMP 2.2.1).
	switch uint32(tok[8]) | uint32(tok[9])<<8 | uint32(tok[10])<<16 | uint32(tok[11])<<24 {
	case 1:
		return TokenNTLMNegotiate
	case 2:
		return TokenNTLMChallenge
	case 3:
		return TokenNTLMAuthenticate
	}
	return TokenNTLM
}

// recognizeFramed reads an InitialContextToken header and its mechanism
// (gss.Peek, RFC 2743 3.1).
func recognizeFramed(tok []byte) TokenKind {
	const framed = TokenGSS | TokenFramed
	mech, inner, ok := gss.Peek(tok)
	if !ok {
		return framed
	}
	switch string(mech) {
	case oid.SPNEGODER:
		return TokenSPNEGOInit | TokenFramed
	case oid.KerberosDER, oid.MSKerberosDER:
		if len(inner) < 2 || inner[1] != 0 {
			return TokenKerberos | TokenFramed
		}
		switch inner[0] {
		case 1:
			return TokenKerberosAPReq | TokenFramed
		case 2:
			return TokenKerberosAPRep | TokenFramed
		case 3:
			return TokenKerberosError | TokenFramed
		}
		return TokenKerberos | TokenFramed
	case oid.NTLMDER:
		if k := recognizeNTLM(inner); k != TokenUnknown {
			return k | TokenFramed
		}
		return TokenNTLM | TokenFramed
	}
	return framed
}
