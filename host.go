package gosspi

import (
	"fmt"
	"io"
	"time"

	"github.com/gosspi/gosspi/internal/preflight"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/negotiate"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// HostConfig configures NewHost. The zero value gives every package with
// its defaults, which read the environment as MIT Kerberos and gss-ntlmssp
// do (KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME, NTLM_USER_FILE).
type HostConfig struct {
	// LSA configures the package host: table caps, handshake timeout,
	// logging.
	LSA lsa.Options
	// Async configures the asynchronous executor of the SSPI surface.
	AsyncWorkers, AsyncQueue int
	// NTLM configures the NTLM package (account store, policies).
	NTLM ntlm.Config
	// Kerberos configures the Kerberos package (krb5.conf, keytab, clock
	// skew, replay cache, channel-binding policy).
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

	// Now is the host's clock, handed to every package half, LSA mode and
	// user mode alike (as crypto/tls's Config.Time); nil is time.Now. A
	// package's own Now, when set, wins for that package.
	Now func() time.Time
	// Rand is the host's random source, handed to every package half (as
	// crypto/tls's Config.Rand); nil is crypto/rand.Reader. A package's own
	// Rand, when set, wins for that package. It must be safe for
	// concurrent use.
	Rand io.Reader
}

// Host is an in-process package host with the standard packages
// (Negotiate, Kerberos, NTLM) and the SSPI surface over it. Its
// FunctionTable is what NewClient and NewServer take, and what the faithful
// calls of package sspi are methods of.
type Host struct {
	*sspi.FunctionTable
	LSA *lsa.Host
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
	inherit(&cfg.LSA.Now, &cfg.LSA.Rand)
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
	l, err := lsa.New(cfg.LSA, nego, krb, nt)
	if err != nil {
		return nil, err
	}
	t := sspi.New(l, sspi.Config{
		UserPackages: append([]sspi.UserModePackage{negotiate.NewUserMode(nc.UserPackages...)}, user...),
		AsyncWorkers: cfg.AsyncWorkers, AsyncQueue: cfg.AsyncQueue,
		Env: sspi.Env{Now: cfg.Now, Rand: cfg.Rand},
	})
	return &Host{FunctionTable: t, LSA: l}, nil
}

// Close stops the host, deleting every context and credential in it.
func (h *Host) Close() error {
	h.FunctionTable.Close()
	return h.LSA.Close()
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
