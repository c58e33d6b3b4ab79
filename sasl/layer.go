package sasl

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// Layer is a set of SASL security layers: the bit mask of the GSSAPI
// mechanism's negotiation (RFC 4752 3.3). A negotiated layer has one bit.
type Layer uint8

// The security layers.
const (
	// LayerNone: no protection after the authentication (use TLS).
	LayerNone Layer = 1
	// LayerIntegrity: every buffer is signed.
	LayerIntegrity Layer = 2
	// LayerConfidentiality: every buffer is signed and sealed.
	LayerConfidentiality Layer = 4
)

// AllLayers is every layer: the default offer of a Server and the default
// acceptable set of a Client.
const AllLayers = LayerNone | LayerIntegrity | LayerConfidentiality

// MaxBufferLimit is the largest buffer size the negotiation can express
// (three octets).
const MaxBufferLimit = 1<<24 - 1

// strongest returns the strongest layer in l, or 0.
func (l Layer) strongest() Layer {
	for _, b := range []Layer{LayerConfidentiality, LayerIntegrity, LayerNone} {
		if l&b != 0 {
			return b
		}
	}
	return 0
}

// String returns the layers' names joined by "|", or "0".
func (l Layer) String() string {
	if l == 0 {
		return "0"
	}
	var parts []string
	for _, p := range []struct {
		b    Layer
		name string
	}{{LayerNone, "none"}, {LayerIntegrity, "integrity"}, {LayerConfidentiality, "confidentiality"}} {
		if l&p.b != 0 {
			parts = append(parts, p.name)
		}
	}
	if l&^AllLayers != 0 {
		parts = append(parts, "unknown")
	}
	return strings.Join(parts, "|")
}

// negotiation is the plaintext of the GSSAPI mechanism's last two
// messages (RFC 4752 3.1): the server's offer (layers it supports, the
// largest wrapped token it can receive) and the client's choice (one
// layer, its own largest, the authorization identity).
type negotiation struct {
	layers    Layer
	maxBuffer uint32 // 24 bits
	authzID   string // the client's choice only
}

// marshal returns the 4 octets (and the authorization identity).
func (n negotiation) marshal() []byte {
	b := make([]byte, 4, 4+len(n.authzID))
	binary.BigEndian.PutUint32(b, n.maxBuffer&MaxBufferLimit)
	b[0] = byte(n.layers)
	return append(b, n.authzID...)
}

// parseOffer reads the server's offer: exactly 4 octets (RFC 4752 3.1:
// "If the resulting cleartext is not 4 octets long, the client fails the
// negotiation").
func parseOffer(b []byte) (negotiation, error) {
	if len(b) != 4 {
		return negotiation{}, &NegotiationError{Reason: "the server's offer is not 4 octets"}
	}
	n := negotiation{layers: Layer(b[0]), maxBuffer: binary.BigEndian.Uint32(b) & MaxBufferLimit}
	if n.layers&AllLayers == 0 {
		return n, &NegotiationError{Reason: "the server offers no known security layer"}
	}
	return n, nil
}

// parseChoice reads the client's choice: 4 octets and a UTF-8
// authorization identity (RFC 4752 3.1).
func parseChoice(b []byte) (negotiation, error) {
	if len(b) < 4 {
		return negotiation{}, &NegotiationError{Reason: "the client's choice is shorter than 4 octets"}
	}
	n := negotiation{layers: Layer(b[0]), maxBuffer: binary.BigEndian.Uint32(b) & MaxBufferLimit}
	if n.layers != LayerNone && n.layers != LayerIntegrity && n.layers != LayerConfidentiality {
		return n, &NegotiationError{Reason: "the client did not choose exactly one security layer"}
	}
	if !utf8.Valid(b[4:]) || strings.IndexByte(string(b[4:]), 0) >= 0 {
		return n, &NegotiationError{Reason: "the authorization identity is not UTF-8 without NUL"}
	}
	n.authzID = string(b[4:])
	return n, nil
}
