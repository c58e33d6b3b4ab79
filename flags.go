package gosspi

import (
	"strconv"
	"strings"

	"github.com/gosspi/gosspi/sspi"
)

// Flags are the properties of a security context: what a client or server
// asks for (ClientConfig.Flags, ServerConfig.Flags) and what the
// established context has (SecurityContext.Flags). They are the ISC_REQ_*,
// ASC_REQ_* and *_RET_* bits of the Windows calls in one set that is the
// same on both sides.
type Flags uint32

// The flags.
const (
	// FlagMutualAuth: the server proves itself to the client too
	// (Kerberos AP-REP; NTLM cannot).
	FlagMutualAuth Flags = 1 << iota
	// FlagIntegrity: messages can be signed (Sign, WrapIntegrity).
	FlagIntegrity
	// FlagConfidentiality: messages can be sealed (Wrap).
	FlagConfidentiality
	// FlagReplayDetect: a message seen twice is refused.
	FlagReplayDetect
	// FlagSequenceDetect: a message out of order is refused.
	FlagSequenceDetect
	// FlagDelegate: the client's credentials are delegated to the server
	// (Kerberos, a forwardable TGT).
	FlagDelegate
	// FlagIdentify: the server may learn who the client is but not act
	// as the client.
	FlagIdentify
	// FlagAnonymous: a NULL session (no user).
	FlagAnonymous
	// FlagExtendedError: a failed handshake still returns a token that
	// tells the peer why (a Kerberos KRB-ERROR), to be sent to it.
	FlagExtendedError
)

// DefaultFlags are what a zero ClientConfig.Flags or ServerConfig.Flags
// asks for: mutual authentication, integrity, confidentiality, replay and
// sequence detection.
const DefaultFlags = FlagMutualAuth | FlagIntegrity | FlagConfidentiality | FlagReplayDetect | FlagSequenceDetect

// flagBits pairs each flag with its bits in the Windows calls.
var flagBits = []struct {
	f    Flags
	c    sspi.ContextFlags
	isc  sspi.ISCReq
	asc  sspi.ASCReq
	name string
}{
	{FlagMutualAuth, sspi.FlagMutualAuth, sspi.ISC_REQ_MUTUAL_AUTH, sspi.ASC_REQ_MUTUAL_AUTH, "MutualAuth"},
	{FlagIntegrity, sspi.FlagIntegrity, sspi.ISC_REQ_INTEGRITY, sspi.ASC_REQ_INTEGRITY, "Integrity"},
	{FlagConfidentiality, sspi.FlagConfidentiality, sspi.ISC_REQ_CONFIDENTIALITY, sspi.ASC_REQ_CONFIDENTIALITY, "Confidentiality"},
	{FlagReplayDetect, sspi.FlagReplayDetect, sspi.ISC_REQ_REPLAY_DETECT, sspi.ASC_REQ_REPLAY_DETECT, "ReplayDetect"},
	{FlagSequenceDetect, sspi.FlagSequenceDetect, sspi.ISC_REQ_SEQUENCE_DETECT, sspi.ASC_REQ_SEQUENCE_DETECT, "SequenceDetect"},
	{FlagDelegate, sspi.FlagDelegate, sspi.ISC_REQ_DELEGATE, sspi.ASC_REQ_DELEGATE, "Delegate"},
	{FlagIdentify, sspi.FlagIdentify, sspi.ISC_REQ_IDENTIFY, sspi.ASC_REQ_IDENTIFY, "Identify"},
	{FlagAnonymous, sspi.FlagNullSession, sspi.ISC_REQ_NULL_SESSION, sspi.ASC_REQ_ALLOW_NULL_SESSION, "Anonymous"},
	{FlagExtendedError, sspi.FlagExtendedError, sspi.ISC_REQ_EXTENDED_ERROR, sspi.ASC_REQ_EXTENDED_ERROR, "ExtendedError"},
}

// fromContextFlags returns the Flags of an sspi.ContextFlags set.
func fromContextFlags(c sspi.ContextFlags) Flags {
	var f Flags
	for _, b := range flagBits {
		if c&b.c != 0 {
			f |= b.f
		}
	}
	return f
}

// iscReq returns f as the ISC_REQ_* of InitializeSecurityContext; every
// context of this layer is connection-oriented (ISC_REQ_CONNECTION).
func (f Flags) iscReq() sspi.ISCReq {
	r := sspi.ISC_REQ_CONNECTION
	for _, b := range flagBits {
		if f&b.f != 0 {
			r |= b.isc
		}
	}
	return r
}

// ascReq returns f as the ASC_REQ_* of AcceptSecurityContext, with
// ASC_REQ_CONNECTION.
func (f Flags) ascReq() sspi.ASCReq {
	r := sspi.ASC_REQ_CONNECTION
	for _, b := range flagBits {
		if f&b.f != 0 {
			r |= b.asc
		}
	}
	return r
}

// String returns the flags' names joined by "|", or "0".
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for _, b := range flagBits {
		if f&b.f != 0 {
			parts = append(parts, b.name)
			f &^= b.f
		}
	}
	if f != 0 {
		parts = append(parts, "0x"+strings.ToUpper(strconv.FormatUint(uint64(f), 16)))
	}
	return strings.Join(parts, "|")
}
