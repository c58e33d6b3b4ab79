package kerberos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/sspi"
)

// credential is a Kerberos credential handle's state. Outbound, it holds a
// gokrb5 client with a TGT (the password, when one was given, is used for
// the AS exchange and then dropped). Inbound, it holds the keytab.
type credential struct {
	pkg    *Package
	use    sspi.CredentialUse
	expiry time.Time

	// outbound
	krbConf *config.Config
	cl      *client.Client
	cname   types.PrincipalName
	realm   string
	tgtFwd  bool // the TGT is forwardable

	clientKT *keytab.Keytab // the client_keytab, when the TGT came from one

	// inbound
	ktMu     sync.RWMutex // kt; Free wipes it under the write lock
	kt       *keytab.Keytab
	ktNames  []string // "svc/host" of each keytab entry
	acceptAs string   // "svc/host@REALM" or "svc/host", or "" for any
	permit   *enctypePolicy

	mu      sync.Mutex
	tickets map[string]ticketDER // encoded service tickets by SPN
}

// ticketDER is a service ticket in DER, kept so that each AP-REQ does not
// re-encode it; cipher identifies the gokrb5 cache entry it came from.
type ticketDER struct {
	cipher []byte
	der    []byte
}

// Free is SpFreeCredentialsHandle. It clears the key bytes of the keytabs
// the credential loaded (the acceptor's, and a client_keytab, which gokrb5
// holds by reference), so that they do not outlive the handle; an accept
// on the freed credential fails with SEC_E_NO_CREDENTIALS.
func (c *credential) Free() {
	c.mu.Lock()
	if c.cl != nil {
		c.cl.Destroy()
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

var krbErrRe = regexp.MustCompile(`\((\d+)\) (KDC_ERR|KRB_AP_ERR|KRB_ERR)`)

// kdcErr turns a gokrb5 error into a status: the KRB-ERROR code when there
// was one, else no authority.
func kdcErr(op string, err error) error {
	var ke messages.KRBError
	if errors.As(err, &ke) {
		return statusErr(krbErrorStatus(ke.ErrorCode), op+": "+ke.Error())
	}
	if strings.Contains(err.Error(), "error decrypting EncPart of AS_REP") {
		// No pre-authentication required, and the reply does not decrypt
		// with our key: the password is wrong.
		return statusErr(sspi.SEC_E_LOGON_DENIED, op+": wrong password or key")
	}
	if m := krbErrRe.FindStringSubmatch(err.Error()); m != nil {
		code, _ := strconv.Atoi(m[1])
		return statusErr(krbErrorStatus(int32(code)), op+": KDC error "+m[1])
	}
	return statusErr(sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY, op+": "+err.Error())
}

func (p *Package) acquire(ctx context.Context, req *sspi.CredentialRequest) (*credential, error) {
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
		if err := c.loadOutbound(req); err != nil {
			if c.cl != nil {
				c.cl.Destroy()
			}
			return nil, err
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
			if principalMatches(c.acceptAs, strings.Join(e.Principal.Components, "/"), e.Principal.Realm) {
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
	if len(p.cfg.AcceptorPrincipals) == 0 {
		return true
	}
	name = strings.ToLower(name)
	full := name + "@" + strings.ToLower(realm)
	for _, pat := range p.cfg.AcceptorPrincipals {
		pat = strings.ToLower(strings.TrimSpace(pat))
		subject := name
		if strings.Contains(pat, "@") {
			subject = full
		}
		if ok, err := path.Match(pat, subject); ok && err == nil {
			return true
		}
	}
	return false
}

// checkAcceptorPrincipals refuses malformed AcceptorPrincipals patterns and
// a keytab none of whose principals they accept: a credential that could
// accept nothing is a configuration error better reported now.
func (p *Package) checkAcceptorPrincipals(kt *keytab.Keytab) error {
	if len(p.cfg.AcceptorPrincipals) == 0 {
		return nil
	}
	for _, pat := range p.cfg.AcceptorPrincipals {
		if _, err := path.Match(strings.ToLower(strings.TrimSpace(pat)), ""); err != nil {
			return statusErr(sspi.SEC_E_NO_CREDENTIALS, fmt.Sprintf("AcceptorPrincipals: malformed pattern %q", pat))
		}
	}
	for _, e := range kt.Entries {
		if p.acceptsPrincipal(strings.Join(e.Principal.Components, "/"), e.Principal.Realm) {
			return nil
		}
	}
	return statusErr(sspi.SEC_E_NO_CREDENTIALS, fmt.Sprintf("no principal of the keytab matches AcceptorPrincipals %q", p.cfg.AcceptorPrincipals))
}

// principalMatches compares a configured "svc/host[@REALM]" with a name
// and realm.
func principalMatches(want, name, realm string) bool {
	if i := strings.LastIndexByte(want, '@'); i >= 0 {
		return want[:i] == name && strings.EqualFold(want[i+1:], realm)
	}
	return want == name
}

func (c *credential) loadOutbound(req *sspi.CredentialRequest) error {
	cfg, err := c.pkg.krb5Config()
	if err != nil {
		return err
	}
	c.krbConf = cfg
	ad := req.AuthData
	var opts map[string]string
	if ad != nil {
		opts = ad.Options
	}
	settings := []func(*client.Settings){client.DisablePAFXFAST(true)}
	switch {
	case ad != nil && ad.Password != "":
		user, realm := splitUser(ad.User, ad.Domain)
		if realm == "" {
			realm = cfg.LibDefaults.DefaultRealm
		}
		if user == "" || realm == "" {
			return statusErr(sspi.SEC_E_NO_CREDENTIALS, "no user or realm")
		}
		// AS-REQ with PA-ENC-TIMESTAMP; gokrb5 takes the salt from the
		// KDC's ETYPE-INFO2. The password is dropped after the exchange.
		c.cl = client.NewWithPassword(user, realm, ad.Password, cfg, settings...)
		if err := c.cl.Login(); err != nil {
			return kdcErr("AS exchange", err)
		}
		c.cl.Credentials.WithPassword("")
		c.cname, c.realm = c.cl.Credentials.CName(), realm
		c.tgtFwd = cfg.LibDefaults.Forwardable
	case opts["keytab"] != "" && req.Use == sspi.SECPKG_CRED_OUTBOUND || opts["client_keytab"] != "":
		path := opts["client_keytab"]
		if path == "" {
			path = opts["keytab"]
		}
		kt, err := keytab.Load(strings.TrimPrefix(path, "FILE:"))
		if err != nil {
			return statusErr(sspi.SEC_E_NO_CREDENTIALS, "cannot load keytab")
		}
		user, realm := splitUser(ad.User, ad.Domain)
		if user == "" {
			user, realm = splitUser(req.Principal, realm)
		}
		if realm == "" {
			realm = cfg.LibDefaults.DefaultRealm
		}
		c.clientKT = kt
		c.cl = client.NewWithKeytab(user, realm, kt, cfg, settings...)
		if err := c.cl.Login(); err != nil {
			return kdcErr("AS exchange", err)
		}
		c.cname, c.realm = c.cl.Credentials.CName(), realm
		c.tgtFwd = cfg.LibDefaults.Forwardable
	default:
		name := opts["ccache"]
		if name == "" {
			name = os.Getenv("KRB5CCNAME")
		}
		if name == "" {
			name = fmt.Sprintf("FILE:/tmp/krb5cc_%d", os.Getuid())
		}
		cc, err := loadCCache(name)
		if err != nil {
			if req.Use == sspi.SECPKG_CRED_BOTH {
				return nil // inbound only, in effect
			}
			return statusErr(sspi.SEC_E_NO_CREDENTIALS, "no usable credential cache")
		}
		return c.fromCCache(cc, cfg, settings)
	}
	c.expiry = c.pkg.now().Add(time.Duration(cfg.LibDefaults.TicketLifetime))
	return nil
}

// fromCCache builds the gokrb5 client from our parsed ccache: gokrb5's own
// loader cannot read MIT's configuration entries.
func (c *credential) fromCCache(cc *ccache, cfg *config.Config, settings []func(*client.Settings)) error {
	g := new(credentials.CCache)
	g.Version = 4
	g.DefaultPrincipal.Realm = cc.Principal.Realm
	g.DefaultPrincipal.PrincipalName = types.PrincipalName{NameType: cc.Principal.NameType, NameString: cc.Principal.Components}
	var tgt *ccCred
	now := c.pkg.now()
	for i := range cc.Creds {
		cr := &cc.Creds[i]
		if !cr.EndTime.IsZero() && now.After(cr.EndTime) {
			continue
		}
		var t messages.Ticket
		if err := safeUnmarshal(func() error { return t.Unmarshal(cr.Ticket) }); err != nil {
			continue
		}
		gc := &credentials.Credential{
			Key:       types.EncryptionKey{KeyType: cr.KeyType, KeyValue: cr.Key},
			AuthTime:  cr.AuthTime,
			StartTime: cr.StartTime,
			EndTime:   cr.EndTime,
			RenewTill: cr.RenewTill,
			Ticket:    cr.Ticket,
		}
		gc.Client.Realm = cr.Client.Realm
		gc.Client.PrincipalName = types.PrincipalName{NameType: cr.Client.NameType, NameString: cr.Client.Components}
		gc.Server.Realm = cr.Server.Realm
		gc.Server.PrincipalName = types.PrincipalName{NameType: cr.Server.NameType, NameString: cr.Server.Components}
		g.Credentials = append(g.Credentials, gc)
		if len(cr.Server.Components) == 2 && cr.Server.Components[0] == "krbtgt" && cr.Server.Components[1] == cc.Principal.Realm {
			tgt = cr
		}
	}
	if tgt == nil {
		return statusErr(sspi.SEC_E_NO_CREDENTIALS, "no valid TGT in the credential cache")
	}
	cl, err := client.NewFromCCache(g, cfg, settings...)
	if err != nil {
		return statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential cache: "+err.Error())
	}
	c.cl = cl
	c.cname = g.DefaultPrincipal.PrincipalName
	c.realm = cc.Principal.Realm
	c.expiry = tgt.EndTime
	c.tgtFwd = tgt.Flags&(1<<30) != 0 // TicketFlags bit 1, forwardable
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

// serviceTicket gets a ticket for the SPN through the TGS.
func (c *credential) serviceTicket(spn string) (messages.Ticket, types.EncryptionKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cl == nil {
		return messages.Ticket{}, types.EncryptionKey{}, statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential has no outbound part")
	}
	tkt, key, err := c.cl.GetServiceTicket(spn)
	if err != nil {
		return tkt, key, kdcErr("TGS exchange", err)
	}
	// gokrb5 hands out the key of its ticket cache: copy it, since a
	// context clears its keys when deleted.
	key.KeyValue = append([]byte(nil), key.KeyValue...)
	return tkt, key, nil
}

// serviceTicketDER is serviceTicket with the ticket also in DER.
func (c *credential) serviceTicketDER(spn string) (messages.Ticket, []byte, types.EncryptionKey, error) {
	tkt, key, err := c.serviceTicket(spn)
	if err != nil {
		return tkt, nil, key, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.tickets[spn]; ok && bytes.Equal(e.cipher, tkt.EncPart.Cipher) {
		return tkt, e.der, key, nil
	}
	b, err := tkt.Marshal()
	if err != nil {
		return tkt, nil, key, statusErr(sspi.SEC_E_INTERNAL_ERROR, "ticket encoding")
	}
	if c.tickets == nil || len(c.tickets) > 256 {
		c.tickets = make(map[string]ticketDER)
	}
	c.tickets[spn] = ticketDER{cipher: tkt.EncPart.Cipher, der: b}
	return tkt, b, key, nil
}

// forwardedTGT gets a forwarded TGT (KDC options forwardable|forwarded)
// for delegation: a TGS exchange for krbtgt/REALM, then another with the
// forwarded option, since gokrb5 keeps its TGT private.
func (c *credential) forwardedTGT() (messages.Ticket, messages.EncKDCRepPart, error) {
	krbtgt := "krbtgt/" + c.realm
	tgt, key, err := c.serviceTicket(krbtgt)
	if err != nil {
		return messages.Ticket{}, messages.EncKDCRepPart{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg := *c.krbConf
	opts := types.NewKrbFlags()
	types.SetFlag(&opts, 1) // forwardable
	types.SetFlag(&opts, 2) // forwarded
	cfg.LibDefaults.KDCDefaultOptions = opts
	sname := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", c.realm}}
	req, err := messages.NewTGSReq(c.cname, c.realm, &cfg, tgt, key, sname, false)
	if err != nil {
		return messages.Ticket{}, messages.EncKDCRepPart{}, statusErr(sspi.SEC_E_INTERNAL_ERROR, "TGS-REQ: "+err.Error())
	}
	_, rep, err := c.cl.TGSExchange(req, c.realm, tgt, key, 0)
	if err != nil {
		return messages.Ticket{}, messages.EncKDCRepPart{}, kdcErr("forwarded TGT", err)
	}
	return rep.Ticket, rep.DecryptedEncPart, nil
}

func (c *credential) setKeytab(kt *keytab.Keytab) {
	c.kt = kt
	c.ktNames = make([]string, len(kt.Entries))
	for i, e := range kt.Entries {
		c.ktNames[i] = strings.Join(e.Principal.Components, "/")
	}
}
