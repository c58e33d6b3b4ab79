package sspi

import "time"

// ContextAttribute is ulAttribute of QueryContextAttributes (SECPKG_ATTR_*).
type ContextAttribute uint32

// SECPKG_ATTR_* values from sspi.h.
const (
	SECPKG_ATTR_SIZES              ContextAttribute = 0
	SECPKG_ATTR_NAMES              ContextAttribute = 1
	SECPKG_ATTR_LIFESPAN           ContextAttribute = 2
	SECPKG_ATTR_DCE_INFO           ContextAttribute = 3
	SECPKG_ATTR_STREAM_SIZES       ContextAttribute = 4
	SECPKG_ATTR_KEY_INFO           ContextAttribute = 5
	SECPKG_ATTR_AUTHORITY          ContextAttribute = 6
	SECPKG_ATTR_PROTO_INFO         ContextAttribute = 7
	SECPKG_ATTR_PASSWORD_EXPIRY    ContextAttribute = 8
	SECPKG_ATTR_SESSION_KEY        ContextAttribute = 9
	SECPKG_ATTR_PACKAGE_INFO       ContextAttribute = 10
	SECPKG_ATTR_USER_FLAGS         ContextAttribute = 11
	SECPKG_ATTR_NEGOTIATION_INFO   ContextAttribute = 12
	SECPKG_ATTR_NATIVE_NAMES       ContextAttribute = 13
	SECPKG_ATTR_FLAGS              ContextAttribute = 14
	SECPKG_ATTR_USE_VALIDATED      ContextAttribute = 15
	SECPKG_ATTR_CREDENTIAL_NAME    ContextAttribute = 16
	SECPKG_ATTR_TARGET_INFORMATION ContextAttribute = 17
	SECPKG_ATTR_ACCESS_TOKEN       ContextAttribute = 18
	SECPKG_ATTR_TARGET             ContextAttribute = 19
	SECPKG_ATTR_AUTHENTICATION_ID  ContextAttribute = 20
	SECPKG_ATTR_LOGOFF_TIME        ContextAttribute = 21

	// SECPKG_ATTR_GOSSPI_IDENTITY stands in for QuerySecurityContextToken and
	// ImpersonateSecurityContext: it returns an Identity. The value lies in
	// the range sspi.h leaves to packages.
	SECPKG_ATTR_GOSSPI_IDENTITY ContextAttribute = 0x80000100
)

var contextAttributeNames = map[ContextAttribute]string{
	0: "SECPKG_ATTR_SIZES", 1: "SECPKG_ATTR_NAMES", 2: "SECPKG_ATTR_LIFESPAN", 3: "SECPKG_ATTR_DCE_INFO",
	4: "SECPKG_ATTR_STREAM_SIZES", 5: "SECPKG_ATTR_KEY_INFO", 6: "SECPKG_ATTR_AUTHORITY",
	7: "SECPKG_ATTR_PROTO_INFO", 8: "SECPKG_ATTR_PASSWORD_EXPIRY", 9: "SECPKG_ATTR_SESSION_KEY",
	10: "SECPKG_ATTR_PACKAGE_INFO", 11: "SECPKG_ATTR_USER_FLAGS", 12: "SECPKG_ATTR_NEGOTIATION_INFO",
	13: "SECPKG_ATTR_NATIVE_NAMES", 14: "SECPKG_ATTR_FLAGS", 15: "SECPKG_ATTR_USE_VALIDATED",
	16: "SECPKG_ATTR_CREDENTIAL_NAME", 17: "SECPKG_ATTR_TARGET_INFORMATION",
	18: "SECPKG_ATTR_ACCESS_TOKEN", 19: "SECPKG_ATTR_TARGET", 20: "SECPKG_ATTR_AUTHENTICATION_ID",
	21: "SECPKG_ATTR_LOGOFF_TIME", 0x80000100: "SECPKG_ATTR_GOSSPI_IDENTITY",
}

// String returns the SECPKG_ATTR_* name.
func (a ContextAttribute) String() string {
	if n, ok := contextAttributeNames[a]; ok {
		return n
	}
	return "SECPKG_ATTR(" + formatFlags(uint32(a), nil) + ")"
}

// SecPkgContextSizes is SecPkgContext_Sizes (SECPKG_ATTR_SIZES).
type SecPkgContextSizes struct {
	MaxToken        uint32 // cbMaxToken
	MaxSignature    uint32 // cbMaxSignature
	BlockSize       uint32 // cbBlockSize
	SecurityTrailer uint32 // cbSecurityTrailer
}

// SecPkgContextStreamSizes is SecPkgContext_StreamSizes
// (SECPKG_ATTR_STREAM_SIZES).
type SecPkgContextStreamSizes struct {
	Header         uint32 // cbHeader
	Trailer        uint32 // cbTrailer
	MaximumMessage uint32 // cbMaximumMessage
	Buffers        uint32 // cBuffers
	BlockSize      uint32 // cbBlockSize
}

// SecPkgContextNames is SecPkgContext_Names (SECPKG_ATTR_NAMES): the client
// user name, such as `DOMAIN\user` or `user@REALM`.
type SecPkgContextNames struct {
	UserName string
}

// SecPkgContextNativeNames is SecPkgContext_NativeNames
// (SECPKG_ATTR_NATIVE_NAMES).
type SecPkgContextNativeNames struct {
	ClientName string
	ServerName string
}

// SecPkgContextLifespan is SecPkgContext_Lifespan (SECPKG_ATTR_LIFESPAN).
type SecPkgContextLifespan struct {
	Start  time.Time
	Expiry time.Time
}

// SecPkgContextSessionKey is SecPkgContext_SessionKey
// (SECPKG_ATTR_SESSION_KEY). Treat it as a secret.
type SecPkgContextSessionKey struct {
	SessionKey []byte
}

// SecPkgContextPackageInfo is SecPkgContext_PackageInfo
// (SECPKG_ATTR_PACKAGE_INFO).
type SecPkgContextPackageInfo struct {
	PackageInfo PackageInfo
}

// Negotiation states of SecPkgContext_NegotiationInfo.
const (
	SECPKG_NEGOTIATION_COMPLETE      uint32 = 0
	SECPKG_NEGOTIATION_OPTIMISTIC    uint32 = 1
	SECPKG_NEGOTIATION_IN_PROGRESS   uint32 = 2
	SECPKG_NEGOTIATION_DIRECT        uint32 = 3
	SECPKG_NEGOTIATION_TRY_MULTICRED uint32 = 4
)

// SecPkgContextNegotiationInfo is SecPkgContext_NegotiationInfo
// (SECPKG_ATTR_NEGOTIATION_INFO).
type SecPkgContextNegotiationInfo struct {
	PackageInfo      PackageInfo
	NegotiationState uint32
	// Skipped is a gosspi addition, not in the Windows structure: the
	// mechanisms Negotiate left out and why, one "Package: reason" each
	// ("Kerberos: target is an IP address"), for logs. It is empty for
	// other packages.
	Skipped []string
}

// SecPkgContextFlags is SecPkgContext_Flags (SECPKG_ATTR_FLAGS).
type SecPkgContextFlags struct {
	Flags ContextFlags
}

// Identity is what QuerySecurityContextToken would give a Windows server:
// who the peer is. It is returned for SECPKG_ATTR_GOSSPI_IDENTITY.
type Identity struct {
	Package   string   // the package that authenticated the peer
	User      string   // account name without domain
	Domain    string   // NetBIOS domain or Kerberos realm
	Principal string   // DOMAIN\user or user@REALM as the package writes it
	SID       string   // S-1-5-..., where known
	Groups    []string // group SIDs, where known (Kerberos PAC)
	Anonymous bool     // a NULL session
	Delegated bool     // credentials were delegated to the acceptor

	// The fields below come from a domain controller (a Kerberos ticket's
	// PAC, MS-PAC, once its server signature verified) and are empty
	// where the package learns none of them.

	// LogonName is DOMAIN\user: the NetBIOS domain and the account name
	// as the domain controller spells them, whatever the client typed
	// (Windows' NameSamCompatible).
	LogonName string
	// PrimaryGroup is the SID of the account's primary group.
	PrimaryGroup string
	// GroupAttributes are the SE_GROUP_* attributes of Groups, one for
	// each SID in the same order; SE_GROUP_RESOURCE (0x20000000) marks a
	// group of a resource domain.
	GroupAttributes []uint32
	// UPN is the account's user principal name, and DNSDomain the DNS
	// name of its domain.
	UPN, DNSDomain string
	// LogonTime is when the account logged on to the domain.
	LogonTime time.Time
	// Claims are the account's claims (MS-ADTS 2.2.18), where the KDC
	// issued them.
	Claims []Claim
}

// Claim is one claim of an Active Directory claims set (MS-ADTS 2.2.18.3,
// CLAIM_ENTRY): an identifier and its values, all of one type.
type Claim struct {
	ID     string // as the directory names it ("ad://ext/department:88d...")
	Source uint16 // CLAIMS_SOURCE_TYPE: 1 the directory, 2 a certificate
	// Values are all int64 (CLAIM_TYPE_INT64), uint64 (CLAIM_TYPE_UINT64),
	// string (CLAIM_TYPE_STRING) or bool (CLAIM_TYPE_BOOLEAN).
	Values []any
}
