package ntlm

import (
	"context"
	"encoding/binary"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// clientContext is the LSA-mode state of an initiator (MS-NLMP 3.1.5).
type clientContext struct {
	p        *Package
	cred     credential
	req      sspi.ISCReq
	target   string
	bindings *sspi.ChannelBindings
	negMsg   []byte
	negFlags uint32
	done     *session
}

func iscErr(status sspi.Status, detail string) error {
	return &sspi.Error{Op: "InitializeSecurityContext", Status: status, Detail: detail}
}

// Delete implements secpkg.LsaContext.
func (c *clientContext) Delete() {
	c.cred.ntHash = [16]byte{}
	if c.done != nil {
		c.done.key = [16]byte{}
	}
}

// QueryAttributes implements secpkg.LsaContext.
func (c *clientContext) QueryAttributes(attr sspi.ContextAttribute) (any, error) {
	if c.done == nil {
		if attr == sspi.SECPKG_ATTR_SIZES || attr == sspi.SECPKG_ATTR_PACKAGE_INFO {
			return (&session{}).attribute(attr)
		}
		return nil, iscErr(sspi.SEC_E_UNSUPPORTED_FUNCTION, "attribute not available before the context is established")
	}
	return c.done.attribute(attr)
}

// clientFlags are the NEGOTIATE flags for a request.
func clientFlags(req sspi.ISCReq, anonymous bool) uint32 {
	f := ntlmssp.NegotiateUnicode | ntlmssp.NegotiateOEM | ntlmssp.RequestTarget | ntlmssp.NegotiateNTLM | ntlmssp.NegotiateAlwaysSign |
		ntlmssp.NegotiateExtendedSessionSecurity | ntlmssp.NegotiateVersion | ntlmssp.Negotiate128 | ntlmssp.Negotiate56 | ntlmssp.NegotiateKeyExch |
		ntlmssp.NegotiateSign | ntlmssp.NegotiateTargetInfo
	if req&sspi.ISC_REQ_CONFIDENTIALITY != 0 {
		f |= ntlmssp.NegotiateSeal
	}
	if req&sspi.ISC_REQ_IDENTIFY != 0 {
		f |= ntlmssp.NegotiateIdentify
	}
	if anonymous {
		f |= ntlmssp.NegotiateAnonymous
	}
	return f
}

// InitLsaModeContext implements secpkg.LsaModePackage: the first call
// returns NEGOTIATE, the second takes CHALLENGE and returns AUTHENTICATE.
func (p *Package) InitLsaModeContext(ctx context.Context, cred secpkg.LsaCredential, c secpkg.LsaContext, params *secpkg.InitContextParams) (secpkg.LsaContext, secpkg.ContextOutput, error) {
	var out secpkg.ContextOutput
	cr, ok := cred.(*credential)
	if !ok || cr == nil {
		return c, out, iscErr(sspi.SEC_E_INVALID_HANDLE, "not an NTLM credential")
	}
	if params == nil {
		params = &secpkg.InitContextParams{}
	}
	if cr.use&sspi.SECPKG_CRED_OUTBOUND == 0 || (cr.user == "" && !cr.anonymous) {
		return c, out, iscErr(sspi.SEC_E_NO_CREDENTIALS, "credential cannot initiate")
	}
	if params.ContextReq&(sspi.ISC_REQ_PROMPT_FOR_CREDS|sspi.ISC_REQ_DATAGRAM) != 0 {
		return c, out, iscErr(sspi.SEC_E_UNSUPPORTED_FUNCTION, "requirement NTLM cannot meet")
	}
	tok, cb, err := input(params.Input)
	if err != nil {
		return c, out, err
	}
	if c == nil {
		cc := &clientContext{p: p, cred: *cr, req: params.ContextReq, target: params.TargetName, bindings: cb}
		if params.ContextReq&sspi.ISC_REQ_NULL_SESSION != 0 {
			cc.cred.anonymous, cc.cred.user, cc.cred.domain = true, "", ""
		}
		cc.negFlags = clientFlags(params.ContextReq, cc.cred.anonymous)
		v := ntlmssp.DefaultVersion
		cc.negMsg = (&ntlmssp.NegotiateMessage{Flags: cc.negFlags, Version: &v}).Marshal()
		out.Status = sspi.SEC_I_CONTINUE_NEEDED
		out.Output = []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: append([]byte(nil), cc.negMsg...)}}
		out.Flags = contextFlags(cc.negFlags, cc.cred.anonymous)
		return cc, out, nil
	}
	cc, ok := c.(*clientContext)
	if !ok || cc.done != nil {
		return c, out, iscErr(sspi.SEC_E_INVALID_HANDLE, "not an NTLM client context in progress")
	}
	if cb != nil {
		cc.bindings = cb
	}
	if len(tok) == 0 {
		return cc, out, iscErr(sspi.SEC_E_INVALID_TOKEN, "no CHALLENGE token")
	}
	chal, err := ntlmssp.ParseChallenge(tok)
	if err != nil {
		return cc, out, statusErr(err, &out)
	}
	authMsg, s, err := cc.authenticate(tok, chal)
	if err != nil {
		return cc, out, err
	}
	if !p.cfg.AllowReflection {
		// Remembered for this package's server: an AUTHENTICATE answering
		// its own CHALLENGE through our client is a reflection
		// (reflection.go).
		p.answered.answer(chal.ServerChallenge, p.now(), p.cfg.MaxClockSkew)
	}
	cc.done = s
	cc.cred.ntHash = [16]byte{}
	out.Status = sspi.SEC_E_OK
	out.Output = []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: authMsg}}
	out.Flags = s.ctxFlags
	out.Expiry = s.expiry
	out.Mapped = true
	out.ContextData = s.marshal()
	return cc, out, nil
}

// authenticate computes the AUTHENTICATE message (MS-NLMP 3.1.5.1.2).
func (cc *clientContext) authenticate(chalMsg []byte, chal *ntlmssp.ChallengeMessage) ([]byte, *session, error) {
	p := cc.p
	flags := cc.negFlags & chal.Flags
	if chal.Flags&ntlmssp.NegotiateUnicode != 0 {
		flags = flags&^ntlmssp.NegotiateOEM | ntlmssp.NegotiateUnicode
	} else if chal.Flags&ntlmssp.NegotiateOEM != 0 {
		flags = flags &^ ntlmssp.NegotiateUnicode
	} else {
		return nil, nil, iscErr(sspi.SEC_E_INVALID_TOKEN, "server chose no character set")
	}
	if p.weakSealing(flags) {
		// MS-NLMP 3.1.5.1.2: ClientRequire128bitEncryption.
		return nil, nil, iscErr(sspi.SEC_E_UNSUPPORTED_FUNCTION, "server dropped NTLMSSP_NEGOTIATE_128")
	}
	flags |= ntlmssp.NegotiateNTLM | ntlmssp.NegotiateVersion
	if cc.cred.anonymous {
		flags |= ntlmssp.NegotiateAnonymous
	}
	serverAV := chal.TargetInfoPairs
	var cchal [8]byte
	if err := p.random(cchal[:]); err != nil {
		return nil, nil, iscErr(sspi.SEC_E_INTERNAL_ERROR, "no randomness")
	}
	now := p.now()
	am := &ntlmssp.AuthenticateMessage{Flags: flags, Domain: cc.cred.domain, User: cc.cred.user, Workstation: cc.cred.workstation}
	v := ntlmssp.DefaultVersion
	am.Version = &v
	var sessionBaseKey, kx [16]byte
	switch {
	case cc.cred.anonymous:
		// MS-NLMP 3.1.5.1.2: anonymous sends an empty NT response and a
		// single zero byte of LM response; the session base key is zero.
		am.LmChallengeResponse = []byte{0}
		am.Domain, am.User = "", ""
	case p.cfg.AllowNTLMv1:
		var lm, nt []byte
		lm, nt, sessionBaseKey = ntlmssp.NTLMv1Response(cc.cred.ntHash, [16]byte{}, chal.ServerChallenge, cchal, flags&ntlmssp.NegotiateExtendedSessionSecurity != 0)
		if flags&ntlmssp.NegotiateExtendedSessionSecurity == 0 {
			lm = nt // no LM hash is ever kept: send the NT response twice
		}
		am.LmChallengeResponse, am.NtChallengeResponse = lm, nt
		kx = ntlmssp.KXKEY(flags&^ntlmssp.NegotiateLMKey, false, sessionBaseKey, lm, chal.ServerChallenge, [16]byte{})
	default:
		ts := filetime(now)
		tsv, hasTS := serverAV.Get(ntlmssp.AvTimestamp)
		if hasTS {
			ts = binary.LittleEndian.Uint64(tsv)
		}
		av := append(make(ntlmssp.AvPairs, 0, len(serverAV)+3), serverAV...)
		var avFlags [4]byte
		if f, ok := serverAV.Get(ntlmssp.AvFlags); ok {
			copy(avFlags[:], f)
		}
		binary.LittleEndian.PutUint32(avFlags[:], binary.LittleEndian.Uint32(avFlags[:])|ntlmssp.AvFlagMICPresent)
		av = av.Set(ntlmssp.AvFlags, avFlags[:])
		var cbHash [16]byte
		if cc.bindings != nil {
			cbHash = cc.bindings.GSSBindingsHash()
		}
		av = av.Set(ntlmssp.AvChannelBindings, cbHash[:])
		if cc.target != "" {
			av = av.Set(ntlmssp.AvTargetName, ntlmssp.ToUTF16(cc.target))
		}
		rk := ntlmssp.NTOWFv2(cc.cred.ntHash, cc.cred.user, cc.cred.domain)
		var lm, nt []byte
		nt, sessionBaseKey = ntlmssp.NTLMv2NT(rk, chal.ServerChallenge, cchal, ts, av.Marshal())
		if hasTS {
			lm = make([]byte, 24) // MS-NLMP 3.1.5.1.2: Z(24) when the server sent a timestamp
		} else {
			lm = ntlmssp.LMv2(rk, chal.ServerChallenge, cchal)
		}
		am.LmChallengeResponse, am.NtChallengeResponse = lm, nt
		am.HasMIC = true
		kx = sessionBaseKey
	}
	exported := kx
	if flags&ntlmssp.NegotiateKeyExch != 0 {
		if err := p.random(exported[:]); err != nil {
			return nil, nil, iscErr(sspi.SEC_E_INTERNAL_ERROR, "no randomness")
		}
		am.EncryptedRandomSessionKey = ntlmssp.RC4(kx[:], exported[:])
	}
	msg := am.Marshal()
	if am.HasMIC {
		mic := ntlmssp.ComputeMIC(exported, cc.negMsg, chalMsg, msg)
		copy(msg[ntlmssp.MICOffset:], mic[:])
	}
	s := &session{
		client: true, flags: p.sessionFlags(flags), key: exported, user: cc.cred.user, domain: cc.cred.domain,
		workstation: cc.cred.workstation, target: cc.target, anonymous: cc.cred.anonymous,
		start: now, expiry: now.Add(p.cfg.ContextLifetime),
	}
	s.ctxFlags = contextFlags(s.flags, s.anonymous)
	return msg, s, nil
}
