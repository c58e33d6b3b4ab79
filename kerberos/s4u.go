package kerberos

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Service for User (MS-SFU): a service with credentials of its own gets
// tickets on behalf of a user.
//
// S4U2Self (protocol transition, MS-SFU 3.1.5.1) is a TGS-REQ for the
// service itself with PA-FOR-USER and PA-S4U-X509-USER naming the user; the
// KDC answers with a ticket to the service whose client is the user, with
// the user's PAC. It is forwardable only when the service is trusted to
// authenticate for delegation (TRUSTED_TO_AUTH_FOR_DELEGATION).
//
// S4U2Proxy (constrained delegation, MS-SFU 3.1.5.2) is a TGS-REQ for
// another service with that ticket (the evidence ticket) as additional
// ticket and the KDC option cname-in-addl-tkt; PA-PAC-OPTIONS with the
// resource-based-constrained-delegation bit lets the KDC also grant it
// from the far service's msDS-AllowedToActOnBehalfOfOtherIdentity (RBCD),
// as Windows always asks. The KDC's refusal (KDC_ERR_BADOPTION when the
// service may not delegate to that target or the evidence ticket is not
// forwardable, KDC_ERR_POLICY...) comes back as a *KDCError by name.

// tgsExtra adds S4U to a TGS exchange (tgsExchange) and checks its reply.
// A nil *tgsExtra is a plain TGS exchange.
type tgsExtra struct {
	kind    string // "S4U2Self" or "S4U2Proxy", for errors
	options []int  // KDC options to set
	addl    []messages.Ticket
	// forUser, for S4U2Self, is the user of PA-FOR-USER and
	// PA-S4U-X509-USER; userID is the S4UUserID sent, for the reply's check.
	forUser *s4uUser
	userID  *s4uUserID
	// pacOptions, for S4U2Proxy, are the PA-PAC-OPTIONS flags.
	pacOptions uint32
	// client is who the reply's ticket must be for: the user; gotName and
	// gotRealm are the reply's spelling of it.
	client   s4uUser
	gotName  types.PrincipalName
	gotRealm string
	// kt, for S4U2Self, is the service's keytab, when it has one.
	kt *keytab.Keytab
}

func (x *tgsExtra) op() string {
	if x == nil {
		return "TGS exchange"
	}
	u := strings.Join(x.client.name.Names, "/") + "@" + x.client.realm
	if x.forUser != nil {
		return x.kind + " for " + u
	}
	return x.kind + " as " + u
}

func (x *tgsExtra) applyBody(b *messages.KDCReqBody) {
	if x == nil {
		return
	}
	for _, o := range x.options {
		types.SetFlag(&b.KDCOptions, o)
	}
	b.AdditionalTickets = x.addl
}

// padata returns the S4U pre-authentication data, after PA-TGS-REQ: the
// KDC reads PA-S4U-X509-USER before PA-FOR-USER (MS-SFU 3.2.5.1.1), and
// Windows sends both.
func (x *tgsExtra) padata(b *messages.KDCReqBody, key types.EncryptionKey) (types.PADataSequence, error) {
	if x == nil {
		return nil, nil
	}
	var pas types.PADataSequence
	if x.forUser != nil {
		pas = append(pas, types.PAData{PADataType: paForUser, PADataValue: encodePAForUser(key.KeyValue, *x.forUser)})
		x.userID = &s4uUserID{
			nonce: uint32(b.Nonce), cname: x.forUser.name, hasName: true, crealm: x.forUser.realm,
			options: s4uOptReplyKeyUsage, hasOpts: true,
		}
		v, err := encodePAS4UX509User(key, x.userID)
		if err != nil {
			return nil, err
		}
		pas = append(pas, types.PAData{PADataType: paS4UX509User, PADataValue: v})
	}
	if x.pacOptions != 0 {
		pas = append(pas, types.PAData{PADataType: paPACOptions, PADataValue: encodePAPACOptions(x.pacOptions)})
	}
	return pas, nil
}

// checkReply checks the TGS-REP of an S4U request: its client is the
// user and, for S4U2Self, the KDC's copy of PA-S4U-X509-USER verifies
// (MS-SFU 3.1.5.1.2): its checksum, in the TGT session key, binds the
// reply to the user we asked for. A KDC that ignores PA-S4U-X509-USER and
// sends none back (Samba 4.17's, which reads PA-FOR-USER only) is taken at
// the word of the reply's clear client name, and, when the service has a
// keytab, of the client name inside the ticket, which only the KDC can
// encrypt.
func (x *tgsExtra) checkReply(rep *messages.TGSRep, part *messages.EncKDCRepPart, key types.EncryptionKey) error {
	got := principalName{NameType: rep.CName.NameType, Names: rep.CName.NameString}
	if !sameName(got, x.client.name) || !equalFoldASCII(rep.CRealm, x.client.realm) {
		return statusErr(sspi.SEC_E_INTERNAL_ERROR, "the TGS-REP is for "+principalString(rep.CName, rep.CRealm)+", not the user")
	}
	x.gotName, x.gotRealm = rep.CName, rep.CRealm
	if x.userID == nil {
		return nil
	}
	for _, pas := range []types.PADataSequence{rep.PAData, part.EncPAData} {
		for _, pa := range pas {
			if pa.PADataType == paS4UX509User {
				return verifyS4UReply(pa.PADataValue, key, x.userID)
			}
		}
	}
	if x.kt != nil {
		return x.checkTicketClient(rep.Ticket)
	}
	return nil
}

// checkTicketClient decrypts an S4U2Self ticket with the service's keytab
// and checks that its client is the user.
func (x *tgsExtra) checkTicketClient(tkt messages.Ticket) error {
	key, err := x.ticketKey(&tkt)
	if err == nil {
		err = safeUnmarshal(func() error { return tkt.Decrypt(key) })
	}
	defer clear(tkt.DecryptedEncPart.Key.KeyValue)
	if err != nil {
		// A ticket under a name the keytab lacks (S4U2Self for the
		// account name of a keytab holding only SPNs): nothing to check
		// it with.
		return nil
	}
	p := tkt.DecryptedEncPart
	if !sameName(principalName{Names: p.CName.NameString}, x.client.name) || !equalFoldASCII(p.CRealm, x.client.realm) {
		return statusErr(sspi.SEC_E_MESSAGE_ALTERED, "the S4U2Self ticket is for "+principalString(p.CName, p.CRealm)+", not the user")
	}
	return nil
}

// s4uState is what an S4U credential holds besides the service's TGT: the
// user, as the KDC spelled it, and the evidence ticket (the S4U2Self
// ticket, to the service itself).
type s4uState struct {
	user     types.PrincipalName
	realm    string
	evidence *kdcTicket
}

// s4u2Self gets a ticket to the service, under its name sname (nil: the
// name of its TGT's client), on behalf of user@urealm.
func (p *Package) s4u2Self(ctx context.Context, cred *credential, user types.PrincipalName, urealm string, sname *types.PrincipalName) (*kdcTicket, types.PrincipalName, string, error) {
	cfg, cname, crealm, err := cred.outboundState()
	if err != nil {
		return nil, user, urealm, err
	}
	tgt, err := cred.tgtFor(ctx, crealm)
	if err != nil {
		return nil, user, urealm, err
	}
	defer tgt.wipe()
	cred.mu.Lock()
	kt := cred.clientKT
	cred.mu.Unlock()
	if sname == nil {
		sname = &cname
	}
	for try := 0; ; try++ {
		u := s4uUser{name: principalName{NameType: user.NameType, Names: user.NameString}, realm: urealm}
		x := &tgsExtra{kind: "S4U2Self", forUser: &u, client: u, kt: kt}
		if tgt.forwardable() {
			// The KDC refuses forwardable from a TGT that is not
			// (KDC_ERR_BADOPTION); it grants it to services trusted to
			// authenticate for delegation.
			x.options = append(x.options, flags.Forwardable)
		}
		t, err := p.tgsExchange(ctx, cfg, cname, crealm, tgt, *sname, crealm, nil, x)
		if err != nil {
			return nil, user, urealm, err
		}
		// A KDC that spells the client as asked (Samba 4.17: "ALICE" for
		// alice) makes tickets with that spelling down the S4U2Proxy
		// chain; the PAC has the account's. With a keytab, ask again
		// under it, once, so that the far service sees the account's name.
		if acct := x.pacAccountName(t.ticket); try == 0 && acct != "" && acct != strings.Join(x.gotName.NameString, "/") {
			t.wipe()
			user = types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, acct)
			continue
		}
		return t, x.gotName, x.gotRealm, nil
	}
}

// s4u2Proxy gets a ticket to sname@realm for the user of the evidence
// ticket, with the service's TGT.
func (c *credential) s4u2Proxy(ctx context.Context, st *s4uState, sname types.PrincipalName, realm string) (*kdcTicket, error) {
	cfg, cname, crealm, err := c.outboundState()
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(realm, crealm) {
		// Cross-realm S4U2Proxy (MS-SFU 3.1.5.2.2) follows referrals with
		// the evidence ticket; not done here.
		return nil, statusErr(sspi.SEC_E_TARGET_UNKNOWN, "S4U2Proxy to "+principalString(sname, realm)+": the target is in another realm than the service "+crealm)
	}
	tgt, err := c.tgtFor(ctx, crealm)
	if err != nil {
		return nil, err
	}
	defer tgt.wipe()
	x := &tgsExtra{
		kind:       "S4U2Proxy",
		options:    []int{kdcOptCNameInAddlTkt},
		addl:       []messages.Ticket{st.evidence.ticket},
		pacOptions: pacOptionRBCD,
		client:     s4uUser{name: principalName{NameType: st.user.NameType, Names: st.user.NameString}, realm: st.realm},
	}
	if tgt.forwardable() {
		x.options = append(x.options, flags.Forwardable)
	}
	t, err := c.pkg.tgsExchange(ctx, cfg, cname, crealm, tgt, sname, realm, nil, x)
	if err != nil {
		return nil, err
	}
	if _, ok := isReferral(t, sname); ok {
		t.wipe()
		return nil, statusErr(sspi.SEC_E_TARGET_UNKNOWN, "S4U2Proxy to "+principalString(sname, realm)+": the KDC answered with a referral")
	}
	return t, nil
}

// wantsS4U reports whether an outbound-only credential request names, in
// its principal, a user other than the owner of the credentials it
// supplies (the service): AcquireCredentialsHandle for a user principal
// with the service's credentials. An SPN-like principal ("svc/host") is
// never a user.
func (c *credential) wantsS4U(req *secpkg.CredentialRequest) bool {
	if req.Use != sspi.SECPKG_CRED_OUTBOUND || req.Principal == "" || strings.Contains(req.Principal, "/") {
		return false
	}
	user, realm := splitUser(req.Principal, "")
	_, cname, crealm, err := c.outboundState()
	if err != nil {
		return false
	}
	if realm == "" {
		realm = crealm
	}
	return !sameName(principalName{Names: []string{user}}, principalName{Names: cname.NameString}) || !equalFoldASCII(realm, crealm)
}

// impersonate makes the credential one for the user principal ("alice",
// "alice@REALM" or `DOMAIN\alice`) by S4U2Self with the service's TGT:
// its service tickets are then got by S4U2Proxy, and the user is the
// client of its AP-REQs. The user's realm defaults to the service's; a
// realm is upper-cased (AD realms are the DNS domain in capitals).
func (c *credential) impersonate(ctx context.Context, principal string) error {
	user, realm := splitUser(principal, "")
	if user == "" {
		return statusErr(sspi.SEC_E_NO_CREDENTIALS, "S4U2Self: no user name")
	}
	_, _, crealm, err := c.outboundState()
	if err != nil {
		return err
	}
	if realm == "" {
		realm = crealm
	}
	realm = strings.ToUpper(realm)
	t, name, rrealm, err := c.pkg.s4u2Self(ctx, c, types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user), realm, nil)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.freed {
		t.wipe()
		return statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential freed")
	}
	c.s4u = &s4uState{user: name, realm: rrealm, evidence: t}
	// The service's TGT is not the user's: never delegate it.
	c.tgtFwd = false
	if t.endTime.Before(c.expiry) {
		c.expiry = t.endTime
	}
	return nil
}

// evidence returns a copy of the S4U state (the caller wipes its ticket),
// or nil for a credential that is not an S4U one.
func (c *credential) s4uSnapshot() *s4uState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s4u == nil || c.freed {
		return nil
	}
	return &s4uState{user: c.s4u.user, realm: c.s4u.realm, evidence: c.s4u.evidence.clone()}
}

// initiatorName is the client of the credential's AP-REQs: the user of an
// S4U credential, else the owner of the TGT.
func (c *credential) initiatorName() (types.PrincipalName, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s4u != nil {
		return c.s4u.user, c.s4u.realm
	}
	return c.cname, c.realm
}

// s4uServiceTicket gets the ticket of an S4U credential for sname@realm:
// by S4U2Self when it names the service itself (its account name, or a
// principal of its keytab), as a Windows service reads a user's groups
// from an S4U logon; else by S4U2Proxy.
func (c *credential) s4uServiceTicket(ctx context.Context, sname types.PrincipalName, realm string) (*kdcTicket, error) {
	st := c.s4uSnapshot()
	if st == nil {
		return nil, statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential freed")
	}
	defer st.evidence.wipe()
	if c.isOwnName(sname, realm) {
		t, _, _, err := c.pkg.s4u2Self(ctx, c, st.user, st.realm, &sname)
		return t, err
	}
	if !st.evidence.valid(c.pkg.now()) {
		return nil, statusErr(sspi.SEC_E_CONTEXT_EXPIRED, "S4U2Proxy: the S4U2Self ticket of "+principalString(st.user, st.realm)+" expired at "+st.evidence.endTime.Format(time.RFC3339))
	}
	return c.s4u2Proxy(ctx, st, sname, realm)
}

// isOwnName reports whether sname@realm is the service's own: the client
// of its TGT, or a principal of its client keytab.
func (c *credential) isOwnName(sname types.PrincipalName, realm string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !equalFoldASCII(realm, c.realm) {
		return false
	}
	want := principalName{Names: sname.NameString}
	if sameName(want, principalName{Names: c.cname.NameString}) {
		return true
	}
	if c.clientKT != nil {
		for _, e := range c.clientKT.Entries {
			if equalFoldASCII(e.Principal.Realm, realm) && sameName(want, principalName{Names: e.Principal.Components}) {
				return true
			}
		}
	}
	return false
}

// s4uCandidate reports whether an outbound-only credential request may be
// an S4U one: its principal names a user, and its AuthData another one,
// the service. wantsS4U decides once the service's TGT is in.
func s4uCandidate(req *secpkg.CredentialRequest) bool {
	if req.Use != sspi.SECPKG_CRED_OUTBOUND || req.Principal == "" || strings.Contains(req.Principal, "/") || req.AuthData == nil || req.AuthData.User == "" {
		return false
	}
	u, r := splitUser(req.Principal, "")
	su, sr := splitUser(req.AuthData.User, req.AuthData.Domain)
	return !equalFoldASCII(u, su) || r != "" && sr != "" && !equalFoldASCII(r, sr)
}

// ticketKey is the keytab key of a ticket to the service.
func (x *tgsExtra) ticketKey(tkt *messages.Ticket) (types.EncryptionKey, error) {
	if x.kt == nil {
		return types.EncryptionKey{}, errNoKeytab
	}
	var k types.EncryptionKey
	err := safeUnmarshal(func() error {
		var err error
		k, _, err = x.kt.GetEncryptionKey(tkt.SName, tkt.Realm, tkt.EncPart.KVNO, tkt.EncPart.EType)
		return err
	})
	return k, err
}

var errNoKeytab = errors.New("kerberos: no keytab")

// pacAccountName returns the account name of the PAC of an S4U2Self
// ticket (KERB_VALIDATION_INFO's EffectiveName, MS-PAC 2.5), opened with
// the service's keytab and its server signature verified (MS-PAC 2.8.1);
// "" without a keytab key, a PAC or a valid signature.
func (x *tgsExtra) pacAccountName(tkt messages.Ticket) string {
	key, err := x.ticketKey(&tkt)
	if err != nil {
		return ""
	}
	var name string
	_ = safeUnmarshal(func() error {
		if err := tkt.Decrypt(key); err != nil {
			return err
		}
		defer clear(tkt.DecryptedEncPart.Key.KeyValue)
		ad := make([]adEntry, len(tkt.DecryptedEncPart.AuthorizationData))
		for i, e := range tkt.DecryptedEncPart.AuthorizationData {
			ad[i] = adEntry{Type: e.ADType, Data: e.ADData}
		}
		p, err := serverVerifiedPAC(ad, key.KeyType, key.KeyValue)
		if err != nil || p == nil {
			return err
		}
		if p.logonInfo != nil {
			name = p.logonInfo.EffectiveName
		}
		return nil
	})
	return name
}
