package gosspi

import (
	"context"
	"sync"

	"github.com/gosspi/gosspi/sspi"
)

// ClientConfig configures a client (initiator) context.
type ClientConfig struct {
	// Package is the security package: "Negotiate", "Kerberos" or "NTLM".
	Package string
	// Target is the service: "HTTP/host.example.com" or "HTTP@host".
	Target string
	// Identity is who to authenticate as; nil means the package's default
	// (a Kerberos ccache, an NTLM credential file). Ignored if Credential
	// is set.
	Identity *Identity
	// Credential is an outbound credential to share between contexts
	// (AcquireCredential); the context does not close it.
	Credential *Credential
	// OnBehalfOf names a user ("alice", "alice@REALM") that a service,
	// authenticating with Identity (its own password or keytab), acts
	// for; see CredentialConfig.OnBehalfOf. Ignored if Credential is set.
	OnBehalfOf string
	// Flags are the requirements; zero means DefaultFlags. A requirement
	// the package cannot meet fails with ErrUnsupported.
	Flags Flags
	// ChannelBindings tie the authentication to an outer channel (TLS):
	// TLSServerEndPoint of the server's certificate.
	ChannelBindings *ChannelBindings
}

// ServerConfig configures a server (acceptor) context.
type ServerConfig struct {
	// Package is the security package: "Negotiate", "Kerberos" or "NTLM".
	Package string
	// Principal names the service principal to accept for, or "" for any
	// the package has keys for. Ignored if Credential is set.
	Principal string
	// Identity carries package options (a keytab path...); usually nil.
	// Ignored if Credential is set.
	Identity *Identity
	// Credential is an inbound credential to share between contexts (the
	// usual case for a server: AcquireCredential once); the context does
	// not close it.
	Credential *Credential
	// Flags are the requirements; zero means DefaultFlags.
	Flags Flags
	// ChannelBindings are the server's view of the outer channel, checked
	// against the client's under the host's BindingPolicy.
	ChannelBindings *ChannelBindings
	// AllowMissingBindings lets a client that sends no channel bindings
	// through for this context under BindingsRequired
	// (ASC_REQ_ALLOW_MISSING_BINDINGS).
	AllowMissingBindings bool
}

// NewClient returns a client context ready for Step, acquiring a
// credential unless cfg gives one.
func (h *Host) NewClient(ctx context.Context, cfg ClientConfig) (*SecurityContext, error) {
	f := cfg.Flags
	if f == 0 {
		f = DefaultFlags
	}
	c := &SecurityContext{t: h.t, client: true, target: cfg.Target, iscReq: f.iscReq(), cb: cfg.ChannelBindings}
	if err := c.useCredential(ctx, h, cfg.Credential, CredentialConfig{Package: cfg.Package, Identity: cfg.Identity, OnBehalfOf: cfg.OnBehalfOf}); err != nil {
		return nil, err
	}
	return c, nil
}

// NewServer returns a server context ready for Step, acquiring a
// credential unless cfg gives one.
func (h *Host) NewServer(ctx context.Context, cfg ServerConfig) (*SecurityContext, error) {
	f := cfg.Flags
	if f == 0 {
		f = DefaultFlags
	}
	c := &SecurityContext{t: h.t, ascReq: f.ascReq(), cb: cfg.ChannelBindings}
	if cfg.AllowMissingBindings {
		c.ascReq |= sspi.ASC_REQ_ALLOW_MISSING_BINDINGS
	}
	if err := c.useCredential(ctx, h, cfg.Credential, CredentialConfig{Package: cfg.Package, Server: true, Principal: cfg.Principal, Identity: cfg.Identity}); err != nil {
		return nil, err
	}
	return c, nil
}

// useCredential gives c the shared credential, or one of its own.
func (c *SecurityContext) useCredential(ctx context.Context, h *Host, shared *Credential, cfg CredentialConfig) error {
	if shared != nil {
		if shared.h != h {
			return &sspi.Error{Status: sspi.SEC_E_WRONG_CREDENTIAL_HANDLE, Detail: "gosspi: the credential belongs to another host"}
		}
		c.cred = shared.handle
		return nil
	}
	own, err := h.AcquireCredential(ctx, cfg)
	if err != nil {
		return err
	}
	c.cred, c.ownCred = own.handle, own
	return nil
}

// CredentialConfig configures AcquireCredential.
type CredentialConfig struct {
	// Package is the security package: "Negotiate", "Kerberos" or "NTLM".
	Package string
	// Server makes an inbound (acceptor) credential; otherwise it is
	// outbound (initiator).
	Server bool
	// Principal names the service principal of a server credential, or ""
	// for any the package has keys for.
	Principal string
	// Identity is who a client authenticates as, or a server's package
	// options; nil means the package's default.
	Identity *Identity
	// OnBehalfOf, for a client credential, names a user ("alice",
	// "alice@REALM", `DOMAINlice`) on whose behalf the service that
	// Identity authenticates acts, without the user's password: Kerberos
	// gets a ticket to the service for the user (S4U2Self, protocol
	// transition), then tickets to each target for the user (S4U2Proxy,
	// constrained or resource-based constrained delegation), as a Windows
	// service does after LsaLogonUser(KERB_S4U_LOGON) and impersonation.
	// The KDC decides: a service not allowed to delegate to the target
	// gets its refusal (KDC_ERR_BADOPTION) by name. It is
	// AcquireCredentialsHandle's pszPrincipal.
	OnBehalfOf string
}

// Credential is a credential acquired once and shared between contexts,
// as a server shares one inbound credential between its clients. It is
// safe for concurrent use; Close it when no new context needs it
// (contexts made from it go on working).
type Credential struct {
	h       *Host
	handle  sspi.CredHandle
	pkg     string
	server  bool
	closeMu sync.Once
}

// AcquireCredential acquires a credential (AcquireCredentialsHandle) to
// share between contexts (ClientConfig.Credential,
// ServerConfig.Credential).
func (h *Host) AcquireCredential(ctx context.Context, cfg CredentialConfig) (*Credential, error) {
	use := sspi.SECPKG_CRED_OUTBOUND
	principal := cfg.OnBehalfOf
	if cfg.Server {
		use, principal = sspi.SECPKG_CRED_INBOUND, cfg.Principal
	}
	c := &Credential{h: h, pkg: cfg.Package, server: cfg.Server}
	if err := h.t.WithContext(ctx).AcquireCredentialsHandle(principal, cfg.Package, use, cfg.Identity.authIdentity(), &c.handle, nil); err != nil {
		return nil, err
	}
	return c, nil
}

// Package returns the credential's package.
func (c *Credential) Package() string { return c.pkg }

// Handle returns the credential's handle for the calls of Host.SSPI.
func (c *Credential) Handle() sspi.CredHandle { return c.handle }

// Close frees the credential. It is safe to call more than once.
func (c *Credential) Close() error {
	var err error
	c.closeMu.Do(func() {
		if st := c.h.t.FreeCredentialsHandle(&c.handle); st.Failed() {
			err = &sspi.Error{Op: "FreeCredentialsHandle", Status: st}
		}
	})
	return err
}
