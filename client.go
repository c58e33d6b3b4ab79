package gosspi

import (
	"context"

	"github.com/gosspi/gosspi/sspi"
)

// ClientConfig configures a client (initiator) context.
type ClientConfig struct {
	// Package is the security package: "Negotiate", "Kerberos", "NTLM"...
	Package string
	// Target is the service: "HTTP/host.example.com" or "HTTP@host".
	Target string
	// Identity is the credential; nil means the package's default (a
	// Kerberos ccache, an NTLM credential file). Ignored if Credential is
	// set.
	Identity *sspi.AuthIdentity
	// Credential is an already acquired outbound credential to share
	// between contexts. The Context does not free it.
	Credential *sspi.CredHandle
	// Flags are the ISC_REQ_* requirements. Zero means mutual
	// authentication, integrity, confidentiality, replay and sequence
	// detection.
	Flags sspi.ISCReq
	// ChannelBindings ties the authentication to an outer channel (TLS).
	ChannelBindings *sspi.ChannelBindings
}

// DefaultClientFlags are the requirements a zero ClientConfig.Flags means.
const DefaultClientFlags = sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_CONFIDENTIALITY |
	sspi.ISC_REQ_REPLAY_DETECT | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_CONNECTION

// NewClient acquires a credential (unless one is given) and returns a
// client context ready for Step.
func NewClient(ctx context.Context, t *sspi.FunctionTable, cfg ClientConfig) (*Context, error) {
	c := &Context{t: t, client: true, target: cfg.Target, iscReq: cfg.Flags, cb: cfg.ChannelBindings}
	if c.iscReq == 0 {
		c.iscReq = DefaultClientFlags
	}
	if cfg.Credential != nil {
		c.cred = *cfg.Credential
		return c, nil
	}
	if err := t.AcquireCredentialsHandleCtx(ctx, "", cfg.Package, sspi.SECPKG_CRED_OUTBOUND, cfg.Identity, &c.cred, nil); err != nil {
		return nil, err
	}
	c.ownsCred = true
	return c, nil
}

// ServerConfig configures a server (acceptor) context.
type ServerConfig struct {
	// Package is the security package: "Negotiate", "Kerberos", "NTLM"...
	Package string
	// Principal names the service principal to accept for, or "" for any
	// the package has keys for.
	Principal string
	// Identity carries package options (a keytab path...); usually nil.
	Identity *sspi.AuthIdentity
	// Credential is an already acquired inbound credential to share
	// between contexts (the usual case for a server). The Context does not
	// free it.
	Credential *sspi.CredHandle
	// Flags are the ASC_REQ_* requirements. Zero means
	// DefaultServerFlags.
	Flags sspi.ASCReq
	// ChannelBindings are the server's view of the outer channel.
	ChannelBindings *sspi.ChannelBindings
}

// DefaultServerFlags are the requirements a zero ServerConfig.Flags means.
const DefaultServerFlags = sspi.ASC_REQ_MUTUAL_AUTH | sspi.ASC_REQ_INTEGRITY | sspi.ASC_REQ_CONFIDENTIALITY |
	sspi.ASC_REQ_REPLAY_DETECT | sspi.ASC_REQ_SEQUENCE_DETECT | sspi.ASC_REQ_CONNECTION

// NewServer acquires an inbound credential (unless one is given) and
// returns a server context ready for Step.
func NewServer(ctx context.Context, t *sspi.FunctionTable, cfg ServerConfig) (*Context, error) {
	c := &Context{t: t, ascReq: cfg.Flags, cb: cfg.ChannelBindings}
	if c.ascReq == 0 {
		c.ascReq = DefaultServerFlags
	}
	if cfg.Credential != nil {
		c.cred = *cfg.Credential
		return c, nil
	}
	if err := t.AcquireCredentialsHandleCtx(ctx, cfg.Principal, cfg.Package, sspi.SECPKG_CRED_INBOUND, cfg.Identity, &c.cred, nil); err != nil {
		return nil, err
	}
	c.ownsCred = true
	return c, nil
}
