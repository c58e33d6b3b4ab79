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
)

// DefaultTimeout bounds each leg of a context (a Client's or Server's
// Step, which may call the KDC) when no Timeout is set.
const DefaultTimeout = 30 * time.Second

// Package is the security package of the contexts: gssapi-with-mic
// speaks the Kerberos V5 mechanism only (RFC 4462 section 3.2, as
// OpenSSH and x/crypto/ssh do), never SPNEGO.
const Package = "Kerberos"

// errNoContext is returned by GetMIC and VerifyMIC before a context is
// established.
var errNoContext = errors.New("sshauth: no established security context")

// Client is an ssh.GSSAPIClient over a gosspi Kerberos client context:
// pass it to ssh.GSSAPIWithMICAuthMethod with the server's host name, and
// the client authenticates with the user's ticket (the ccache of
// KRB5CCNAME, or Identity) to the service host/HOSTNAME.
//
// A Client holds one context at a time (x/crypto/ssh deletes it after
// each attempt) and is safe for concurrent use, but two connections
// authenticating at once need a Client each.
type Client struct {
	// Host is the package host. Required.
	Host *gosspi.Host
	// Identity is who to authenticate as; nil means the Kerberos
	// package's default (the ccache of KRB5CCNAME or krb5.conf, or a
	// client keytab). Ignored if Credential is set.
	Identity *gosspi.Identity
	// Credential is an outbound Kerberos credential to share between
	// Clients; the Client does not close it.
	Credential *gosspi.Credential
	// Delegate forwards the user's TGT to the server (GSSAPIDelegateCredentials
	// of OpenSSH's ssh): the server can then act as the user. As on
	// Windows, the TGT goes only to a host the KDC marks ok-as-delegate
	// (kerberos.Config.DelegateAlways lifts that) and only when it is
	// forwardable; otherwise the login goes on without delegation.
	Delegate bool
	// Target, when set, is the service principal to authenticate to
	// ("host/server.example.com"), instead of the "host@HOSTNAME" that
	// x/crypto/ssh derives from the host name it was given.
	Target string
	// Context is the parent of each leg's context (cancel it to abort a
	// login); nil means context.Background().
	Context context.Context
	// Timeout bounds each leg; zero means DefaultTimeout.
	Timeout time.Duration

	mu sync.Mutex
	sc *gosspi.SecurityContext
}

// NewClient returns a Client of host for the default credential, ready
// for ssh.GSSAPIWithMICAuthMethod.
func NewClient(host *gosspi.Host) *Client {
	return &Client{Host: host}
}

// AuthMethod returns the gssapi-with-mic ssh.AuthMethod of c for the
// server host (the name the service principal host/HOST is made from).
func (c *Client) AuthMethod(host string) ssh.AuthMethod {
	return ssh.GSSAPIWithMICAuthMethod(c, host)
}

// legContext returns the context of one leg.
func legContext(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	if d <= 0 {
		d = DefaultTimeout
	}
	return context.WithTimeout(parent, d)
}

// InitSecContext runs one leg of the client's context (GSS_Init_sec_context,
// RFC 4462 section 3.4). target is the service as x/crypto/ssh names it,
// "host@HOSTNAME"; token is nil on the first call. isGSSDelegCreds, or
// Client.Delegate, asks for the TGT to be delegated.
func (c *Client) InitSecContext(target string, token []byte, isGSSDelegCreds bool) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Host == nil {
		return nil, false, errors.New("sshauth: Client.Host is nil")
	}
	ctx, cancel := legContext(c.Context, c.Timeout)
	defer cancel()
	if c.sc == nil {
		if token != nil {
			return nil, false, errors.New("sshauth: a server token without a context in progress")
		}
		if c.Target != "" {
			target = c.Target
		}
		if !strings.HasPrefix(target, "host@") && !strings.HasPrefix(target, "host/") {
			return nil, false, fmt.Errorf("sshauth: target %q is not a host service", target)
		}
		// RFC 4462 section 3.4: mutual authentication and integrity
		// (the MIC) are required; confidentiality is asked for as
		// OpenSSH's MIT library does.
		flags := gosspi.FlagMutualAuth | gosspi.FlagIntegrity | gosspi.FlagConfidentiality
		if c.Delegate || isGSSDelegCreds {
			flags |= gosspi.FlagDelegate
		}
		sc, err := c.Host.NewClient(ctx, gosspi.ClientConfig{
			Package: Package, Target: target, Identity: c.Identity, Credential: c.Credential, Flags: flags,
		})
		if err != nil {
			return nil, false, err
		}
		c.sc = sc
	} else if c.sc.Established() {
		return nil, false, errors.New("sshauth: the context is already established")
	}
	out, done, err := c.sc.Step(ctx, token)
	if err != nil {
		c.sc.Close()
		c.sc = nil
		return nil, false, err
	}
	if done && c.sc.Flags()&gosspi.FlagIntegrity == 0 {
		return nil, false, fmt.Errorf("sshauth: the context has no integrity (flags %v): no MIC can be made", c.sc.Flags())
	}
	return out, !done, nil
}

// GetMIC returns the MIC token over micField (GSS_GetMIC): x/crypto/ssh
// passes the fields of RFC 4462 section 3.5.
func (c *Client) GetMIC(micField []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sc == nil || !c.sc.Established() {
		return nil, errNoContext
	}
	return c.sc.Sign(micField)
}

// DeleteSecContext deletes the context, established or half-built
// (GSS_Delete_sec_context). It is safe to call at any time.
func (c *Client) DeleteSecContext() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sc == nil {
		return nil
	}
	err := c.sc.Close()
	c.sc = nil
	return err
}

var _ ssh.GSSAPIClient = (*Client)(nil)
