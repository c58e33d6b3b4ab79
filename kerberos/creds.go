package kerberos

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/internal/spn"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// credential is a Kerberos credential handle's state. Outbound, it holds a
// TGT and the service tickets got with it (the password, when one was
// given, is used for the AS exchange and then dropped). Inbound, it holds
// the keytab.
type credential struct {
	pkg    *Package
	use    sspi.CredentialUse
	expiry time.Time

	// outbound, set when the credential is made (krbConf) or under mu
	krbConf  *config.Config
	outbound bool // has a TGT
	freed    bool
	cname    types.PrincipalName
	realm    string
	tgtFwd   bool                  // the TGT is forwardable
	tgts     map[string]*kdcTicket // TGTs by the realm whose KDC takes them
	clientKT *keytab.Keytab        // the client keytab, when the TGT came from one
	hosts    hostPolicy            // dns_canonicalize_hostname, rdns

	// inbound
	ktMu     sync.RWMutex // kt; Free wipes it under the write lock
	kt       *keytab.Keytab
	ktNames  []string // "svc/host" of each keytab entry
	acceptAs string   // "svc/host@REALM" or "svc/host", or "" for any
	permit   *enctypePolicy

	mu      sync.Mutex
	tickets map[string]*kdcTicket // service tickets by "svc/host@REALM"
	s4u     *s4uState             // an S4U credential's user (s4u.go); set before the credential is handed out
}

// Free is SpFreeCredentialsHandle. It clears the key bytes of the keytabs
// the credential loaded (the acceptor's, and a client keytab), of its TGTs
// and of its service tickets, so that they do not outlive the handle; a
// call on the freed credential fails with SEC_E_NO_CREDENTIALS.
func (c *credential) Free() {
	c.mu.Lock()
	c.freed = true
	for _, t := range c.tgts {
		t.wipe()
	}
	for _, t := range c.tickets {
		t.wipe()
	}
	c.tgts, c.tickets = nil, nil
	if c.s4u != nil {
		c.s4u.evidence.wipe()
	}
	wipeKeytab(c.clientKT)
	c.clientKT = nil
	c.mu.Unlock()
	c.ktMu.Lock()
	wipeKeytab(c.kt)
	c.kt = nil
	c.ktMu.Unlock()
}

func wipeKeytab(kt *keytab.Keytab) {
	if kt == nil {
		return
	}
	for i := range kt.Entries {
		clear(kt.Entries[i].Key.KeyValue)
	}
}

// hasKeytab reports whether the credential can accept.
func (c *credential) hasKeytab() bool {
	c.ktMu.RLock()
	defer c.ktMu.RUnlock()
	return c.kt != nil
}

// splitUser splits "user@REALM" or "REALM\user".
func splitUser(user, domain string) (string, string) {
	if i := strings.IndexByte(user, '\\'); i >= 0 {
		return user[i+1:], strings.ToUpper(user[:i])
	}
	if i := strings.LastIndexByte(user, '@'); i >= 0 {
		return user[:i], user[i+1:]
	}
	return user, strings.ToUpper(domain)
}

func (p *Package) acquire(ctx context.Context, req *secpkg.CredentialRequest) (*credential, error) {
	if req == nil || req.Use&sspi.SECPKG_CRED_BOTH == 0 || req.Use&^sspi.SECPKG_CRED_BOTH != 0 {
		return nil, statusErr(sspi.SEC_E_UNKNOWN_CREDENTIALS, "bad credential use")
	}
	c := &credential{pkg: p, use: req.Use}
	var opts map[string]string
	if req.AuthData != nil {
		opts = req.AuthData.Options
	}
	if req.Use&sspi.SECPKG_CRED_INBOUND != 0 {
		if err := c.loadKeytab(opts["keytab"], req.Principal); err != nil {
			return nil, err
		}
	}
	if req.Use&sspi.SECPKG_CRED_OUTBOUND != 0 {
		if err := c.loadOutbound(ctx, req); err != nil {
			c.Free()
			return nil, err
		}
		if c.wantsS4U(req) {
			if err := c.impersonate(ctx, req.Principal); err != nil {
				c.Free()
				return nil, err
			}
		}
	}
	return c, nil
}

func (c *credential) loadKeytab(path, principal string) error {
	if path == "" {
		path = c.pkg.cfg.Keytab
	}
	if path == "" {
		path = os.Getenv("KRB5_KTNAME")
	}
	if path == "" {
		path = "/etc/krb5.keytab"
	}
	path = strings.TrimPrefix(path, "FILE:")
	path = strings.TrimPrefix(path, "WRFILE:")
	kt, err := keytab.Load(path)
	if err != nil {
		return statusErr(sspi.SEC_E_NO_CREDENTIALS, "cannot load keytab "+path)
	}
	if c.permit, _, _, err = c.pkg.enctypePolicies(); err != nil {
		return err
	}
	if err := c.pkg.checkAcceptorPrincipals(kt); err != nil {
		return err
	}
	c.setKeytab(kt)
	c.acceptAs = principal
	if c.acceptAs == "" {
		c.acceptAs = c.pkg.cfg.ServicePrincipal
	}
	if c.acceptAs != "" {
		if spn, realm, err := parseTarget(c.acceptAs); err == nil {
			c.acceptAs = spn
			if realm != "" {
				c.acceptAs += "@" + realm
			}
		}
		found := false
		for _, e := range kt.Entries {
			if spn.Matches(c.acceptAs, strings.Join(e.Principal.Components, "/"), e.Principal.Realm) {
				found = true
				break
			}
		}
		if !found {
			return statusErr(sspi.SEC_E_NO_CREDENTIALS, "principal not in keytab")
		}
	}
	return nil
}

// acceptsPrincipal reports whether Config.AcceptorPrincipals lets the
// acceptor take tickets for name ("svc/host") in realm. A malformed
// pattern matches nothing (checkAcceptorPrincipals refuses it earlier).
func (p *Package) acceptsPrincipal(name, realm string) bool {
	return spn.Accepts(p.cfg.AcceptorPrincipals, name, realm)
}

// checkAcceptorPrincipals refuses malformed AcceptorPrincipals patterns and
// a keytab none of whose principals they accept: a credential that could
// accept nothing is a configuration error better reported now.
func (p *Package) checkAcceptorPrincipals(kt *keytab.Keytab) error {
	if len(p.cfg.AcceptorPrincipals) == 0 {
		return nil
	}
	if err := spn.CheckPatterns(p.cfg.AcceptorPrincipals); err != nil {
		return statusErr(sspi.SEC_E_NO_CREDENTIALS, "AcceptorPrincipals: "+err.Error())
	}
	for _, e := range kt.Entries {
		if p.acceptsPrincipal(strings.Join(e.Principal.Components, "/"), e.Principal.Realm) {
			return nil
		}
	}
	return statusErr(sspi.SEC_E_NO_CREDENTIALS, fmt.Sprintf("no principal of the keytab matches AcceptorPrincipals %q", p.cfg.AcceptorPrincipals))
}

func (c *credential) loadOutbound(ctx context.Context, req *secpkg.CredentialRequest) error {
	cfg, ld, err := c.pkg.krb5Config()
	if err != nil {
		return err
	}
	c.krbConf = cfg
	c.hosts = hostPolicyOf(ld)
	if s4uCandidate(req) {
		// A service that acts for a user needs a forwardable TGT for
		// forwardable S4U tickets (s4u.go).
		cfg.LibDefaults.Forwardable = true
	}
	ad := req.AuthData
	var opts map[string]string
	if ad != nil {
		opts = ad.Options
	}
	switch {
	case ad != nil && ad.Password != "":
		user, realm := splitUser(ad.User, ad.Domain)
		if realm == "" {
			realm = cfg.LibDefaults.DefaultRealm
		}
		if user == "" || realm == "" {
			return statusErr(sspi.SEC_E_NO_CREDENTIALS, "no user or realm")
		}
		// AS-REQ with PA-ENC-TIMESTAMP in the key of the KDC's
		// ETYPE-INFO2; the password is not kept.
		return c.login(ctx, user, realm, clientKey{password: ad.Password})
	case opts["keytab"] != "" && req.Use == sspi.SECPKG_CRED_OUTBOUND || opts["client_keytab"] != "":
		path := opts["client_keytab"]
		if path == "" {
			path = opts["keytab"]
		}
		kt, err := keytab.Load(strings.TrimPrefix(path, "FILE:"))
		if err != nil {
			return statusErr(sspi.SEC_E_NO_CREDENTIALS, "cannot load keytab")
		}
		var user, realm string
		if ad != nil {
			user, realm = splitUser(ad.User, ad.Domain)
		}
		if user == "" {
			user, realm = splitUser(req.Principal, realm)
		}
		if realm == "" {
			realm = cfg.LibDefaults.DefaultRealm
		}
		c.clientKT = kt
		return c.login(ctx, user, realm, clientKey{kt: kt})
	default:
		name := opts["ccache"]
		if name == "" {
			name = defaultCCacheName(ld) // ccache_store.go
		}
		// A user named in AuthData picks its cache in a collection, as
		// MIT's gss_acquire_cred picks it for a desired name.
		var want *ccPrincipal
		if ad != nil && ad.User != "" {
			user, realm := splitUser(ad.User, ad.Domain)
			if realm == "" {
				realm = cfg.LibDefaults.DefaultRealm
			}
			want = &ccPrincipal{Realm: realm, Components: strings.Split(user, "/")}
		}
		cc, err := c.pkg.ccEnv(ld).loadFor(ctx, name, want)
		if err == nil {
			err = c.fromCCache(cc)
			cc.wipe()
			if err == nil {
				return nil
			}
		} else {
			err = &sspi.Error{Status: sspi.SEC_E_NO_CREDENTIALS, Detail: "no usable credential cache " + name, Err: err}
		}
		// No TGT in the ccache: the client keytab, as MIT's initiator
		// takes it.
		if kt, path := clientKeytab(ld); kt != nil {
			var user, realm string
			if ad != nil {
				user, realm = splitUser(ad.User, ad.Domain)
			}
			if user == "" {
				user, realm = splitUser(req.Principal, realm)
			}
			if user == "" && len(kt.Entries) > 0 {
				e := kt.Entries[0].Principal
				user, realm = strings.Join(e.Components, "/"), e.Realm
			}
			if realm == "" {
				realm = cfg.LibDefaults.DefaultRealm
			}
			c.clientKT = kt
			if err := c.login(ctx, user, realm, clientKey{kt: kt}); err != nil {
				return withDetail(err, "client keytab "+path)
			}
			return nil
		}
		if req.Use == sspi.SECPKG_CRED_BOTH {
			return nil // inbound only, in effect
		}
		return err
	}
}

// clientKeytab loads the client keytab, as MIT names it: KRB5_CLIENT_KTNAME,
// else krb5.conf's default_client_keytab_name, else the compiled-in
// default of the usual builds (Debian and Ubuntu, then Fedora and RHEL,
// then MIT's own), the first that exists; %{uid}, %{euid}, %{TEMP} and
// %{null} are expanded. It returns nil when there is none.
func clientKeytab(ld libdefaults) (*keytab.Keytab, string) {
	var names []string
	switch {
	case os.Getenv("KRB5_CLIENT_KTNAME") != "":
		names = []string{os.Getenv("KRB5_CLIENT_KTNAME")}
	case ld.clientKeytab != nil:
		names = []string{*ld.clientKeytab}
	default:
		names = []string{
			"FILE:/etc/krb5/user/%{euid}/client.keytab",
			"FILE:/var/kerberos/krb5/user/%{euid}/client.keytab",
			"FILE:/usr/local/var/krb5/user/%{euid}/client.keytab",
		}
	}
	for _, n := range names {
		path := expandKrb5Path(n)
		if rest, ok := strings.CutPrefix(path, "FILE:"); ok {
			path = rest
		} else if strings.Contains(path, ":") && !strings.HasPrefix(path, "/") {
			continue // another keytab type
		}
		if kt, err := keytab.Load(path); err == nil && len(kt.Entries) > 0 {
			return kt, path
		}
	}
	return nil, ""
}

// expandKrb5Path expands MIT's path parameters %{uid}, %{euid}, %{TEMP}
// and %{null}.
func expandKrb5Path(s string) string {
	return strings.NewReplacer(
		"%{uid}", strconv.Itoa(os.Getuid()),
		"%{euid}", strconv.Itoa(os.Geteuid()),
		"%{TEMP}", os.TempDir(),
		"%{null}", "",
	).Replace(s)
}

// login runs the AS exchange for user@realm and keeps the TGT.
func (c *credential) login(ctx context.Context, user, realm string, ck clientKey) error {
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user)
	tgt, cn, cr, err := c.pkg.asExchange(ctx, c.krbConf, cname, realm, ck)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.freed {
		tgt.wipe()
		return statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential freed")
	}
	c.setTGT(cr, tgt)
	c.expiry = tgt.endTime
	if !c.outbound {
		// The names and flags are set once: a TGT renewed from the
		// client keytab is for the same principal.
		c.cname, c.realm = cn, cr
		c.tgtFwd = tgt.forwardable()
		c.outbound = true
	}
	return nil
}

// expiryTime is the end time of the credential's TGT.
func (c *credential) expiryTime() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.expiry
}

// setTGT keeps a TGT for the realm whose KDC takes it; c.mu is held.
func (c *credential) setTGT(realm string, t *kdcTicket) {
	if c.tgts == nil {
		c.tgts = make(map[string]*kdcTicket)
	}
	if old := c.tgts[realm]; old != nil && old != t {
		old.wipe()
	}
	c.tgts[realm] = t
}

// fromCCache takes the TGT and the service tickets of an MIT ccache
// (parsed here: gokrb5's own loader cannot read MIT's configuration
// entries).
func (c *credential) fromCCache(cc *ccache) error {
	now := c.pkg.now()
	var home *kdcTicket
	tgts, tickets := map[string]*kdcTicket{}, map[string]*kdcTicket{}
	for i := range cc.Creds {
		cr := &cc.Creds[i]
		if !cr.EndTime.IsZero() && now.After(cr.EndTime) || cr.IsSKey {
			continue
		}
		var t messages.Ticket
		if err := safeUnmarshal(func() error { return t.Unmarshal(cr.Ticket) }); err != nil {
			continue
		}
		kt := &kdcTicket{
			ticket: t, der: cr.Ticket,
			key:      types.EncryptionKey{KeyType: cr.KeyType, KeyValue: append([]byte(nil), cr.Key...)},
			flags:    asn1.BitString{Bytes: binary.BigEndian.AppendUint32(nil, cr.Flags), BitLength: 32},
			authTime: cr.AuthTime, startTime: cr.StartTime, endTime: cr.EndTime, renewTill: cr.RenewTill,
		}
		if len(cr.Server.Components) == 2 && cr.Server.Components[0] == "krbtgt" {
			tgts[cr.Server.Components[1]].wipe()
			tgts[cr.Server.Components[1]] = kt
			if cr.Server.Components[1] == cc.Principal.Realm && cr.Server.Realm == cc.Principal.Realm {
				home = kt
			}
			continue
		}
		tickets[cr.Server.String()].wipe()
		tickets[cr.Server.String()] = kt
	}
	if home == nil {
		for _, t := range tgts {
			t.wipe()
		}
		for _, t := range tickets {
			t.wipe()
		}
		return statusErr(sspi.SEC_E_NO_CREDENTIALS, "no valid TGT in the credential cache")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tgts, c.tickets = tgts, tickets
	c.outbound = true
	c.cname = types.PrincipalName{NameType: cc.Principal.NameType, NameString: cc.Principal.Components}
	c.realm = cc.Principal.Realm
	c.expiry = home.endTime
	c.tgtFwd = home.forwardable()
	return nil
}

// parseTarget turns a target name into an SPN and an optional realm:
// "HTTP/host", "HTTP/host@REALM" and the GSS host-based form "HTTP@host".
func parseTarget(t string) (spn, realm string, err error) {
	t = strings.TrimSpace(t)
	if t == "" {
		return "", "", statusErr(sspi.SEC_E_TARGET_UNKNOWN, "empty target name")
	}
	if strings.Contains(t, "/") {
		if i := strings.LastIndexByte(t, '@'); i >= 0 {
			return t[:i], t[i+1:], nil
		}
		return t, "", nil
	}
	if i := strings.IndexByte(t, '@'); i > 0 && i < len(t)-1 {
		return t[:i] + "/" + t[i+1:], "", nil
	}
	return "", "", statusErr(sspi.SEC_E_TARGET_UNKNOWN, "target name is not service/host or service@host")
}

func principalString(pn types.PrincipalName, realm string) string {
	return strings.Join(pn.NameString, "/") + "@" + realm
}

// outboundState returns what a KDC exchange needs, or an error when the
// credential has no outbound part or was freed.
func (c *credential) outboundState() (*config.Config, types.PrincipalName, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.outbound || c.freed {
		return nil, types.PrincipalName{}, "", statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential has no outbound part")
	}
	return c.krbConf, c.cname, c.realm, nil
}

// tgtFor returns a copy (the caller wipes it) of a TGT that the KDC of
// realm takes: ours for our realm (a new one from the client keytab when
// it expired), else a cross-realm TGT got with ours. The network
// exchanges run without c.mu held, so that a KDC that does not answer
// blocks only the callers waiting on it, each until its own context ends;
// copies let the cache replace and wipe its entries meanwhile.
func (c *credential) tgtFor(ctx context.Context, realm string) (*kdcTicket, error) {
	cfg, cname, crealm, err := c.outboundState()
	if err != nil {
		return nil, err
	}
	now := c.pkg.now()
	c.mu.Lock()
	t := c.tgts[realm]
	kt := c.clientKT
	if t.valid(now) || realm == crealm && kt == nil && t != nil {
		// An expired TGT without a keytab to renew it is sent all the
		// same: the KDC says so (KRB_AP_ERR_TKT_EXPIRED).
		t = t.clone()
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()
	if realm == crealm {
		if kt == nil {
			return nil, statusErr(sspi.SEC_E_NO_CREDENTIALS, "no TGT for "+principalString(cname, crealm))
		}
		user := strings.Join(cname.NameString, "/")
		if err := c.login(ctx, user, crealm, clientKey{kt: kt}); err != nil {
			return nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.freed || c.tgts[realm] == nil {
			return nil, statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential freed")
		}
		return c.tgts[realm].clone(), nil
	}
	home, err := c.tgtFor(ctx, crealm)
	if err != nil {
		return nil, err
	}
	defer home.wipe()
	sname := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", realm}}
	cross, err := c.pkg.tgsExchange(ctx, cfg, cname, crealm, home, sname, crealm, nil, nil)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.freed {
		cross.wipe()
		return nil, statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential freed")
	}
	c.setTGT(realm, cross)
	return cross.clone(), nil
}

// serviceTicket gets a ticket for the SPN ("svc/host") through the TGS of
// realm (the target's explicit realm; else the domain_realm mapping of
// the host; else ours), following referrals; an S4U credential's by
// S4U2Proxy. It returns the ticket, its DER, a copy of the session key (a
// context clears its keys when deleted) and the ticket flags.
func (c *credential) serviceTicket(ctx context.Context, spn, realm string) (messages.Ticket, []byte, types.EncryptionKey, asn1.BitString, error) {
	fail := func(err error) (messages.Ticket, []byte, types.EncryptionKey, asn1.BitString, error) {
		return messages.Ticket{}, nil, types.EncryptionKey{}, asn1.BitString{}, err
	}
	cfg, cname, crealm, err := c.outboundState()
	if err != nil {
		return fail(err)
	}
	sname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, spn)
	if len(sname.NameString) > 1 {
		// A service instance, as Windows names an SPN in a TGS-REQ
		// (MS-KILE 3.3.5.1.1); KDCs refer only such names.
		sname.NameType = nametype.KRB_NT_SRV_INST
	}
	if realm == "" && len(sname.NameString) > 1 {
		realm = cfg.ResolveRealm(sname.NameString[len(sname.NameString)-1])
	}
	if realm == "" {
		// No realm known for the host: ask our own KDC with the
		// canonicalize option, so that it can answer with a referral
		// to the realm that holds the service (RFC 6806 sections 8
		// and 12; MIT's "referral realm").
		realm = crealm
		if !cfg.LibDefaults.Canonicalize && len(sname.NameString) > 1 {
			canon := *cfg
			canon.LibDefaults.Canonicalize = true
			cfg = &canon
		}
	}
	key := spn + "@" + realm
	now := c.pkg.now()
	c.mu.Lock()
	if t := c.tickets[key]; t.valid(now) && !c.freed {
		k := copyKey(t.key)
		c.mu.Unlock()
		return t.ticket, t.der, k, t.flags, nil
	}
	c.mu.Unlock()
	var t *kdcTicket
	if c.s4u != nil {
		if t, err = c.s4uServiceTicket(ctx, sname, realm); err != nil {
			return fail(err)
		}
		return c.keepTicket(key, t)
	}
	tgt, err := c.tgtFor(ctx, realm)
	if err != nil {
		return fail(err)
	}
	for hops := 0; ; hops++ {
		t, err = c.pkg.tgsExchange(ctx, cfg, cname, crealm, tgt, sname, realm, nil, nil)
		tgt.wipe()
		if err != nil {
			return fail(err)
		}
		r, ok := isReferral(t, sname)
		if !ok {
			break
		}
		if hops >= maxReferrals {
			t.wipe()
			return fail(statusErr(sspi.SEC_E_MAX_REFERRALS_EXCEEDED, "TGS exchange for "+key+": too many referrals"))
		}
		c.mu.Lock()
		c.setTGT(r, t)
		tgt = t.clone()
		c.mu.Unlock()
	}
	return c.keepTicket(key, t)
}

// keepTicket keeps a service ticket under key and returns what
// serviceTicket returns of it.
func (c *credential) keepTicket(key string, t *kdcTicket) (messages.Ticket, []byte, types.EncryptionKey, asn1.BitString, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.freed {
		t.wipe()
		return messages.Ticket{}, nil, types.EncryptionKey{}, asn1.BitString{}, statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential freed")
	}
	if c.tickets == nil || len(c.tickets) > 256 {
		for _, old := range c.tickets {
			old.wipe()
		}
		c.tickets = make(map[string]*kdcTicket)
	}
	if old := c.tickets[key]; old != nil {
		old.wipe()
	}
	c.tickets[key] = t
	return t.ticket, t.der, copyKey(t.key), t.flags, nil
}

// forwardedTGT gets a forwarded TGT (KDC options forwardable|forwarded)
// for delegation.
func (c *credential) forwardedTGT(ctx context.Context) (*kdcTicket, error) {
	cfg, cname, crealm, err := c.outboundState()
	if err != nil {
		return nil, err
	}
	tgt, err := c.tgtFor(ctx, crealm)
	if err != nil {
		return nil, err
	}
	defer tgt.wipe()
	opts := types.NewKrbFlags()
	types.SetFlag(&opts, flags.Forwardable)
	types.SetFlag(&opts, flags.Forwarded)
	sname := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", crealm}}
	t, err := c.pkg.tgsExchange(ctx, cfg, cname, crealm, tgt, sname, crealm, &opts, nil)
	if err != nil {
		return nil, withDetail(err, "forwarded TGT")
	}
	return t, nil
}

func (c *credential) setKeytab(kt *keytab.Keytab) {
	c.kt = kt
	c.ktNames = make([]string, len(kt.Entries))
	for i, e := range kt.Entries {
		c.ktNames[i] = strings.Join(e.Principal.Components, "/")
	}
}
