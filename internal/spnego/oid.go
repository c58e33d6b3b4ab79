package spnego

import (
	"bytes"
	"encoding/asn1"
	"strconv"
	"strings"

	"github.com/gosspi/gosspi/internal/oid"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// OID is a GSS mechanism object identifier in its DER content form (the
// bytes after the OBJECT IDENTIFIER tag and length). Keeping the encoded
// form means any well-formed OID a peer sends can be carried and compared,
// even one whose arcs do not fit in an int.
type OID []byte

// Mechanism OIDs Negotiate knows by name (gosspi's table, internal/oid).
var (
	// OIDSPNEGO is the SPNEGO pseudo-mechanism, 1.3.6.1.5.5.2 (RFC 4178).
	OIDSPNEGO = OID(oid.SPNEGODER)
	// OIDKerberos is Kerberos V5, 1.2.840.113554.1.2.2 (RFC 1964/4121).
	OIDKerberos = OID(oid.KerberosDER)
	// OIDMSKerberos is the OID early Windows versions used for Kerberos,
	// 1.2.840.48018.1.2.2 (MS-KILE 1.9); Windows still lists it first.
	OIDMSKerberos = OID(oid.MSKerberosDER)
	// OIDNTLM is NTLMSSP, 1.3.6.1.4.1.311.2.2.10 (MS-NLMP).
	OIDNTLM = OID(oid.NTLMDER)
	// OIDNegoEx is the NEGOEX extended negotiation mechanism,
	// 1.3.6.1.4.1.311.2.2.30 (MS-NEGOEX). It is recognised and never chosen.
	OIDNegoEx = OID(oid.NegoExDER)
)

// ParseOID parses a dotted OID such as "1.2.840.113554.1.2.2".
func ParseOID(s string) (OID, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, errBadOID
	}
	id := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, errBadOID
		}
		id[i] = n
	}
	var b cryptobyte.Builder
	b.AddASN1ObjectIdentifier(id)
	der, err := b.Bytes()
	if err != nil {
		return nil, errBadOID
	}
	// Strip the tag and the (short) length.
	in := cryptobyte.String(der)
	var body cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.OBJECT_IDENTIFIER) {
		return nil, errBadOID
	}
	return OID(body), nil
}

// MustParseOID is ParseOID for constants; it panics on a malformed OID.
func MustParseOID(s string) OID {
	o, err := ParseOID(s)
	if err != nil {
		panic("negotiate: bad OID " + s)
	}
	return o
}

// Equal reports whether o and p are the same OID.
func (o OID) Equal(p OID) bool { return bytes.Equal(o, p) }

// String returns the dotted form, or "?" followed by hex for an OID whose
// arcs do not fit in an int.
func (o OID) String() string {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(o) })
	der, err := b.Bytes()
	if err == nil {
		in := cryptobyte.String(der)
		var id asn1.ObjectIdentifier
		if in.ReadASN1ObjectIdentifier(&id) {
			return id.String()
		}
	}
	const hexdig = "0123456789abcdef"
	s := make([]byte, 0, 1+2*len(o))
	s = append(s, '?')
	for _, c := range o {
		s = append(s, hexdig[c>>4], hexdig[c&15])
	}
	return string(s)
}

// isKerberos reports whether o is either Kerberos OID. Windows and MIT
// treat them as one mechanism.
func (o OID) IsKerberos() bool { return oid.IsKerberosDER(o) }

// validOIDBody reports whether b is a well-formed OID body: non-empty,
// every arc minimally encoded and the last byte ending an arc (X.690 8.19).
func validOIDBody(b []byte) bool {
	if len(b) == 0 || b[len(b)-1]&0x80 != 0 {
		return false
	}
	start := true
	for _, c := range b {
		if start && c == 0x80 {
			return false // leading 0x80 is a non-minimal arc
		}
		start = c&0x80 == 0
	}
	return true
}
