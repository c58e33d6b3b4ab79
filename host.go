package gosspi

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gosspi/gosspi/internal/preflight"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/lsa/remote"
	"github.com/gosspi/gosspi/negotiate"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// HostConfig configures NewHost. The zero value gives every package with
// its defaults, which read the environment as MIT Kerberos and gss-ntlmssp
// do (KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME, NTLM_USER_FILE).
type HostConfig struct {
	// MaxCredentials and MaxContexts cap the host's handle tables
	// (defaults 65,536 and 262,144); beyond them a new handshake fails
	// with SEC_E_INSUFFICIENT_MEMORY.
	MaxCredentials, MaxContexts int
	// HandshakeTimeout is how long a half-built context may wait for its
	// next leg before it is reaped (default 2 minutes).
	HandshakeTimeout time.Duration
	// Logger receives the host's debug lines (statuses, never secrets);
	// nil means none.
	Logger *slog.Logger
	// AsyncWorkers and AsyncQueue size the executor of the Sspi*Async
	// calls of the SSPI surface (package sspi's defaults when zero).
	AsyncWorkers, AsyncQueue int
	// ChannelBindings is the host's Extended Protection policy: what an
	// acceptor does with channel bindings when the server gives them
	// (ServerConfig.ChannelBindings; httpauth does over HTTPS). NTLM and
	// Kerberos honour it alike; the default is BindingsWhenSupported, and
	// a server context relaxes BindingsRequired with
	// ServerConfig.AllowMissingBindings.
	ChannelBindings BindingPolicy
	// NTLM configures the NTLM package (account store, policies).
	NTLM ntlm.Config
	// Kerberos configures the Kerberos package (krb5.conf, keytab, clock
	// skew, replay cache, acceptor principals).
	Kerberos kerberos.Config
	// Negotiate configures Negotiate; its Packages and UserPackages are
	// filled in with Kerberos and NTLM when empty.
	Negotiate negotiate.Config
	// AllowNTLMReflection is the legacy switch that lets the host's NTLM
	// client log on to the host's own NTLM server. By default the host
	// refuses it (ntlm.Config.AllowReflection is the package switch): it is the NTLM reflection
	// of MS08-068, where a service's outbound NTLM call (httpauth.Transport
	// fetching a URL an attacker chose) answers the service's own
	// challenge. A host that must authenticate to itself in one process
	// sets it, or uses a second host for the client.
	AllowNTLMReflection bool

	// Packages are security packages to register beside the standard
	// ones: the LSA-mode halves of packages of your own (package
	// sspi/secpkg), with their user-mode halves in UserModePackages.
	Packages         []secpkg.LsaModePackage
	UserModePackages []sspi.UserModePackage

	// Now is the host's clock, handed to every package half, LSA mode and
	// user mode alike (as crypto/tls's Config.Time); nil is time.Now. A
	// package's own Now, when set, wins for that package.
	Now func() time.Time
	// Rand is the host's random source, handed to every package half (as
	// crypto/tls's Config.Rand); nil is crypto/rand.Reader. A package's own
	// Rand, when set, wins for that package. It must be safe for
	// concurrent use.
	Rand io.Reader

	// LSA, when set, is the privilege-separated package host to use
	// instead of an in-process one: the socket of gosspi lsad, as
	// "unix:/run/gosspi/lsad.sock" (the GOSSPI_LSA environment variable
	// when empty). The daemon then holds the keytabs, account files and
	// tickets, and its policy decides what this process may use; the
	// package settings above (NTLM, Kerberos, Negotiate, Packages,
	// ChannelBindings, the table caps) are the daemon's and are ignored
	// here. See NewHost.
	LSA string
}

// Host is a package host with the standard packages (Negotiate,
// Kerberos, NTLM) and the SSPI surface over it. NewClient, NewServer and
// AcquireCredential make contexts and credentials in it; SSPI returns the
// faithful Windows calls over the same host. A Host is safe for
// concurrent use.
type Host struct {
	t        *sspi.FunctionTable
	lsa      *lsa.Host
	remote   *remote.Host // with HostConfig.LSA, instead of lsa
	bindings BindingPolicy
}

// NewHost starts a host with the standard packages registered.
//
// It first checks the files the configuration names for accepting, so that
// a server that is misconfigured fails here, with an error that names the
// file or principal and says what to do, rather than at every request:
//   - the Kerberos keytab, when Kerberos.Keytab or Kerberos.ServicePrincipal
//     is set (the keytab is then Kerberos.Keytab, else KRB5_KTNAME, else
//     /etc/krb5.keytab): it must exist, be readable, be a keytab, hold
//     ServicePrincipal, and hold a principal that Kerberos.AcceptorPrincipals
//     accepts;
//   - an *ntlm.HashFile in NTLM.Accounts: (*ntlm.HashFile).Check, so that a
//     missing or malformed account file is an error (see ntlm.LoadHashFile).
//
// A host with none of these set (a client, or a server that takes its
// keytab from KRB5_KTNAME alone) is not checked: httpauth.New reports a
// scheme that has no credential.
func NewHost(cfg HostConfig) (*Host, error) {
	if addr := lsaAddr(cfg.LSA); addr != "" {
		return newRemoteHost(cfg, addr) // host_lsa.go
	}
	if err := checkHostConfig(&cfg); err != nil {
		return nil, err
	}
	// One clock and one random source for both halves of every package;
	// a package's own, when set, wins.
	inherit := func(now *func() time.Time, r *io.Reader) {
		if *now == nil {
			*now = cfg.Now
		}
		if *r == nil {
			*r = cfg.Rand
		}
	}
	inherit(&cfg.NTLM.Now, &cfg.NTLM.Rand)
	inherit(&cfg.Kerberos.Now, &cfg.Kerberos.Rand)
	if cfg.AllowNTLMReflection {
		cfg.NTLM.AllowReflection = true
	}
	krb := kerberos.New(cfg.Kerberos)
	nt := ntlm.New(cfg.NTLM)
	user := []sspi.UserModePackage{
		kerberos.NewUserMode(sspi.Env{Now: cfg.Kerberos.Now, Rand: cfg.Kerberos.Rand}),
		ntlm.NewUserMode(sspi.Env{Now: cfg.NTLM.Now, Rand: cfg.NTLM.Rand}),
	}
	nc := cfg.Negotiate
	if len(nc.Packages) == 0 {
		nc.Packages = []secpkg.LsaModePackage{krb, nt}
	}
	if len(nc.UserPackages) == 0 {
		nc.UserPackages = user
	}
	nego, err := negotiate.New(nc)
	if err != nil {
		return nil, err
	}
	l, err := lsa.New(lsa.Config{
		MaxCredentials: cfg.MaxCredentials, MaxContexts: cfg.MaxContexts,
		HandshakeTimeout: cfg.HandshakeTimeout, Logger: cfg.Logger,
		ChannelBindings: cfg.ChannelBindings, Now: cfg.Now, Rand: cfg.Rand,
	}, append([]secpkg.LsaModePackage{nego, krb, nt}, cfg.Packages...)...)
	if err != nil {
		return nil, err
	}
	t := sspi.New(l, sspi.Config{
		UserPackages: append(append([]sspi.UserModePackage{negotiate.NewUserMode(nc.UserPackages...)}, user...), cfg.UserModePackages...),
		AsyncWorkers: cfg.AsyncWorkers, AsyncQueue: cfg.AsyncQueue,
		Env: sspi.Env{Now: cfg.Now, Rand: cfg.Rand},
	})
	return &Host{t: t, lsa: l, bindings: cfg.ChannelBindings}, nil
}

// SSPI returns the SSPI surface of the host: the Windows calls
// (AcquireCredentialsHandle, InitializeSecurityContext, the Sspi*Async
// forms...) over the same contexts and credentials. A SecurityContext's
// Handle and a Credential's Handle are valid there.
func (h *Host) SSPI() *sspi.FunctionTable { return h.t }

// ChannelBindings returns the host's channel-binding policy
// (HostConfig.ChannelBindings).
func (h *Host) ChannelBindings() BindingPolicy { return h.bindings }

// Stats counts what a host holds.
type Stats struct {
	Credentials int // credential handles
	Contexts    int // contexts, established or in a handshake
}

// Stats returns what the host holds now.
func (h *Host) Stats() Stats {
	if h.lsa == nil {
		return h.remoteStats()
	}
	s := h.lsa.Stats()
	return Stats{Credentials: s.Credentials, Contexts: s.Contexts}
}

// Close stops the host, deleting every context and credential in it.
func (h *Host) Close() error {
	h.t.Close()
	if h.lsa == nil {
		return h.remote.Close()
	}
	return h.lsa.Close()
}

// checkHostConfig is NewHost's check of the files its configuration names.
func checkHostConfig(cfg *HostConfig) error {
	k := &cfg.Kerberos
	if k.Keytab != "" || k.ServicePrincipal != "" {
		kt, err := preflight.LoadKeytab(preflight.KeytabPath(k.Keytab, "kerberos.Config.Keytab"))
		if err != nil {
			return fmt.Errorf("gosspi: Kerberos acceptor: %w", err)
		}
		if err := kt.CheckPrincipal(k.ServicePrincipal, "kerberos.Config.ServicePrincipal"); err != nil {
			return fmt.Errorf("gosspi: Kerberos acceptor: %w", err)
		}
		if err := kt.CheckPatterns(k.AcceptorPrincipals, "kerberos.Config.AcceptorPrincipals"); err != nil {
			return fmt.Errorf("gosspi: Kerberos acceptor: %w", err)
		}
	}
	if hf, ok := cfg.NTLM.Accounts.(*ntlm.HashFile); ok && hf != nil {
		if err := hf.Check(); err != nil {
			return fmt.Errorf("gosspi: NTLM accounts (ntlm.Config.Accounts): %w", err)
		}
	}
	return nil
}
