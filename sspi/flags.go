package sspi

import (
	"strconv"
	"strings"
)

// ISCReq is the fContextReq of InitializeSecurityContext (ISC_REQ_* bits).
type ISCReq uint32

// ISCRet is the pfContextAttr of InitializeSecurityContext (ISC_RET_* bits).
type ISCRet uint32

// ASCReq is the fContextReq of AcceptSecurityContext (ASC_REQ_* bits).
type ASCReq uint32

// ASCRet is the pfContextAttr of AcceptSecurityContext (ASC_RET_* bits).
type ASCRet uint32

// ISC_REQ_* values from sspi.h.
const (
	ISC_REQ_DELEGATE               ISCReq = 0x00000001
	ISC_REQ_MUTUAL_AUTH            ISCReq = 0x00000002
	ISC_REQ_REPLAY_DETECT          ISCReq = 0x00000004
	ISC_REQ_SEQUENCE_DETECT        ISCReq = 0x00000008
	ISC_REQ_CONFIDENTIALITY        ISCReq = 0x00000010
	ISC_REQ_USE_SESSION_KEY        ISCReq = 0x00000020
	ISC_REQ_PROMPT_FOR_CREDS       ISCReq = 0x00000040
	ISC_REQ_USE_SUPPLIED_CREDS     ISCReq = 0x00000080
	ISC_REQ_ALLOCATE_MEMORY        ISCReq = 0x00000100
	ISC_REQ_USE_DCE_STYLE          ISCReq = 0x00000200
	ISC_REQ_DATAGRAM               ISCReq = 0x00000400
	ISC_REQ_CONNECTION             ISCReq = 0x00000800
	ISC_REQ_CALL_LEVEL             ISCReq = 0x00001000
	ISC_REQ_FRAGMENT_SUPPLIED      ISCReq = 0x00002000
	ISC_REQ_EXTENDED_ERROR         ISCReq = 0x00004000
	ISC_REQ_STREAM                 ISCReq = 0x00008000
	ISC_REQ_INTEGRITY              ISCReq = 0x00010000
	ISC_REQ_IDENTIFY               ISCReq = 0x00020000
	ISC_REQ_NULL_SESSION           ISCReq = 0x00040000
	ISC_REQ_MANUAL_CRED_VALIDATION ISCReq = 0x00080000
	ISC_REQ_RESERVED1              ISCReq = 0x00100000
	ISC_REQ_FRAGMENT_TO_FIT        ISCReq = 0x00200000
	ISC_REQ_FORWARD_CREDENTIALS    ISCReq = 0x00400000
	ISC_REQ_NO_INTEGRITY           ISCReq = 0x00800000
	ISC_REQ_USE_HTTP_STYLE         ISCReq = 0x01000000
	ISC_REQ_UNVERIFIED_TARGET_NAME ISCReq = 0x20000000
	ISC_REQ_CONFIDENTIALITY_ONLY   ISCReq = 0x40000000
)

// ISC_RET_* values from sspi.h.
const (
	ISC_RET_DELEGATE               ISCRet = 0x00000001
	ISC_RET_MUTUAL_AUTH            ISCRet = 0x00000002
	ISC_RET_REPLAY_DETECT          ISCRet = 0x00000004
	ISC_RET_SEQUENCE_DETECT        ISCRet = 0x00000008
	ISC_RET_CONFIDENTIALITY        ISCRet = 0x00000010
	ISC_RET_USE_SESSION_KEY        ISCRet = 0x00000020
	ISC_RET_USED_COLLECTED_CREDS   ISCRet = 0x00000040
	ISC_RET_USED_SUPPLIED_CREDS    ISCRet = 0x00000080
	ISC_RET_ALLOCATED_MEMORY       ISCRet = 0x00000100
	ISC_RET_USED_DCE_STYLE         ISCRet = 0x00000200
	ISC_RET_DATAGRAM               ISCRet = 0x00000400
	ISC_RET_CONNECTION             ISCRet = 0x00000800
	ISC_RET_INTERMEDIATE_RETURN    ISCRet = 0x00001000
	ISC_RET_CALL_LEVEL             ISCRet = 0x00002000
	ISC_RET_EXTENDED_ERROR         ISCRet = 0x00004000
	ISC_RET_STREAM                 ISCRet = 0x00008000
	ISC_RET_INTEGRITY              ISCRet = 0x00010000
	ISC_RET_IDENTIFY               ISCRet = 0x00020000
	ISC_RET_NULL_SESSION           ISCRet = 0x00040000
	ISC_RET_MANUAL_CRED_VALIDATION ISCRet = 0x00080000
	ISC_RET_RESERVED1              ISCRet = 0x00100000
	ISC_RET_FRAGMENT_ONLY          ISCRet = 0x00200000
	ISC_RET_FORWARD_CREDENTIALS    ISCRet = 0x00400000
	ISC_RET_USED_HTTP_STYLE        ISCRet = 0x01000000
	ISC_RET_NO_ADDITIONAL_TOKEN    ISCRet = 0x02000000
	ISC_RET_REAUTHENTICATION       ISCRet = 0x08000000
	ISC_RET_CONFIDENTIALITY_ONLY   ISCRet = 0x40000000
)

// ASC_REQ_* values from sspi.h. Their bits differ from ISC_REQ_* from
// 0x4000 up.
const (
	ASC_REQ_DELEGATE               ASCReq = 0x00000001
	ASC_REQ_MUTUAL_AUTH            ASCReq = 0x00000002
	ASC_REQ_REPLAY_DETECT          ASCReq = 0x00000004
	ASC_REQ_SEQUENCE_DETECT        ASCReq = 0x00000008
	ASC_REQ_CONFIDENTIALITY        ASCReq = 0x00000010
	ASC_REQ_USE_SESSION_KEY        ASCReq = 0x00000020
	ASC_REQ_SESSION_TICKET         ASCReq = 0x00000040
	ASC_REQ_ALLOCATE_MEMORY        ASCReq = 0x00000100
	ASC_REQ_USE_DCE_STYLE          ASCReq = 0x00000200
	ASC_REQ_DATAGRAM               ASCReq = 0x00000400
	ASC_REQ_CONNECTION             ASCReq = 0x00000800
	ASC_REQ_CALL_LEVEL             ASCReq = 0x00001000
	ASC_REQ_FRAGMENT_SUPPLIED      ASCReq = 0x00002000
	ASC_REQ_EXTENDED_ERROR         ASCReq = 0x00008000
	ASC_REQ_STREAM                 ASCReq = 0x00010000
	ASC_REQ_INTEGRITY              ASCReq = 0x00020000
	ASC_REQ_LICENSING              ASCReq = 0x00040000
	ASC_REQ_IDENTIFY               ASCReq = 0x00080000
	ASC_REQ_ALLOW_NULL_SESSION     ASCReq = 0x00100000
	ASC_REQ_ALLOW_NON_USER_LOGONS  ASCReq = 0x00200000
	ASC_REQ_ALLOW_CONTEXT_REPLAY   ASCReq = 0x00400000
	ASC_REQ_FRAGMENT_TO_FIT        ASCReq = 0x00800000
	ASC_REQ_NO_TOKEN               ASCReq = 0x01000000
	ASC_REQ_PROXY_BINDINGS         ASCReq = 0x04000000
	ASC_REQ_ALLOW_MISSING_BINDINGS ASCReq = 0x10000000
)

// ASC_REQ_PROMPT_FOR_CREDS is the "prompt for credentials" requirement the
// SpAcceptLsaModeContext page lists. sspi.h gives acceptors no such bit; we
// reserve bit 0x40000000 (unused by ASC_REQ_*) so a caller can ask for it
// and receive SEC_E_UNSUPPORTED_FUNCTION, as the seed documents.
const ASC_REQ_PROMPT_FOR_CREDS ASCReq = 0x40000000

// ASC_RET_* values from sspi.h.
const (
	ASC_RET_DELEGATE              ASCRet = 0x00000001
	ASC_RET_MUTUAL_AUTH           ASCRet = 0x00000002
	ASC_RET_REPLAY_DETECT         ASCRet = 0x00000004
	ASC_RET_SEQUENCE_DETECT       ASCRet = 0x00000008
	ASC_RET_CONFIDENTIALITY       ASCRet = 0x00000010
	ASC_RET_USE_SESSION_KEY       ASCRet = 0x00000020
	ASC_RET_SESSION_TICKET        ASCRet = 0x00000040
	ASC_RET_ALLOCATED_MEMORY      ASCRet = 0x00000100
	ASC_RET_USED_DCE_STYLE        ASCRet = 0x00000200
	ASC_RET_DATAGRAM              ASCRet = 0x00000400
	ASC_RET_CONNECTION            ASCRet = 0x00000800
	ASC_RET_CALL_LEVEL            ASCRet = 0x00002000
	ASC_RET_THIRD_LEG_FAILED      ASCRet = 0x00004000
	ASC_RET_EXTENDED_ERROR        ASCRet = 0x00008000
	ASC_RET_STREAM                ASCRet = 0x00010000
	ASC_RET_INTEGRITY             ASCRet = 0x00020000
	ASC_RET_LICENSING             ASCRet = 0x00040000
	ASC_RET_IDENTIFY              ASCRet = 0x00080000
	ASC_RET_NULL_SESSION          ASCRet = 0x00100000
	ASC_RET_ALLOW_NON_USER_LOGONS ASCRet = 0x00200000
	ASC_RET_ALLOW_CONTEXT_REPLAY  ASCRet = 0x00400000
	ASC_RET_FRAGMENT_ONLY         ASCRet = 0x00800000
	ASC_RET_NO_TOKEN              ASCRet = 0x01000000
	ASC_RET_NO_ADDITIONAL_TOKEN   ASCRet = 0x02000000
)

type flagName struct {
	bit  uint32
	name string
}

func formatFlags(v uint32, names []flagName) string {
	if v == 0 {
		return "0"
	}
	var parts []string
	for _, n := range names {
		if n.bit != 0 && v&n.bit == n.bit {
			parts = append(parts, n.name)
			v &^= n.bit
		}
	}
	if v != 0 {
		parts = append(parts, "0x"+strings.ToUpper(strconv.FormatUint(uint64(v), 16)))
	}
	return strings.Join(parts, "|")
}

var iscReqNames = []flagName{
	{0x1, "DELEGATE"}, {0x2, "MUTUAL_AUTH"}, {0x4, "REPLAY_DETECT"}, {0x8, "SEQUENCE_DETECT"},
	{0x10, "CONFIDENTIALITY"}, {0x20, "USE_SESSION_KEY"}, {0x40, "PROMPT_FOR_CREDS"},
	{0x80, "USE_SUPPLIED_CREDS"}, {0x100, "ALLOCATE_MEMORY"}, {0x200, "USE_DCE_STYLE"},
	{0x400, "DATAGRAM"}, {0x800, "CONNECTION"}, {0x1000, "CALL_LEVEL"}, {0x2000, "FRAGMENT_SUPPLIED"},
	{0x4000, "EXTENDED_ERROR"}, {0x8000, "STREAM"}, {0x10000, "INTEGRITY"}, {0x20000, "IDENTIFY"},
	{0x40000, "NULL_SESSION"}, {0x80000, "MANUAL_CRED_VALIDATION"}, {0x100000, "RESERVED1"},
	{0x200000, "FRAGMENT_TO_FIT"}, {0x400000, "FORWARD_CREDENTIALS"}, {0x800000, "NO_INTEGRITY"},
	{0x1000000, "USE_HTTP_STYLE"}, {0x20000000, "UNVERIFIED_TARGET_NAME"}, {0x40000000, "CONFIDENTIALITY_ONLY"},
}

var iscRetNames = []flagName{
	{0x1, "DELEGATE"}, {0x2, "MUTUAL_AUTH"}, {0x4, "REPLAY_DETECT"}, {0x8, "SEQUENCE_DETECT"},
	{0x10, "CONFIDENTIALITY"}, {0x20, "USE_SESSION_KEY"}, {0x40, "USED_COLLECTED_CREDS"},
	{0x80, "USED_SUPPLIED_CREDS"}, {0x100, "ALLOCATED_MEMORY"}, {0x200, "USED_DCE_STYLE"},
	{0x400, "DATAGRAM"}, {0x800, "CONNECTION"}, {0x1000, "INTERMEDIATE_RETURN"}, {0x2000, "CALL_LEVEL"},
	{0x4000, "EXTENDED_ERROR"}, {0x8000, "STREAM"}, {0x10000, "INTEGRITY"}, {0x20000, "IDENTIFY"},
	{0x40000, "NULL_SESSION"}, {0x80000, "MANUAL_CRED_VALIDATION"}, {0x100000, "RESERVED1"},
	{0x200000, "FRAGMENT_ONLY"}, {0x400000, "FORWARD_CREDENTIALS"}, {0x1000000, "USED_HTTP_STYLE"},
	{0x2000000, "NO_ADDITIONAL_TOKEN"}, {0x8000000, "REAUTHENTICATION"}, {0x40000000, "CONFIDENTIALITY_ONLY"},
}

var ascReqNames = []flagName{
	{0x1, "DELEGATE"}, {0x2, "MUTUAL_AUTH"}, {0x4, "REPLAY_DETECT"}, {0x8, "SEQUENCE_DETECT"},
	{0x10, "CONFIDENTIALITY"}, {0x20, "USE_SESSION_KEY"}, {0x40, "SESSION_TICKET"},
	{0x100, "ALLOCATE_MEMORY"}, {0x200, "USE_DCE_STYLE"}, {0x400, "DATAGRAM"}, {0x800, "CONNECTION"},
	{0x1000, "CALL_LEVEL"}, {0x2000, "FRAGMENT_SUPPLIED"}, {0x8000, "EXTENDED_ERROR"}, {0x10000, "STREAM"},
	{0x20000, "INTEGRITY"}, {0x40000, "LICENSING"}, {0x80000, "IDENTIFY"}, {0x100000, "ALLOW_NULL_SESSION"},
	{0x200000, "ALLOW_NON_USER_LOGONS"}, {0x400000, "ALLOW_CONTEXT_REPLAY"}, {0x800000, "FRAGMENT_TO_FIT"},
	{0x1000000, "NO_TOKEN"}, {0x4000000, "PROXY_BINDINGS"}, {0x10000000, "ALLOW_MISSING_BINDINGS"},
	{0x40000000, "PROMPT_FOR_CREDS"},
}

var ascRetNames = []flagName{
	{0x1, "DELEGATE"}, {0x2, "MUTUAL_AUTH"}, {0x4, "REPLAY_DETECT"}, {0x8, "SEQUENCE_DETECT"},
	{0x10, "CONFIDENTIALITY"}, {0x20, "USE_SESSION_KEY"}, {0x40, "SESSION_TICKET"},
	{0x100, "ALLOCATED_MEMORY"}, {0x200, "USED_DCE_STYLE"}, {0x400, "DATAGRAM"}, {0x800, "CONNECTION"},
	{0x2000, "CALL_LEVEL"}, {0x4000, "THIRD_LEG_FAILED"}, {0x8000, "EXTENDED_ERROR"}, {0x10000, "STREAM"},
	{0x20000, "INTEGRITY"}, {0x40000, "LICENSING"}, {0x80000, "IDENTIFY"}, {0x100000, "NULL_SESSION"},
	{0x200000, "ALLOW_NON_USER_LOGONS"}, {0x400000, "ALLOW_CONTEXT_REPLAY"}, {0x800000, "FRAGMENT_ONLY"},
	{0x1000000, "NO_TOKEN"}, {0x2000000, "NO_ADDITIONAL_TOKEN"},
}

// String lists the set bits by name, such as "MUTUAL_AUTH|CONFIDENTIALITY".
func (f ISCReq) String() string { return formatFlags(uint32(f), iscReqNames) }

// String lists the set bits by name.
func (f ISCRet) String() string { return formatFlags(uint32(f), iscRetNames) }

// String lists the set bits by name.
func (f ASCReq) String() string { return formatFlags(uint32(f), ascReqNames) }

// String lists the set bits by name.
func (f ASCRet) String() string { return formatFlags(uint32(f), ascRetNames) }

// ContextFlags is a package-neutral view of the attributes a context has,
// in ISC_RET_* bit positions for the low bits the two families share
// (DELEGATE through CONNECTION). Packages report ISC and ASC flags through
// it and the host converts with the methods below.
type ContextFlags uint32

// Shared attribute bits (identical in ISC_* and ASC_* below 0x1000), plus
// package-neutral bits for the attributes whose positions differ.
const (
	FlagDelegate        ContextFlags = 0x00000001
	FlagMutualAuth      ContextFlags = 0x00000002
	FlagReplayDetect    ContextFlags = 0x00000004
	FlagSequenceDetect  ContextFlags = 0x00000008
	FlagConfidentiality ContextFlags = 0x00000010
	FlagUseSessionKey   ContextFlags = 0x00000020
	FlagDCEStyle        ContextFlags = 0x00000200
	FlagDatagram        ContextFlags = 0x00000400
	FlagConnection      ContextFlags = 0x00000800
	FlagExtendedError   ContextFlags = 0x00004000
	FlagStream          ContextFlags = 0x00008000
	FlagIntegrity       ContextFlags = 0x00010000
	FlagIdentify        ContextFlags = 0x00020000
	FlagNullSession     ContextFlags = 0x00040000
	FlagNoAdditional    ContextFlags = 0x02000000
)

const sharedLow = 0x00000FFF

// FromISCReq converts an ISC_REQ_* set to ContextFlags.
func FromISCReq(r ISCReq) ContextFlags {
	return ContextFlags(uint32(r) & (sharedLow | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x40000))
}

// ascBits pairs the ASC_REQ_*/ASC_RET_* bits whose positions differ from
// ContextFlags (the ISC positions) with their ContextFlags bit.
var ascBits = []struct {
	req ASCReq
	ret ASCRet
	f   ContextFlags
}{
	{ASC_REQ_EXTENDED_ERROR, ASC_RET_EXTENDED_ERROR, FlagExtendedError},
	{ASC_REQ_STREAM, ASC_RET_STREAM, FlagStream},
	{ASC_REQ_INTEGRITY, ASC_RET_INTEGRITY, FlagIntegrity},
	{ASC_REQ_IDENTIFY, ASC_RET_IDENTIFY, FlagIdentify},
	{ASC_REQ_ALLOW_NULL_SESSION, ASC_RET_NULL_SESSION, FlagNullSession},
	{0, ASC_RET_NO_ADDITIONAL_TOKEN, FlagNoAdditional},
}

// FromASCReq converts an ASC_REQ_* set to ContextFlags.
func FromASCReq(r ASCReq) ContextFlags {
	f := ContextFlags(uint32(r) & sharedLow)
	for _, b := range ascBits {
		if b.req != 0 && r&b.req != 0 {
			f |= b.f
		}
	}
	return f
}

// ISCRet returns f as ISC_RET_* bits.
func (f ContextFlags) ISCRet() ISCRet {
	return ISCRet(uint32(f) & (sharedLow | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x40000 | 0x2000000))
}

// ASCRet returns f as ASC_RET_* bits.
func (f ContextFlags) ASCRet() ASCRet {
	r := ASCRet(uint32(f) & sharedLow)
	for _, b := range ascBits {
		if f&b.f != 0 {
			r |= b.ret
		}
	}
	return r
}

// String lists the set bits by name.
func (f ContextFlags) String() string { return formatFlags(uint32(f), iscRetNames) }
