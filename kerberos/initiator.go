package kerberos

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// initiatorContext is the client side of the exchange: AP-REQ out, then
// (with mutual authentication) AP-REP in.
type initiatorContext struct {
	cred       *credential
	req        sspi.ISCReq
	flags      sspi.ContextFlags
	gssFlags   uint32
	sessionKey types.EncryptionKey
	subkey     types.EncryptionKey
	ctime      time.Time
	cusec      int
	seq        uint64
	server     string
	expiry     time.Time
	done       bool
	dce        bool
	session    *session
}

func randomSeq(r io.Reader) uint64 {
	var b [4]byte
	_ = sysenv.Read(r, b[:])
	return uint64(binary.BigEndian.Uint32(b[:]) & 0x3fffffff)
}

// channelBindings returns the SEC_CHANNEL_BINDINGS of the input, if any.
func channelBindings(in *sspi.SecBufferDesc) (*sspi.ChannelBindings, error) {
	b := in.Find(sspi.SECBUFFER_CHANNEL_BINDINGS)
	if b == nil || len(b.Buffer) == 0 {
		return nil, nil
	}
	cb, err := sspi.ParseChannelBindings(b.Buffer)
	if err != nil {
		return nil, statusErr(sspi.SEC_E_BAD_BINDINGS, "malformed channel bindings")
	}
	return cb, nil
}

// first builds the AP-REQ (RFC 4121 section 4.1).
func (ic *initiatorContext) first(ctx context.Context, prm *secpkg.InitContextParams) (secpkg.ContextOutput, error) {
	var out secpkg.ContextOutput
	if prm.ContextReq&(sspi.ISC_REQ_DATAGRAM|sspi.ISC_REQ_PROMPT_FOR_CREDS) != 0 {
		return out, statusErr(sspi.SEC_E_UNSUPPORTED_FUNCTION, "datagram and prompting are not supported")
	}
	spn, realm, err := parseTarget(prm.TargetName)
	if err != nil {
		return out, err
	}
	cb, err := channelBindings(prm.Input)
	if err != nil {
		return out, err
	}
	ic.req = prm.ContextReq
	hp := ic.cred.hosts
	ask, err := ic.cred.pkg.resolveTarget(ctx, hp, spn, realm)
	if err != nil {
		return out, err
	}
	tkt, tktDER, key, tflags, err := ic.cred.serviceTicket(ctx, ask, realm)
	var ke *KDCError
	if errors.As(err, &ke) && ke.Code == errSPrincipalUnknown {
		// dns_canonicalize_hostname = fallback: the canonical name next.
		if alt := ic.cred.pkg.fallbackTarget(ctx, hp, spn, realm); alt != "" {
			tkt, tktDER, key, tflags, err = ic.cred.serviceTicket(ctx, alt, realm)
		}
	}
	if err != nil {
		return out, err
	}
	ic.sessionKey = key
	ic.server = principalString(tkt.SName, tkt.Realm)

	// Flags for the checksum. Like MIT, always offer integrity and
	// confidentiality.
	f := uint32(gssIntegFlag | gssConfFlag)
	ret := sspi.FlagIntegrity | sspi.FlagConnection
	if ic.req&sspi.ISC_REQ_CONFIDENTIALITY != 0 {
		ret |= sspi.FlagConfidentiality
	}
	if ic.req&sspi.ISC_REQ_USE_DCE_STYLE != 0 {
		// DCE style (MS-KILE 3.2.5.5): raw tokens and a third leg, the
		// initiator's own AP-REP. It implies mutual authentication.
		ic.dce = true
		f |= gssDCEStyle | gssMutualFlag
		ret |= sspi.FlagDCEStyle | sspi.FlagMutualAuth
	}
	if ic.req&sspi.ISC_REQ_MUTUAL_AUTH != 0 {
		f |= gssMutualFlag
		ret |= sspi.FlagMutualAuth
	}
	if ic.req&sspi.ISC_REQ_REPLAY_DETECT != 0 {
		f |= gssReplayFlag
		ret |= sspi.FlagReplayDetect
	}
	if ic.req&sspi.ISC_REQ_SEQUENCE_DETECT != 0 {
		f |= gssSequenceFlag | gssReplayFlag
		ret |= sspi.FlagSequenceDetect | sspi.FlagReplayDetect
	}
	if ic.req&sspi.ISC_REQ_IDENTIFY != 0 {
		f |= gssIdentify
		ret |= sspi.FlagIdentify
	}
	if ic.req&sspi.ISC_REQ_EXTENDED_ERROR != 0 {
		f |= gssExtendedErr
		ret |= sspi.FlagExtendedError
	}
	ck := &gssChecksum{Flags: f}
	if cb != nil {
		ck.Bindings = cb.GSSBindingsHash()
	}

	// The subkey has the session key's enctype; it keys the messages.
	subkey, err := randomKey(ic.cred.pkg.cfg.Rand, key.KeyType)
	if err != nil {
		return out, statusErr(sspi.SEC_E_INTERNAL_ERROR, "subkey")
	}
	ic.subkey = types.EncryptionKey{KeyType: key.KeyType, KeyValue: subkey}

	// Delegation: a forwarded TGT in a KRB-CRED, when asked for, the TGT
	// may be forwarded and the service may be delegated to (delegation.go).
	if ic.mayDelegate(tflags) {
		if krbCred, err := ic.delegation(ctx, key); err == nil {
			ck.Flags |= gssDelegFlag
			ck.Deleg = krbCred
			ret |= sspi.FlagDelegate
		}
	}

	now := ic.cred.pkg.now().UTC()
	ic.ctime = now.Truncate(time.Second)
	ic.cusec = now.Nanosecond() / 1000
	ic.seq = randomSeq(ic.cred.pkg.cfg.Rand)
	cname, crealm := ic.cred.initiatorName()
	auth := &authenticator{
		CRealm:    crealm,
		CName:     principalName{NameType: cname.NameType, Names: cname.NameString},
		HasCksum:  true,
		CksumType: cksumTypeGSS,
		Cksum:     ck.marshal(),
		Cusec:     ic.cusec,
		CTime:     ic.ctime,
		Subkey:    encryptionKey{KeyType: ic.subkey.KeyType, Value: ic.subkey.KeyValue},
		Seq:       ic.seq,
	}
	ed, err := encryptEncPart(ic.cred.pkg.cfg.Rand, encodeAuthenticator(auth), key, usageAuthenticator)
	if err != nil {
		return out, statusErr(sspi.SEC_E_INTERNAL_ERROR, "authenticator encryption")
	}
	var opts uint32
	if f&gssMutualFlag != 0 {
		opts |= 1 << (31 - apOptMutualRequired)
	}
	apb := encodeAPReq(opts, tktDER, encryptedData{EType: ed.EType, Cipher: ed.Cipher})
	ic.gssFlags = f
	ic.flags = ret
	ic.expiry = ic.cred.expiryTime()
	tok := apb
	if !ic.dce {
		tok = frameToken(tokAPReq, apb)
	}
	out.Output = []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok}}
	out.Flags = ret
	out.Expiry = ic.expiry
	if f&gssMutualFlag != 0 {
		out.Status = sspi.SEC_I_CONTINUE_NEEDED
		return out, nil
	}
	// No AP-REP: the acceptor keys messages with our subkey and starts its
	// sequence at ours (as MIT does).
	ic.finish(nil, ic.seq, &out)
	return out, nil
}

func (ic *initiatorContext) delegation(ctx context.Context, key types.EncryptionKey) ([]byte, error) {
	fwd, err := ic.cred.forwardedTGT(ctx)
	if err != nil {
		return nil, err
	}
	defer fwd.wipe()
	_, cname, crealm, err := ic.cred.outboundState()
	if err != nil {
		return nil, err
	}
	info := krbCredInfo{
		Key:       fwd.key,
		PRealm:    crealm,
		PName:     cname,
		Flags:     fwd.flags,
		AuthTime:  fwd.authTime.UTC(),
		StartTime: fwd.startTime.UTC(),
		EndTime:   fwd.endTime.UTC(),
		RenewTill: fwd.renewTill.UTC(),
		SRealm:    fwd.ticket.Realm,
		SName:     fwd.ticket.SName,
	}
	if info.RenewTill.IsZero() || info.RenewTill.Year() < 1971 {
		info.RenewTill = time.Time{}
	}
	if info.StartTime.Year() < 1971 {
		info.StartTime = time.Time{}
	}
	return marshalKRBCred(ic.cred.pkg.cfg.Rand, fwd.ticket, info, key)
}

// second verifies the AP-REP (mutual authentication) or maps a KRB-ERROR.
func (ic *initiatorContext) second(prm *secpkg.InitContextParams) (secpkg.ContextOutput, error) {
	var out secpkg.ContextOutput
	if ic.done {
		return out, statusErr(sspi.SEC_E_INVALID_HANDLE, "context already established")
	}
	var in []byte
	if prm.Input != nil {
		in = prm.Input.Token()
	}
	if len(in) == 0 {
		return out, tokenErr("no AP-REP token")
	}
	var id [2]byte
	var msg []byte
	switch {
	case ic.dce && in[0] == 0x6f: // DCE style: a bare AP-REP
		id, msg = tokAPRep, in
	case ic.dce && in[0] == 0x7e: // or a bare KRB-ERROR
		id, msg = tokKRBError, in
	default:
		var used int
		var err error
		id, msg, used, err = unframeToken(in)
		if err != nil {
			if sspi.StatusOf(err) == sspi.SEC_E_INCOMPLETE_MESSAGE {
				out.Missing = missingOf(in)
			}
			return out, err
		}
		out.Extra = len(in) - used
	}
	switch id {
	case tokAPRep:
	case tokKRBError:
		ke, err := parseKRBError(msg)
		if err != nil {
			return out, err
		}
		return out, &sspi.Error{Status: krbErrorStatus(ke.ErrorCode), Detail: "the acceptor refused the AP-REQ",
			Err: &KDCError{Code: ke.ErrorCode, Principal: ic.server, Text: cleanText(ke.EText)}}
	default:
		return out, tokenErr("expected an AP-REP")
	}
	part, err := parseAPRep(msg, ic.sessionKey)
	if err != nil {
		return out, err
	}
	// RFC 4120 section 3.2.5: the reply must echo our ctime and cusec.
	if !part.CTime.Equal(ic.ctime) || part.Cusec != ic.cusec {
		return out, statusErr(sspi.SEC_E_MUTUAL_AUTH_FAILED, "AP-REP does not match the authenticator")
	}
	var acceptorKey *types.EncryptionKey
	if len(part.Subkey.KeyValue) > 0 {
		k := part.Subkey
		// RFC 4121 uses the acceptor subkey; for rc4-hmac (RFC 1964 tokens)
		// MIT keeps the initiator subkey unless the enctype changed.
		if isCFX(k.KeyType) || ic.dce || k.KeyType != ic.subkey.KeyType {
			acceptorKey = &k
		}
	}
	acceptorSeq := uint64(uint32(part.SequenceNumber))
	var third []byte
	if ic.dce {
		// The third leg: our AP-REP, with the current time and the
		// acceptor's sequence number, in the ticket session key.
		now := ic.cred.pkg.now().UTC()
		third, err = encodeAPRep(ic.cred.pkg.cfg.Rand, encryptionKey{KeyType: ic.sessionKey.KeyType, Value: ic.sessionKey.KeyValue},
			now.Truncate(time.Second), now.Nanosecond()/1000, nil, acceptorSeq)
		if err != nil {
			return out, statusErr(sspi.SEC_E_INTERNAL_ERROR, "DCE AP-REP")
		}
	}
	ic.finish(acceptorKey, acceptorSeq, &out)
	if third != nil {
		out.Output = []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: third}}
	}
	return out, nil
}

// missingOf returns how many bytes a cut-short framed token still needs.
func missingOf(in []byte) int {
	if _, _, err := gss.Parse(in); err != nil {
		if inc, ok := err.(*gss.IncompleteError); ok {
			return inc.Missing
		}
	}
	return 0
}

func (ic *initiatorContext) finish(acceptorKey *types.EncryptionKey, recvSeq uint64, out *secpkg.ContextOutput) {
	k := ic.subkey
	cname, crealm := ic.cred.initiatorName()
	s := &session{
		flags:        ic.flags,
		gssFlags:     ic.gssFlags,
		client:       principalString(cname, crealm),
		server:       ic.server,
		start:        ic.cred.pkg.now(),
		expiry:       ic.expiry,
		sessionKey:   append([]byte(nil), ic.sessionKey.KeyValue...),
		sessionEtype: ic.sessionKey.KeyType,
	}
	if acceptorKey != nil {
		k = *acceptorKey
		s.acceptorSubkey = true
	}
	s.initiator = true
	s.etype = k.KeyType
	s.key = append([]byte(nil), k.KeyValue...)
	s.sendSeq = ic.seq
	s.recv = newSeqState(recvSeq, ic.flags&sspi.FlagReplayDetect != 0, ic.flags&sspi.FlagSequenceDetect != 0, isCFX(k.KeyType))
	ic.done = true
	ic.session = s
	out.Status = sspi.SEC_E_OK
	out.Flags = ic.flags
	out.Expiry = ic.expiry
	out.Mapped = true
	out.ContextData = s.marshal()
}

// Delete forgets the context's keys.
func (ic *initiatorContext) Delete() {
	clear(ic.sessionKey.KeyValue)
	clear(ic.subkey.KeyValue)
	if ic.session != nil {
		ic.session.wipe()
	}
}

// QueryAttributes answers before the context is mapped.
func (ic *initiatorContext) QueryAttributes(attr sspi.ContextAttribute) (any, error) {
	if ic.session != nil {
		return ic.session.query(attr)
	}
	switch attr {
	case sspi.SECPKG_ATTR_FLAGS:
		return sspi.SecPkgContextFlags{Flags: ic.flags}, nil
	case sspi.SECPKG_ATTR_PACKAGE_INFO:
		return sspi.SecPkgContextPackageInfo{PackageInfo: packageInfo()}, nil
	case sspi.SECPKG_ATTR_SIZES:
		return sspi.SecPkgContextSizes{MaxToken: maxToken}, nil
	}
	return nil, sspi.SEC_E_UNSUPPORTED_FUNCTION
}
