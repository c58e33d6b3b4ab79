// Package negotiate implements the Negotiate security package: SPNEGO
// (RFC 4178) as Windows speaks it (MS-SPNG), composed over inner packages
// such as Kerberos and NTLM.
//
// Negotiate does no authentication of its own. It offers the inner
// packages' GSS mechanisms in order of preference (Kerberos, then NTLM, by
// default), runs the chosen package's handshake inside NegTokenInit and
// NegTokenResp tokens, and protects the negotiation with mechListMIC.
// Per-message calls (MakeSignature, SealMessage, ...) go to the chosen
// package's user-mode context, which Negotiate's user-mode half rebuilds
// from ContextData alone.
//
//	krb, ntlm := ... // secpkg.LsaModePackage and sspi.UserModePackage of each
//	nego, err := negotiate.New(negotiate.Config{
//		Packages:     []secpkg.LsaModePackage{krb, ntlm},
//		UserPackages: []sspi.UserModePackage{krbUser, ntlmUser},
//	})
//
// *Package is both the LSA-mode half (secpkg.LsaModePackage) and the user-mode
// half (sspi.UserModePackage); NewUserMode builds the user-mode half alone,
// for an application whose LSA runs elsewhere.
//
// # mechListMIC
//
// The MIC exchange of RFC 4178 section 5 runs whenever the acceptor picks a
// mechanism other than the initiator's first, when the peer sends a MIC,
// and, as Windows does, with NTLM's final token. An acceptor requires the
// initiator's mechListMIC when the NTLM AUTHENTICATE_MESSAGE carried a MIC
// ("new SPNEGO", as Windows and Samba do), so that it cannot be stripped. The inner package's
// user-mode context makes and verifies it over the DER mechanism list, so
// sequence numbers advance as they do on the peer; the state after the MIC
// goes into ContextData. For NTLM, MS-SPNG 3.3.5.1 also restarts the RC4
// state of each direction after its MIC: an inner user-mode context does
// that by implementing CryptoResetter.
//
// # Status codes
//
//   - A token that is not well-formed DER, or a NegTokenResp that does not
//     fit the negotiation: SEC_E_INVALID_TOKEN.
//   - No mechanism in common (acceptor), or a reject before a mechanism was
//     agreed (initiator): SEC_E_SECPKG_NOT_FOUND, the SSPI counterpart of
//     GSS_S_BAD_MECH that RFC 4178 3.2 prescribes. The acceptor also
//     returns a reject token to send.
//   - A reject after a mechanism was agreed: the inner package's status for
//     the error token it carried, or SEC_E_LOGON_DENIED.
//   - A mechListMIC that does not verify, or one that is required and
//     missing: SEC_E_DOWNGRADE_DETECTED. Either the mechanism list was
//     altered in transit (RFC 4178 5, MS-SPNG 3.3.5.1) or the MIC was; both
//     mean the negotiation cannot be trusted.
//   - Inner package failures keep the inner package's status.
//
// # Why a mechanism was not used
//
// Like Windows, Negotiate falls back: a package without a credential, a
// Kerberos that cannot start (no KDC, an unknown service principal, an
// IP-address target) or one the peer does not offer is left out and the
// next is used. Each is recorded with the reason. A failed call returns an
// *sspi.Error with the status above whose Detail lists each mechanism and
// why ("Kerberos skipped: target is an IP address; NTLM:
// SEC_E_LOGON_DENIED: acceptor rejected the authentication") and whose Err
// wraps the inner packages' errors, so errors.Is and errors.As reach them.
// A context that succeeds lists what it skipped in
// SecPkgContextNegotiationInfo.Skipped.
package negotiate

import (
	"context"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/internal/oid"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// PackageName is the package name, as on Windows.
const PackageName = "Negotiate"

// Config configures Negotiate.
type Config struct {
	// Packages are the inner packages Negotiate may choose from. Their
	// order is the default preference, refined by PackageInfo.Priority
	// (lower first); pass Kerberos before NTLM. Each package is matched to
	// SPNEGO mechanisms by the OIDs of its PackageInfo.
	Packages []secpkg.LsaModePackage
	// UserPackages are the inner packages' user-mode halves, matched by
	// name; every inner package needs one. Negotiate uses them to make and
	// verify the mechListMIC and to rebuild the inner user-mode context
	// from ContextData.
	UserPackages []sspi.UserModePackage
	// SkipKerberosForIP controls whether an initiator drops Kerberos when
	// the target host is an IP address, as Windows does (no SPN can be
	// registered for an address). Nil means true.
	SkipKerberosForIP *bool
}

// Package is the Negotiate package. It is safe for concurrent use.
type Package struct {
	inner  []*innerPkg
	user   *UserMode
	info   sspi.PackageInfo
	skipIP bool
}

// innerPkg is one inner package and its mechanism OIDs.
type innerPkg struct {
	lsa  secpkg.LsaModePackage
	user sspi.UserModePackage // nil if none was configured
	info sspi.PackageInfo
	// infoBlob is info encoded for ContextData.
	infoBlob []byte
	oids     []spnego.OID
	krb      bool // a Kerberos mechanism (either Kerberos OID)
	ntlm     bool
}

// matches reports whether the package implements mechanism o. The two
// Kerberos OIDs name the same mechanism (MS-KILE 1.9).
func (p *innerPkg) matches(o spnego.OID) bool {
	for _, m := range p.oids {
		if m.Equal(o) {
			return true
		}
	}
	return p.krb && o.IsKerberos()
}

// New builds Negotiate over cfg.Packages.
func New(cfg Config) (*Package, error) {
	if len(cfg.Packages) == 0 {
		return nil, &sspi.Error{Op: "negotiate.New", Status: sspi.SEC_E_SECPKG_NOT_FOUND, Detail: "no inner packages"}
	}
	p := &Package{skipIP: cfg.SkipKerberosForIP == nil || *cfg.SkipKerberosForIP}
	users := map[string]sspi.UserModePackage{}
	for _, u := range cfg.UserPackages {
		users[strings.ToLower(u.Name())] = u
	}
	for _, l := range cfg.Packages {
		info := l.GetInfo()
		ip := &innerPkg{lsa: l, info: info, user: users[strings.ToLower(info.Name)], infoBlob: encodeInfo(info)}
		for _, s := range info.OIDs {
			o, err := spnego.ParseOID(s)
			if err != nil {
				return nil, &sspi.Error{Op: "negotiate.New", Status: sspi.SEC_E_INVALID_PARAMETER, Detail: "bad spnego.OID " + s + " for " + info.Name}
			}
			ip.oids = append(ip.oids, o)
			ip.krb = ip.krb || o.IsKerberos()
			ip.ntlm = ip.ntlm || o.Equal(spnego.OIDNTLM)
		}
		if len(ip.oids) == 0 {
			return nil, &sspi.Error{Op: "negotiate.New", Status: sspi.SEC_E_INVALID_PARAMETER, Detail: info.Name + " has no GSS mechanism spnego.OID"}
		}
		if ip.user == nil {
			return nil, &sspi.Error{Op: "negotiate.New", Status: sspi.SEC_E_INVALID_PARAMETER, Detail: "no user-mode package for " + info.Name}
		}
		p.inner = append(p.inner, ip)
	}
	sort.SliceStable(p.inner, func(i, j int) bool { return p.inner[i].info.Priority < p.inner[j].info.Priority })
	p.user = NewUserMode(cfg.UserPackages...)

	var caps, maxTok uint32
	for _, ip := range p.inner {
		caps |= ip.info.Capabilities
		maxTok = max(maxTok, ip.info.MaxToken)
	}
	p.info = sspi.PackageInfo{
		Capabilities: caps&^(sspi.SECPKG_FLAG_NEGOTIABLE|sspi.SECPKG_FLAG_NEGOTIABLE2) | sspi.SECPKG_FLAG_GSS_COMPATIBLE | sspi.SECPKG_FLAG_CONNECTION,
		Version:      1,
		RPCID:        sspi.RPC_C_AUTHN_GSS_NEGOTIATE,
		MaxToken:     min(maxTok+256, spnego.MaxTokenSize), // Windows: Kerberos' 48000 + 256
		Name:         PackageName,
		Comment:      "Microsoft Package Negotiator (SPNEGO, RFC 4178)",
		OIDs:         []string{oid.SPNEGO},
		Priority:     -1,
	}
	return p, nil
}

// GetInfo is SpGetInfo.
func (p *Package) GetInfo() sspi.PackageInfo { return p.info }

// Name returns "Negotiate" (sspi.UserModePackage).
func (p *Package) Name() string { return PackageName }

// InitUserModeContext rebuilds a Negotiate user-mode context from
// ContextData (sspi.UserModePackage).
func (p *Package) InitUserModeContext(contextData []byte) (sspi.UserModeContext, error) {
	return p.user.InitUserModeContext(contextData)
}

// credential is a Negotiate credential: the inner credentials acquired
// with the same identity, in preference order.
type credential struct {
	use    sspi.CredentialUse
	inners []innerCred
	// notes are the packages left out: excluded by the PackageList, or
	// unable to supply a credential (no keytab, no ticket, no krb5.conf).
	notes []mechNote
	// offer is what an initiator offers when every package can start:
	// made once, read-only.
	offer struct {
		offered []mechOffer
		mechs   []spnego.OID
		der     []byte
	}
}

type innerCred struct {
	pkg  *innerPkg
	cred secpkg.LsaCredential
}

// Free is SpFreeCredentialsHandle.
func (c *credential) Free() {
	for _, ic := range c.inners {
		ic.cred.Free()
	}
}

// filterPackages applies a Windows PackageList ("kerberos,!ntlm"): names
// without "!" select those packages, in that order; names with "!" exclude
// them. Names are package names, compared without case; "krb5" and
// "kerberos" name Kerberos, "ntlm" NTLM.
func filterPackages(all []*innerPkg, list string) []*innerPkg {
	if strings.TrimSpace(list) == "" {
		return all
	}
	var want []string
	exclude := map[*innerPkg]bool{}
	find := func(name string) *innerPkg {
		name = strings.ToLower(strings.TrimSpace(name))
		for _, ip := range all {
			n := strings.ToLower(ip.info.Name)
			if n == name || (ip.krb && (name == "kerberos" || name == "krb5")) || (ip.ntlm && name == "ntlm") {
				return ip
			}
		}
		return nil
	}
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if e[0] == '!' {
			if ip := find(e[1:]); ip != nil {
				exclude[ip] = true
			}
			continue
		}
		want = append(want, e)
	}
	var out []*innerPkg
	if len(want) == 0 {
		for _, ip := range all {
			if !exclude[ip] {
				out = append(out, ip)
			}
		}
		return out
	}
	seen := map[*innerPkg]bool{}
	for _, w := range want {
		if ip := find(w); ip != nil && !exclude[ip] && !seen[ip] {
			seen[ip] = true
			out = append(out, ip)
		}
	}
	return out
}

// AcquireCredentialsHandle is SpAcquireCredentialsHandle: it acquires a
// credential from every inner package that AuthIdentity.PackageList
// allows. Packages that cannot supply one (no keytab, no ticket) are left
// out, and the reason is kept: a context's failure lists it, and its
// SecPkgContextNegotiationInfo.Skipped too. If none can, the error has the
// first package's status, lists each package's error and wraps them.
func (p *Package) AcquireCredentialsHandle(ctx context.Context, req *secpkg.CredentialRequest) (secpkg.LsaCredential, time.Time, error) {
	pkgs := p.inner
	if req.AuthData != nil {
		pkgs = filterPackages(p.inner, req.AuthData.PackageList)
	}
	if len(pkgs) == 0 {
		return nil, time.Time{}, &sspi.Error{Op: "AcquireCredentialsHandle", Status: sspi.SEC_E_SECPKG_NOT_FOUND, Detail: "PackageList leaves no package"}
	}
	c := &credential{use: req.Use}
	for _, ip := range p.inner {
		if !slices.Contains(pkgs, ip) {
			c.notes = append(c.notes, skippedNote(ip, "not in the PackageList"))
		}
	}
	var expiry time.Time
	var firstErr error
	var failed []mechNote
	for _, ip := range pkgs {
		r := *req
		if req.AuthData != nil {
			a := *req.AuthData
			a.PackageList = ""
			r.AuthData = &a
		}
		cred, exp, err := ip.lsa.AcquireCredentialsHandle(ctx, &r)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			failed = append(failed, errorNote(ip, err))
			continue
		}
		c.inners = append(c.inners, innerCred{pkg: ip, cred: cred})
		if !exp.IsZero() && (expiry.IsZero() || exp.After(expiry)) {
			expiry = exp
		}
	}
	if len(c.inners) == 0 {
		return nil, time.Time{}, failure("AcquireCredentialsHandle", sspi.StatusOf(firstErr), "", c.notes, failed, nil)
	}
	c.notes = append(c.notes, failed...)
	c.offer.offered = offerList(c.inners, nil, false)
	c.offer.mechs = offerOIDs(c.offer.offered)
	c.offer.der = spnego.EncodeMechTypes(c.offer.mechs)
	return c, expiry, nil
}

// targetIsIP reports whether a target name ("HTTP/host:port",
// "HTTP@host", "host") names its host by IP address.
func targetIsIP(target string) bool {
	h := target
	if i := strings.IndexAny(h, "/@"); i >= 0 {
		h = h[i+1:]
	}
	if i := strings.IndexByte(h, '/'); i >= 0 { // service/host/domain
		h = h[:i]
	}
	// Strip a port ("host:port", "[v6]:port") without net.SplitHostPort,
	// which allocates its error for every name that has none.
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		h = h[:i]
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Zone() == ""
}

func asLsaCred(c secpkg.LsaCredential) (*credential, error) {
	cr, ok := c.(*credential)
	if !ok || cr == nil {
		return nil, sspi.SEC_E_WRONG_CREDENTIAL_HANDLE
	}
	return cr, nil
}
