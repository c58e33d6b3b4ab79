package sspi

// Package capability bits (SecPkgInfo fCapabilities).
const (
	SECPKG_FLAG_INTEGRITY              uint32 = 0x00000001
	SECPKG_FLAG_PRIVACY                uint32 = 0x00000002
	SECPKG_FLAG_TOKEN_ONLY             uint32 = 0x00000004
	SECPKG_FLAG_DATAGRAM               uint32 = 0x00000008
	SECPKG_FLAG_CONNECTION             uint32 = 0x00000010
	SECPKG_FLAG_MULTI_REQUIRED         uint32 = 0x00000020
	SECPKG_FLAG_CLIENT_ONLY            uint32 = 0x00000040
	SECPKG_FLAG_EXTENDED_ERROR         uint32 = 0x00000080
	SECPKG_FLAG_IMPERSONATION          uint32 = 0x00000100
	SECPKG_FLAG_ACCEPT_WIN32_NAME      uint32 = 0x00000200
	SECPKG_FLAG_STREAM                 uint32 = 0x00000400
	SECPKG_FLAG_NEGOTIABLE             uint32 = 0x00000800
	SECPKG_FLAG_GSS_COMPATIBLE         uint32 = 0x00001000
	SECPKG_FLAG_LOGON                  uint32 = 0x00002000
	SECPKG_FLAG_ASCII_BUFFERS          uint32 = 0x00004000
	SECPKG_FLAG_FRAGMENT               uint32 = 0x00008000
	SECPKG_FLAG_MUTUAL_AUTH            uint32 = 0x00010000
	SECPKG_FLAG_DELEGATION             uint32 = 0x00020000
	SECPKG_FLAG_READONLY_WITH_CHECKSUM uint32 = 0x00040000
	SECPKG_FLAG_RESTRICTED_TOKENS      uint32 = 0x00080000
	SECPKG_FLAG_NEGO_EXTENDER          uint32 = 0x00100000
	SECPKG_FLAG_NEGOTIABLE2            uint32 = 0x00200000
)

var capabilityNames = []flagName{
	{0x1, "INTEGRITY"}, {0x2, "PRIVACY"}, {0x4, "TOKEN_ONLY"}, {0x8, "DATAGRAM"},
	{0x10, "CONNECTION"}, {0x20, "MULTI_REQUIRED"}, {0x40, "CLIENT_ONLY"}, {0x80, "EXTENDED_ERROR"},
	{0x100, "IMPERSONATION"}, {0x200, "ACCEPT_WIN32_NAME"}, {0x400, "STREAM"}, {0x800, "NEGOTIABLE"},
	{0x1000, "GSS_COMPATIBLE"}, {0x2000, "LOGON"}, {0x4000, "ASCII_BUFFERS"}, {0x8000, "FRAGMENT"},
	{0x10000, "MUTUAL_AUTH"}, {0x20000, "DELEGATION"}, {0x40000, "READONLY_WITH_CHECKSUM"},
	{0x80000, "RESTRICTED_TOKENS"}, {0x100000, "NEGO_EXTENDER"}, {0x200000, "NEGOTIABLE2"},
}

// CapabilityString names the SECPKG_FLAG_* bits in c.
func CapabilityString(c uint32) string { return formatFlags(c, capabilityNames) }

// PackageInfo is SecPkgInfo, plus the fields the registry keeps: the
// package's GSS mechanism OIDs and its Negotiate priority.
type PackageInfo struct {
	Capabilities uint32   // fCapabilities, SECPKG_FLAG_* bits
	Version      uint16   // wVersion
	RPCID        uint16   // wRPCID, the DCE RPC authentication service id
	MaxToken     uint32   // cbMaxToken
	Name         string   // Name, such as "NTLM" or "Kerberos"
	Comment      string   // Comment
	OIDs         []string // GSS mechanism OIDs in dotted form, preferred first
	Priority     int      // lower is preferred by Negotiate
}

// RPC ids of the well-known packages (wRPCID).
const (
	RPC_C_AUTHN_GSS_NEGOTIATE uint16 = 9
	RPC_C_AUTHN_WINNT         uint16 = 10
	RPC_C_AUTHN_GSS_KERBEROS  uint16 = 16
)
