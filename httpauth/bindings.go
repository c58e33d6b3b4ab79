package httpauth

import (
	"errors"
	"fmt"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// BindingPolicy is the Extended Protection policy: what the server does
// with channel bindings (RFC 5929 tls-server-end-point) over HTTPS.
type BindingPolicy int

const (
	// BindingsWhenSupported checks the bindings of clients that send
	// them and lets other clients through (IIS "Allow").
	BindingsWhenSupported BindingPolicy = iota
	// BindingsOff ignores channel bindings.
	BindingsOff
	// BindingsRequired refuses clients whose bindings are missing or do
	// not match the server certificate (IIS "Require").
	BindingsRequired
)

// String returns "when-supported", "off" or "required".
func (p BindingPolicy) String() string {
	switch p {
	case BindingsOff:
		return "off"
	case BindingsRequired:
		return "required"
	default:
		return "when-supported"
	}
}

// ParseBindingPolicy parses "off", "when-supported" (or "allow") and
// "required" (or "require").
func ParseBindingPolicy(s string) (BindingPolicy, error) {
	switch s {
	case "off", "none":
		return BindingsOff, nil
	case "when-supported", "allow", "":
		return BindingsWhenSupported, nil
	case "required", "require":
		return BindingsRequired, nil
	}
	return 0, fmt.Errorf("httpauth: unknown channel binding policy %q (off, when-supported, required)", s)
}

// ApplyBindingPolicy sets the channel-binding policy of the NTLM and
// Kerberos packages of a host configuration: the packages are what checks
// the client's bindings against the ones the middleware gives them.
func ApplyBindingPolicy(cfg *gosspi.HostConfig, p BindingPolicy) {
	switch p {
	case BindingsOff:
		cfg.NTLM.ChannelBindings = ntlm.ChannelBindingsOff
		cfg.Kerberos.ChannelBindings = kerberos.BindingsOff
	case BindingsRequired:
		cfg.NTLM.ChannelBindings = ntlm.ChannelBindingsRequired
		cfg.Kerberos.ChannelBindings = kerberos.BindingsRequired
	default:
		cfg.NTLM.ChannelBindings = ntlm.ChannelBindingsWhenSupported
		cfg.Kerberos.ChannelBindings = kerberos.BindingsWhenSupported
	}
}

// bindings returns the tls-server-end-point bindings of the certificate
// the connection presented (or Config.Certificate); cs.mu is held.
func (a *Authenticator) bindings(cs *connState) (*sspi.ChannelBindings, error) {
	cert := cs.cert
	if cert == nil {
		cert = a.cfg.Certificate
	}
	if cert == nil {
		return nil, errors.New("server certificate unknown: use Authenticator.Install or Config.Certificate")
	}
	return sspi.TLSServerEndPoint(cert)
}
