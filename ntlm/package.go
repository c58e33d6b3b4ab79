package ntlm

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/internal/oid"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// PackageName is the SSPI name of the package.
const PackageName = "NTLM"

// OID is the GSS-API mechanism OID of NTLMSSP, 1.3.6.1.4.1.311.2.2.10
// (MS-NLMP 1.9).
const OID = oid.NTLM

// MaxToken is cbMaxToken, as Windows reports it for NTLM.
const MaxToken = 2888

// Config configures a Package. The zero value is usable: a server then
// needs an account store from AcquireCredentialsHandle's options or the
// NTLM_USER_FILE environment variable.
type Config struct {
	// Accounts is where the server looks up NT hashes. When nil, an
	// inbound credential names a file in the "accounts" option or, failing
	// that, in the NTLM_USER_FILE environment variable.
	Accounts AccountStore

	// Verifier, when set, verifies the logons of accounts that Accounts
	// (when set) does not hold: package netlogon passes them to a domain
	// controller. The SID, groups, canonical names and session key come
	// from it; the server still checks the timestamp, channel bindings,
	// target name and MIC itself (see Verifier). When the four names
	// below are empty and the Verifier has TargetNames (a
	// *netlogon.Client does), the CHALLENGE advertises those: the
	// domain's and the machine account's, as a hardened DC expects.
	Verifier Verifier

	// NetBIOSDomain, NetBIOSComputer, DNSDomain and DNSComputer are the
	// server's names in the CHALLENGE message. NetBIOSComputer defaults to
	// the upper-cased host name and NetBIOSDomain to "WORKGROUP".
	NetBIOSDomain, NetBIOSComputer string
	DNSDomain, DNSComputer         string
	// DNSTreeName is the forest name (MsvAvDnsTreeName), sent when set.
	DNSTreeName string

	// Workstation is the client's workstation name in AUTHENTICATE
	// (default: the upper-cased host name).
	Workstation string

	// ServicePrincipalNames, when set, is the server's service binding
	// (MS-NLMP 3.2.5.1.2): a client's MsvAvTargetName must be one of them
	// (compared case-insensitively), or the logon fails with
	// SEC_E_BAD_BINDINGS. A client that sends no target name passes when
	// the call allows missing bindings (sspi.BindingPolicy: the host's
	// BindingsWhenSupported default, or ASC_REQ_ALLOW_MISSING_BINDINGS).
	ServicePrincipalNames []string
	// RequireMIC refuses an AUTHENTICATE without a MIC. A MIC that is
	// present is always verified.
	RequireMIC bool

	// AllowNTLMv1 is the legacy opt-in, like a low LmCompatibilityLevel:
	// the client then sends NTLMv1 responses (with NTLM2 session security
	// when the server offers it) and the server accepts them. Off, the
	// client sends only NTLMv2 and the server refuses NTLMv1 with
	// SEC_E_LOGON_DENIED.
	AllowNTLMv1 bool

	// AllowReflection is the legacy switch that lets this package's client
	// log on to this package's server. By default the server refuses, with
	// SEC_E_LOGON_DENIED, an AUTHENTICATE that the package's own client
	// produced for the server's CHALLENGE: NTLM reflection (MS08-068),
	// where an attacker has a service's outbound NTLM client answer the
	// service's own challenge and logs on as the service. A package that
	// must log on to itself in one process (tests, a self-check) sets it,
	// or uses a second package for the client. See reflection.go for how
	// the record of answered challenges is bounded.
	AllowReflection bool

	// SealWhenSigning makes a context that negotiated signing
	// (NTLMSSP_NEGOTIATE_SIGN) without sealing seal its messages all the
	// same, with the keys of the session (extended session security only).
	// It is how Windows and Samba run NTLM under LDAP's GSS-SPNEGO (Samba's
	// "LDAP style"): an AD DC treats a signing LDAP session as sealed, and
	// so do Windows LDAP clients, while their NEGOTIATE asks only for
	// signing. Set it on a host that serves or binds LDAP with GSS-SPNEGO;
	// the context then reports FlagConfidentiality.
	SealWhenSigning bool

	// AllowWeakSealing is the legacy opt-in for signing and sealing keys of
	// less than 128 bits (NTLMSSP_NEGOTIATE_128 not negotiated: 56- or
	// 40-bit RC4 keys), like NtlmMinServerSec and NtlmMinClientSec without
	// "Require 128-bit encryption". Off (the default, as on Windows 7 and
	// later), a server refuses a client that asks for signing or sealing
	// without NTLMSSP_NEGOTIATE_128, and a client refuses a server that
	// drops it, with SEC_E_UNSUPPORTED_FUNCTION (MS-NLMP 3.1.5.1.2,
	// 3.2.5.1.1).
	AllowWeakSealing bool

	// MaxClockSkew bounds the age of the NTLMv2 timestamp the server
	// accepts (default 5 minutes).
	MaxClockSkew time.Duration
	// ContextLifetime is how long an established context lasts (default
	// 10 hours); per-message calls after that fail with
	// SEC_E_CONTEXT_EXPIRED.
	ContextLifetime time.Duration

	// Now and Rand replace the clock and the random source, for tests that
	// need fixed challenges and timestamps. Both must be safe for
	// concurrent use.
	Now  func() time.Time
	Rand io.Reader
}

// Package is the NTLM security package. It implements
// secpkg.LsaModePackage and sspi.UserModePackage, and is safe for
// concurrent use.
//
// AcquireCredentialsHandle reads these sspi.AuthIdentity.Options:
//
//   - "credfile": (outbound) a file to take the password or NT hash from,
//     in gss-ntlmssp's NTLM_USER_FILE format (DOMAIN:USER:PASSWORD) or the
//     account file format (see HashFileMagic). The entry whose user (and
//     domain, when given) matches is used, or the first one when no user
//     is given.
//   - "workstation": (outbound) the workstation name to send.
//   - "accounts": (inbound) the account file or NTLM_USER_FILE the server
//     checks passwords against, when Config.Accounts is nil.
//
// With no AuthIdentity, an outbound credential comes from the file named
// by the NTLM_USER_FILE environment variable (the entry matching the
// principal, or the first), and an inbound one uses Config.Accounts or
// that file.
//
// An outbound AuthIdentity with an empty user, domain, password and hash
// is the anonymous (NULL session) credential; a server accepts it only
// with ASC_REQ_ALLOW_NULL_SESSION.
type Package struct {
	cfg         Config
	dummyOnce   sync.Once
	dummy       [16]byte // NT hash for unknown users: verification costs the same
	workstation string
	// targetInfo is the server's AV_PAIR list up to the timestamp, built
	// once: names in UTF-16.
	targetInfo []byte
	// answered is what our client answered, for the server's reflection
	// check (reflection.go).
	answered reflectionGuard
}

// New returns an NTLM package with the given configuration.
func New(cfg Config) *Package {
	p := &Package{cfg: cfg}
	p.cfg.Now = sysenv.Clock(p.cfg.Now)
	p.cfg.Rand = sysenv.Reader(p.cfg.Rand)
	p.cfg.verifierNames()
	if p.cfg.MaxClockSkew == 0 {
		p.cfg.MaxClockSkew = 5 * time.Minute
	}
	if p.cfg.ContextLifetime == 0 {
		p.cfg.ContextLifetime = 10 * time.Hour
	}
	host, _ := os.Hostname()
	host = strings.ToUpper(strings.SplitN(host, ".", 2)[0])
	if len(host) > 15 {
		host = host[:15]
	}
	if host == "" {
		host = "GOSSPI"
	}
	if p.cfg.NetBIOSComputer == "" {
		p.cfg.NetBIOSComputer = host
	}
	if p.cfg.NetBIOSDomain == "" {
		p.cfg.NetBIOSDomain = "WORKGROUP"
	}
	if p.cfg.DNSComputer == "" {
		p.cfg.DNSComputer = strings.ToLower(p.cfg.NetBIOSComputer)
	}
	if p.cfg.DNSDomain == "" {
		p.cfg.DNSDomain = strings.ToLower(p.cfg.NetBIOSDomain)
	}
	p.workstation = p.cfg.Workstation
	if p.workstation == "" {
		p.workstation = host
	}
	ti := ntlmssp.AvPairs{
		{ID: ntlmssp.AvNbDomainName, Value: ntlmssp.ToUTF16(p.cfg.NetBIOSDomain)},
		{ID: ntlmssp.AvNbComputerName, Value: ntlmssp.ToUTF16(p.cfg.NetBIOSComputer)},
		{ID: ntlmssp.AvDnsDomainName, Value: ntlmssp.ToUTF16(p.cfg.DNSDomain)},
		{ID: ntlmssp.AvDnsComputerName, Value: ntlmssp.ToUTF16(p.cfg.DNSComputer)},
	}
	if p.cfg.DNSTreeName != "" {
		ti = append(ti, ntlmssp.AvPair{ID: ntlmssp.AvDnsTreeName, Value: ntlmssp.ToUTF16(p.cfg.DNSTreeName)})
	}
	tib := ti.Marshal()
	p.targetInfo = tib[:len(tib)-4] // without MsvAvEOL
	return p
}

// Name returns "NTLM".
func (p *Package) Name() string { return PackageName }

// Info returns the package information of NTLM.
func Info() sspi.PackageInfo {
	return sspi.PackageInfo{
		Capabilities: sspi.SECPKG_FLAG_INTEGRITY | sspi.SECPKG_FLAG_PRIVACY | sspi.SECPKG_FLAG_TOKEN_ONLY |
			sspi.SECPKG_FLAG_CONNECTION | sspi.SECPKG_FLAG_MULTI_REQUIRED | sspi.SECPKG_FLAG_IMPERSONATION |
			sspi.SECPKG_FLAG_ACCEPT_WIN32_NAME | sspi.SECPKG_FLAG_NEGOTIABLE | sspi.SECPKG_FLAG_LOGON |
			sspi.SECPKG_FLAG_GSS_COMPATIBLE,
		Version:  1,
		RPCID:    sspi.RPC_C_AUTHN_WINNT,
		MaxToken: MaxToken,
		Name:     PackageName,
		Comment:  "NTLM Security Package (MS-NLMP)",
		OIDs:     []string{OID},
		Priority: 20,
	}
}

// GetInfo implements secpkg.LsaModePackage.
func (p *Package) GetInfo() sspi.PackageInfo { return Info() }

// credential is an NTLM credential. It keeps the NT hash, never the
// password.
type credential struct {
	use         sspi.CredentialUse
	user        string
	domain      string
	ntHash      [16]byte
	anonymous   bool
	workstation string
	store       AccountStore
	verifier    Verifier
}

// Free implements secpkg.LsaCredential.
func (c *credential) Free() { c.ntHash = [16]byte{} }

// SplitUserName splits `DOMAIN\user` and `user@domain` into user and
// domain; other names come back with an empty domain.
func SplitUserName(name string) (user, domain string) {
	if i := strings.IndexByte(name, '\\'); i >= 0 {
		return name[i+1:], name[:i]
	}
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// sameUser reports whether two user names ("user", `DOMAIN\user`,
// "user@domain") name the same account: the same user, ignoring case, and
// the same domain when both name one.
func sameUser(a, b string) bool {
	ua, da := SplitUserName(a)
	ub, db := SplitUserName(b)
	return strings.EqualFold(ua, ub) && (da == "" || db == "" || strings.EqualFold(da, db))
}

func credErr(status sspi.Status, detail string) error {
	return &sspi.Error{Op: "AcquireCredentialsHandle", Status: status, Detail: detail}
}

// AcquireCredentialsHandle implements secpkg.LsaModePackage.
func (p *Package) AcquireCredentialsHandle(ctx context.Context, req *secpkg.CredentialRequest) (secpkg.LsaCredential, time.Time, error) {
	if req == nil || req.Use&sspi.SECPKG_CRED_BOTH == 0 || req.Use&^sspi.SECPKG_CRED_BOTH != 0 {
		return nil, time.Time{}, credErr(sspi.SEC_E_INVALID_PARAMETER, "bad credential use")
	}
	c := &credential{use: req.Use, workstation: p.workstation}
	ai := req.AuthData
	var opts map[string]string
	if ai != nil {
		opts = ai.Options
	}
	if w := opts["workstation"]; w != "" {
		c.workstation = w
	}
	if req.Use&sspi.SECPKG_CRED_INBOUND != 0 {
		c.store, c.verifier = p.cfg.Accounts, p.cfg.Verifier
		if c.store == nil && c.verifier == nil {
			path, source := opts["accounts"], `the "accounts" option`
			if path == "" {
				path, source = os.Getenv("NTLM_USER_FILE"), "the environment, NTLM_USER_FILE"
			}
			if path != "" {
				m, err := LoadAccounts(path)
				if err != nil {
					return nil, time.Time{}, credErr(sspi.SEC_E_NO_CREDENTIALS, "cannot read the account file (from "+source+")"+fileDetail(err))
				}
				c.store = m
			}
		}
		if c.store == nil && c.verifier == nil && req.Use == sspi.SECPKG_CRED_INBOUND {
			return nil, time.Time{}, credErr(sspi.SEC_E_NO_CREDENTIALS,
				`no account store: set ntlm.Config.Accounts (ntlm.LoadHashFile), the "accounts" option or NTLM_USER_FILE`)
		}
	}
	if req.Use&sspi.SECPKG_CRED_OUTBOUND != 0 {
		if err := p.outbound(c, req.Principal, ai); err != nil {
			if req.Use == sspi.SECPKG_CRED_BOTH && (c.store != nil || c.verifier != nil) {
				// An acceptor with BOTH may have no client identity.
				return c, time.Time{}, nil
			}
			return nil, time.Time{}, err
		}
	}
	return c, time.Time{}, nil
}

func (p *Package) outbound(c *credential, principal string, ai *sspi.AuthIdentity) error {
	var user, domain string
	if ai != nil && principal != "" && ai.User != "" && !sameUser(principal, ai.User) {
		// A principal other than the supplied identity's: a service
		// acting for a user (Kerberos S4U). NTLM has no credentials of
		// that user and must not answer with the service's own.
		return credErr(sspi.SEC_E_NO_CREDENTIALS, "NTLM has no credentials of the principal: the identity supplied is another account's")
	}
	if ai != nil {
		user, domain = ai.User, ai.Domain
		if domain == "" {
			user, domain = SplitUserName(user)
		}
		switch {
		case len(ai.NTHash) > 0:
			if len(ai.NTHash) != 16 {
				return credErr(sspi.SEC_E_INVALID_PARAMETER, "an NT hash is 16 bytes")
			}
			copy(c.ntHash[:], ai.NTHash)
		case ai.Password != "":
			c.ntHash = ntlmssp.NTOWFv1(ai.Password)
		case ai.Options["credfile"] != "":
			a, err := fromFile(ai.Options["credfile"], user, domain)
			if err != nil {
				return err
			}
			user, domain, c.ntHash = a.User, a.Domain, a.NTHash
		case user == "" && domain == "":
			c.anonymous = true
		default:
			return credErr(sspi.SEC_E_NO_CREDENTIALS, "no password or NT hash")
		}
	} else {
		path := os.Getenv("NTLM_USER_FILE")
		if path == "" {
			return credErr(sspi.SEC_E_NO_CREDENTIALS, "no credentials and no NTLM_USER_FILE")
		}
		user, domain = SplitUserName(principal)
		a, err := fromFile(path, user, domain)
		if err != nil {
			return err
		}
		user, domain, c.ntHash = a.User, a.Domain, a.NTHash
	}
	c.user, c.domain = user, domain
	return nil
}

// fromFile finds a client's entry in a credential file.
func fromFile(path, user, domain string) (*Account, error) {
	m, err := loadAccounts("credential file", path)
	if err != nil {
		return nil, credErr(sspi.SEC_E_NO_CREDENTIALS, "cannot read the credential file"+fileDetail(err))
	}
	if user != "" {
		a, err := m.LookupAccount(context.Background(), domain, user)
		if err != nil {
			return nil, credErr(sspi.SEC_E_NO_CREDENTIALS, "user not in the credential file")
		}
		return a, nil
	}
	l := m.List()
	if len(l) == 0 {
		return nil, credErr(sspi.SEC_E_NO_CREDENTIALS, "empty credential file")
	}
	return &l[0], nil
}

// ParseNTHash decodes 32 hex digits into an NT hash.
func ParseNTHash(s string) ([16]byte, error) {
	var k [16]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return k, errors.New("ntlm: an NT hash is 32 hex digits")
	}
	copy(k[:], b)
	return k, nil
}

func (p *Package) now() time.Time { return p.cfg.Now() }

// sessionFlags are the flags a session runs with: the negotiated ones,
// with NTLMSSP_NEGOTIATE_SEAL added to a signing session under
// SealWhenSigning (see there). The keys do not change: the sealing key and
// the RC4 handle of MS-NLMP 3.4.5 exist for every extended-session-security
// session, sealing or not.
func (p *Package) sessionFlags(flags uint32) uint32 {
	if p.cfg.SealWhenSigning && flags&ntlmssp.NegotiateSign != 0 && flags&ntlmssp.NegotiateExtendedSessionSecurity != 0 {
		flags |= ntlmssp.NegotiateSeal
	}
	return flags
}

// weakSealing reports whether negotiated flags sign or seal with keys of
// less than 128 bits, which the policy refuses unless AllowWeakSealing
// (ClientRequire128bitEncryption and ServerRequire128bitEncryption of
// MS-NLMP 3.1.1.1 and 3.2.1.1).
func (p *Package) weakSealing(flags uint32) bool {
	return !p.cfg.AllowWeakSealing && flags&(ntlmssp.NegotiateSign|ntlmssp.NegotiateSeal) != 0 && flags&ntlmssp.Negotiate128 == 0
}

func (p *Package) random(b []byte) error {
	_, err := io.ReadFull(p.cfg.Rand, b)
	return err
}

// input returns the token and channel bindings of an input descriptor.
func input(in *sspi.SecBufferDesc) (tok []byte, cb *sspi.ChannelBindings, err error) {
	if in == nil {
		return nil, nil, nil
	}
	if b := in.Find(sspi.SECBUFFER_CHANNEL_BINDINGS); b != nil && len(b.Buffer) > 0 {
		if cb, err = sspi.ParseChannelBindings(b.Buffer); err != nil {
			return nil, nil, &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_BAD_BINDINGS, Detail: "malformed SEC_CHANNEL_BINDINGS"}
		}
	}
	return in.Token(), cb, nil
}

// statusErr converts parser errors for the host: an IncompleteError
// becomes SEC_E_INCOMPLETE_MESSAGE with out.Missing set.
func statusErr(err error, out *secpkg.ContextOutput) error {
	var inc *ntlmssp.IncompleteError
	if errors.As(err, &inc) {
		out.Missing = inc.Missing
		return &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_INCOMPLETE_MESSAGE, Detail: "message incomplete"}
	}
	return err
}

// epochDelta is the number of seconds from 1601-01-01 (the FILETIME
// epoch) to 1970-01-01.
const epochDelta = 11644473600

// filetime converts a time to a Windows FILETIME (100 ns since 1601,
// MS-DTYP 2.3.3). It works in seconds and 100 ns ticks, so it does not wrap
// outside 1678-2262 as int64 nanoseconds do; times before 1601 give 0 and
// times past the FILETIME range give its maximum.
func filetime(t time.Time) uint64 {
	secs := t.Unix() + epochDelta
	if secs < 0 {
		return 0
	}
	const maxSecs = (1<<64 - 1) / 10_000_000
	if uint64(secs) >= maxSecs {
		return 1<<64 - 1
	}
	return uint64(secs)*1e7 + uint64(t.Nanosecond()/100)
}

// fromFiletime converts a FILETIME to a time; every value maps to a time
// (0 is 1601-01-01 00:00:00 UTC).
func fromFiletime(ft uint64) time.Time {
	return time.Unix(int64(ft/1e7)-epochDelta, int64(ft%1e7)*100).UTC()
}

// dummyHash is the NT hash verified for an unknown user, drawn from the
// package's random source on first use.
func (p *Package) dummyHash() [16]byte {
	p.dummyOnce.Do(func() { _, _ = io.ReadFull(p.cfg.Rand, p.dummy[:]) })
	return p.dummy
}
