package sshauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/kerberos"
)

// Acceptor is what the Servers of an SSH server share: the host and its
// inbound Kerberos credential (the keys of host/HOSTNAME from the keytab).
// It is safe for concurrent use.
type Acceptor struct {
	host *gosspi.Host
	cred *gosspi.Credential
}

// NewAcceptor acquires the inbound Kerberos credential of principal
// ("host/server.example.com", or "" for any principal of the host's
// keytab, as OpenSSH's GSSAPIStrictAcceptorCheck no) in host. Close it
// when the server stops.
func NewAcceptor(ctx context.Context, host *gosspi.Host, principal string) (*Acceptor, error) {
	cred, err := host.AcquireCredential(ctx, gosspi.CredentialConfig{Package: Package, Server: true, Principal: principal})
	if err != nil {
		return nil, err
	}
	return &Acceptor{host: host, cred: cred}, nil
}

// Close frees the credential. Servers made before go on working.
func (a *Acceptor) Close() error { return a.cred.Close() }

// NewServer returns a Server for one connection.
func (a *Acceptor) NewServer() *Server {
	return &Server{Host: a.host, Credential: a.cred}
}

// Config returns the gssapi-with-mic configuration of one connection
// (for its own copy of the ssh.ServerConfig), with a new Server whose
// established identity allow receives. allow decides whether the client
// may log in as conn.User(); see LocalUser for the usual rule.
func (a *Acceptor) Config(allow func(conn ssh.ConnMetadata, peer gosspi.PeerIdentity) (*ssh.Permissions, error)) *ssh.GSSAPIWithMICConfig {
	s := a.NewServer()
	return &ssh.GSSAPIWithMICConfig{
		Server: s,
		AllowLogin: func(conn ssh.ConnMetadata, srcName string) (*ssh.Permissions, error) {
			peer, ok := s.Peer()
			if !ok || peer.Principal != srcName {
				return nil, errNoContext
			}
			return allow(conn, peer)
		},
	}
}

// Server is an ssh.GSSAPIServer over a gosspi Kerberos server context:
// the ssh.GSSAPIWithMICConfig.Server of one connection. srcName, as
// AllowLogin receives it, is the client's principal in the KDC's
// spelling ("alice@EXAMPLE.COM"); Peer gives the rest of its identity.
//
// x/crypto/ssh deletes the context after each attempt (after AllowLogin),
// so one Server serves the attempts of one connection, one at a time; it
// must not be shared by connections that authenticate at once.
type Server struct {
	// Host is the package host. Required.
	Host *gosspi.Host
	// Credential is the inbound Kerberos credential (Acceptor shares
	// one); nil acquires one per context for Principal.
	Credential *gosspi.Credential
	// Principal is the service principal to accept for when Credential
	// is nil; "" means any principal of the keytab.
	Principal string
	// Context is the parent of each leg's context; nil means
	// context.Background().
	Context context.Context
	// Timeout bounds each leg; zero means DefaultTimeout.
	Timeout time.Duration

	mu   sync.Mutex
	sc   *gosspi.SecurityContext
	peer gosspi.PeerIdentity
	ok   bool // peer is set: the context is established and its MIC verified
}

// AcceptSecContext runs one leg of the server's context
// (GSS_Accept_sec_context, RFC 4462 section 3.4) and, when it is
// established, returns the client's principal as srcName.
func (s *Server) AcceptSecContext(token []byte) (out []byte, srcName string, needContinue bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Host == nil {
		return nil, "", false, errors.New("sshauth: Server.Host is nil")
	}
	ctx, cancel := legContext(s.Context, s.Timeout)
	defer cancel()
	if s.sc == nil {
		// Mutual authentication and integrity are what RFC 4462 needs;
		// the client's other flags are its business.
		sc, err := s.Host.NewServer(ctx, gosspi.ServerConfig{
			Package: Package, Principal: s.Principal, Credential: s.Credential,
			Flags: gosspi.FlagMutualAuth | gosspi.FlagIntegrity,
		})
		if err != nil {
			return nil, "", false, err
		}
		s.sc = sc
	} else if s.sc.Established() {
		return nil, "", false, errors.New("sshauth: the context is already established")
	}
	out, done, err := s.sc.Step(ctx, token)
	if err != nil {
		s.sc.Close()
		s.sc = nil
		return nil, "", false, err
	}
	if !done {
		return out, "", true, nil
	}
	if s.sc.Flags()&gosspi.FlagIntegrity == 0 {
		return nil, "", false, fmt.Errorf("sshauth: the client's context has no integrity (flags %v)", s.sc.Flags())
	}
	id, err := s.sc.Identity()
	if err != nil {
		return nil, "", false, err
	}
	if id.Principal == "" {
		return nil, "", false, errors.New("sshauth: the established context names no client principal")
	}
	s.peer = id
	return out, id.Principal, false, nil
}

// VerifyMIC checks the client's MIC token over micField (GSS_VerifyMIC,
// RFC 4462 section 3.5). Only after it succeeds does Peer report the
// client.
func (s *Server) VerifyMIC(micField, micToken []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sc == nil || !s.sc.Established() {
		return errNoContext
	}
	if err := s.sc.Verify(micField, micToken); err != nil {
		return err
	}
	s.ok = true
	return nil
}

// Peer returns who the client is, once its context is established and its
// MIC verified (inside AllowLogin), and false before.
func (s *Server) Peer() (gosspi.PeerIdentity, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peer, s.ok
}

// DelegatedCCache returns the path of the MIT credential cache (FILE:)
// holding the TGT the client delegated (ssh -K), from the verified
// context: it is written only when the host's kerberos.Config.DelegationDir
// is set, and is "" when the client delegated nothing. The file goes away
// with the context, which x/crypto/ssh deletes when AllowLogin returns:
// copy it there for the session (as sshd stores it in the user's
// KRB5CCNAME).
func (s *Server) DelegatedCCache() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sc == nil || !s.ok {
		return "", errNoContext
	}
	var v any
	hd := s.sc.Handle()
	if st := s.Host.SSPI().QueryContextAttributes(&hd, kerberos.SECPKG_ATTR_DELEGATED_CCACHE, &v); st.Failed() {
		return "", st
	}
	path, _ := v.(string)
	return path, nil
}

// DeleteSecContext deletes the context and forgets the peer
// (GSS_Delete_sec_context). It is safe to call at any time.
func (s *Server) DeleteSecContext() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peer, s.ok = gosspi.PeerIdentity{}, false
	if s.sc == nil {
		return nil
	}
	err := s.sc.Close()
	s.sc = nil
	return err
}

// LocalUser returns the local account a principal maps to by the default
// rule of MIT's krb5_aname_to_localname: "alice@REALM", of a single
// component in the default realm, is "alice"; any other principal
// (another realm, "alice/admin@REALM") maps to none. Realms compare
// exactly, as Kerberos names do.
func LocalUser(principal, defaultRealm string) (string, bool) {
	i := strings.LastIndexByte(principal, '@')
	if i <= 0 || principal[i+1:] != defaultRealm || defaultRealm == "" {
		return "", false
	}
	name := principal[:i]
	if strings.ContainsAny(name, "/@\\") {
		return "", false
	}
	return name, true
}

// AllowLocalUser is an AllowLogin rule (for Acceptor.Config): the client
// may log in as the account its principal maps to in defaultRealm
// (LocalUser), and as no other. The permissions carry the principal as the
// extension "gssapi-principal".
func AllowLocalUser(defaultRealm string) func(conn ssh.ConnMetadata, peer gosspi.PeerIdentity) (*ssh.Permissions, error) {
	return func(conn ssh.ConnMetadata, peer gosspi.PeerIdentity) (*ssh.Permissions, error) {
		user, ok := LocalUser(peer.Principal, defaultRealm)
		if !ok || user != conn.User() {
			return nil, fmt.Errorf("sshauth: %s may not log in as %q", peer.Principal, conn.User())
		}
		return &ssh.Permissions{Extensions: map[string]string{"gssapi-principal": peer.Principal}}, nil
	}
}

var _ ssh.GSSAPIServer = (*Server)(nil)
