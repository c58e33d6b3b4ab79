package ldapsasl

import (
	"errors"
	"fmt"
	"io"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// maxMessage bounds an LDAP message read outside go-ldap (a bind or
// StartTLS response), which is small.
const maxMessage = 1 << 20

// errMessage is a malformed LDAP message.
var errMessage = errors.New("ldapsasl: malformed LDAP message")

// elementLength returns the total length of the BER element that b
// starts with (X.690 8.1), or 0 when b does not hold its header yet.
// Only definite lengths of up to four octets are LDAP's (RFC 4511 5.1).
func elementLength(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, nil
	}
	if b[0]&0x1f == 0x1f {
		return 0, errMessage // high tag numbers are not LDAP's
	}
	l := int(b[1])
	if l < 0x80 {
		return 2 + l, nil
	}
	n := l & 0x7f
	if n == 0 || n > 4 {
		return 0, errMessage // indefinite, or beyond any bound
	}
	if len(b) < 2+n {
		return 0, nil
	}
	l = 0
	for _, c := range b[2 : 2+n] {
		l = l<<8 | int(c)
	}
	if l > maxMessage {
		return 0, fmt.Errorf("ldapsasl: LDAP message of %d octets", l)
	}
	return 2 + n + l, nil
}

// readMessage reads exactly one LDAP message from r.
func readMessage(r io.Reader) ([]byte, error) {
	b := make([]byte, 2, 64)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	if b[1]&0x80 != 0 {
		ext := make([]byte, int(b[1]&0x7f))
		if len(ext) > 4 {
			return nil, errMessage
		}
		if _, err := io.ReadFull(r, ext); err != nil {
			return nil, err
		}
		b = append(b, ext...)
	}
	total, err := elementLength(b)
	if err != nil {
		return nil, err
	}
	msg := make([]byte, total)
	copy(msg, b)
	if _, err := io.ReadFull(r, msg[len(b):]); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return msg, nil
}

// response is an LDAP response of interest here: a BindResponse or an
// ExtendedResponse.
type response struct {
	id     int64
	op     ber.Tag
	code   int64
	creds  []byte // serverSaslCreds [7]
	packet *ber.Packet
}

// parseResponse decodes an LDAPMessage holding an LDAPResult (RFC 4511
// 4.1.9, 4.2.2).
func parseResponse(msg []byte) (*response, error) {
	p, err := ber.DecodePacketErr(msg)
	if err != nil || len(p.Children) < 2 {
		return nil, errMessage
	}
	id, ok := p.Children[0].Value.(int64)
	op := p.Children[1]
	if !ok || op.ClassType != ber.ClassApplication || len(op.Children) < 3 {
		return nil, errMessage
	}
	code, ok := op.Children[0].Value.(int64)
	if !ok {
		return nil, errMessage
	}
	r := &response{id: id, op: op.Tag, code: code, packet: p}
	for _, c := range op.Children[3:] {
		if c.ClassType == ber.ClassContext && c.Tag == 7 {
			r.creds = c.ByteValue
			if r.creds == nil && c.Data != nil {
				r.creds = c.Data.Bytes()
			}
			if r.creds == nil {
				r.creds = []byte{}
			}
		}
	}
	return r, nil
}

// err returns the go-ldap error of a failed response (ldap.IsErrorWithCode
// finds its code), or nil.
func (r *response) err() error {
	if r.code == 0 {
		return nil
	}
	return ldap.GetLDAPError(r.packet)
}

// bindRequest encodes a SASL BindRequest (RFC 4511 4.2).
func bindRequest(id int64, mech string, creds []byte) []byte {
	env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "Bind Request")
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "Version"))
	req.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "User Name"))
	auth := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, "", "authentication")
	auth.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, mech, "SASL Mech"))
	if creds != nil {
		auth.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(creds), "Credentials"))
	}
	req.AppendChild(auth)
	env.AppendChild(req)
	return env.Bytes()
}

// startTLSRequest encodes the StartTLS extended request (RFC 4511 4.14.1).
func startTLSRequest(id int64) []byte {
	env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "Start TLS")
	req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.1466.20037", "TLS Extended Command"))
	env.AppendChild(req)
	return env.Bytes()
}
