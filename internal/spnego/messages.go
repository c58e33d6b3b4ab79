package spnego

import (
	"errors"

	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/sspi/secpkg"

	"github.com/gosspi/gosspi/sspi"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// This file holds the SPNEGO messages of RFC 4178 section 4.2 and the
// NegTokenInit2 extension of MS-SPNG 2.2.1, with a strict DER reader: every
// length is checked against its enclosing element, fields must appear in
// ascending tag order at most once, unknown fields and trailing bytes are
// refused, and nothing is allocated beyond the size of the input.
//
//	NegotiationToken ::= CHOICE {
//	    negTokenInit    [0] NegTokenInit,   -- or NegTokenInit2 (MS-SPNG)
//	    negTokenResp    [1] NegTokenResp }
//	NegTokenInit ::= SEQUENCE {
//	    mechTypes       [0] MechTypeList,
//	    reqFlags        [1] ContextFlags  OPTIONAL,
//	    mechToken       [2] OCTET STRING  OPTIONAL,
//	    mechListMIC     [3] OCTET STRING  OPTIONAL }
//	NegTokenInit2 ::= SEQUENCE {
//	    mechTypes       [0] MechTypeList  OPTIONAL,
//	    reqFlags        [1] ContextFlags  OPTIONAL,
//	    mechToken       [2] OCTET STRING  OPTIONAL,
//	    negHints        [3] NegHints      OPTIONAL,
//	    mechListMIC     [4] OCTET STRING  OPTIONAL }
//	NegHints ::= SEQUENCE {
//	    hintName        [0] GeneralString OPTIONAL,
//	    hintAddress     [1] OCTET STRING  OPTIONAL }
//	NegTokenResp ::= SEQUENCE {
//	    negState        [0] ENUMERATED    OPTIONAL,
//	    supportedMech   [1] MechType      OPTIONAL,
//	    responseToken   [2] OCTET STRING  OPTIONAL,
//	    mechListMIC     [3] OCTET STRING  OPTIONAL }
//
// The first token of a context is framed as an RFC 2743 section 3.1
// InitialContextToken: [APPLICATION 0] { thisMech OID 1.3.6.1.5.5.2,
// innerToken NegotiationToken }.

// Limits on what the parser accepts. A Windows Kerberos token can reach
// 64 KiB (MaxTokenSize); anything much larger is refused.
const (
	// MaxTokenSize is the largest Negotiate token accepted or produced.
	MaxTokenSize = 1 << 18
	// maxMechTypes bounds the mechanism list of a NegTokenInit.
	maxMechTypes = 64
)

// NegState is negState of NegTokenResp (RFC 4178 4.2.2).
type NegState int

// negState values.
const (
	AcceptCompleted  NegState = 0 // accept-completed
	AcceptIncomplete NegState = 1 // accept-incomplete
	Reject           NegState = 2 // reject
	RequestMIC       NegState = 3 // request-mic
	// NegStateAbsent marks a NegTokenResp without negState.
	NegStateAbsent NegState = -1
)

// String returns the RFC 4178 name.
func (s NegState) String() string {
	switch s {
	case AcceptCompleted:
		return "accept-completed"
	case AcceptIncomplete:
		return "accept-incomplete"
	case Reject:
		return "reject"
	case RequestMIC:
		return "request-mic"
	case NegStateAbsent:
		return "absent"
	}
	return "negState(?)"
}

// ReqFlags is the ContextFlags BIT STRING of NegTokenInit: bit n of the
// value is named bit n (delegFlag 0, mutualFlag 1, replayFlag 2,
// sequenceFlag 3, anonFlag 4, confFlag 5, integFlag 6). RFC 4178 says it
// SHOULD be omitted and that an acceptor ignores it.
type ReqFlags uint8

// NegHints is the negHints field of NegTokenInit2 (MS-SPNG 2.2.1). Windows
// sends the hint name "not_defined_in_RFC4178@please_ignore".
type NegHints struct {
	HintName    string // hintName; "" when absent
	HasName     bool
	HintAddress []byte // hintAddress; nil when absent
}

// WindowsHintName is the hintName a Windows acceptor puts in NegTokenInit2.
const WindowsHintName = "not_defined_in_RFC4178@please_ignore"

// NegTokenInit is NegTokenInit, or NegTokenInit2 when NegHints is set or
// the token carried negHints.
type NegTokenInit struct {
	MechTypes   []OID
	HasReqFlags bool
	ReqFlags    ReqFlags
	MechToken   []byte // nil when absent
	NegHints    *NegHints
	MechListMIC []byte // nil when absent
	// Init2 marks NegTokenInit2 (mechTypes optional, negHints at [3],
	// mechListMIC at [4]).
	Init2 bool

	// RawMechTypes is the DER MechTypeList exactly as received or sent:
	// the input of mechListMIC (RFC 4178 5).
	RawMechTypes []byte
}

// NegTokenResp is NegTokenResp. Absent fields are nil (or NegStateAbsent);
// an empty responseToken that was present is a non-nil empty slice.
type NegTokenResp struct {
	NegState      NegState
	SupportedMech OID
	ResponseToken []byte
	MechListMIC   []byte
}

var (
	errBadOID = errors.New("negotiate: malformed OID")
)

func Invalid(detail string) error {
	return &sspi.Error{Op: "Negotiate", Status: sspi.SEC_E_INVALID_TOKEN, Detail: detail}
}

// Context-specific constructed tags [n].
func ctx(n uint8) cbasn1.Tag { return cbasn1.Tag(n).Constructed().ContextSpecific() }

// The encoder computes every length first and writes each token with one
// allocation (X.690 DER: definite, minimal lengths).

// tlvLen is the size of a TLV with n content bytes.
func tlvLen(n int) int { return 1 + gss.LengthSize(n) + n }

func appendHdr(b []byte, tag byte, n int) []byte {
	return gss.AppendLength(append(b, tag), n)
}

// Tags.
const (
	tagOctetString = 0x04
	tagOID         = 0x06
	tagEnum        = 0x0a
	tagBitString   = 0x03
	tagSequence    = 0x30
	tagGeneralStr  = 0x1b
)

// ctxTag is [n] constructed.
func ctxTag(n int) byte { return 0xa0 | byte(n) }

// EncodeMechTypes returns the DER MechTypeList for mechs.
func EncodeMechTypes(mechs []OID) []byte {
	n := 0
	for _, m := range mechs {
		n += tlvLen(len(m))
	}
	b := make([]byte, 0, tlvLen(n))
	b = appendHdr(b, tagSequence, n)
	for _, m := range mechs {
		b = appendHdr(b, tagOID, len(m))
		b = append(b, m...)
	}
	return b
}

// octetsField is the size of [n] OCTET STRING with v.
func octetsField(v []byte) int { return tlvLen(tlvLen(len(v))) }

func appendOctetsField(b []byte, tag int, v []byte) []byte {
	b = appendHdr(b, ctxTag(tag), tlvLen(len(v)))
	b = appendHdr(b, tagOctetString, len(v))
	return append(b, v...)
}

// reqFlagsBits returns the DER BIT STRING contents of f: trailing zero bits
// are removed from a named bit list (X.690 11.2.2).
func reqFlagsBits(f ReqFlags) []byte {
	if f == 0 {
		return []byte{0}
	}
	n := 0
	for i := 0; i < 8; i++ {
		if f&(1<<i) != 0 {
			n = i + 1
		}
	}
	var v uint8
	for i := 0; i < n; i++ {
		if f&(1<<i) != 0 {
			v |= 0x80 >> i
		}
	}
	return []byte{uint8(8 - n), v}
}

func errTooLarge() error {
	return &sspi.Error{Op: "Negotiate", Status: sspi.SEC_E_BUFFER_TOO_SMALL, Detail: "token too large"}
}

// Marshal returns the token framed as an InitialContextToken, as it goes
// on the wire as the first token of a context. A token that was parsed (or
// marshalled before) keeps the DER mechanism list it had, since the
// mechListMIC covers those exact bytes; to change MechTypes, build a new
// NegTokenInit.
func (t *NegTokenInit) Marshal() ([]byte, error) {
	if t.RawMechTypes == nil && (t.MechTypes != nil || !t.Init2) {
		t.RawMechTypes = EncodeMechTypes(t.MechTypes)
	}
	var bits []byte
	seq := 0
	if t.RawMechTypes != nil {
		seq += tlvLen(len(t.RawMechTypes))
	}
	if t.HasReqFlags {
		bits = reqFlagsBits(t.ReqFlags)
		seq += tlvLen(tlvLen(len(bits)))
	}
	if t.MechToken != nil {
		seq += octetsField(t.MechToken)
	}
	micTag := 3
	hints := 0
	h := t.NegHints
	if t.Init2 || h != nil {
		micTag = 4
		if h != nil {
			if h.HasName || h.HintName != "" {
				hints += tlvLen(tlvLen(len(h.HintName)))
			}
			if h.HintAddress != nil {
				hints += octetsField(h.HintAddress)
			}
			seq += tlvLen(tlvLen(hints))
		}
	}
	if t.MechListMIC != nil {
		seq += octetsField(t.MechListMIC)
	}
	inner := tlvLen(tlvLen(seq))
	if inner > MaxTokenSize {
		return nil, errTooLarge()
	}
	// The RFC 2743 3.1 header.
	b := make([]byte, 0, gss.HeaderLen(gss.OIDSPNEGO, inner)+inner)
	b = gss.AppendHeader(b, gss.OIDSPNEGO, inner)
	b = appendHdr(b, ctxTag(0), tlvLen(seq))
	b = appendHdr(b, tagSequence, seq)
	if t.RawMechTypes != nil {
		b = appendHdr(b, ctxTag(0), len(t.RawMechTypes))
		b = append(b, t.RawMechTypes...)
	}
	if t.HasReqFlags {
		b = appendHdr(b, ctxTag(1), tlvLen(len(bits)))
		b = appendHdr(b, tagBitString, len(bits))
		b = append(b, bits...)
	}
	if t.MechToken != nil {
		b = appendOctetsField(b, 2, t.MechToken)
	}
	if h != nil && micTag == 4 {
		b = appendHdr(b, ctxTag(3), tlvLen(hints))
		b = appendHdr(b, tagSequence, hints)
		if h.HasName || h.HintName != "" {
			b = appendHdr(b, ctxTag(0), tlvLen(len(h.HintName)))
			b = appendHdr(b, tagGeneralStr, len(h.HintName))
			b = append(b, h.HintName...)
		}
		if h.HintAddress != nil {
			b = appendOctetsField(b, 1, h.HintAddress)
		}
	}
	if t.MechListMIC != nil {
		b = appendOctetsField(b, micTag, t.MechListMIC)
	}
	if len(b) > MaxTokenSize {
		return nil, errTooLarge()
	}
	return b, nil
}

// Marshal returns the DER NegotiationToken [1] NegTokenResp.
func (t *NegTokenResp) Marshal() ([]byte, error) {
	seq := 0
	if t.NegState != NegStateAbsent {
		if t.NegState < 0 || t.NegState > RequestMIC {
			return nil, &sspi.Error{Op: "Negotiate", Status: sspi.SEC_E_INTERNAL_ERROR, Detail: "bad negState"}
		}
		seq += tlvLen(tlvLen(1))
	}
	if t.SupportedMech != nil {
		seq += tlvLen(tlvLen(len(t.SupportedMech)))
	}
	if t.ResponseToken != nil {
		seq += octetsField(t.ResponseToken)
	}
	if t.MechListMIC != nil {
		seq += octetsField(t.MechListMIC)
	}
	total := tlvLen(tlvLen(seq))
	if total > MaxTokenSize {
		return nil, errTooLarge()
	}
	b := make([]byte, 0, total)
	b = appendHdr(b, ctxTag(1), tlvLen(seq))
	b = appendHdr(b, tagSequence, seq)
	if t.NegState != NegStateAbsent {
		b = append(b, ctxTag(0), 3, tagEnum, 1, byte(t.NegState))
	}
	if t.SupportedMech != nil {
		b = appendHdr(b, ctxTag(1), tlvLen(len(t.SupportedMech)))
		b = appendHdr(b, tagOID, len(t.SupportedMech))
		b = append(b, t.SupportedMech...)
	}
	if t.ResponseToken != nil {
		b = appendOctetsField(b, 2, t.ResponseToken)
	}
	if t.MechListMIC != nil {
		b = appendOctetsField(b, 3, t.MechListMIC)
	}
	return b, nil
}

// ElementSize reads the DER tag and length at the start of b and returns
// the whole element's size. It reports incomplete when b is a prefix of a
// longer element, so that the caller can return SEC_E_INCOMPLETE_MESSAGE.
func ElementSize(b []byte) (size int, incomplete bool, err error) {
	if len(b) < 2 {
		return 0, true, nil
	}
	if b[0]&0x1f == 0x1f {
		return 0, false, Invalid("high tag number")
	}
	l := int(b[1])
	hdr := 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 3 {
			return 0, false, Invalid("bad length") // indefinite, or beyond MaxTokenSize
		}
		if len(b) < 2+n {
			return 0, true, nil
		}
		l = 0
		for i := 0; i < n; i++ {
			l = l<<8 | int(b[2+i])
		}
		if b[2] == 0 || l < 0x80 {
			return 0, false, Invalid("non-minimal length")
		}
		hdr += n
	}
	if hdr+l > MaxTokenSize {
		return 0, false, Invalid("token too large")
	}
	if len(b) < hdr+l {
		return hdr + l, true, nil
	}
	return hdr + l, false, nil
}

// parsedToken is a decoded NegotiationToken: exactly one of init and resp
// is set.
type parsedToken struct {
	init *NegTokenInit
	resp *NegTokenResp
}

// ParseToken decodes one Negotiate token: an InitialContextToken carrying a
// NegTokenInit or NegTokenInit2, or a bare NegTokenResp. b must hold
// exactly the token. Failures are SEC_E_INVALID_TOKEN.
func ParseToken(b []byte) (init *NegTokenInit, resp *NegTokenResp, err error) {
	p, err := parseToken(b)
	if err != nil {
		return nil, nil, err
	}
	return p.init, p.resp, nil
}

func parseToken(b []byte) (parsedToken, error) {
	if len(b) > MaxTokenSize {
		return parsedToken{}, Invalid("token too large")
	}
	if len(b) == 0 {
		return parsedToken{}, Invalid("empty token")
	}
	switch k := secpkg.RecognizeToken(b); {
	case k.Framed():
		t, err := parseInitialContextToken(b)
		return parsedToken{init: t}, err
	case k == secpkg.TokenSPNEGOResp:
		t, err := parseNegTokenResp(b)
		return parsedToken{resp: t}, err
	}
	return parsedToken{}, Invalid("not a SPNEGO token")
}

func parseInitialContextToken(b []byte) (*NegTokenInit, error) {
	// RFC 2743 3.1 framing: [APPLICATION 0] { thisMech, innerToken }. The
	// SPNEGO case is checked in place (the general parser, gss.Parse,
	// decodes the OID by reflection, which costs more than the rest of
	// this function).
	n, incomplete, err := ElementSize(b)
	if err != nil || incomplete || n != len(b) {
		return nil, Invalid("bad InitialContextToken framing")
	}
	if secpkg.RecognizeToken(b) != secpkg.TokenSPNEGOInit|secpkg.TokenFramed {
		return nil, Invalid("thisMech is not SPNEGO")
	}
	h := 2
	if b[1]&0x80 != 0 {
		h += int(b[1] & 0x7f)
	}
	body := cryptobyte.String(b[h+2+len(OIDSPNEGO):])
	var inner cryptobyte.String
	if !body.ReadASN1(&inner, ctx(0)) || !body.Empty() {
		return nil, Invalid("innerToken is not a NegTokenInit")
	}
	var seq cryptobyte.String
	if !inner.ReadASN1(&seq, cbasn1.SEQUENCE) || !inner.Empty() {
		return nil, Invalid("bad NegTokenInit")
	}
	t := &NegTokenInit{}
	var present bool
	var mt cryptobyte.String
	if !seq.ReadOptionalASN1(&mt, &present, ctx(0)) {
		return nil, Invalid("bad mechTypes")
	}
	if present {
		raw := []byte(mt)
		var list cryptobyte.String
		if !mt.ReadASN1(&list, cbasn1.SEQUENCE) || !mt.Empty() {
			return nil, Invalid("bad MechTypeList")
		}
		t.RawMechTypes = raw
		t.MechTypes = []OID{}
		for !list.Empty() {
			var o cryptobyte.String
			if !list.ReadASN1(&o, cbasn1.OBJECT_IDENTIFIER) || !validOIDBody(o) {
				return nil, Invalid("bad MechType")
			}
			if len(t.MechTypes) == maxMechTypes {
				return nil, Invalid("too many mechTypes")
			}
			t.MechTypes = append(t.MechTypes, OID(o))
		}
	}
	var rf cryptobyte.String
	if !seq.ReadOptionalASN1(&rf, &t.HasReqFlags, ctx(1)) {
		return nil, Invalid("bad reqFlags")
	}
	if t.HasReqFlags {
		f, ok := parseReqFlags(rf)
		if !ok {
			return nil, Invalid("bad reqFlags")
		}
		t.ReqFlags = f
	}
	var ok bool
	if t.MechToken, ok = readOptionalOctets(&seq, 2); !ok {
		return nil, Invalid("bad mechToken")
	}
	// [3] is mechListMIC (an OCTET STRING) in NegTokenInit and negHints (a
	// SEQUENCE) in NegTokenInit2.
	var f3 cryptobyte.String
	if !seq.ReadOptionalASN1(&f3, &present, ctx(3)) {
		return nil, Invalid("bad field [3]")
	}
	if present {
		if !f3.Empty() && f3[0] == byte(cbasn1.SEQUENCE) {
			t.Init2 = true
			h, ok := parseNegHints(f3)
			if !ok {
				return nil, Invalid("bad negHints")
			}
			t.NegHints = h
		} else {
			var mic []byte
			if !f3.ReadASN1Bytes(&mic, cbasn1.OCTET_STRING) || !f3.Empty() {
				return nil, Invalid("bad mechListMIC")
			}
			t.MechListMIC = nonNil(mic)
		}
	}
	if t.MechListMIC == nil {
		if t.MechListMIC, ok = readOptionalOctets(&seq, 4); !ok {
			return nil, Invalid("bad mechListMIC")
		}
		if t.MechListMIC != nil {
			t.Init2 = true
		}
	}
	if !seq.Empty() {
		return nil, Invalid("unexpected NegTokenInit field")
	}
	if t.RawMechTypes == nil && !t.Init2 {
		return nil, Invalid("NegTokenInit without mechTypes")
	}
	return t, nil
}

func parseReqFlags(s cryptobyte.String) (ReqFlags, bool) {
	var bits cryptobyte.String
	if !s.ReadASN1(&bits, cbasn1.BIT_STRING) || !s.Empty() || len(bits) == 0 {
		return 0, false
	}
	unused := bits[0]
	v := bits[1:]
	if unused > 7 || (len(v) == 0 && unused != 0) {
		return 0, false
	}
	if len(v) > 0 && v[len(v)-1]&(1<<unused-1) != 0 {
		return 0, false // padding bits must be zero (DER)
	}
	var f ReqFlags
	for i := 0; i < 8 && i < 8*len(v); i++ {
		if v[i/8]&(0x80>>(i%8)) != 0 {
			f |= 1 << i
		}
	}
	return f, true
}

func parseNegHints(s cryptobyte.String) (*NegHints, bool) {
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, false
	}
	h := &NegHints{}
	var name cryptobyte.String
	if !seq.ReadOptionalASN1(&name, &h.HasName, ctx(0)) {
		return nil, false
	}
	if h.HasName {
		var gs cryptobyte.String
		if !name.ReadASN1(&gs, cbasn1.Tag(27)) || !name.Empty() {
			return nil, false
		}
		h.HintName = string(gs)
	}
	var ok bool
	if h.HintAddress, ok = readOptionalOctets(&seq, 1); !ok {
		return nil, false
	}
	return h, seq.Empty()
}

func parseNegTokenResp(b []byte) (*NegTokenResp, error) {
	in := cryptobyte.String(b)
	var inner, seq cryptobyte.String
	if !in.ReadASN1(&inner, ctx(1)) || !in.Empty() {
		return nil, Invalid("bad NegTokenResp framing")
	}
	if !inner.ReadASN1(&seq, cbasn1.SEQUENCE) || !inner.Empty() {
		return nil, Invalid("bad NegTokenResp")
	}
	t := &NegTokenResp{NegState: NegStateAbsent}
	var present bool
	var f cryptobyte.String
	if !seq.ReadOptionalASN1(&f, &present, ctx(0)) {
		return nil, Invalid("bad negState")
	}
	if present {
		var st int
		if !f.ReadASN1Enum(&st) || !f.Empty() || st < 0 || st > 3 {
			return nil, Invalid("bad negState")
		}
		t.NegState = NegState(st)
	}
	if !seq.ReadOptionalASN1(&f, &present, ctx(1)) {
		return nil, Invalid("bad supportedMech")
	}
	if present {
		var o cryptobyte.String
		if !f.ReadASN1(&o, cbasn1.OBJECT_IDENTIFIER) || !f.Empty() || !validOIDBody(o) {
			return nil, Invalid("bad supportedMech")
		}
		t.SupportedMech = OID(o)
	}
	var ok bool
	if t.ResponseToken, ok = readOptionalOctets(&seq, 2); !ok {
		return nil, Invalid("bad responseToken")
	}
	if t.MechListMIC, ok = readOptionalOctets(&seq, 3); !ok {
		return nil, Invalid("bad mechListMIC")
	}
	if !seq.Empty() {
		return nil, Invalid("unexpected NegTokenResp field")
	}
	return t, nil
}

// readOptionalOctets reads [tag] OCTET STRING OPTIONAL. It returns nil when
// the field is absent and a non-nil slice (possibly empty) when present.
func readOptionalOctets(s *cryptobyte.String, tag uint8) ([]byte, bool) {
	var f cryptobyte.String
	var present bool
	if !s.ReadOptionalASN1(&f, &present, ctx(tag)) {
		return nil, false
	}
	if !present {
		return nil, true
	}
	var v []byte
	if !f.ReadASN1Bytes(&v, cbasn1.OCTET_STRING) || !f.Empty() {
		return nil, false
	}
	return nonNil(v), true
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
