package kerberos

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/config"
	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/sspi"
)

// The AS and TGS exchanges (RFC 4120 sections 3.1 and 3.3), run here on
// the package's clock, random source and context-aware transport (kdc.go),
// with gokrb5's message types.

const (
	errSPrincipalUnknown = 7
	errPreauthRequired   = 25
	errWrongRealm        = 68
	maxReferrals         = 5
)

// kdcTicket is a ticket from the KDC with its session key and times.
type kdcTicket struct {
	ticket    messages.Ticket
	der       []byte // the ticket in DER
	key       types.EncryptionKey
	flags     asn1.BitString
	authTime  time.Time
	startTime time.Time
	endTime   time.Time
	renewTill time.Time
}

func (t *kdcTicket) wipe() {
	if t != nil {
		clear(t.key.KeyValue)
	}
}

// clone copies the ticket and its key; nil stays nil.
func (t *kdcTicket) clone() *kdcTicket {
	if t == nil {
		return nil
	}
	c := *t
	c.key = copyKey(t.key)
	return &c
}

// valid reports whether the ticket has not expired at now.
func (t *kdcTicket) valid(now time.Time) bool {
	return t != nil && now.Before(t.endTime)
}

// forwardable reports the forwardable ticket flag.
func (t *kdcTicket) forwardable() bool {
	return types.IsFlagSet(&t.flags, flags.Forwardable)
}

func newKDCTicket(tkt messages.Ticket, part messages.EncKDCRepPart) (*kdcTicket, error) {
	der, err := tkt.Marshal()
	if err != nil {
		return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "ticket encoding")
	}
	return &kdcTicket{
		ticket: tkt, der: der,
		key:      types.EncryptionKey{KeyType: part.Key.KeyType, KeyValue: append([]byte(nil), part.Key.KeyValue...)},
		flags:    part.Flags,
		authTime: part.AuthTime, startTime: part.StartTime, endTime: part.EndTime, renewTill: part.RenewTill,
	}, nil
}

// clientKey is the long-term key source of an AS exchange: a password
// (used for the exchange only) or a keytab.
type clientKey struct {
	password string
	kt       *keytab.Keytab
}

func (p *Package) nonce() int {
	var b [4]byte
	_ = sysenv.Read(p.cfg.Rand, b[:])
	return int(binary.BigEndian.Uint32(b[:]) & 0x7fffffff)
}

func isKRBErrorMsg(b []byte) bool { return len(b) > 0 && b[0] == 0x7e }

// withDetail prefixes the Detail of an *sspi.Error.
func withDetail(err error, prefix string) error {
	var se *sspi.Error
	if errors.As(err, &se) {
		c := *se
		if c.Detail == "" {
			c.Detail = prefix
		} else {
			c.Detail = prefix + ": " + c.Detail
		}
		return &c
	}
	return err
}

// asExchange gets a TGT for cname@realm (RFC 4120 section 3.1): first
// without pre-authentication, then, when the KDC asks for it, with
// PA-ENC-TIMESTAMP in the key of the KDC's ETYPE-INFO2 (its salt and
// string-to-key parameters). It follows client referrals
// (KDC_ERR_WRONG_REALM). It returns the TGT and the client's name and
// realm as the KDC issued them.
func (p *Package) asExchange(ctx context.Context, cfg *config.Config, cname types.PrincipalName, realm string, ck clientKey) (*kdcTicket, types.PrincipalName, string, error) {
	who := principalString(cname, realm)
	var hint types.PADataSequence // the KDC's PA-DATA (ETYPE-INFO2) of a PREAUTH_REQUIRED
	preauth := false
	referrals := 0
	for round := 0; round < 4+maxReferrals; round++ {
		req, err := messages.NewASReqForTGT(realm, cfg, cname)
		if err != nil {
			return nil, cname, realm, statusErr(sspi.SEC_E_INTERNAL_ERROR, "AS-REQ: "+err.Error())
		}
		now := p.now().UTC()
		req.ReqBody.Nonce = p.nonce()
		req.ReqBody.Till = now.Add(cfg.LibDefaults.TicketLifetime)
		if !req.ReqBody.RTime.IsZero() {
			req.ReqBody.RTime = now.Add(cfg.LibDefaults.RenewLifetime)
		}
		var asKeyUsed types.EncryptionKey
		if preauth {
			key, kvno, err := p.preauthKey(cname, realm, ck, hint, req.ReqBody.EType)
			if err != nil {
				return nil, cname, realm, err
			}
			asKeyUsed = key
			ts, err := asn1.Marshal(types.PAEncTSEnc{PATimestamp: now.Truncate(time.Second), PAUSec: now.Nanosecond() / 1000})
			if err != nil {
				return nil, cname, realm, statusErr(sspi.SEC_E_INTERNAL_ERROR, "PA-ENC-TIMESTAMP")
			}
			ed, err := encryptEncPart(p.cfg.Rand, ts, key, keyusage.AS_REQ_PA_ENC_TIMESTAMP)
			if err != nil {
				return nil, cname, realm, statusErr(sspi.SEC_E_INTERNAL_ERROR, "PA-ENC-TIMESTAMP encryption")
			}
			ed.KVNO = kvno
			edb, err := ed.Marshal()
			if err != nil {
				return nil, cname, realm, statusErr(sspi.SEC_E_INTERNAL_ERROR, "PA-ENC-TIMESTAMP encoding")
			}
			req.PAData = append(req.PAData, types.PAData{PADataType: patype.PA_ENC_TIMESTAMP, PADataValue: edb})
		}
		b, err := req.Marshal()
		if err != nil {
			clear(asKeyUsed.KeyValue)
			return nil, cname, realm, statusErr(sspi.SEC_E_INTERNAL_ERROR, "AS-REQ encoding")
		}
		rep, err := p.sendToKDC(ctx, cfg, realm, b)
		if err != nil {
			clear(asKeyUsed.KeyValue)
			return nil, cname, realm, withDetail(err, "AS exchange for "+who)
		}
		if isKRBErrorMsg(rep) {
			clear(asKeyUsed.KeyValue)
			ke, err := parseKRBError(rep)
			if err != nil {
				return nil, cname, realm, statusErr(sspi.SEC_E_INTERNAL_ERROR, "AS exchange for "+who+": malformed KRB-ERROR from the KDC")
			}
			switch {
			case ke.ErrorCode == errPreauthRequired && !preauth:
				var pas types.PADataSequence
				if len(ke.EData) > 0 {
					if err := safeUnmarshal(func() error { return pas.Unmarshal(ke.EData) }); err != nil {
						pas = nil
					}
				}
				hint, preauth = pas, true
				continue
			case ke.ErrorCode == errWrongRealm && ke.CRealm != "" && ke.CRealm != realm && referrals < maxReferrals:
				referrals++
				realm = ke.CRealm
				who = principalString(cname, realm)
				continue
			}
			return nil, cname, realm, kdcStatusErr("AS exchange", ke.ErrorCode, who, ke.EText)
		}
		tgt, rcname, rrealm, err := p.asReply(rep, req, cfg, cname, realm, ck, hint, asKeyUsed)
		clear(asKeyUsed.KeyValue)
		if err != nil {
			return nil, cname, realm, withDetail(err, "AS exchange for "+who)
		}
		return tgt, rcname, rrealm, nil
	}
	return nil, cname, realm, statusErr(sspi.SEC_E_LOGON_DENIED, "AS exchange for "+who+": the KDC keeps asking for pre-authentication")
}

// asReply decodes and checks an AS-REP (RFC 4120 section 3.1.5).
func (p *Package) asReply(b []byte, req messages.ASReq, cfg *config.Config, cname types.PrincipalName, realm string, ck clientKey, hint types.PADataSequence, used types.EncryptionKey) (*kdcTicket, types.PrincipalName, string, error) {
	var rep messages.ASRep
	if err := safeUnmarshal(func() error { return rep.Unmarshal(b) }); err != nil {
		return nil, cname, realm, statusErr(sspi.SEC_E_INTERNAL_ERROR, "malformed AS-REP from the KDC")
	}
	canon := cfg.LibDefaults.Canonicalize
	if !canon && (!rep.CName.Equal(cname) || rep.CRealm != realm) {
		return nil, cname, realm, statusErr(sspi.SEC_E_LOGON_DENIED, "the AS-REP is for "+principalString(rep.CName, rep.CRealm))
	}
	var key types.EncryptionKey
	var err error
	if used.KeyType == rep.EncPart.EType && len(used.KeyValue) > 0 {
		key = types.EncryptionKey{KeyType: used.KeyType, KeyValue: append([]byte(nil), used.KeyValue...)}
	} else {
		// No pre-authentication, or the reply in another enctype: the
		// salt of the reply's PA-DATA, else the KDC's earlier hint.
		pas := append(types.PADataSequence(nil), rep.PAData...)
		pas = append(pas, hint...)
		key, _, err = p.clientLongTermKey(cname, realm, ck, rep.EncPart.EType, rep.EncPart.KVNO, pas)
		if err != nil {
			return nil, cname, realm, err
		}
	}
	defer clear(key.KeyValue)
	pt, err := decryptEncPart(rep.EncPart, key, keyusage.AS_REP_ENCPART)
	if err != nil {
		if ck.kt != nil {
			return nil, cname, realm, statusErr(sspi.SEC_E_LOGON_DENIED, "the AS-REP does not decrypt with the keytab's key (stale kvno?)")
		}
		return nil, cname, realm, statusErr(sspi.SEC_E_LOGON_DENIED, "the AS-REP does not decrypt with the password's key: wrong password")
	}
	var part messages.EncKDCRepPart
	if err := safeUnmarshal(func() error { return part.Unmarshal(pt) }); err != nil {
		return nil, cname, realm, statusErr(sspi.SEC_E_INTERNAL_ERROR, "malformed EncASRepPart")
	}
	defer clear(part.Key.KeyValue)
	if part.Nonce != req.ReqBody.Nonce {
		return nil, cname, realm, statusErr(sspi.SEC_E_LOGON_DENIED, "the AS-REP does not answer our nonce")
	}
	wantS := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", realm}}
	if !canon && (!namesEqual(part.SName, wantS) || part.SRealm != realm) || len(rep.Ticket.SName.NameString) != 2 || rep.Ticket.SName.NameString[0] != "krbtgt" {
		return nil, cname, realm, statusErr(sspi.SEC_E_LOGON_DENIED, "the AS-REP is not a TGT of "+realm)
	}
	t, err := newKDCTicket(rep.Ticket, part)
	if err != nil {
		return nil, cname, realm, err
	}
	return t, rep.CName, rep.CRealm, nil
}

func namesEqual(a, b types.PrincipalName) bool {
	return slices.Equal(a.NameString, b.NameString)
}

// etypeInfo is one entry of ETYPE-INFO2 (or ETYPE-INFO).
type etypeInfo struct {
	etype int32
	salt  string
	s2k   []byte
	has   bool
}

// etypeInfos reads the ETYPE-INFO2 (else ETYPE-INFO, else PW-SALT) of a
// PA-DATA sequence.
func etypeInfos(pas types.PADataSequence) []etypeInfo {
	var out []etypeInfo
	for _, pa := range pas {
		if pa.PADataType != patype.PA_ETYPE_INFO2 {
			continue
		}
		var info types.ETypeInfo2
		if safeUnmarshal(func() error { return info.Unmarshal(pa.PADataValue) }) == nil {
			for _, e := range info {
				out = append(out, etypeInfo{etype: e.EType, salt: e.Salt, s2k: e.S2KParams, has: true})
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, pa := range pas {
		if pa.PADataType != patype.PA_ETYPE_INFO {
			continue
		}
		var info types.ETypeInfo
		if safeUnmarshal(func() error { return info.Unmarshal(pa.PADataValue) }) == nil {
			for _, e := range info {
				out = append(out, etypeInfo{etype: e.EType, salt: string(e.Salt), has: e.Salt != nil})
			}
		}
	}
	for _, pa := range pas {
		if pa.PADataType == patype.PA_PW_SALT {
			for i := range out {
				if !out[i].has {
					out[i].salt, out[i].has = string(pa.PADataValue), true
				}
			}
			if len(out) == 0 {
				out = append(out, etypeInfo{salt: string(pa.PADataValue), has: true})
			}
		}
	}
	return out
}

// preauthKey picks the enctype of the PA-ENC-TIMESTAMP: the first of the
// KDC's ETYPE-INFO2 that we asked for and have a key of, else the first
// we asked for.
func (p *Package) preauthKey(cname types.PrincipalName, realm string, ck clientKey, hint types.PADataSequence, asked []int32) (types.EncryptionKey, int, error) {
	infos := etypeInfos(hint)
	var lastErr error
	for _, in := range infos {
		if in.etype != 0 && !slices.Contains(asked, in.etype) {
			continue
		}
		et := in.etype
		if et == 0 && len(asked) > 0 {
			et = asked[0]
		}
		k, kvno, err := p.clientLongTermKey(cname, realm, ck, et, 0, hint)
		if err == nil {
			return k, kvno, nil
		}
		lastErr = err
	}
	if len(infos) == 0 {
		for _, et := range asked {
			k, kvno, err := p.clientLongTermKey(cname, realm, ck, et, 0, nil)
			if err == nil {
				return k, kvno, nil
			}
			lastErr = err
		}
	}
	if lastErr == nil {
		lastErr = statusErr(sspi.SEC_E_ALGORITHM_MISMATCH, "the KDC offers no enctype we asked for")
	}
	return types.EncryptionKey{}, 0, lastErr
}

// clientLongTermKey is the client's key of an enctype: from the password
// with the salt and string-to-key parameters of the KDC's PA-DATA (the
// default salt, realm and name, without), or from the keytab.
func (p *Package) clientLongTermKey(cname types.PrincipalName, realm string, ck clientKey, etype int32, kvno int, pas types.PADataSequence) (types.EncryptionKey, int, error) {
	if ck.kt != nil {
		k, v, err := ck.kt.GetEncryptionKey(cname, realm, kvno, etype)
		if err != nil && kvno != 0 {
			k, v, err = ck.kt.GetEncryptionKey(cname, realm, 0, etype)
		}
		if err != nil {
			return types.EncryptionKey{}, 0, statusErr(sspi.SEC_E_NO_CREDENTIALS, "the keytab has no "+enctypeName(etype)+" key of "+principalString(cname, realm))
		}
		return types.EncryptionKey{KeyType: k.KeyType, KeyValue: append([]byte(nil), k.KeyValue...)}, v, nil
	}
	et, err := krbcrypto.GetEtype(etype)
	if err != nil {
		return types.EncryptionKey{}, 0, statusErr(sspi.SEC_E_ALGORITHM_MISMATCH, "unsupported enctype "+enctypeName(etype))
	}
	salt, s2k := cname.GetSalt(realm), et.GetDefaultStringToKeyParams()
	for _, in := range etypeInfos(pas) {
		if in.etype == etype || in.etype == 0 {
			if in.has {
				salt = in.salt
			}
			if len(in.s2k) == 4 {
				s2k = hex.EncodeToString(in.s2k)
			}
			break
		}
	}
	var kb []byte
	err = safeUnmarshal(func() error {
		var err error
		if etype == etypeAES128SHA256 || etype == etypeAES256SHA384 {
			params, herr := hex.DecodeString(s2k)
			if herr != nil {
				return herr
			}
			kb, err = sha2StringToKey(etype, ck.password, salt, params)
			return err
		}
		kb, err = et.StringToKey(ck.password, salt, s2k)
		return err
	})
	if err != nil {
		return types.EncryptionKey{}, 0, statusErr(sspi.SEC_E_INTERNAL_ERROR, "string-to-key for "+enctypeName(etype))
	}
	return types.EncryptionKey{KeyType: etype, KeyValue: kb}, 0, nil
}

// tgsExchange asks the KDC of the TGT's realm for a ticket for sname
// (RFC 4120 section 3.3), with a PA-TGS-REQ authenticator on the package's
// clock. kdcOpts are the KDC options; nil means those of krb5.conf. x,
// when not nil, adds to the request and checks the reply (S4U, s4u.go).
func (p *Package) tgsExchange(ctx context.Context, cfg *config.Config, cname types.PrincipalName, crealm string, tgt *kdcTicket, sname types.PrincipalName, srealm string, kdcOpts *asn1.BitString, x *tgsExtra) (*kdcTicket, error) {
	if len(tgt.ticket.SName.NameString) != 2 {
		return nil, statusErr(sspi.SEC_E_NO_CREDENTIALS, "the TGT is not a krbtgt ticket")
	}
	kdcRealm := tgt.ticket.SName.NameString[1]
	who := principalString(sname, srealm)
	now := p.now().UTC()
	body := messages.KDCReqBody{
		KDCOptions: types.NewKrbFlags(),
		Realm:      kdcRealm,
		CName:      cname,
		SName:      sname,
		Till:       now.Add(cfg.LibDefaults.TicketLifetime),
		Nonce:      p.nonce(),
		EType:      cfg.LibDefaults.DefaultTGSEnctypeIDs,
	}
	if kdcOpts != nil {
		body.KDCOptions = *kdcOpts
	} else {
		if cfg.LibDefaults.Forwardable {
			types.SetFlag(&body.KDCOptions, flags.Forwardable)
		}
		if cfg.LibDefaults.Canonicalize {
			types.SetFlag(&body.KDCOptions, flags.Canonicalize)
		}
		if cfg.LibDefaults.Proxiable {
			types.SetFlag(&body.KDCOptions, flags.Proxiable)
		}
		if cfg.LibDefaults.RenewLifetime > 0 {
			types.SetFlag(&body.KDCOptions, flags.Renewable)
			body.RTime = now.Add(cfg.LibDefaults.RenewLifetime)
		}
	}
	x.applyBody(&body)
	bodyDER, err := body.Marshal()
	if err != nil {
		return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "TGS-REQ body encoding")
	}
	et, err := krbcrypto.GetEtype(tgt.key.KeyType)
	if err != nil {
		return nil, statusErr(sspi.SEC_E_ALGORITHM_MISMATCH, "TGT session key of "+enctypeName(tgt.key.KeyType))
	}
	var ck []byte
	err = safeUnmarshal(func() error {
		var err error
		ck, err = et.GetChecksumHash(tgt.key.KeyValue, bodyDER, keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR_CHKSUM)
		return err
	})
	if err != nil {
		return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "TGS-REQ checksum")
	}
	auth := &authenticator{
		CRealm:    crealm,
		CName:     principalName{NameType: cname.NameType, Names: cname.NameString},
		HasCksum:  true,
		CksumType: et.GetHashID(),
		Cksum:     ck,
		Cusec:     now.Nanosecond() / 1000,
		CTime:     now.Truncate(time.Second),
		Seq:       randomSeq(p.cfg.Rand),
	}
	ed, err := encryptEncPart(p.cfg.Rand, encodeAuthenticator(auth), tgt.key, keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR)
	if err != nil {
		return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "TGS-REQ authenticator encryption")
	}
	apReq := encodeAPReq(0, tgt.der, encryptedData{EType: ed.EType, Cipher: ed.Cipher})
	req := messages.TGSReq{KDCReqFields: messages.KDCReqFields{
		PVNO: 5, MsgType: msgtype.KRB_TGS_REQ,
		PAData:  types.PADataSequence{{PADataType: patype.PA_TGS_REQ, PADataValue: apReq}},
		ReqBody: body,
	}}
	extra, err := x.padata(&body, tgt.key)
	if err != nil {
		return nil, err
	}
	req.PAData = append(req.PAData, extra...)
	b, err := req.Marshal()
	if err != nil {
		return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "TGS-REQ encoding")
	}
	rb, err := p.sendToKDC(ctx, cfg, kdcRealm, b)
	if err != nil {
		return nil, withDetail(err, "TGS exchange for "+who)
	}
	if isKRBErrorMsg(rb) {
		ke, err := parseKRBError(rb)
		if err != nil {
			return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "TGS exchange for "+who+": malformed KRB-ERROR from the KDC")
		}
		return nil, kdcStatusErr(x.op(), ke.ErrorCode, who, ke.EText)
	}
	var rep messages.TGSRep
	if err := safeUnmarshal(func() error { return rep.Unmarshal(rb) }); err != nil {
		return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "TGS exchange for "+who+": malformed TGS-REP from the KDC")
	}
	pt, err := decryptEncPart(rep.EncPart, tgt.key, keyusage.TGS_REP_ENCPART_SESSION_KEY)
	if err != nil {
		return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "TGS exchange for "+who+": the TGS-REP does not decrypt with the TGT session key")
	}
	var part messages.EncKDCRepPart
	if err := safeUnmarshal(func() error { return part.Unmarshal(pt) }); err != nil {
		return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "TGS exchange for "+who+": malformed EncTGSRepPart")
	}
	defer clear(part.Key.KeyValue)
	if x != nil {
		// S4U: the reply is for the user, and x checks it.
		if part.Nonce != body.Nonce {
			return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, x.op()+" to "+who+": the TGS-REP does not match the request")
		}
		if err := x.checkReply(&rep, &part, tgt.key); err != nil {
			return nil, withDetail(err, x.op()+" to "+who)
		}
		return newKDCTicket(rep.Ticket, part)
	}
	if part.Nonce != body.Nonce || !rep.CName.Equal(cname) && !cfg.LibDefaults.Canonicalize {
		return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "TGS exchange for "+who+": the TGS-REP does not match the request")
	}
	return newKDCTicket(rep.Ticket, part)
}

// isReferral reports whether a ticket is a TGT for another realm than the
// one of want (RFC 6806 section 8).
func isReferral(t *kdcTicket, want types.PrincipalName) (string, bool) {
	s := t.ticket.SName.NameString
	if len(s) == 2 && s[0] == "krbtgt" && !namesEqual(t.ticket.SName, want) {
		return s[1], true
	}
	return "", false
}

// copyKey copies a key's bytes.
func copyKey(k types.EncryptionKey) types.EncryptionKey {
	return types.EncryptionKey{KeyType: k.KeyType, KeyValue: append([]byte(nil), k.KeyValue...)}
}
