package httpauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/gosspi/gosspi/sspi"
)

// connBindings returns the tls-server-end-point bindings (RFC 5929 4.1)
// of a TLS connection: of the certificate its handshake presented, or for
// a resumed session the ones its ticket carried (see WrapTLSConfig), or
// those of Config.Certificate; cs.mu is held.
func (a *Authenticator) connBindings(cs *connState, st *tls.ConnectionState) (*sspi.ChannelBindings, error) {
	if der := localLeaf(st); der != nil {
		return a.endPoint(der)
	}
	shared := a.sharedEndPoint()
	switch {
	case !st.DidResume && cs.cert != nil:
		return sspi.TLSServerEndPoint(cs.cert)
	case st.DidResume && cs.resumed != nil:
		return cs.resumed, nil
	case a.cfg.Certificate != nil:
		return sspi.TLSServerEndPoint(a.cfg.Certificate)
	case st.DidResume && shared != nil:
		// A connection without a configuration of its own: its ticket
		// was resumed only if it carried these (see wrapTLSConfig).
		return &sspi.ChannelBindings{ApplicationData: shared}, nil
	case st.DidResume:
		return nil, errors.New("resumed TLS session of a handshake whose certificate is unknown: use Authenticator.Install (or WrapTLSConfig) or Config.Certificate")
	}
	return nil, errors.New("server certificate unknown: use Authenticator.Install (or WrapTLSConfig) or Config.Certificate")
}

// maxEndPoints bounds the certificates whose bindings are remembered.
const maxEndPoints = 64

// endPoint returns the tls-server-end-point bindings of a DER certificate,
// parsed once per certificate.
func (a *Authenticator) endPoint(der []byte) (*sspi.ChannelBindings, error) {
	if v, ok := a.endPoints.Load(string(der)); ok {
		return v.(*sspi.ChannelBindings), nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	cb, err := sspi.TLSServerEndPoint(cert)
	if err != nil {
		return nil, err
	}
	if a.endPointCount.Add(1) <= maxEndPoints {
		a.endPoints.Store(string(der), cb)
	}
	return cb, nil
}
