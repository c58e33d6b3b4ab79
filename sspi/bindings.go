package sspi

import (
	"crypto"
	"crypto/md5"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	_ "crypto/sha512" // for tls-server-end-point with SHA-384/512 certificates
)

// ChannelBindings is SEC_CHANNEL_BINDINGS (the GSS-API
// gss_channel_bindings_struct): addresses and application data that tie an
// authentication to its outer channel, such as a TLS connection.
type ChannelBindings struct {
	InitiatorAddrType uint32
	InitiatorAddress  []byte
	AcceptorAddrType  uint32
	AcceptorAddress   []byte
	ApplicationData   []byte
}

// Marshal returns the flat SEC_CHANNEL_BINDINGS layout that travels in a
// SECBUFFER_CHANNEL_BINDINGS buffer: a 32-byte header of type/length/offset
// fields followed by the three byte strings.
func (cb *ChannelBindings) Marshal() []byte {
	const hdr = 32
	out := make([]byte, hdr, hdr+len(cb.InitiatorAddress)+len(cb.AcceptorAddress)+len(cb.ApplicationData))
	put := func(off int, v uint32) { binary.LittleEndian.PutUint32(out[off:], v) }
	put(0, cb.InitiatorAddrType)
	put(4, uint32(len(cb.InitiatorAddress)))
	put(8, uint32(len(out)))
	out = append(out, cb.InitiatorAddress...)
	put(12, cb.AcceptorAddrType)
	put(16, uint32(len(cb.AcceptorAddress)))
	put(20, uint32(len(out)))
	out = append(out, cb.AcceptorAddress...)
	put(24, uint32(len(cb.ApplicationData)))
	put(28, uint32(len(out)))
	out = append(out, cb.ApplicationData...)
	return out
}

// ParseChannelBindings reads the flat SEC_CHANNEL_BINDINGS layout.
func ParseChannelBindings(b []byte) (*ChannelBindings, error) {
	if len(b) < 32 {
		return nil, SEC_E_INVALID_TOKEN
	}
	u := func(off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
	field := func(lenOff, offOff int) ([]byte, error) {
		n, o := uint64(u(lenOff)), uint64(u(offOff))
		if n == 0 {
			return nil, nil
		}
		if o+n > uint64(len(b)) {
			return nil, SEC_E_INVALID_TOKEN
		}
		return append([]byte(nil), b[o:o+n]...), nil
	}
	var cb ChannelBindings
	var err error
	cb.InitiatorAddrType = u(0)
	if cb.InitiatorAddress, err = field(4, 8); err != nil {
		return nil, err
	}
	cb.AcceptorAddrType = u(12)
	if cb.AcceptorAddress, err = field(16, 20); err != nil {
		return nil, err
	}
	if cb.ApplicationData, err = field(24, 28); err != nil {
		return nil, err
	}
	return &cb, nil
}

// GSSBindingsHash returns the RFC 4121 section 4.1.1.2 MD5 of the bindings,
// the value Kerberos puts in the authenticator checksum and NTLM in
// MsvAvChannelBindings. With no bindings at all, both protocols send 16
// zero bytes instead: callers check for nil first.
func (cb *ChannelBindings) GSSBindingsHash() [16]byte {
	h := md5.New()
	var w [4]byte
	putBuf := func(t uint32, b []byte, withType bool) {
		if withType {
			binary.LittleEndian.PutUint32(w[:], t)
			h.Write(w[:])
		}
		binary.LittleEndian.PutUint32(w[:], uint32(len(b)))
		h.Write(w[:])
		h.Write(b)
	}
	putBuf(cb.InitiatorAddrType, cb.InitiatorAddress, true)
	putBuf(cb.AcceptorAddrType, cb.AcceptorAddress, true)
	putBuf(0, cb.ApplicationData, false)
	var sum [16]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// Equal reports whether two bindings carry the same values.
func (cb *ChannelBindings) Equal(o *ChannelBindings) bool {
	if cb == nil || o == nil {
		return cb == o
	}
	return cb.GSSBindingsHash() == o.GSSBindingsHash()
}

// TLSServerEndPoint returns the RFC 5929 "tls-server-end-point" channel
// bindings for a server certificate: the certificate hashed with its
// signature hash (SHA-256 for MD5 and SHA-1), prefixed with
// "tls-server-end-point:" as application data.
func TLSServerEndPoint(cert *x509.Certificate) (*ChannelBindings, error) {
	if cert == nil {
		return nil, errors.New("sspi: no certificate for tls-server-end-point")
	}
	var h crypto.Hash
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = crypto.SHA384
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = crypto.SHA512
	default:
		h = crypto.SHA256
	}
	d := h.New()
	d.Write(cert.Raw)
	return &ChannelBindings{ApplicationData: append([]byte("tls-server-end-point:"), d.Sum(nil)...)}, nil
}

// TLSUnique returns the RFC 5929 "tls-unique" channel bindings for the
// first Finished message of a TLS 1.2 connection (tls.ConnectionState's
// TLSUnique). TLS 1.3 has no tls-unique; use TLSServerEndPoint there.
func TLSUnique(finished []byte) (*ChannelBindings, error) {
	if len(finished) == 0 {
		return nil, errors.New("sspi: no tls-unique value (TLS 1.3 or resumed session)")
	}
	return &ChannelBindings{ApplicationData: append([]byte("tls-unique:"), finished...)}, nil
}

// BindingPolicy is an acceptor's Extended Protection for Authentication
// policy: what it does with channel bindings (RFC 5929) when the
// application gives the package the server's view of the channel in a
// SECBUFFER_CHANNEL_BINDINGS input buffer. It is a host's default (the
// ChannelBindings of gosspi.HostConfig, lsa.Config); each
// AcceptSecurityContext call can relax it with
// ASC_REQ_ALLOW_MISSING_BINDINGS. NTLM (MsvAvChannelBindings, and the
// MsvAvTargetName service binding) and Kerberos (the bindings hash of the
// authenticator's checksum, RFC 4121 4.1.1.2) honour it alike, through
// Negotiate too.
//
// A client's bindings that differ from the server's always fail with
// SEC_E_BAD_BINDINGS (a relay); the policy decides about a client that
// sends none (an all-zero hash counts as none).
type BindingPolicy int

const (
	// BindingsWhenSupported checks the bindings of a client that sends
	// them and lets a client that sends none through, as if every call
	// set ASC_REQ_ALLOW_MISSING_BINDINGS (IIS "Allow", .NET
	// PolicyEnforcement.WhenSupported). It is the default.
	BindingsWhenSupported BindingPolicy = iota
	// BindingsOff ignores channel bindings: the host gives the package
	// none (IIS "None").
	BindingsOff
	// BindingsRequired refuses a client that sends no bindings, unless
	// the call sets ASC_REQ_ALLOW_MISSING_BINDINGS, and refuses a call
	// that gives the package no server bindings to compare with (IIS
	// "Require", the Windows semantics of a call without the flag).
	BindingsRequired
)

// String returns "when-supported", "off" or "required".
func (p BindingPolicy) String() string {
	switch p {
	case BindingsOff:
		return "off"
	case BindingsRequired:
		return "required"
	case BindingsWhenSupported:
		return "when-supported"
	}
	return "BindingPolicy(" + strconv.Itoa(int(p)) + ")"
}

// ParseBindingPolicy parses "off" (or "none"), "when-supported" (or
// "allow", or empty) and "required" (or "require").
func ParseBindingPolicy(s string) (BindingPolicy, error) {
	switch s {
	case "off", "none":
		return BindingsOff, nil
	case "when-supported", "allow", "":
		return BindingsWhenSupported, nil
	case "required", "require":
		return BindingsRequired, nil
	}
	return 0, fmt.Errorf("unknown channel binding policy %q (off, when-supported, required)", s)
}
