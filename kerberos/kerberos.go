// Package kerberos is the Kerberos security package of gosspi: the
// Microsoft "Kerberos" SSP (MS-KILE) as a package of the host, speaking
// the Kerberos V5 GSS-API mechanism of RFC 4121 (and the rc4-hmac token
// format of RFC 4757) on the wire.
//
// Its LSA-mode half (Package, from New) holds credentials: a TGT obtained
// from a password or a keytab, or read from an MIT credential cache, for
// initiators; a keytab for acceptors. It runs the AP-REQ / AP-REP exchange.
// Its user-mode half (UserMode) signs and seals messages from the
// ContextData a finished handshake returns, which holds the session's
// subkey and sequence numbers but never a long-term key.
//
// Enctypes, keytabs, krb5.conf and the KDC messages come from gokrb5; the
// AS and TGS exchanges run here, on the package's clock and random source
// and with the caller's context: a deadline or cancellation ends a KDC
// exchange that gets no answer (UDP and TCP, RFC 4120 section 7.2; MIT's
// udp_preference_limit), and the error is then both
// SEC_E_NO_AUTHENTICATING_AUTHORITY and the context's error for errors.Is.
// A KRB-ERROR from the KDC is a *KDCError under the SSPI status: its
// RFC 4120 name and the principal ("KDC_ERR_PREAUTH_FAILED for
// alice@EXAMPLE.COM" is SEC_E_LOGON_DENIED, KDC_ERR_S_PRINCIPAL_UNKNOWN
// SEC_E_TARGET_UNKNOWN, KDC_ERR_C_PRINCIPAL_UNKNOWN SEC_E_NO_CREDENTIALS,
// KRB_AP_ERR_SKEW SEC_E_TIME_SKEW). The GSS layer, the authenticator checksum,
// AP-REQ and AP-REP, delegation, the acceptor, the replay cache and the
// per-message tokens are written here. Where gokrb5 falls short this
// package does the work itself: its ccache reader panics on short input and
// fails on MIT's X-CACHECONF entries (see ccache.go); its AP-REQ
// verification indexes an empty service name and slices ciphertext before
// checking lengths, and its reflection ASN.1 made accepting 2.5 times slower
// (see asn1.go); it reports 24-byte keys for aes256-cts-hmac-sha384-192,
// whose keys are 32 bytes; it leaves the [2] tag of KRB-CRED tickets to the
// caller; and it hands out the session key of its ticket cache by
// reference. Every gokrb5 decoder runs behind a recover.
//
// Delegation (ISC_REQ_DELEGATE) sends a forwarded TGT in the
// authenticator only to services whose ticket has ok-as-delegate, as
// Windows does, unless Config.DelegateAlways (delegation.go); S4U2Self and
// S4U2Proxy for services acting on behalf of users are described at
// AcquireCredentialsHandle.
//
// DCE style (ISC_REQ_USE_DCE_STYLE, MS-KILE 3.2.5.5) is supported on both
// sides: bare AP-REQ and AP-REP tokens and a third leg, the initiator's own
// AP-REP; the acceptor follows the client's GSS checksum flag.
//
// Statuses the acceptor returns: a malformed or cut token
// SEC_E_INVALID_TOKEN (SEC_E_INCOMPLETE_MESSAGE with a Missing count when
// the framing is cut short); a ticket for a principal not in the keytab, or
// not the configured one (ServicePrincipal, AcceptorPrincipals), or that
// does not decrypt (KRB_AP_ERR_MODIFIED) SEC_E_WRONG_PRINCIPAL; no key of that kvno and enctype SEC_E_NO_KERB_KEY;
// a ticket, session key or subkey of an enctype the policy does not permit
// (Config.PermittedEnctypes, krb5.conf permitted_enctypes)
// SEC_E_ALGORITHM_MISMATCH;
// an expired ticket SEC_E_CONTEXT_EXPIRED; a ticket not yet valid or an
// authenticator outside the clock skew SEC_E_TIME_SKEW; an authenticator
// that fails its integrity check SEC_E_MESSAGE_ALTERED; a replayed
// authenticator (KRB_AP_ERR_REPEAT) SEC_E_OUT_OF_SEQUENCE; a replay cache
// that is full SEC_E_INSUFFICIENT_MEMORY, or that cannot answer
// SEC_E_INTERNAL_ERROR (both fail closed, RFC 4120 section 3.2.3); channel
// bindings that differ, or that are missing when the call does not allow
// it (ASC_REQ_ALLOW_MISSING_BINDINGS; sspi.BindingPolicy), SEC_E_BAD_BINDINGS;
// a PAC (MS-PAC) that does not decode, whose server signature does not
// verify with the service key, whose PAC_CLIENT_INFO names another client
// or another authtime than the ticket, or (with Config.KDCKeytab) whose KDC
// signatures do not verify with the krbtgt key, SEC_E_LOGON_DENIED.
//
// The PAC is the client's identity (SECPKG_ATTR_GOSSPI_IDENTITY): the user,
// primary group and group SIDs (nested and domain-local groups as the KDC
// resolved them) with their attributes, DOMAIN\user in the domain
// controller's spelling (also SECPKG_ATTR_NAMES, as on Windows; the ticket's
// principal stays in SECPKG_ATTR_NATIVE_NAMES), the UPN and DNS domain, the
// logon time and the claims. The package decodes it itself (pac.go). It is
// believed on its server signature, which the service key makes (MS-PAC
// 2.8.1): enough against a client, who cannot make it, but not against a
// holder of the service key, who can sign a PAC of his own (a "silver
// ticket"). The KDC signature (PAC_PRIVSVR_CHECKSUM, 2.8.2), the ticket
// signature (2.8.3, over the rest of the ticket) and the full PAC
// signature are made with the krbtgt key, which only a domain controller
// holds (a read-only DC holds its own krbtgt_NNNN only). An acceptor that
// runs on a DC can be given those keys (Config.KDCKeytab) and then
// verifies all three; elsewhere verifying them means asking a DC: Windows
// sends a KERB_VERIFY_PAC_REQUEST through NETLOGON generic pass-through
// (MS-APDS 3.2.5.2) for services not running as SYSTEM, which this package
// does not do.
//
// With ASC_REQ_EXTENDED_ERROR the failure also carries a KRB-ERROR token,
// which the initiator maps back. Per-message: altered tokens
// SEC_E_MESSAGE_ALTERED; replayed, reordered or too old tokens (as the
// negotiated replay and sequence detection ask) SEC_E_OUT_OF_SEQUENCE.
//
// Targets are "service/host", "service/host@REALM" or "service@host". The
// host of a target without a realm is canonicalized as MIT does it, by
// krb5.conf's dns_canonicalize_hostname (true, MIT's default: forward
// lookup of the CNAME chain, then, with rdns, also true by default, the
// reverse name of its first address; fallback: only when the KDC does not
// know the name as given; false: never), through Config.Resolver with the
// caller's context. An IP-address host fails at once with
// SEC_E_TARGET_UNKNOWN ("is an IP address; Kerberos needs a host name"),
// before any KDC traffic, unless canonicalization and rdns turn it into a
// name.
//
// Environment, as MIT Kerberos reads it: KRB5_CONFIG (else /etc/krb5.conf),
// KRB5CCNAME (else krb5.conf's default_ccache_name, else FILE:/tmp/krb5cc_UID;
// FILE:, DIR:, KEYRING:, KCM: and MEMORY: caches, read and, with
// Package.StoreCCache, written) and KRB5_CLIENT_KTNAME
// (see AcquireCredentialsHandle) for initiators, and
// KRB5_KTNAME (else /etc/krb5.keytab) for acceptors.
package kerberos

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gosspi/gosspi/internal/oid"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// PackageName is the SSPI name of the package.
const PackageName = "Kerberos"

// maxToken is cbMaxToken, as Windows reports for Kerberos.
const maxToken = 48000

// SECPKG_ATTR_DELEGATED_CCACHE is a gosspi attribute of an accepted
// context: the path of the MIT credential cache (FILE:) holding the
// credentials the client delegated, or "" when it delegated none or
// Config.DelegationDir is empty.
const SECPKG_ATTR_DELEGATED_CCACHE sspi.ContextAttribute = 0x80000201

// SECPKG_ATTR_DELEGATED_CREDENTIALS is an LSA-side attribute of an
// accepted context: a *DelegatedCredentials, or nil.
const SECPKG_ATTR_DELEGATED_CREDENTIALS sspi.ContextAttribute = 0x80000202

// DelegatedCredentials are the credentials a client delegated (its
// forwarded TGT), as an MIT credential cache image.
type DelegatedCredentials struct {
	Client string // user@REALM
	CCache []byte // FILE ccache, version 4
	Path   string // where it was written, if Config.DelegationDir is set
}

// Config configures the package. The zero value reads everything from the
// environment.
type Config struct {
	// Krb5Conf is the path of krb5.conf; default KRB5_CONFIG, else
	// /etc/krb5.conf.
	Krb5Conf string
	// Keytab is the acceptor keytab; default KRB5_KTNAME, else
	// /etc/krb5.keytab. A credential's AuthData Options["keytab"] wins.
	Keytab string
	// ServicePrincipal restricts the acceptor to one principal of the
	// keytab ("HTTP/host@REALM" or "HTTP/host"); empty accepts any.
	// AcquireCredentialsHandle's principal, when set, wins.
	ServicePrincipal string
	// PermittedEnctypes is the acceptor's enctype policy for tickets,
	// session keys and authenticator subkeys, in the syntax of krb5.conf's
	// permitted_enctypes ("DEFAULT +rc4", "aes256-cts aes128-cts"), and
	// the initiator's request lists unless krb5.conf sets
	// default_tkt_enctypes or default_tgs_enctypes. It overrides krb5.conf's
	// permitted_enctypes. Unset in both, the policy is MIT's default list
	// without the deprecated des3-cbc-sha1 and arcfour-hmac (RC4) unless
	// krb5.conf's [libdefaults] has allow_des3 / allow_rc4 = true: the aes
	// enctypes of RFC 3962 and RFC 8009 (and camellia, which gosspi does not
	// run). A ticket, session key or subkey of another enctype is refused
	// with SEC_E_ALGORITHM_MISMATCH. For legacy peers that have only RC4
	// keys, set allow_rc4 = true, list arcfour-hmac in permitted_enctypes,
	// or set this to "DEFAULT +rc4".
	PermittedEnctypes string
	// AcceptorPrincipals restricts the acceptor to the keytab principals
	// that match one of these patterns, such as "HTTP/*",
	// "HTTP/web.example.com" or "HTTP/*@EXAMPLE.COM": path.Match globs ('*'
	// does not cross a '/'), matched case-insensitively against the
	// ticket's server name "service/host", or "service/host@REALM" when
	// the pattern has a realm. A ticket for another principal of the keytab
	// (host/..., say) is refused with SEC_E_WRONG_PRINCIPAL, and inbound
	// credentials fail (SEC_E_NO_CREDENTIALS) when no principal of the
	// keytab matches. Empty accepts any principal of the keytab; gosspi
	// serve sets "HTTP/*".
	AcceptorPrincipals []string
	// ClockSkew is the allowed clock difference; default 5 minutes.
	ClockSkew time.Duration
	// ReplayCache remembers authenticators; default a bounded in-memory
	// cache of DefaultReplayCacheSize entries on the clock Now. A cache
	// that is full or cannot answer makes the acceptor refuse AP-REQs
	// (fail closed). Use DisableReplayCache to turn replay detection off
	// (tests replaying recorded tokens).
	ReplayCache ReplayCache
	// DisableReplayCache turns the replay cache off.
	DisableReplayCache bool
	// KDCKeytab, when set, is a keytab with the keys of krbtgt/REALM (on
	// a domain controller: samba-tool domain exportkeytab
	// --principal=krbtgt), read once. The acceptor then verifies the
	// KDC, ticket and full signatures of each PAC too (MS-PAC 2.8), and
	// refuses a PAC, or a ticket around it, that someone holding only the
	// service key changed (a "silver ticket"). Without it only the server
	// signature is verified; see the package documentation.
	KDCKeytab string
	// DelegationDir, when set, is where the acceptor writes delegated
	// credentials as FILE ccaches (mode 0600); SECPKG_ATTR_DELEGATED_CCACHE
	// then returns the path. DeleteSecurityContext removes the file.
	DelegationDir string
	// DelegateAlways makes the initiator delegate its TGT on
	// ISC_REQ_DELEGATE to any service, as MIT's GSS_C_DELEG_FLAG does. By
	// default, as on Windows, it delegates only to services whose ticket
	// has ok-as-delegate (in AD, accounts trusted for delegation).
	DelegateAlways bool
	// Now is the clock; default time.Now. The user-mode half must run on
	// the same clock: NewUserMode(sspi.Env{Now: cfg.Now, Rand: cfg.Rand}).
	Now func() time.Time
	// Rand is the random source of subkeys, sequence numbers and
	// confounders; default crypto/rand.Reader. It must be safe for
	// concurrent use.
	Rand io.Reader
	// Resolver looks up KDCs (DNS SRV records, with dns_lookup_kdc), KDC
	// host names, and target host names when krb5.conf's
	// dns_canonicalize_hostname asks for it; nil means net.DefaultResolver.
	// Every lookup takes the caller's context.
	Resolver *net.Resolver
	// Logger receives warnings (a replay cache refusing AP-REQs), with no
	// secrets. Nil means no logging.
	Logger *slog.Logger
}

// Package is the LSA-mode half of the Kerberos package.
type Package struct {
	cfg    Config
	replay ReplayCache
	kdc    kdcKeys // Config.KDCKeytab, loaded once (pac_kdc.go)

	logMu          sync.Mutex // rate limit of the replay-refusal log line
	lastRefusalLog time.Time
	refusals       uint64 // refusals since the last line
}

var _ secpkg.LsaModePackage = (*Package)(nil)

// New returns the package.
func New(cfg Config) *Package {
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = 5 * time.Minute
	}
	cfg.Now = sysenv.Clock(cfg.Now)
	cfg.Rand = sysenv.Reader(cfg.Rand)
	p := &Package{cfg: cfg, replay: cfg.ReplayCache}
	if p.replay == nil && !cfg.DisableReplayCache {
		p.replay = NewMemoryReplayCacheWithClock(DefaultReplayCacheSize, cfg.Now)
	}
	return p
}

func packageInfo() sspi.PackageInfo {
	return sspi.PackageInfo{
		Capabilities: sspi.SECPKG_FLAG_INTEGRITY | sspi.SECPKG_FLAG_PRIVACY | sspi.SECPKG_FLAG_TOKEN_ONLY |
			sspi.SECPKG_FLAG_DATAGRAM | sspi.SECPKG_FLAG_CONNECTION | sspi.SECPKG_FLAG_EXTENDED_ERROR |
			sspi.SECPKG_FLAG_IMPERSONATION | sspi.SECPKG_FLAG_ACCEPT_WIN32_NAME | sspi.SECPKG_FLAG_STREAM |
			sspi.SECPKG_FLAG_NEGOTIABLE | sspi.SECPKG_FLAG_GSS_COMPATIBLE | sspi.SECPKG_FLAG_LOGON |
			sspi.SECPKG_FLAG_MUTUAL_AUTH | sspi.SECPKG_FLAG_DELEGATION | sspi.SECPKG_FLAG_READONLY_WITH_CHECKSUM,
		Version:  1,
		RPCID:    sspi.RPC_C_AUTHN_GSS_KERBEROS,
		MaxToken: maxToken,
		Name:     PackageName,
		Comment:  "Kerberos V5 (RFC 4120, RFC 4121) on gokrb5",
		OIDs:     []string{oid.Kerberos, oid.MSKerberos},
		Priority: 10,
	}
}

// GetInfo is SpGetInfo.
func (p *Package) GetInfo() sspi.PackageInfo { return packageInfo() }

func (p *Package) now() time.Time { return p.cfg.Now() }

// krb5Config loads krb5.conf for an initiator, with the AS-REQ and TGS-REQ
// enctype lists of the package's policy (default_tkt_enctypes,
// default_tgs_enctypes, else permitted_enctypes; see enctypes.go).
// It also returns the [libdefaults] relations the package reads itself,
// so that the file is read once per credential.
func (p *Package) krb5Config() (*config.Config, libdefaults, error) {
	path := p.krb5ConfPath()
	c, err := loadKrb5Conf(path)
	if err != nil {
		return nil, libdefaults{}, &sspi.Error{Status: sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY, Detail: "cannot load krb5.conf " + path, Err: err}
	}
	ld, err := p.libdefaults()
	if err != nil {
		return nil, libdefaults{}, err
	}
	_, tkt, tgs, err := p.enctypePoliciesOf(ld)
	if err != nil {
		return nil, libdefaults{}, err
	}
	c.LibDefaults.DefaultTktEnctypeIDs = requestable(tkt)
	c.LibDefaults.DefaultTGSEnctypeIDs = requestable(tgs)
	if len(c.LibDefaults.DefaultTktEnctypeIDs) == 0 || len(c.LibDefaults.DefaultTGSEnctypeIDs) == 0 {
		return nil, libdefaults{}, statusErr(sspi.SEC_E_ALGORITHM_MISMATCH, "no enctype of default_tkt_enctypes or default_tgs_enctypes is supported")
	}
	return c, ld, nil
}

// fallbackRe matches dns_canonicalize_hostname = fallback, which gokrb5's
// parser, taking it for a malformed boolean, would refuse.
var fallbackRe = regexp.MustCompile(`(?im)^(\s*dns_canonicalize_hostname\s*=\s*)fallback\s*$`)

// loadKrb5Conf parses krb5.conf with gokrb5. The package reads
// dns_canonicalize_hostname itself (readLibdefaults).
func loadKrb5Conf(path string) (*config.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseKrb5ConfCached(fallbackRe.ReplaceAllString(string(b), "${1}true")) // krb5conf_cache.go
}

// AcquireCredentialsHandle is SpAcquireCredentialsHandle.
//
// Outbound (initiator) credentials come from, in order: AuthData with a
// Password (User as "user", "user@REALM" or "REALM\user", or Domain; an
// AS exchange with PA-ENC-TIMESTAMP and the ETYPE-INFO2 salt, after which
// the password is forgotten; a wrong password is SEC_E_LOGON_DENIED);
// AuthData.Options["client_keytab"] (or "keytab" for an outbound-only
// credential) with User; else the MIT ccache named by Options["ccache"],
// KRB5CCNAME, krb5.conf's default_ccache_name or FILE:/tmp/krb5cc_UID (any
// type StoreCCache writes; a collection name reads its primary cache, or
// with AuthData.User and no password, the collection's cache of that user,
// as MIT's gss_acquire_cred does for a desired name);
// else, when the ccache has
// no valid TGT, the client keytab as MIT's initiator uses it: the one
// named by KRB5_CLIENT_KTNAME, else krb5.conf's
// default_client_keytab_name, else the distributions' default
// FILE:/etc/krb5/user/%{euid}/client.keytab (Debian),
// /var/kerberos/krb5/user/%{euid}/client.keytab (Fedora) or
// /usr/local/var/krb5/user/%{euid}/client.keytab (MIT), for the principal
// of the request (User, or the principal argument) or else the keytab's
// first; a TGT from a keytab is got again when it expires. With none of
// these, SEC_E_NO_CREDENTIALS.
//
// Service for User (MS-SFU; s4u.go): an outbound-only request whose
// principal names a user ("alice", "alice@REALM", `DOMAIN\alice`) other
// than the owner of the credentials its AuthData supplies (a service's
// password or keytab, the User of AuthData) is the service acting for that
// user without the user's password, as a Windows service does with
// LsaLogonUser(KERB_S4U_LOGON) and impersonation: the credential gets the
// service's TGT (forwardable), then a ticket to the service for the user
// (S4U2Self: PA-FOR-USER and PA-S4U-X509-USER, whose copy in the reply is
// verified when the KDC sends one). InitializeSecurityContext with it
// gets, for a target that is the service itself (its account name or a
// principal of its keytab), a fresh S4U2Self ticket, which the service's
// own acceptor reads the user's groups from; for any other target, a
// ticket for the user by S4U2Proxy (constrained delegation, or
// resource-based with PA-PAC-OPTIONS). The AP-REQs are the user's; the
// service's TGT is never delegated. The KDC decides what is allowed: a
// refusal is a *KDCError by name (KDC_ERR_BADOPTION, SEC_E_DELEGATION_POLICY,
// for a service not allowed to delegate to the target or whose S4U2Self
// ticket is not forwardable), from AcquireCredentialsHandle for S4U2Self
// and from InitializeSecurityContext for S4U2Proxy. gosspi's
// CredentialConfig.OnBehalfOf is the same request.
//
// Inbound (acceptor) credentials read the keytab named by
// Options["keytab"], Config.Keytab, KRB5_KTNAME or /etc/krb5.keytab. The
// principal argument (or Config.ServicePrincipal) restricts the acceptor
// to one service ("HTTP/host", "HTTP/host@REALM" or "HTTP@host"); it must
// be in the keytab.
func (p *Package) AcquireCredentialsHandle(ctx context.Context, req *secpkg.CredentialRequest) (secpkg.LsaCredential, time.Time, error) {
	c, err := p.acquire(ctx, req)
	if err != nil {
		return nil, time.Time{}, err
	}
	return c, c.expiry, nil
}

// InitLsaModeContext is SpInitLsaModeContext: the initiator.
func (p *Package) InitLsaModeContext(ctx context.Context, cred secpkg.LsaCredential, c secpkg.LsaContext, prm *secpkg.InitContextParams) (secpkg.LsaContext, secpkg.ContextOutput, error) {
	cr, ok := cred.(*credential)
	if !ok || cr == nil || cr.pkg != p {
		return c, secpkg.ContextOutput{}, sspi.SEC_E_INVALID_HANDLE
	}
	if c == nil {
		ic := &initiatorContext{cred: cr}
		out, err := ic.first(ctx, prm)
		if err != nil {
			return nil, out, err
		}
		return ic, out, nil
	}
	ic, ok := c.(*initiatorContext)
	if !ok {
		return c, secpkg.ContextOutput{}, sspi.SEC_E_INVALID_HANDLE
	}
	out, err := ic.second(prm)
	return ic, out, err
}

// AcceptLsaModeContext is SpAcceptLsaModeContext: the acceptor.
func (p *Package) AcceptLsaModeContext(ctx context.Context, cred secpkg.LsaCredential, c secpkg.LsaContext, prm *secpkg.AcceptContextParams) (secpkg.LsaContext, secpkg.ContextOutput, error) {
	cr, ok := cred.(*credential)
	if !ok || cr == nil || cr.pkg != p {
		return c, secpkg.ContextOutput{}, sspi.SEC_E_INVALID_HANDLE
	}
	if c != nil {
		// Only DCE style has a second acceptor leg: the initiator's AP-REP.
		ac, ok := c.(*acceptorContext)
		if !ok || !ac.dcePending {
			return c, secpkg.ContextOutput{}, statusErr(sspi.SEC_E_INVALID_HANDLE, "the Kerberos acceptor has no second leg")
		}
		out, err := ac.dceThirdLeg(prm)
		return ac, out, err
	}
	ac := &acceptorContext{cred: cr}
	out, err := ac.accept(ctx, prm)
	if err != nil {
		return nil, out, err
	}
	return ac, out, nil
}

// KeytabPrincipals lists the principals ("svc/host@REALM") of a keytab file,
// each once, in file order.
func KeytabPrincipals(path string) ([]string, error) {
	kt, err := keytab.Load(strings.TrimPrefix(path, "FILE:"))
	if err != nil {
		return nil, err
	}
	defer wipeKeytab(kt) // the names are all that is wanted
	var out []string
	seen := map[string]bool{}
	for _, e := range kt.Entries {
		p := strings.Join(e.Principal.Components, "/") + "@" + e.Principal.Realm
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}
