// Package gss implements the mechanism-independent token framing of
// RFC 2743 section 3.1 (InitialContextToken):
//
//	[APPLICATION 0] IMPLICIT SEQUENCE {
//	        thisMech MechType,   -- OBJECT IDENTIFIER
//	        innerContextToken ANY DEFINED BY thisMech
//	}
//
// It is shared by the Kerberos and Negotiate packages. Only the outer
// framing is DER; the inner token is opaque here.
package gss

import (
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/gosspi/gosspi/internal/oid"
)

// Well-known mechanism OIDs, as arcs, from the table of internal/oid.
var (
	OIDKerberos   = oid.Arcs(oid.Kerberos)   // RFC 1964 / RFC 4121
	OIDKerberosMS = oid.Arcs(oid.MSKerberos) // Microsoft's legacy Kerberos OID (MS-KILE 1.9)
	OIDSPNEGO     = oid.Arcs(oid.SPNEGO)     // RFC 4178
	OIDNTLM       = oid.Arcs(oid.NTLM)       // NTLMSSP
)

// MaxTokenSize bounds a framed token (and so what a parser will wait for).
const MaxTokenSize = 1 << 20

// ErrMalformed reports a token that is not an RFC 2743 InitialContextToken.
var ErrMalformed = errors.New("gss: malformed token framing")

// IncompleteError reports a token cut short; Missing is how many more bytes
// the framing announces (a hint for SECBUFFER_MISSING).
type IncompleteError struct{ Missing int }

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("gss: incomplete token, %d bytes missing", e.Missing)
}

func marshalOID(o asn1.ObjectIdentifier) []byte {
	full, err := asn1.Marshal(o)
	if err != nil || len(full) < 2 {
		panic("gss: invalid OID " + o.String())
	}
	return full[2:]
}

// encodeOID returns the DER contents octets of an OID (without tag and
// length).
func encodeOID(o asn1.ObjectIdentifier) []byte {
	for i, k := range known {
		if k.Equal(o) {
			return knownDER[i] // framing a token marshals nothing
		}
	}
	return marshalOID(o)
}

// AppendLength appends the DER definite length of n content bytes (X.690
// 8.1.3, minimal form). Kerberos and Negotiate encode with it.
func AppendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// LengthSize returns how many bytes AppendLength writes for n.
func LengthSize(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	case n <= 0xffffff:
		return 4
	}
	return 5
}

// HeaderLen returns the size of the framing that Frame puts before an inner
// token of innerLen bytes.
func HeaderLen(mech asn1.ObjectIdentifier, innerLen int) int {
	o := encodeOID(mech)
	body := 2 + len(o) + innerLen
	return 1 + LengthSize(body) + 2 + len(o)
}

// AppendHeader appends the framing for an inner token of innerLen bytes to
// b. The inner token must follow it.
func AppendHeader(b []byte, mech asn1.ObjectIdentifier, innerLen int) []byte {
	o := encodeOID(mech)
	b = append(b, 0x60)
	b = AppendLength(b, 2+len(o)+innerLen)
	b = append(b, 0x06, byte(len(o)))
	return append(b, o...)
}

// Frame returns the InitialContextToken for mech around inner.
func Frame(mech asn1.ObjectIdentifier, inner []byte) []byte {
	b := make([]byte, 0, HeaderLen(mech, len(inner))+len(inner))
	b = AppendHeader(b, mech, len(inner))
	return append(b, inner...)
}

// Token is a parsed InitialContextToken.
type Token struct {
	Mech  asn1.ObjectIdentifier
	Inner []byte // aliases the input
}

// Parse parses one InitialContextToken at the start of b. It returns the
// token and the number of bytes it used; bytes after that are not part of
// it (SECBUFFER_EXTRA). A token cut short returns an *IncompleteError.
func Parse(b []byte) (Token, int, error) {
	var t Token
	if len(b) == 0 {
		return t, 0, &IncompleteError{Missing: 1}
	}
	if b[0] != 0x60 {
		return t, 0, ErrMalformed
	}
	hl, n, missing, err := readHeader(b, true)
	if err != nil {
		return t, 0, err
	}
	if missing > 0 {
		return t, 0, &IncompleteError{Missing: missing}
	}
	if n > MaxTokenSize {
		return t, 0, ErrMalformed
	}
	total := hl + int(n)
	if len(b) < total {
		// Check what we have before asking for more.
		if len(b) > hl && b[hl] != 0x06 {
			return t, 0, ErrMalformed
		}
		return t, 0, &IncompleteError{Missing: total - len(b)}
	}
	body := b[hl:total]
	if len(body) < 2 || body[0] != 0x06 {
		return t, 0, ErrMalformed
	}
	ol := int(body[1])
	if ol == 0 || ol >= 0x80 || len(body) < 2+ol {
		return t, 0, ErrMalformed
	}
	if m := knownOID(body[2 : 2+ol]); m != nil {
		t.Mech = m
	} else {
		var m asn1.ObjectIdentifier
		rest, err := asn1.Unmarshal(body[:2+ol], &m)
		if err != nil || len(rest) != 0 {
			return t, 0, ErrMalformed
		}
		t.Mech = m
	}
	t.Inner = body[2+ol:]
	return t, total, nil
}

// readHeader reads the DER length after the 0x60 tag of b: the header
// length and the announced body length, or how many more bytes the header
// needs. strict refuses a length that is not minimally encoded (DER).
func readHeader(b []byte, strict bool) (hl int, n uint64, missing int, err error) {
	if len(b) < 2 {
		return 0, 0, 2 - len(b), nil
	}
	if l := b[1]; l < 0x80 {
		return 2, uint64(l), 0, nil
	}
	k := int(b[1] & 0x7f)
	if k == 0 || k > 4 {
		return 0, 0, 0, ErrMalformed
	}
	if len(b) < 2+k {
		return 0, 0, 2 + k - len(b), nil
	}
	for _, c := range b[2 : 2+k] {
		n = n<<8 | uint64(c) // a 4-byte length does not fit a 32-bit int
	}
	if strict && (n < 0x80 || (k > 1 && b[2] == 0)) { // DER: minimal length encoding
		return 0, 0, 0, ErrMalformed
	}
	return 2 + k, n, 0, nil
}

// Peek reads the mechanism of an InitialContextToken from as much of it
// as b holds, for recognisers that look at a token's first bytes (RFC 2743
// 3.1): mech is the contents octets of thisMech, inner what follows it up
// to the announced end. ok is false when b does not start with a 0x60
// header and a complete short-form OID.
func Peek(b []byte) (mech, inner []byte, ok bool) {
	if len(b) == 0 || b[0] != 0x60 {
		return nil, nil, false
	}
	h, n, missing, err := readHeader(b, false)
	if err != nil || missing > 0 {
		return nil, nil, false
	}
	if len(b) < h+2 || b[h] != 0x06 {
		return nil, nil, false
	}
	ol := int(b[h+1])
	if ol == 0 || ol >= 0x80 || len(b) < h+2+ol {
		return nil, nil, false
	}
	mech, inner = b[h+2:h+2+ol], b[h+2+ol:]
	// Bytes past the announced end are not this token's.
	if end := uint64(h) + n; end < uint64(len(b)) {
		if end < uint64(h+2+ol) {
			return nil, nil, false
		}
		inner = b[h+2+ol : end]
	}
	return mech, inner, true
}

// known and knownDER are the OIDs of internal/oid's table, as arcs and as
// contents octets, so that framing and parsing a token of a known
// mechanism encode and decode nothing.
var known, knownDER = func() ([]asn1.ObjectIdentifier, [][]byte) {
	var k []asn1.ObjectIdentifier
	var d [][]byte
	for _, m := range oid.Table {
		k = append(k, oid.Arcs(m.Dotted))
		d = append(d, []byte(m.DER))
	}
	return k, d
}()

// knownOID returns the well-known OID with these contents octets, without
// decoding, or nil.
func knownOID(b []byte) asn1.ObjectIdentifier {
	for i, d := range knownDER {
		if string(d) == string(b) {
			return known[i]
		}
	}
	return nil
}

// IsFramed reports whether b starts like an InitialContextToken.
func IsFramed(b []byte) bool { return len(b) > 0 && b[0] == 0x60 }
