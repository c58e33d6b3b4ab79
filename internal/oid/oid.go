// Package oid is gosspi's one table of GSS-API mechanism object
// identifiers. Every package names a mechanism OID from here, in the form
// it needs: dotted (sspi.PackageInfo.OIDs, logs), the DER contents octets
// (X.690 8.19, what follows the OBJECT IDENTIFIER tag and length in an RFC
// 2743 3.1 InitialContextToken or an RFC 4178 MechTypeList), or arcs
// (encoding/asn1).
//
// The names elsewhere (spnego.OIDKerberos, ntlm.OID, ...) are aliases of
// these entries.
package oid

import (
	"encoding/asn1"
	"strconv"
	"strings"
)

// Dotted forms.
const (
	// SPNEGO is the Simple and Protected GSS-API Negotiation pseudo-mechanism
	// (RFC 4178 3).
	SPNEGO = "1.3.6.1.5.5.2"
	// Kerberos is the Kerberos V5 GSS-API mechanism (RFC 1964 1, RFC 4121).
	Kerberos = "1.2.840.113554.1.2.2"
	// MSKerberos is the OID early Windows versions used for Kerberos, a
	// mis-encoding of Kerberos that Windows still lists first (MS-KILE 1.9).
	MSKerberos = "1.2.840.48018.1.2.2"
	// NTLM is NTLMSSP (MS-NLMP 1.9).
	NTLM = "1.3.6.1.4.1.311.2.2.10"
	// NegoEx is the SPNEGO Extended Negotiation mechanism (MS-NEGOEX).
	NegoEx = "1.3.6.1.4.1.311.2.2.30"
)

// DER contents octets of the mechanisms above (X.690 8.19), as they appear
// after the tag 06 and the length.
const (
	SPNEGODER     = "\x2b\x06\x01\x05\x05\x02"
	KerberosDER   = "\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"
	MSKerberosDER = "\x2a\x86\x48\x82\xf7\x12\x01\x02\x02"
	NTLMDER       = "\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"
	NegoExDER     = "\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x1e"
)

// Mech is one entry of the table.
type Mech struct {
	Name   string // what logs and `gosspi decode` call it
	Dotted string
	DER    string // contents octets
}

// Table lists the mechanisms gosspi knows.
var Table = []Mech{
	{"MS-Kerberos", MSKerberos, MSKerberosDER},
	{"Kerberos", Kerberos, KerberosDER},
	{"NegoEx", NegoEx, NegoExDER},
	{"NTLM", NTLM, NTLMDER},
	{"SPNEGO", SPNEGO, SPNEGODER},
}

// ByDER returns the entry whose contents octets are der.
func ByDER(der []byte) (Mech, bool) {
	for _, m := range Table {
		if m.DER == string(der) {
			return m, true
		}
	}
	return Mech{}, false
}

// ByDotted returns the entry for a dotted OID.
func ByDotted(s string) (Mech, bool) {
	for _, m := range Table {
		if m.Dotted == s {
			return m, true
		}
	}
	return Mech{}, false
}

// IsKerberosDER reports whether der is either Kerberos OID: Windows and MIT
// treat them as one mechanism (MS-KILE 1.9).
func IsKerberosDER(der []byte) bool {
	return string(der) == KerberosDER || string(der) == MSKerberosDER
}

// Arcs returns a dotted OID of the table as arcs. It panics on a string
// that is not a dotted OID: it is meant for the constants above.
func Arcs(dotted string) asn1.ObjectIdentifier {
	parts := strings.Split(dotted, ".")
	id := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || len(parts) < 2 {
			panic("oid: bad OID " + dotted)
		}
		id[i] = n
	}
	return id
}
