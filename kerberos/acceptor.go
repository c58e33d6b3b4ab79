package kerberos

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/internal/spn"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// acceptorContext is the server side: AP-REQ in, AP-REP out when the
// client asked for mutual authentication.
type acceptorContext struct {
	cred    *credential
	session *session
	deleg   *DelegatedCredentials

	// DCE style: the AP-REP went out and the initiator's AP-REP is due.
	dcePending    bool
	dceSessionKey encryptionKey
}

// Delete clears the keys: the session's message key and ticket session
// key, and a DCE exchange's pending session key.
func (ac *acceptorContext) Delete() {
	if ac.session != nil {
		ac.session.wipe()
	}
	clear(ac.dceSessionKey.Value)
	if ac.deleg != nil {
		clear(ac.deleg.CCache)
		if ac.deleg.Path != "" {
			// The delegated ccache lives as long as the context.
			os.Remove(strings.TrimPrefix(ac.deleg.Path, "FILE:"))
		}
	}
}

// QueryAttributes answers on the LSA side; the delegated credentials are
// only here (SECPKG_ATTR_DELEGATED_CREDENTIALS).
func (ac *acceptorContext) QueryAttributes(attr sspi.ContextAttribute) (any, error) {
	if attr == SECPKG_ATTR_DELEGATED_CREDENTIALS {
		if ac.deleg == nil {
			return (*DelegatedCredentials)(nil), nil
		}
		d := *ac.deleg
		d.CCache = append([]byte(nil), d.CCache...)
		return &d, nil
	}
	if ac.session == nil {
		return nil, sspi.SEC_E_UNSUPPORTED_FUNCTION
	}
	return ac.session.query(attr)
}

func (ac *acceptorContext) accept(ctx context.Context, prm *secpkg.AcceptContextParams) (secpkg.ContextOutput, error) {
	var out secpkg.ContextOutput
	if prm.ContextReq&(sspi.ASC_REQ_PROMPT_FOR_CREDS|sspi.ASC_REQ_DATAGRAM) != 0 {
		return out, statusErr(sspi.SEC_E_UNSUPPORTED_FUNCTION, "unsupported context requirement")
	}
	if !ac.cred.hasKeytab() {
		return out, statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential has no inbound part")
	}
	var in []byte
	if prm.Input != nil {
		in = prm.Input.Token()
	}
	if len(in) == 0 {
		return out, tokenErr("no AP-REQ token")
	}
	id, msg, used, err := unframeToken(in)
	if err != nil {
		if sspi.StatusOf(err) == sspi.SEC_E_INCOMPLETE_MESSAGE {
			out.Missing = missingOf(in)
		}
		return out, err
	}
	out.Extra = len(in) - used
	if id != tokAPReq {
		return out, tokenErr("expected an AP-REQ")
	}
	cb, err := channelBindings(prm.Input)
	if err != nil {
		return out, err
	}
	rep, err := ac.verify(ctx, msg, cb, prm.ContextReq)
	if err != nil {
		if prm.ContextReq&sspi.ASC_REQ_EXTENDED_ERROR != 0 {
			if tok := krbErrorToken(sspi.StatusOf(err)); tok != nil {
				out.Output = []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok}}
			}
		}
		return out, err
	}
	s := ac.session
	if ac.dcePending {
		// DCE style: a bare AP-REP, and wait for the initiator's.
		out.Output = []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: rep}}
		out.Status = sspi.SEC_I_CONTINUE_NEEDED
		out.Flags = s.flags
		out.Expiry = s.expiry
		return out, nil
	}
	if rep != nil {
		out.Output = []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: frameToken(tokAPRep, rep)}}
	}
	out.Status = sspi.SEC_E_OK
	out.Flags = s.flags
	out.Expiry = s.expiry
	out.Mapped = true
	out.ContextData = s.marshal()
	return out, nil
}

func krbErrorToken(st sspi.Status) []byte {
	e := messages.NewKRBError(types.PrincipalName{NameType: 1, NameString: []string{"unknown"}}, "", statusKRBError(st), st.String())
	b, err := e.Marshal()
	if err != nil {
		return nil
	}
	return frameToken(tokKRBError, b)
}

// serviceKey finds the keytab key for a ticket: the principal must be in
// the keytab (else SEC_E_WRONG_PRINCIPAL), with that enctype and kvno
// (else SEC_E_NO_KERB_KEY). A ticket without a kvno takes the newest key.
// The key is a copy, for the caller to clear: Free may wipe the keytab.
func (c *credential) serviceKey(name, realm string, etype int32, kvno int) (types.EncryptionKey, error) {
	c.ktMu.RLock()
	defer c.ktMu.RUnlock()
	var best types.EncryptionKey
	if c.kt == nil {
		return best, statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential freed")
	}
	bestKVNO := -1
	principalSeen := false
	for i, e := range c.kt.Entries {
		if c.ktNames[i] != name || e.Principal.Realm != realm {
			continue
		}
		principalSeen = true
		if e.Key.KeyType != etype {
			continue
		}
		ev := int(e.KVNO)
		if ev == 0 {
			ev = int(e.KVNO8)
		}
		if kvno != 0 && ev != kvno && int(e.KVNO8) != kvno&0xff {
			continue
		}
		if ev > bestKVNO {
			best, bestKVNO = e.Key, ev
		}
	}
	if !principalSeen {
		return best, statusErr(sspi.SEC_E_WRONG_PRINCIPAL, "service principal not in keytab")
	}
	if bestKVNO < 0 {
		return best, statusErr(sspi.SEC_E_NO_KERB_KEY, fmt.Sprintf("no key for enctype %d kvno %d", etype, kvno))
	}
	best.KeyValue = append([]byte(nil), best.KeyValue...)
	return best, nil
}

// verify checks the AP-REQ (RFC 4120 section 3.2.3, RFC 4121 section
// 4.1.1) and returns the AP-REP to send, if any.
func (ac *acceptorContext) verify(ctx context.Context, msg []byte, cb *sspi.ChannelBindings, req sspi.ASCReq) ([]byte, error) {
	p := ac.cred.pkg
	ap, ok := decodeAPReq(msg)
	if !ok {
		return nil, tokenErr("malformed AP-REQ")
	}
	sname := strings.Join(ap.SName.Names, "/")
	if ac.cred.acceptAs != "" && !spn.Matches(ac.cred.acceptAs, sname, ap.Realm) {
		return nil, statusErr(sspi.SEC_E_WRONG_PRINCIPAL, "ticket is for another service")
	}
	if !p.acceptsPrincipal(sname, ap.Realm) {
		return nil, statusErr(sspi.SEC_E_WRONG_PRINCIPAL, "ticket is for "+sname+", a principal the acceptor does not accept (AcceptorPrincipals)")
	}
	// permitted_enctypes covers the ticket's encryption, its session key and
	// the authenticator's subkey (krb5_conf(5); MIT rd_req_dec.c).
	permit := ac.cred.permit
	if !permit.allows(ap.TktEnc.EType) {
		return nil, permit.refuse("ticket enctype", ap.TktEnc.EType)
	}
	skey, err := ac.cred.serviceKey(sname, ap.Realm, ap.TktEnc.EType, ap.TktEnc.KVNO)
	if err != nil {
		return nil, err
	}
	// The service key copy and the decrypted ticket and authenticator
	// (which hold the session key and subkey) are cleared on return; the
	// session keeps copies of what it needs.
	var wipe [][]byte
	defer func() {
		for _, b := range wipe {
			clear(b)
		}
	}()
	wipe = append(wipe, skey.KeyValue)
	etb, err := decryptEncPart(toGokrb5ED(ap.TktEnc), skey, usageTicket)
	if err != nil {
		// KRB_AP_ERR_MODIFIED: the ticket was not made with our key.
		return nil, statusErr(sspi.SEC_E_WRONG_PRINCIPAL, "cannot decrypt the ticket with the keytab key")
	}
	wipe = append(wipe, etb)
	et, ok := decodeEncTicketPart(etb)
	if !ok {
		return nil, tokenErr("malformed EncTicketPart")
	}
	now := p.now()
	skew := p.cfg.ClockSkew
	if !et.StartTime.IsZero() && et.StartTime.Sub(now) > skew {
		return nil, statusErr(sspi.SEC_E_TIME_SKEW, "ticket not yet valid")
	}
	if now.Sub(et.EndTime) > skew {
		return nil, statusErr(sspi.SEC_E_CONTEXT_EXPIRED, "ticket expired")
	}
	if !permit.allows(et.Key.KeyType) {
		return nil, permit.refuse("session key enctype", et.Key.KeyType)
	}
	sessionKey := toGokrb5Key(et.Key)
	ab, err := decryptEncPart(toGokrb5ED(ap.Auth), sessionKey, usageAuthenticator)
	if err != nil {
		return nil, statusErr(sspi.SEC_E_MESSAGE_ALTERED, "authenticator integrity check failed")
	}
	wipe = append(wipe, ab)
	auth, ok := decodeAuthenticator(ab)
	if !ok {
		return nil, tokenErr("malformed authenticator")
	}
	if len(auth.Subkey.Value) > 0 && !permit.allows(auth.Subkey.KeyType) {
		return nil, permit.refuse("authenticator subkey enctype", auth.Subkey.KeyType)
	}
	if !auth.CName.equal(et.CName) || auth.CRealm != et.CRealm {
		return nil, statusErr(sspi.SEC_E_LOGON_DENIED, "authenticator and ticket name different clients")
	}
	ctime := auth.CTime.Add(time.Duration(auth.Cusec) * time.Microsecond)
	if d := now.Sub(ctime); d > skew || -d > skew {
		return nil, statusErr(sspi.SEC_E_TIME_SKEW, "authenticator time outside the allowed clock skew")
	}
	client := strings.Join(et.CName.Names, "/") + "@" + et.CRealm
	if p.replay != nil {
		h := sha256.Sum256(ap.Auth.Cipher)
		key := client + "|" + sname + "@" + ap.Realm + "|" + strconv.FormatInt(auth.CTime.Unix(), 10) + "|" + strconv.Itoa(auth.Cusec) + "|" + hex.EncodeToString(h[:12])
		if err := checkReplay(ctx, p.replay, key, ctime.Add(skew)); err != nil {
			return nil, p.replayRefusal(err)
		}
	}
	if !auth.HasCksum || auth.CksumType != cksumTypeGSS {
		return nil, tokenErr("authenticator has no GSS checksum")
	}
	ck, err := parseGSSChecksum(auth.Cksum)
	if err != nil {
		return nil, err
	}
	// RFC 4121 section 4.1.1.2: channel bindings, under the call's policy
	// (sspi.BindingPolicy: the host gives no bindings under BindingsOff,
	// and sets ASC_REQ_ALLOW_MISSING_BINDINGS under BindingsWhenSupported).
	if cb != nil {
		var zero [16]byte
		switch {
		case ck.Bindings == zero:
			if req&sspi.ASC_REQ_ALLOW_MISSING_BINDINGS == 0 {
				return nil, statusErr(sspi.SEC_E_BAD_BINDINGS, "channel bindings required and the client sent none")
			}
		case ck.Bindings != cb.GSSBindingsHash():
			return nil, statusErr(sspi.SEC_E_BAD_BINDINGS, "channel bindings differ")
		}
	}
	dce := ck.Flags&gssDCEStyle != 0
	mutual := dce || ck.Flags&gssMutualFlag != 0 || ap.Options&(1<<(31-apOptMutualRequired)) != 0

	s := &session{
		client:       client,
		server:       sname + "@" + ap.Realm,
		start:        now,
		expiry:       et.EndTime,
		sessionKey:   append([]byte(nil), et.Key.Value...),
		sessionEtype: et.Key.KeyType,
		gssFlags:     ck.Flags,
	}
	f := sspi.FlagConnection
	if mutual {
		f |= sspi.FlagMutualAuth
	}
	if dce {
		f |= sspi.FlagDCEStyle
	}
	for _, m := range []struct {
		gss  uint32
		flag sspi.ContextFlags
	}{
		{gssReplayFlag, sspi.FlagReplayDetect}, {gssSequenceFlag, sspi.FlagSequenceDetect},
		{gssConfFlag, sspi.FlagConfidentiality}, {gssIntegFlag, sspi.FlagIntegrity},
		{gssIdentify, sspi.FlagIdentify}, {gssExtendedErr, sspi.FlagExtendedError},
	} {
		if ck.Flags&m.gss != 0 {
			f |= m.flag
		}
	}
	if ck.Flags&gssDelegFlag != 0 && ck.Deleg != nil {
		d, err := ac.delegated(ck.Deleg, client, sessionKey, toGokrb5Key(auth.Subkey))
		if err != nil {
			return nil, err
		}
		ac.deleg = d
		s.delegated = true
		s.delegCCache = d.Path
		f |= sspi.FlagDelegate
	}
	s.flags = f
	// MS-KILE 3.4.5.3: the PAC, verified with the service key, is the
	// client's identity; an altered one refuses the ticket.
	kdcKeys, err := p.kdcKeysFor(ap.Realm)
	if err != nil {
		return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "cannot read the KDC keytab (Config.KDCKeytab)")
	}
	if pi, err := verifyTicketPAC(et.AuthData, skey.KeyType, skey.KeyValue, et.CName, et.CRealm, et.AuthTime, kdcKeys, etb); err != nil {
		return nil, statusErr(sspi.SEC_E_LOGON_DENIED, err.Error())
	} else if pi != nil {
		s.pac = *pi
	}

	// Message keys: the acceptor subkey we send (RFC 4121 enctypes), else
	// the initiator's subkey, else the session key.
	mk := et.Key
	if len(auth.Subkey.Value) > 0 {
		mk = auth.Subkey
	}
	initSeq := auth.Seq
	sendSeq := initSeq
	var rep []byte
	if mutual {
		var sub *encryptionKey
		if isCFX(mk.KeyType) || dce {
			kv, err := randomKey(p.cfg.Rand, mk.KeyType)
			if err != nil {
				return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "acceptor subkey")
			}
			wipe = append(wipe, kv) // the session keeps a copy
			mk = encryptionKey{KeyType: mk.KeyType, Value: kv}
			sub = &mk
			s.acceptorSubkey = true
		}
		sendSeq = randomSeq(p.cfg.Rand)
		rep, err = encodeAPRep(p.cfg.Rand, et.Key, auth.CTime, auth.Cusec, sub, sendSeq)
		if err != nil {
			return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "AP-REP")
		}
	}
	if !supportedEtype(mk.KeyType) {
		return nil, statusErr(sspi.SEC_E_ALGORITHM_MISMATCH, "unsupported session enctype")
	}
	s.initiator = false
	s.etype = mk.KeyType
	s.key = append([]byte(nil), mk.Value...)
	s.sendSeq = sendSeq
	s.recv = newSeqState(initSeq, f&sspi.FlagReplayDetect != 0, f&sspi.FlagSequenceDetect != 0, isCFX(mk.KeyType))
	ac.session = s
	if dce {
		ac.dcePending = true
		ac.dceSessionKey = encryptionKey{KeyType: et.Key.KeyType, Value: append([]byte(nil), et.Key.Value...)}
	}
	return rep, nil
}

// dceThirdLeg checks the initiator's AP-REP of a DCE-style exchange
// (MS-KILE 3.4.5.2): in the ticket session key, within the clock skew, and
// echoing our sequence number. Then the context is complete.
func (ac *acceptorContext) dceThirdLeg(prm *secpkg.AcceptContextParams) (secpkg.ContextOutput, error) {
	var out secpkg.ContextOutput
	var in []byte
	if prm.Input != nil {
		in = prm.Input.Token()
	}
	if len(in) == 0 {
		return out, tokenErr("no DCE AP-REP")
	}
	if in[0] == 0x60 {
		_, msg, _, err := unframeToken(in)
		if err != nil {
			return out, err
		}
		in = msg
	}
	part, err := parseAPRep(in, toGokrb5Key(ac.dceSessionKey))
	if err != nil {
		if sspi.StatusOf(err) == sspi.SEC_E_MUTUAL_AUTH_FAILED {
			return out, statusErr(sspi.SEC_E_MESSAGE_ALTERED, "the initiator's AP-REP does not decrypt")
		}
		return out, err
	}
	p := ac.cred.pkg
	ctime := part.CTime.Add(time.Duration(part.Cusec) * time.Microsecond)
	if d := p.now().Sub(ctime); d > p.cfg.ClockSkew || -d > p.cfg.ClockSkew {
		return out, statusErr(sspi.SEC_E_TIME_SKEW, "DCE AP-REP time outside the allowed clock skew")
	}
	if uint64(uint32(part.SequenceNumber)) != ac.session.sendSeq {
		return out, statusErr(sspi.SEC_E_MESSAGE_ALTERED, "DCE AP-REP does not echo our sequence number")
	}
	ac.dcePending = false
	clear(ac.dceSessionKey.Value)
	s := ac.session
	out.Status = sspi.SEC_E_OK
	out.Flags = s.flags
	out.Expiry = s.expiry
	out.Mapped = true
	out.ContextData = s.marshal()
	return out, nil
}

func (p principalName) equal(o principalName) bool {
	if len(p.Names) != len(o.Names) {
		return false
	}
	for i := range p.Names {
		if p.Names[i] != o.Names[i] {
			return false
		}
	}
	return true
}

func toGokrb5Key(k encryptionKey) types.EncryptionKey {
	return types.EncryptionKey{KeyType: k.KeyType, KeyValue: k.Value}
}

func toGokrb5ED(e encryptedData) types.EncryptedData {
	return types.EncryptedData{EType: e.EType, KVNO: e.KVNO, Cipher: e.Cipher}
}

// delegated opens the KRB-CRED of a delegating client into a ccache.
func (ac *acceptorContext) delegated(b []byte, client string, sessionKey, subkey types.EncryptionKey) (*DelegatedCredentials, error) {
	keys := []types.EncryptionKey{sessionKey}
	if len(subkey.KeyValue) > 0 {
		keys = append(keys, subkey)
	}
	kc, err := parseKRBCred(b, keys...)
	if err != nil {
		return nil, err
	}
	info := kc.DecryptedEncPart.TicketInfo[0]
	tb, err := kc.Tickets[0].Marshal()
	if err != nil {
		return nil, tokenErr("delegated ticket")
	}
	var flags uint32
	if fb := info.Flags.Bytes; len(fb) > 0 {
		var f4 [4]byte
		copy(f4[:], fb)
		flags = binary.BigEndian.Uint32(f4[:])
	}
	cp := ccPrincipal{NameType: info.PName.NameType, Realm: info.PRealm, Components: info.PName.NameString}
	cc := &ccache{Principal: cp, Creds: []ccCred{{
		Client:    cp,
		Server:    ccPrincipal{NameType: info.SName.NameType, Realm: info.SRealm, Components: info.SName.NameString},
		KeyType:   info.Key.KeyType,
		Key:       info.Key.KeyValue,
		AuthTime:  info.AuthTime,
		StartTime: info.StartTime,
		EndTime:   info.EndTime,
		RenewTill: info.RenewTill,
		Flags:     flags,
		Ticket:    tb,
	}}}
	d := &DelegatedCredentials{Client: client, CCache: marshalCCache(cc)}
	if dir := ac.cred.pkg.cfg.DelegationDir; dir != "" {
		f, err := os.CreateTemp(dir, "krb5cc_gosspi_")
		if err != nil {
			return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "cannot store delegated credentials")
		}
		_, werr := f.Write(d.CCache)
		cerr := f.Close()
		if werr != nil || cerr != nil {
			os.Remove(f.Name())
			return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "cannot store delegated credentials")
		}
		d.Path = "FILE:" + f.Name()
	}
	return d, nil
}
