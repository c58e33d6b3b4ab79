package sasl

import (
	"sync"

	"github.com/gosspi/gosspi"
)

// Default maximum buffers: what a GSSAPI side advertises when its config
// gives none (Cyrus SASL's default), and what a GSS-SPNEGO side accepts,
// which negotiates nothing (the three-octet limit, as Samba does).
const (
	DefaultMaxBuffer       = 1 << 16
	defaultSPNEGOMaxBuffer = MaxBufferLimit
)

// wrapOverhead bounds what wrapping adds to a buffer (a Kerberos wrap
// token's header, confounder, checksum and padding; NTLM's 16-octet
// signature): a writer keeps plaintext chunks this much below the peer's
// maximum buffer.
const wrapOverhead = 128

// minMaxBuffer is the smallest maximum buffer a side may advertise for a
// layer: room for the overhead and as much data.
const minMaxBuffer = 2 * wrapOverhead

// Security is the security layer a finished exchange installed: the layer,
// the buffer limits and the context that protects the traffic. Wrap and
// Unwrap may run in separate goroutines; each is used by one goroutine at
// a time (NewConn serializes them).
type Security struct {
	sc      *gosspi.SecurityContext
	layer   Layer
	maxSend uint32 // the largest wrapped token the peer accepts
	maxRecv uint32 // the largest wrapped token this side accepts
	ntlm    bool   // NTLM: integrity is signature || data

	closeOnce sync.Once
}

// newSecurity returns the layer of sc; the Security owns sc from now on.
func newSecurity(sc *gosspi.SecurityContext, layer Layer, maxSend, maxRecv uint32) *Security {
	return &Security{sc: sc, layer: layer, maxSend: maxSend, maxRecv: maxRecv, ntlm: sc.Package() == "NTLM"}
}

// Layer returns the negotiated layer (LayerNone, LayerIntegrity or
// LayerConfidentiality).
func (s *Security) Layer() Layer { return s.layer }

// MaxSend returns the largest wrapped token the peer accepts.
func (s *Security) MaxSend() uint32 { return s.maxSend }

// MaxReceive returns the largest wrapped token this side accepts.
func (s *Security) MaxReceive() uint32 { return s.maxRecv }

// Context returns the security context (its Identity, Flags, Package).
func (s *Security) Context() *gosspi.SecurityContext { return s.sc }

// maxPlain is the largest plaintext Wrap keeps within MaxSend.
func (s *Security) maxPlain() int {
	return int(max(s.maxSend, minMaxBuffer)) - wrapOverhead
}

// Wrap protects one buffer under the layer: a wrap token (sealed or
// integrity-only), or for NTLM integrity the signature followed by the
// data. Under LayerNone it returns p.
func (s *Security) Wrap(p []byte) ([]byte, error) {
	var tok []byte
	var err error
	switch {
	case s.layer == LayerConfidentiality:
		tok, err = s.sc.Wrap(p)
	case s.layer == LayerIntegrity && s.ntlm:
		// MS-NLMP 3.4.3 signature, then the message: what Samba's
		// ntlmssp_wrap and Windows' LDAP client send when only signing.
		var sig []byte
		if sig, err = s.sc.Sign(p); err == nil {
			tok = append(sig, p...)
		}
	case s.layer == LayerIntegrity:
		tok, err = s.sc.WrapIntegrity(p)
	default:
		return p, nil
	}
	if err != nil {
		return nil, &LayerError{Op: "wrap", Err: err}
	}
	return tok, nil
}

// ntlmSignature is the length of an NTLM signature (MS-NLMP 2.2.2.9).
const ntlmSignature = 16

// Unwrap opens one buffer from the peer's Wrap and returns its plaintext.
func (s *Security) Unwrap(tok []byte) ([]byte, error) {
	var p []byte
	var err error
	switch {
	case s.layer == LayerIntegrity && s.ntlm:
		if len(tok) < ntlmSignature {
			return nil, &LayerError{Op: "unwrap", Err: gosspi.ErrMessageAltered}
		}
		p = tok[ntlmSignature:]
		err = s.sc.Verify(p, tok[:ntlmSignature])
	case s.layer == LayerIntegrity || s.layer == LayerConfidentiality:
		p, err = s.sc.Unwrap(tok)
	default:
		return tok, nil
	}
	if err != nil {
		return nil, &LayerError{Op: "unwrap", Err: err}
	}
	return p, nil
}

// Close deletes the security context. It is safe to call more than once.
func (s *Security) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.sc.Close() })
	return err
}
