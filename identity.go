package gosspi

import (
	"crypto/x509"
	"log/slog"

	"github.com/gosspi/gosspi/sspi"
)

// Identity is who a client authenticates as, or what a server's package
// reads its keys from: the pAuthData of AcquireCredentialsHandle. A nil
// *Identity means the package's default (a Kerberos ccache or client
// keytab, an NTLM credential file; a keytab or account store for a
// server).
type Identity struct {
	// User is the account: "alice", `CONTOSO\alice` or
	// "alice@contoso.com".
	User string
	// Domain is the NetBIOS domain or realm, when User does not carry it.
	Domain string
	// Password is the plaintext password. Packages keep the least secret
	// form that works (NTLM derives the NT hash at once).
	Password string
	// NTHash is the NT hash of the password, usable by NTLM instead of
	// Password.
	NTHash []byte
	// Packages filters and orders Negotiate's mechanisms, as on Windows:
	// "kerberos,!ntlm".
	Packages string
	// Options are package-specific settings by name, as the packages
	// document them: "ccache" ("FILE:/tmp/krb5cc_1000"), "client_keytab"
	// and "keytab" for Kerberos; "credfile" for NTLM.
	Options map[string]string
}

// authIdentity returns id as the faithful layer's SEC_WINNT_AUTH_IDENTITY.
func (id *Identity) authIdentity() *sspi.AuthIdentity {
	if id == nil {
		return nil
	}
	return &sspi.AuthIdentity{User: id.User, Domain: id.Domain, Password: id.Password, NTHash: id.NTHash, PackageList: id.Packages, Options: id.Options}
}

// String returns the identity without its secrets.
func (id Identity) String() string { return id.authIdentity().String() }

// GoString returns the identity without its secrets, for %#v.
func (id Identity) GoString() string { return "gosspi.Identity" + id.authIdentity().String() }

// LogValue returns the identity without its secrets, for log/slog.
func (id Identity) LogValue() slog.Value { return id.authIdentity().LogValue() }

// PeerIdentity is who the peer of an established context is, as far as
// its package knows: the user, domain and principal in the account's (or
// the domain controller's) spelling, and, where the package learns them
// from the domain controller (a Kerberos ticket's PAC), the SIDs of the
// user and its groups, DOMAIN\user, the UPN and DNS domain, the logon
// time and the claims.
type PeerIdentity = sspi.Identity

// ChannelBindings tie an authentication to the outer channel it runs over
// (RFC 5929; gss_channel_bindings_struct): a client and a server that see
// different TLS channels (a relay) fail with SEC_E_BAD_BINDINGS.
type ChannelBindings = sspi.ChannelBindings

// TLSServerEndPoint returns the tls-server-end-point channel bindings of
// a server certificate (RFC 5929 4.1): on a client, of the certificate the
// server presented (tls.ConnectionState.PeerCertificates[0]); on a server,
// of its own.
func TLSServerEndPoint(cert *x509.Certificate) (*ChannelBindings, error) {
	return sspi.TLSServerEndPoint(cert)
}

// BindingPolicy is a host's Extended Protection policy
// (HostConfig.ChannelBindings); see sspi.BindingPolicy.
type BindingPolicy = sspi.BindingPolicy

// The channel-binding policies.
const (
	// BindingsWhenSupported checks the bindings of a client that sends
	// them and lets other clients through (the default).
	BindingsWhenSupported = sspi.BindingsWhenSupported
	// BindingsOff ignores channel bindings.
	BindingsOff = sspi.BindingsOff
	// BindingsRequired refuses a client that sends none.
	BindingsRequired = sspi.BindingsRequired
)
