package ntlmssp

import (
	"encoding/binary"
	"unicode/utf16"

	"github.com/gosspi/gosspi/sspi"
)

// This file holds the wire messages of MS-NLMP section 2.2: NEGOTIATE,
// CHALLENGE and AUTHENTICATE, the VERSION structure and the AV_PAIR list.

// Negotiate flags (MS-NLMP 2.2.2.5).
const (
	NegotiateUnicode                 uint32 = 0x00000001
	NegotiateOEM                     uint32 = 0x00000002
	RequestTarget                    uint32 = 0x00000004
	NegotiateSign                    uint32 = 0x00000010
	NegotiateSeal                    uint32 = 0x00000020
	NegotiateDatagram                uint32 = 0x00000040
	NegotiateLMKey                   uint32 = 0x00000080
	NegotiateNTLM                    uint32 = 0x00000200
	NegotiateAnonymous               uint32 = 0x00000800
	NegotiateOEMDomainSupplied       uint32 = 0x00001000
	NegotiateOEMWorkstationSupplied  uint32 = 0x00002000
	NegotiateAlwaysSign              uint32 = 0x00008000
	TargetTypeDomain                 uint32 = 0x00010000
	TargetTypeServer                 uint32 = 0x00020000
	NegotiateExtendedSessionSecurity uint32 = 0x00080000
	NegotiateIdentify                uint32 = 0x00100000
	RequestNonNTSessionKey           uint32 = 0x00400000
	NegotiateTargetInfo              uint32 = 0x00800000
	NegotiateVersion                 uint32 = 0x02000000
	Negotiate128                     uint32 = 0x20000000
	NegotiateKeyExch                 uint32 = 0x40000000
	Negotiate56                      uint32 = 0x80000000
)

// AV_PAIR identifiers (MS-NLMP 2.2.2.1).
const (
	AvEOL             uint16 = 0x0000
	AvNbComputerName  uint16 = 0x0001
	AvNbDomainName    uint16 = 0x0002
	AvDnsComputerName uint16 = 0x0003
	AvDnsDomainName   uint16 = 0x0004
	AvDnsTreeName     uint16 = 0x0005
	AvFlags           uint16 = 0x0006
	AvTimestamp       uint16 = 0x0007
	AvSingleHost      uint16 = 0x0008
	AvTargetName      uint16 = 0x0009
	AvChannelBindings uint16 = 0x000A
)

// MsvAvFlags bits.
const (
	AvFlagConstrained  uint32 = 0x1
	AvFlagMICPresent   uint32 = 0x2
	AvFlagUntrustedSPN uint32 = 0x4
)

const (
	Signature = "NTLMSSP\x00"

	MsgNegotiate    = 1
	MsgChallenge    = 2
	MsgAuthenticate = 3

	// MaxMessage bounds every message we parse: the payload fields have
	// 16-bit lengths, so no honest message comes near it.
	MaxMessage = 1 << 16

	negotiateHeader    = 32
	challengeHeader    = 48
	authenticateHeader = 64
	versionSize        = 8
	micSize            = 16
	MICOffset          = authenticateHeader + versionSize
)

// NTLMSSP_REVISION_W2K3.
const RevisionCurrent = 0x0F

// Version is the VERSION structure (MS-NLMP 2.2.2.10).
type Version struct {
	Major, Minor uint8
	Build        uint16
	Revision     uint8 // NTLMRevisionCurrent, 0x0F
}

// DefaultVersion is what gosspi advertises: Windows 10.0 build 20348 with
// NTLMSSP_REVISION_W2K3.
var DefaultVersion = Version{Major: 10, Minor: 0, Build: 20348, Revision: RevisionCurrent}

func (v Version) marshal(b []byte) {
	b[0], b[1] = v.Major, v.Minor
	binary.LittleEndian.PutUint16(b[2:], v.Build)
	b[4], b[5], b[6] = 0, 0, 0 // Reserved
	b[7] = v.Revision
}

func parseVersion(b []byte) *Version {
	return &Version{Major: b[0], Minor: b[1], Build: binary.LittleEndian.Uint16(b[2:]), Revision: b[7]}
}

// AvPair is one AV_PAIR (MS-NLMP 2.2.2.1).
type AvPair struct {
	ID    uint16
	Value []byte
}

// AvPairs is an AV_PAIR list without its MsvAvEOL terminator.
type AvPairs []AvPair

// ParseAvPairs parses an AV_PAIR list. The list must end with MsvAvEOL
// (bytes after it are ignored, as Windows does); a pair that runs past the
// buffer, a missing terminator or a repeated identifier is
// SEC_E_INVALID_TOKEN.
func ParseAvPairs(b []byte) (AvPairs, error) {
	out := make(AvPairs, 0, 8)
	if err := WalkAvPairs(b, func(id uint16, v []byte) { out = append(out, AvPair{ID: id, Value: v}) }); err != nil {
		return nil, err
	}
	return out, nil
}

// WalkAvPairs checks an AV_PAIR list as ParseAvPairs does and calls fn
// with each pair before MsvAvEOL, in order, without allocating.
func WalkAvPairs(b []byte, fn func(id uint16, value []byte)) error {
	var seen uint32
	for {
		if len(b) < 4 {
			return ErrInvalid("AV_PAIR list not terminated")
		}
		id := binary.LittleEndian.Uint16(b)
		n := int(binary.LittleEndian.Uint16(b[2:]))
		b = b[4:]
		if id == AvEOL {
			return nil
		}
		if n > len(b) {
			return ErrInvalid("AV_PAIR past end of list")
		}
		if id <= AvChannelBindings {
			if seen&(1<<id) != 0 {
				return ErrInvalid("repeated AV_PAIR")
			}
			seen |= 1 << id
			if err := checkAvValue(id, n); err != nil {
				return err
			}
		}
		fn(id, b[:n:n])
		b = b[n:]
	}
}

func checkAvValue(id uint16, n int) error {
	switch id {
	case AvFlags:
		if n != 4 {
			return ErrInvalid("MsvAvFlags length")
		}
	case AvTimestamp:
		if n != 8 {
			return ErrInvalid("MsvAvTimestamp length")
		}
	case AvChannelBindings:
		if n != 16 {
			return ErrInvalid("MsvAvChannelBindings length")
		}
	case AvSingleHost:
		if n < 48 {
			return ErrInvalid("MsvAvSingleHost length")
		}
	case AvNbComputerName, AvNbDomainName, AvDnsComputerName, AvDnsDomainName, AvDnsTreeName, AvTargetName:
		if n%2 != 0 {
			return ErrInvalid("odd UTF-16 AV_PAIR")
		}
	}
	return nil
}

// Marshal returns the list followed by MsvAvEOL.
func (ps AvPairs) Marshal() []byte {
	n := 4
	for _, p := range ps {
		n += 4 + len(p.Value)
	}
	out := make([]byte, 0, n)
	for _, p := range ps {
		out = binary.LittleEndian.AppendUint16(out, p.ID)
		out = binary.LittleEndian.AppendUint16(out, uint16(len(p.Value)))
		out = append(out, p.Value...)
	}
	return append(out, 0, 0, 0, 0)
}

// Get returns the value of the first pair with the identifier.
func (ps AvPairs) Get(id uint16) ([]byte, bool) {
	for _, p := range ps {
		if p.ID == id {
			return p.Value, true
		}
	}
	return nil, false
}

// String returns a UTF-16 valued pair as a string.
func (ps AvPairs) String(id uint16) string {
	v, _ := ps.Get(id)
	return fromUTF16(v)
}

// Set replaces the pair with the identifier, or appends it.
func (ps AvPairs) Set(id uint16, v []byte) AvPairs {
	for i := range ps {
		if ps[i].ID == id {
			ps[i].Value = v
			return ps
		}
	}
	return append(ps, AvPair{ID: id, Value: v})
}

// NegotiateMessage is NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1).
type NegotiateMessage struct {
	Flags       uint32
	Domain      string // OEM, when NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED
	Workstation string // OEM, when NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED
	Version     *Version
}

// ChallengeMessage is CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2).
type ChallengeMessage struct {
	Flags           uint32
	TargetName      string
	ServerChallenge [8]byte
	TargetInfo      []byte // raw AV_PAIR list, as the MIC and NTLMv2 response need it
	Version         *Version

	TargetInfoPairs AvPairs // TargetInfo parsed, when ParseChallenge read it
}

// AuthenticateMessage is AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3).
type AuthenticateMessage struct {
	LmChallengeResponse       []byte
	NtChallengeResponse       []byte
	Domain                    string
	User                      string
	Workstation               string
	EncryptedRandomSessionKey []byte
	Flags                     uint32
	Version                   *Version
	// MIC is the message integrity code, present when the payload starts
	// after it (MS-NLMP 2.2.1.3: presence follows the payload offsets).
	MIC    []byte
	HasMIC bool
}

func ErrInvalid(detail string) error {
	return &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_INVALID_TOKEN, Detail: detail}
}

// field is one payload field descriptor: Len, MaxLen, BufferOffset.
type field struct{ off, n int }

// reader validates payload fields against the message.
type reader struct {
	b       []byte
	header  int // fixed header size: payloads may not start before it
	fields  []field
	missing int // bytes past the end that some field needs
	buf     [6]field
}

func (r *reader) field(at int) (field, error) {
	// Len and BufferOffset (MS-NLMP 2.2.1) are checked in uint64: on 32-bit
	// platforms int(offset)+n wraps and would pass the bounds checks.
	n := uint64(binary.LittleEndian.Uint16(r.b[at:]))
	off := uint64(binary.LittleEndian.Uint32(r.b[at+4:]))
	if n == 0 {
		return field{}, nil
	}
	if off < uint64(r.header) || off+n > MaxMessage {
		return field{}, ErrInvalid("payload field out of range")
	}
	// off+n <= MaxMessage from here on: int arithmetic cannot wrap.
	end := int(off + n)
	if end > len(r.b) {
		// A field running past the end of a plausible message: the
		// message is incomplete (SEC_E_INCOMPLETE_MESSAGE with a
		// SECBUFFER_MISSING hint).
		if end-len(r.b) > r.missing {
			r.missing = end - len(r.b)
		}
		return field{}, nil
	}
	f := field{off: int(off), n: int(n)}
	r.fields = append(r.fields, f)
	return f, nil
}

// check rejects overlapping payload fields and returns the smallest
// payload offset (len(b) when there is no payload).
func (r *reader) check() (int, error) {
	if r.missing > 0 {
		return 0, &IncompleteError{Missing: r.missing}
	}
	// Insertion sort: at most six fields, and no allocation.
	for i := 1; i < len(r.fields); i++ {
		for j := i; j > 0 && r.fields[j].off < r.fields[j-1].off; j-- {
			r.fields[j], r.fields[j-1] = r.fields[j-1], r.fields[j]
		}
	}
	for i := 1; i < len(r.fields); i++ {
		if r.fields[i-1].off+r.fields[i-1].n > r.fields[i].off {
			return 0, ErrInvalid("overlapping payload fields")
		}
	}
	if len(r.fields) == 0 {
		return len(r.b), nil
	}
	return r.fields[0].off, nil
}

func (r *reader) bytes(f field) []byte {
	if f.n == 0 {
		return nil
	}
	return r.b[f.off : f.off+f.n : f.off+f.n]
}

func (r *reader) str(f field, unicode bool) (string, error) {
	v := r.bytes(f)
	if unicode {
		if len(v)%2 != 0 {
			return "", ErrInvalid("odd UTF-16 string")
		}
		return fromUTF16(v), nil
	}
	return string(v), nil
}

func checkHeader(b []byte, typ uint32, min int) error {
	if len(b) > MaxMessage {
		return ErrInvalid("message too large")
	}
	if len(b) < 12 || string(b[:8]) != Signature {
		return ErrInvalid("bad NTLMSSP signature")
	}
	if binary.LittleEndian.Uint32(b[8:]) != typ {
		return ErrInvalid("unexpected message type")
	}
	if len(b) < min {
		return &IncompleteError{Missing: min - len(b)}
	}
	return nil
}

// IncompleteError reports a message cut short: Missing more bytes are
// needed. Its status is SEC_E_INCOMPLETE_MESSAGE.
type IncompleteError struct{ Missing int }

// Error implements error.
func (e *IncompleteError) Error() string {
	return "ntlm: message incomplete: SEC_E_INCOMPLETE_MESSAGE"
}

// Unwrap lets errors.Is and sspi.StatusOf see SEC_E_INCOMPLETE_MESSAGE.
func (e *IncompleteError) Unwrap() error { return sspi.SEC_E_INCOMPLETE_MESSAGE }

// MessageType returns the MessageType of an NTLMSSP message, or 0.
func MessageType(b []byte) uint32 {
	if len(b) < 12 || string(b[:8]) != Signature {
		return 0
	}
	return binary.LittleEndian.Uint32(b[8:])
}

// ParseNegotiate parses a NEGOTIATE_MESSAGE. A 32-byte message without a
// Version field is accepted; the Version is read when the payload (or the
// message) leaves room for it.
func ParseNegotiate(b []byte) (*NegotiateMessage, error) {
	if err := checkHeader(b, MsgNegotiate, negotiateHeader); err != nil {
		return nil, err
	}
	r := &reader{b: b, header: negotiateHeader}
	m := &NegotiateMessage{Flags: binary.LittleEndian.Uint32(b[12:])}
	dom, err := r.field(16)
	if err != nil {
		return nil, err
	}
	wks, err := r.field(24)
	if err != nil {
		return nil, err
	}
	first, err := r.check()
	if err != nil {
		return nil, err
	}
	if m.Flags&NegotiateVersion != 0 && first >= negotiateHeader+versionSize {
		m.Version = parseVersion(b[negotiateHeader:])
	}
	m.Domain, _ = r.str(dom, false)
	m.Workstation, _ = r.str(wks, false)
	return m, nil
}

// Marshal encodes the message. The Version field is written when Version
// is set (and NTLMSSP_NEGOTIATE_VERSION is then set too).
func (m *NegotiateMessage) Marshal() []byte {
	flags := m.Flags
	hdr := negotiateHeader
	if m.Version != nil {
		flags |= NegotiateVersion
		hdr += versionSize
	}
	if m.Domain != "" {
		flags |= NegotiateOEMDomainSupplied
	}
	if m.Workstation != "" {
		flags |= NegotiateOEMWorkstationSupplied
	}
	w := newWriter(hdr, len(m.Domain)+len(m.Workstation))
	w.put(0, Signature)
	w.u32(8, MsgNegotiate)
	w.u32(12, flags)
	w.payload(16, []byte(m.Domain))
	w.payload(24, []byte(m.Workstation))
	if m.Version != nil {
		m.Version.marshal(w.b[negotiateHeader:])
	}
	return w.b
}

// ParseChallenge parses a CHALLENGE_MESSAGE.
func ParseChallenge(b []byte) (*ChallengeMessage, error) {
	if err := checkHeader(b, MsgChallenge, 32); err != nil {
		return nil, err
	}
	hdr := challengeHeader
	if len(b) < challengeHeader {
		hdr = 32 // an old, minimal CHALLENGE without TargetInfo fields
	}
	r := &reader{b: b, header: hdr}
	m := &ChallengeMessage{Flags: binary.LittleEndian.Uint32(b[20:])}
	copy(m.ServerChallenge[:], b[24:32])
	tn, err := r.field(12)
	if err != nil {
		return nil, err
	}
	var ti field
	if len(b) >= challengeHeader {
		if ti, err = r.field(40); err != nil {
			return nil, err
		}
	}
	first, err := r.check()
	if err != nil {
		return nil, err
	}
	if m.Flags&NegotiateVersion != 0 && first >= challengeHeader+versionSize {
		m.Version = parseVersion(b[challengeHeader:])
	}
	if m.TargetName, err = r.str(tn, m.Flags&NegotiateUnicode != 0); err != nil {
		return nil, err
	}
	m.TargetInfo = r.bytes(ti)
	if len(m.TargetInfo) > 0 {
		if m.TargetInfoPairs, err = ParseAvPairs(m.TargetInfo); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Marshal encodes the message, with the payload in the order TargetName,
// TargetInfo.
func (m *ChallengeMessage) Marshal() []byte {
	hdr := challengeHeader
	if m.Version != nil {
		hdr += versionSize
	}
	tn := encodeString(m.TargetName, m.Flags&NegotiateUnicode != 0)
	w := newWriter(hdr, len(tn)+len(m.TargetInfo))
	w.put(0, Signature)
	w.u32(8, MsgChallenge)
	w.payload(12, tn)
	w.u32(20, m.Flags)
	copy(w.b[24:], m.ServerChallenge[:])
	if len(m.TargetInfo) > 0 {
		// An absent TargetInfo keeps offset zero, as the CHALLENGE_MESSAGEs
		// of MS-NLMP 4.2.2.3 and 4.2.3.3 show.
		w.payload(40, m.TargetInfo)
	}
	if m.Version != nil {
		m.Version.marshal(w.b[challengeHeader:])
	}
	return w.b
}

// ParseAuthenticate parses an AUTHENTICATE_MESSAGE. Whether the Version
// and MIC fields are present is decided by the smallest payload offset,
// not by NTLMSSP_NEGOTIATE_VERSION: curl keeps the flag but sends neither.
func ParseAuthenticate(b []byte) (*AuthenticateMessage, error) {
	if err := checkHeader(b, MsgAuthenticate, authenticateHeader); err != nil {
		return nil, err
	}
	r := &reader{b: b, header: authenticateHeader}
	r.fields = r.buf[:0]
	var fs [6]field
	for i := range fs {
		var err error
		if fs[i], err = r.field(12 + 8*i); err != nil {
			return nil, err
		}
	}
	first, err := r.check()
	if err != nil {
		return nil, err
	}
	m := &AuthenticateMessage{Flags: binary.LittleEndian.Uint32(b[60:])}
	if first >= authenticateHeader+versionSize {
		m.Version = parseVersion(b[authenticateHeader:])
	}
	if first >= MICOffset+micSize {
		m.MIC = b[MICOffset : MICOffset+micSize : MICOffset+micSize]
		m.HasMIC = true
	}
	uni := m.Flags&NegotiateUnicode != 0
	m.LmChallengeResponse = r.bytes(fs[0])
	m.NtChallengeResponse = r.bytes(fs[1])
	if m.Domain, err = r.str(fs[2], uni); err != nil {
		return nil, err
	}
	if m.User, err = r.str(fs[3], uni); err != nil {
		return nil, err
	}
	if m.Workstation, err = r.str(fs[4], uni); err != nil {
		return nil, err
	}
	m.EncryptedRandomSessionKey = r.bytes(fs[5])
	return m, nil
}

// Marshal encodes the message with the payload in the order Domain, User,
// Workstation, LmChallengeResponse, NtChallengeResponse,
// EncryptedRandomSessionKey (as MS-NLMP 4.2 shows). A MIC field (zeroed
// unless MIC is set) is written when HasMIC is true; HasMIC requires a
// Version.
func (m *AuthenticateMessage) Marshal() []byte {
	hdr := authenticateHeader
	if m.Version != nil {
		hdr += versionSize
		if m.HasMIC {
			hdr += micSize
		}
	}
	uni := m.Flags&NegotiateUnicode != 0
	dom := encodeString(m.Domain, uni)
	usr := encodeString(m.User, uni)
	wks := encodeString(m.Workstation, uni)
	w := newWriter(hdr, len(dom)+len(usr)+len(wks)+len(m.LmChallengeResponse)+len(m.NtChallengeResponse)+len(m.EncryptedRandomSessionKey))
	w.put(0, Signature)
	w.u32(8, MsgAuthenticate)
	w.payload(28, dom)
	w.payload(36, usr)
	w.payload(44, wks)
	w.payload(12, m.LmChallengeResponse)
	w.payload(20, m.NtChallengeResponse)
	w.payload(52, m.EncryptedRandomSessionKey)
	w.u32(60, m.Flags)
	if m.Version != nil {
		m.Version.marshal(w.b[authenticateHeader:])
		if m.HasMIC && len(m.MIC) == micSize {
			copy(w.b[MICOffset:], m.MIC)
		}
	}
	return w.b
}

type writer struct{ b []byte }

func newWriter(hdr, payload int) *writer {
	b := make([]byte, hdr, hdr+payload)
	return &writer{b: b}
}

func (w *writer) put(at int, s string) { copy(w.b[at:], s) }
func (w *writer) u32(at int, v uint32) { binary.LittleEndian.PutUint32(w.b[at:], v) }

// payload appends v and fills the field descriptor at "at". An empty
// field gets zero lengths and the offset where it would be in the payload
// (MS-NLMP 2.2.1.1, 2.2.1.2, 2.2.1.3: a SHOULD, as in the 4.2.3.3
// AUTHENTICATE_MESSAGE).
func (w *writer) payload(at int, v []byte) {
	binary.LittleEndian.PutUint32(w.b[at+4:], uint32(len(w.b)))
	if len(v) == 0 {
		return
	}
	binary.LittleEndian.PutUint16(w.b[at:], uint16(len(v)))
	binary.LittleEndian.PutUint16(w.b[at+2:], uint16(len(v)))
	w.b = append(w.b, v...)
}

func ToUTF16(s string) []byte { return appendUTF16(make([]byte, 0, 2*len(s)), s) }

// appendUTF16 appends s in UTF-16LE.
func appendUTF16(b []byte, s string) []byte {
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			b = binary.LittleEndian.AppendUint16(b, uint16(r1))
			b = binary.LittleEndian.AppendUint16(b, uint16(r2))
			continue
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(r))
	}
	return b
}

func fromUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func encodeString(s string, unicode bool) []byte {
	if unicode {
		return ToUTF16(s)
	}
	return []byte(s)
}
