// Package dcerpc is a connection-oriented DCE/RPC client over TCP
// (ncacn_ip_tcp; C706 chapter 12, with the Microsoft extensions of
// MS-RPCE): bind and bind_ack, request and response PDUs with
// fragmentation in both directions, faults and bind_nak as errors, an
// authentication hook for the sec_trailer and auth_value of protected PDUs
// (MS-RPCE 2.2.2.11), and the endpoint mapper's ept_map (epm.go) to find an
// interface's dynamic port.
//
// It is the transport of the NETLOGON client (package netlogon). Every PDU
// read from the network is checked against its own lengths and the
// negotiated fragment size before it is used; a response bigger than
// MaxResponse is refused.
package dcerpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// PDU types (C706 12.6.4.1).
const (
	ptypeRequest          = 0
	ptypeResponse         = 2
	ptypeFault            = 3
	ptypeBind             = 11
	ptypeBindAck          = 12
	ptypeBindNak          = 13
	ptypeAlterContext     = 14
	ptypeAlterContextResp = 15
	ptypeShutdown         = 17
)

// pfc_flags (C706 12.6.3.1; MS-RPCE 2.2.2.3).
const (
	pfcFirstFrag         = 0x01
	pfcLastFrag          = 0x02
	pfcSupportHeaderSign = 0x04 // in bind and bind_ack: header signing (MS-RPCE 3.3.1.5.2.2)
	pfcConcMpx           = 0x10
	pfcDidNotExecute     = 0x20
	pfcObjectUUID        = 0x80
)

const (
	headerLen      = 16 // the common header
	requestHdrLen  = 24 // common header, alloc_hint, p_cont_id, opnum
	responseHdrLen = 24 // common header, alloc_hint, p_cont_id, cancel_count, reserved
	trailerLen     = 8  // sec_trailer
	// authPadAlign is the alignment of protected stub data: the auth_pad
	// makes its length a multiple of 16, as Windows and Samba do.
	authPadAlign = 16
)

// ErrProtocol is wrapped by the errors for PDUs that break the protocol:
// truncated, inconsistent lengths, an unexpected type or call ID.
var ErrProtocol = errors.New("dcerpc: protocol error")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// SyntaxID is an interface or transfer syntax: a UUID and a version
// (p_syntax_id_t, C706 12.6.3.1).
type SyntaxID struct {
	UUID         [16]byte // in NDR (little-endian GUID) byte order
	Major, Minor uint16
}

// ParseUUID turns "12345678-1234-abcd-ef00-01234567cffb" into the NDR byte
// order of a GUID (the first three fields little-endian). It panics on a
// malformed constant.
func ParseUUID(s string) [16]byte {
	var u [16]byte
	parts := strings.Split(s, "-")
	if len(parts) != 5 || len(parts[0]) != 8 || len(parts[1]) != 4 || len(parts[2]) != 4 || len(parts[3]) != 4 || len(parts[4]) != 12 {
		panic("dcerpc: bad UUID " + s)
	}
	hex := func(s string) []byte {
		b := make([]byte, len(s)/2)
		for i := range b {
			var v byte
			for _, c := range s[2*i : 2*i+2] {
				v <<= 4
				switch {
				case c >= '0' && c <= '9':
					v |= byte(c - '0')
				case c >= 'a' && c <= 'f':
					v |= byte(c - 'a' + 10)
				case c >= 'A' && c <= 'F':
					v |= byte(c - 'A' + 10)
				default:
					panic("dcerpc: bad UUID " + s)
				}
			}
			b[i] = v
		}
		return b
	}
	d1, d2, d3 := hex(parts[0]), hex(parts[1]), hex(parts[2])
	u[0], u[1], u[2], u[3] = d1[3], d1[2], d1[1], d1[0]
	u[4], u[5] = d2[1], d2[0]
	u[6], u[7] = d3[1], d3[0]
	copy(u[8:10], hex(parts[3]))
	copy(u[10:16], hex(parts[4]))
	return u
}

// NDR is the transfer syntax NDR 2.0 (8a885d04-1ceb-11c9-9fe8-08002b104860
// version 2).
var NDR = SyntaxID{UUID: ParseUUID("8a885d04-1ceb-11c9-9fe8-08002b104860"), Major: 2}

func (s SyntaxID) append(b []byte) []byte {
	b = append(b, s.UUID[:]...)
	b = binary.LittleEndian.AppendUint16(b, s.Major)
	return binary.LittleEndian.AppendUint16(b, s.Minor)
}

// header is the common header of a connection-oriented PDU (C706 12.6.3.1).
type header struct {
	ptype   uint8
	flags   uint8
	fragLen uint16
	authLen uint16
	callID  uint32
}

func (h header) append(b []byte) []byte {
	b = append(b, 5, 0, h.ptype, h.flags, 0x10, 0, 0, 0) // version 5.0, little-endian ASCII IEEE
	b = binary.LittleEndian.AppendUint16(b, h.fragLen)
	b = binary.LittleEndian.AppendUint16(b, h.authLen)
	return binary.LittleEndian.AppendUint32(b, h.callID)
}

// parseHeader reads a common header and checks what does not depend on
// the connection: the version, the data representation and the lengths.
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < headerLen {
		return h, protoErr("short header")
	}
	if b[0] != 5 || b[1] != 0 {
		return h, protoErr("version %d.%d", b[0], b[1])
	}
	if b[4] != 0x10 || b[5] != 0 {
		// Only little-endian integers, ASCII and IEEE floats.
		return h, protoErr("data representation %02x %02x", b[4], b[5])
	}
	h.ptype, h.flags = b[2], b[3]
	h.fragLen = binary.LittleEndian.Uint16(b[8:])
	h.authLen = binary.LittleEndian.Uint16(b[10:])
	h.callID = binary.LittleEndian.Uint32(b[12:])
	if h.fragLen < headerLen {
		return h, protoErr("frag_length %d", h.fragLen)
	}
	if h.authLen != 0 && int(h.authLen)+trailerLen > int(h.fragLen)-headerLen {
		return h, protoErr("auth_length %d in a %d-byte PDU", h.authLen, h.fragLen)
	}
	return h, nil
}

// secTrailer is the sec_trailer of a protected PDU (MS-RPCE 2.2.2.11).
type secTrailer struct {
	authType  uint8
	authLevel uint8
	padLen    uint8
	contextID uint32
}

func (t secTrailer) append(b []byte) []byte {
	b = append(b, t.authType, t.authLevel, t.padLen, 0)
	return binary.LittleEndian.AppendUint32(b, t.contextID)
}

// splitAuth separates the body of a PDU (after its type's fixed header of
// fixed bytes) from its auth verifier: it returns the body without the
// auth padding's trailer, the trailer and the auth_value.
func splitAuth(pdu []byte, h header, fixed int) (body []byte, t secTrailer, authValue []byte, err error) {
	end := int(h.fragLen)
	if h.authLen == 0 {
		return pdu[fixed:end], t, nil, nil
	}
	tr := end - int(h.authLen) - trailerLen
	if tr < fixed {
		return nil, t, nil, protoErr("auth verifier overlaps the PDU header")
	}
	t = secTrailer{authType: pdu[tr], authLevel: pdu[tr+1], padLen: pdu[tr+2], contextID: binary.LittleEndian.Uint32(pdu[tr+4:])}
	return pdu[fixed:tr], t, pdu[tr+trailerLen : end], nil
}

// bindAck is what a bind_ack or alter_context_resp says (C706 12.6.4.4).
type bindAck struct {
	maxXmit, maxRecv uint16
	assocGroup       uint32
	secondaryAddr    string
	result, reason   uint16
	transfer         SyntaxID
	authValue        []byte
	flags            uint8
}

// parseBindAck reads a bind_ack or alter_context_resp with one result.
func parseBindAck(pdu []byte, h header) (*bindAck, error) {
	body, _, av, err := splitAuth(pdu, h, headerLen)
	if err != nil {
		return nil, err
	}
	if len(body) < 10 {
		return nil, protoErr("short bind_ack")
	}
	a := &bindAck{flags: h.flags, authValue: av}
	a.maxXmit = binary.LittleEndian.Uint16(body[0:])
	a.maxRecv = binary.LittleEndian.Uint16(body[2:])
	a.assocGroup = binary.LittleEndian.Uint32(body[4:])
	n := int(binary.LittleEndian.Uint16(body[8:]))
	off := 10
	if n > len(body)-off {
		return nil, protoErr("bind_ack secondary address of %d bytes", n)
	}
	a.secondaryAddr = strings.TrimRight(string(body[off:off+n]), "\x00")
	off += n
	// The result list is 4-aligned relative to the PDU.
	for (headerLen+off)%4 != 0 {
		off++
	}
	if off+4 > len(body) {
		return nil, protoErr("bind_ack without a result list")
	}
	count := int(body[off])
	off += 4
	if count < 1 || off+24*count > len(body) {
		return nil, protoErr("bind_ack with %d results", count)
	}
	a.result = binary.LittleEndian.Uint16(body[off:])
	a.reason = binary.LittleEndian.Uint16(body[off+2:])
	copy(a.transfer.UUID[:], body[off+4:off+20])
	a.transfer.Major = binary.LittleEndian.Uint16(body[off+20:])
	a.transfer.Minor = binary.LittleEndian.Uint16(body[off+22:])
	return a, nil
}

// Bind results and reasons (C706 12.6.3.1 p_cont_def_result_t,
// p_provider_reason_t).
var bindResults = map[uint16]string{0: "acceptance", 1: "user rejection", 2: "provider rejection", 3: "negotiate_ack"}

var bindReasons = map[uint16]string{
	0: "reason not specified", 1: "abstract syntax not supported",
	2: "proposed transfer syntaxes not supported", 3: "local limit exceeded",
}

// bind_nak reasons (C706 12.6.3.1 p_reject_reason_t; MS-RPCE 2.2.2.5).
var nakReasons = map[uint16]string{
	0: "reason not specified", 1: "temporary congestion", 2: "local limit exceeded",
	3: "called paddr unknown", 4: "protocol version not supported",
	5: "default context not supported", 6: "user data not readable",
	7: "no PSAP available", 8: "authentication type not recognized",
	9: "invalid checksum",
}

// BindError is a bind_nak, or a bind_ack that rejects the presentation
// context.
type BindError struct {
	Nak    bool   // a bind_nak (else a rejected context in a bind_ack)
	Reason uint16 // provider_reject_reason or the context's reason
	Result uint16 // the context's result (bind_ack only)
}

func (e *BindError) Error() string {
	if e.Nak {
		r := nakReasons[e.Reason]
		if r == "" {
			r = fmt.Sprintf("reason %d", e.Reason)
		}
		return "dcerpc: bind_nak: " + r
	}
	return fmt.Sprintf("dcerpc: bind rejected: %s (%s)", nameOr(bindResults, e.Result), nameOr(bindReasons, e.Reason))
}

func nameOr(m map[uint16]string, v uint16) string {
	if s, ok := m[v]; ok {
		return s
	}
	return fmt.Sprintf("%d", v)
}
