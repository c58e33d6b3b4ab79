package netlogon

import (
	"fmt"

	"github.com/gosspi/gosspi/internal/dcerpc"
	"github.com/gosspi/gosspi/internal/ndr"
)

// The NETLOGON interface, 12345678-1234-abcd-ef00-01234567cffb version 1.0
// (MS-NRPC 2.1), and the operations this client calls.
var netlogonIf = dcerpc.SyntaxID{UUID: dcerpc.ParseUUID("12345678-1234-abcd-ef00-01234567cffb"), Major: 1}

const (
	opServerReqChallenge   = 4  // NetrServerReqChallenge (MS-NRPC 3.5.4.4.1)
	opLogonGetCapabilities = 21 // NetrLogonGetCapabilities (3.5.4.4.10)
	opServerAuthenticate3  = 26 // NetrServerAuthenticate3 (3.5.4.4.2)
	opLogonSamLogonEx      = 39 // NetrLogonSamLogonEx (3.5.4.5.1)
)

// NETLOGON_SECURE_CHANNEL_TYPE (MS-NRPC 2.2.1.3.13).
const workstationSecureChannel = 2

// Negotiate flags (MS-NRPC 3.1.4.2).
const (
	negAccountLockout   = 0x00000001
	negStrongKeys       = 0x00004000
	negSupportsAES      = 0x01000000
	negAuthenticatedRPC = 0x40000000 // secure RPC: schannel

	// clientFlags is what this client asks for: what Windows 10 asks,
	// 0x612fffff, which includes AES and secure RPC.
	clientFlags = 0x612fffff
	// requiredFlags must come back: AES session keys and sealing, and
	// the secure channel for the logon calls (a hardened DC's demands).
	requiredFlags = negSupportsAES | negAuthenticatedRPC
)

// NETLOGON_LOGON_INFO_CLASS and NETLOGON_VALIDATION_INFO_CLASS (MS-NRPC
// 2.2.1.4.16, 2.2.1.4.17).
const (
	netlogonNetworkInformation           = 2
	netlogonNetworkTransitiveInformation = 6

	validationSamInfo  = 2
	validationSamInfo2 = 3
	validationSamInfo4 = 6
)

// ParameterControl bits of NETLOGON_LOGON_IDENTITY_INFO (MS-APDS 3.1.5.2.1).
const (
	msv1_0AllowServerTrustAccount      = 0x00000020
	msv1_0AllowWorkstationTrustAccount = 0x00000800
	msv1_0AllowMSVChapV2               = 0x00010000
)

// NetrServerReqChallenge: [in, unique, string] PrimaryName (null), [in,
// string] ComputerName, [in] ClientChallenge.
func encodeReqChallenge(computer string, clientChallenge [8]byte) []byte {
	var e ndr.Encoder
	e.UniqueString("", false)
	e.Flush()
	e.String(computer)
	e.Raw(clientChallenge[:])
	return e.Bytes()
}

// decodeReqChallenge reads [out] ServerChallenge and the NTSTATUS.
func decodeReqChallenge(b []byte) (serverChallenge [8]byte, status uint32, err error) {
	d := ndr.NewDecoder(b)
	d.RawInto(serverChallenge[:])
	status = d.Uint32()
	return serverChallenge, status, end(d, "NetrServerReqChallenge")
}

// NetrServerAuthenticate3: [in, unique, string] PrimaryName (null), [in,
// string] AccountName, [in] SecureChannelType, [in, string] ComputerName,
// [in] ClientCredential, [in, out] NegotiateFlags.
func encodeAuthenticate3(account, computer string, cred [8]byte, flags uint32) []byte {
	var e ndr.Encoder
	e.UniqueString("", false)
	e.Flush()
	e.String(account)
	e.Uint16(workstationSecureChannel)
	e.String(computer)
	e.Raw(cred[:])
	e.Uint32(flags)
	return e.Bytes()
}

func decodeAuthenticate3(b []byte) (serverCred [8]byte, flags, rid, status uint32, err error) {
	d := ndr.NewDecoder(b)
	d.RawInto(serverCred[:])
	flags = d.Uint32()
	rid = d.Uint32()
	status = d.Uint32()
	return serverCred, flags, rid, status, end(d, "NetrServerAuthenticate3")
}

// NetrLogonGetCapabilities: [in, string] ServerName, [in, unique, string]
// ComputerName, [in] Authenticator, [in, out] ReturnAuthenticator, [in]
// QueryLevel 1.
func encodeGetCapabilities(server, computer string, cred [8]byte, timestamp uint32) []byte {
	var e ndr.Encoder
	e.String(server)
	e.UniqueString(computer, true)
	e.Flush()
	e.Raw(cred[:])
	e.Uint32(timestamp)
	e.Raw(make([]byte, 8)) // ReturnAuthenticator in: zeros
	e.Uint32(0)
	e.Uint32(1)
	return e.Bytes()
}

func decodeGetCapabilities(b []byte) (ret [8]byte, caps, status uint32, err error) {
	d := ndr.NewDecoder(b)
	d.RawInto(ret[:])
	d.Uint32() // ReturnAuthenticator.Timestamp
	if level := d.Uint32(); d.Err() == nil && level != 1 {
		d.Fail("NETLOGON_CAPABILITIES level %d", level)
	}
	caps = d.Uint32()
	status = d.Uint32()
	return ret, caps, status, end(d, "NetrLogonGetCapabilities")
}

// networkInfo is NETLOGON_NETWORK_INFO (MS-NRPC 2.2.1.4.5).
type networkInfo struct {
	domain, user, workstation string
	parameterControl          uint32
	challenge                 [8]byte
	nt, lm                    []byte
}

// NetrLogonSamLogonEx: [in, unique, string] LogonServer (null), [in,
// unique, string] ComputerName, [in] LogonLevel, [in, switch_is(LogonLevel)]
// LogonInformation, [in] ValidationLevel, [in, out] ExtraFlags.
func encodeSamLogonEx(computer string, logonLevel uint16, n *networkInfo, validationLevel uint16) []byte {
	var e ndr.Encoder
	e.UniqueString("", false)
	e.Flush()
	e.UniqueString(computer, true)
	e.Flush()
	e.Uint16(logonLevel)
	// NETLOGON_LEVEL: a non-encapsulated union, its discriminant first
	// (C706 14.3.8); the arm, a pointer, aligns itself.
	e.Uint16(logonLevel)
	e.Pointer(true, func(e *ndr.Encoder) {
		e.Align(4)
		// NETLOGON_LOGON_IDENTITY_INFO
		e.UnicodeString(n.domain)
		e.Uint32(n.parameterControl)
		e.Uint32(0) // Reserved (OLD_LARGE_INTEGER)
		e.Uint32(0)
		e.UnicodeString(n.user)
		e.UnicodeString(n.workstation)
		e.Raw(n.challenge[:])
		e.CountedBytes(n.nt)
		e.CountedBytes(n.lm)
	})
	e.Flush()
	e.Uint16(validationLevel)
	e.Uint32(0) // ExtraFlags
	return e.Bytes()
}

// samLogonResult is the [out] side of NetrLogonSamLogonEx.
type samLogonResult struct {
	validation    *validation // nil when the call failed
	authoritative uint8
	extraFlags    uint32
	status        uint32
}

func decodeSamLogonEx(b []byte, validationLevel uint16) (*samLogonResult, error) {
	d := ndr.NewDecoder(b)
	r := &samLogonResult{}
	level := d.Uint16()
	if d.Err() == nil && level != validationLevel {
		d.Fail("NETLOGON_VALIDATION level %d, asked for %d", level, validationLevel)
	}
	d.Pointer(func(d *ndr.Decoder) { r.validation = decodeValidation(d, level) })
	d.Flush()
	r.authoritative = d.Uint8()
	r.extraFlags = d.Uint32()
	r.status = d.Uint32()
	if err := end(d, "NetrLogonSamLogonEx"); err != nil {
		return nil, err
	}
	return r, nil
}

// end checks that a decoder read its stub without error and to the end.
func end(d *ndr.Decoder, call string) error {
	if err := d.Err(); err != nil {
		return fmt.Errorf("netlogon: %s response: %w", call, err)
	}
	if d.Remaining() != 0 {
		return fmt.Errorf("netlogon: %s response: %w: %d bytes after the last parameter", call, ndr.ErrMalformed, d.Remaining())
	}
	return nil
}
