package ntlm

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// serverContext is the LSA-mode state of an acceptor (MS-NLMP 3.2.5).
type serverContext struct {
	p        *Package
	store    AccountStore
	verifier Verifier
	req      sspi.ASCReq
	bindings *sspi.ChannelBindings
	negMsg   []byte
	chalMsg  []byte
	chal     *ntlmssp.ChallengeMessage
	issued   time.Time
	done     *session
}

func ascErr(status sspi.Status, detail string) error {
	return &sspi.Error{Op: "AcceptSecurityContext", Status: status, Detail: detail}
}

var errLogonDenied = ascErr(sspi.SEC_E_LOGON_DENIED, "logon denied")

// Delete implements secpkg.LsaContext.
func (c *serverContext) Delete() {
	if c.done != nil {
		c.done.key = [16]byte{}
	}
}

// QueryAttributes implements secpkg.LsaContext.
func (c *serverContext) QueryAttributes(attr sspi.ContextAttribute) (any, error) {
	if c.done == nil {
		if attr == sspi.SECPKG_ATTR_SIZES || attr == sspi.SECPKG_ATTR_PACKAGE_INFO {
			return (&session{}).attribute(attr)
		}
		return nil, ascErr(sspi.SEC_E_UNSUPPORTED_FUNCTION, "attribute not available before the context is established")
	}
	return c.done.attribute(attr)
}

// AcceptLsaModeContext implements secpkg.LsaModePackage: the first call
// takes NEGOTIATE and returns CHALLENGE, the second takes AUTHENTICATE.
// Channel bindings arrive as a SECBUFFER_CHANNEL_BINDINGS input buffer.
func (p *Package) AcceptLsaModeContext(ctx context.Context, cred secpkg.LsaCredential, c secpkg.LsaContext, params *secpkg.AcceptContextParams) (secpkg.LsaContext, secpkg.ContextOutput, error) {
	var out secpkg.ContextOutput
	cr, ok := cred.(*credential)
	if !ok || cr == nil {
		return c, out, ascErr(sspi.SEC_E_INVALID_HANDLE, "not an NTLM credential")
	}
	if cr.use&sspi.SECPKG_CRED_INBOUND == 0 || (cr.store == nil && cr.verifier == nil) {
		return c, out, ascErr(sspi.SEC_E_NO_CREDENTIALS, "credential cannot accept")
	}
	if params == nil {
		params = &secpkg.AcceptContextParams{}
	}
	if params.ContextReq&(sspi.ASC_REQ_DELEGATE|sspi.ASC_REQ_PROMPT_FOR_CREDS|sspi.ASC_REQ_DATAGRAM) != 0 {
		return c, out, ascErr(sspi.SEC_E_UNSUPPORTED_FUNCTION, "requirement NTLM cannot meet")
	}
	tok, cb, err := input(params.Input)
	if err != nil {
		return c, out, err
	}
	if len(tok) == 0 {
		return c, out, ascErr(sspi.SEC_E_INVALID_TOKEN, "no input token")
	}
	if c == nil {
		neg, err := ntlmssp.ParseNegotiate(tok)
		if err != nil {
			return nil, out, statusErr(err, &out)
		}
		sc := &serverContext{p: p, store: cr.store, verifier: cr.verifier, req: params.ContextReq, bindings: cb, negMsg: append([]byte(nil), tok...)}
		if err := sc.challenge(neg); err != nil {
			return nil, out, err
		}
		out.Status = sspi.SEC_I_CONTINUE_NEEDED
		out.Output = []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: append([]byte(nil), sc.chalMsg...)}}
		out.Flags = contextFlags(sc.chal.Flags, false)
		return sc, out, nil
	}
	sc, ok := c.(*serverContext)
	if !ok || sc.done != nil {
		return c, out, ascErr(sspi.SEC_E_INVALID_HANDLE, "not an NTLM server context in progress")
	}
	if cb != nil {
		sc.bindings = cb
	}
	sc.req |= params.ContextReq
	am, err := ntlmssp.ParseAuthenticate(tok)
	if err != nil {
		return sc, out, statusErr(err, &out)
	}
	s, err := sc.verify(ctx, tok, am)
	if err != nil {
		return sc, out, err
	}
	sc.done = s
	out.Status = sspi.SEC_E_OK
	out.Flags = s.ctxFlags
	out.Expiry = s.expiry
	out.Mapped = true
	out.ContextData = s.marshal()
	return sc, out, nil
}

// challenge builds the CHALLENGE message (MS-NLMP 3.2.5.1.1).
func (sc *serverContext) challenge(neg *ntlmssp.NegotiateMessage) error {
	p := sc.p
	cf := neg.Flags
	f := ntlmssp.NegotiateNTLM | ntlmssp.NegotiateTargetInfo | ntlmssp.NegotiateVersion | ntlmssp.TargetTypeDomain
	if cf&ntlmssp.NegotiateUnicode != 0 {
		f |= ntlmssp.NegotiateUnicode
	} else if cf&ntlmssp.NegotiateOEM != 0 {
		f |= ntlmssp.NegotiateOEM
	} else {
		return ascErr(sspi.SEC_E_INVALID_TOKEN, "client offered no character set")
	}
	f |= cf & (ntlmssp.RequestTarget | ntlmssp.NegotiateSign | ntlmssp.NegotiateSeal | ntlmssp.NegotiateAlwaysSign |
		ntlmssp.NegotiateExtendedSessionSecurity | ntlmssp.NegotiateIdentify | ntlmssp.Negotiate128 | ntlmssp.Negotiate56 | ntlmssp.NegotiateKeyExch)
	if p.weakSealing(f) {
		// MS-NLMP 3.2.5.1.1: ServerRequire128bitEncryption.
		return ascErr(sspi.SEC_E_UNSUPPORTED_FUNCTION, "signing or sealing without NTLMSSP_NEGOTIATE_128")
	}
	var ch [8]byte
	if err := p.random(ch[:]); err != nil {
		return ascErr(sspi.SEC_E_INTERNAL_ERROR, "no randomness")
	}
	sc.issued = p.now()
	// TargetInfo: the names (built once), MsvAvTimestamp, MsvAvEOL.
	ti := make([]byte, len(p.targetInfo), len(p.targetInfo)+12+4)
	copy(ti, p.targetInfo)
	ti = binary.LittleEndian.AppendUint16(ti, ntlmssp.AvTimestamp)
	ti = binary.LittleEndian.AppendUint16(ti, 8)
	ti = binary.LittleEndian.AppendUint64(ti, filetime(sc.issued))
	ti = append(ti, 0, 0, 0, 0)
	v := ntlmssp.DefaultVersion
	sc.chal = &ntlmssp.ChallengeMessage{Flags: f, ServerChallenge: ch, TargetInfo: ti, Version: &v}
	if cf&ntlmssp.RequestTarget != 0 {
		sc.chal.TargetName = p.cfg.NetBIOSDomain
	}
	sc.chalMsg = sc.chal.Marshal()
	return nil
}

// verify checks an AUTHENTICATE message (MS-NLMP 3.2.5.1.2).
func (sc *serverContext) verify(ctx context.Context, raw []byte, am *ntlmssp.AuthenticateMessage) (*session, error) {
	p := sc.p
	flags := am.Flags & sc.chal.Flags
	if p.weakSealing(flags) {
		// An AUTHENTICATE that drops NTLMSSP_NEGOTIATE_128 after the
		// NEGOTIATE asked for it (MS-NLMP 3.2.5.1.2: not strong enough for
		// the server's policy).
		return nil, ascErr(sspi.SEC_E_UNSUPPORTED_FUNCTION, "signing or sealing without NTLMSSP_NEGOTIATE_128")
	}
	anonymous := len(am.NtChallengeResponse) == 0 && am.User == "" &&
		(len(am.LmChallengeResponse) == 0 || (len(am.LmChallengeResponse) == 1 && am.LmChallengeResponse[0] == 0))
	var (
		sessionBaseKey, kx [16]byte
		acct               *Account
		micPresent         bool
		groups             []string
	)
	switch {
	case anonymous:
		if sc.req&sspi.ASC_REQ_ALLOW_NULL_SESSION == 0 {
			return nil, ascErr(sspi.SEC_E_LOGON_DENIED, "anonymous logon not allowed")
		}
		flags |= ntlmssp.NegotiateAnonymous
	case len(am.NtChallengeResponse) == 24:
		if !p.cfg.AllowNTLMv1 {
			// Checked before any account lookup: the answer says nothing
			// about the account.
			return nil, ascErr(sspi.SEC_E_LOGON_DENIED, "NTLMv1 is not allowed")
		}
		a, hash, err := sc.lookup(ctx, am)
		if err != nil {
			return nil, err
		}
		ess := flags&ntlmssp.NegotiateExtendedSessionSecurity != 0
		var cchal [8]byte
		copy(cchal[:], am.LmChallengeResponse)
		if ess && len(am.LmChallengeResponse) < 8 {
			return nil, ntlmssp.ErrInvalid("short LM response")
		}
		if a == nil && sc.verifier != nil {
			// The DC checks the response to the challenge the client
			// answered: with NTLM2 session security, the first 8 bytes of
			// MD5(ServerChallenge || ClientChallenge), the LM response
			// then meaning nothing (MS-NLMP 3.3.1).
			chal, lm := sc.chal.ServerChallenge, am.LmChallengeResponse
			if ess {
				h := md5.Sum(append(chal[:8:8], cchal[:]...))
				copy(chal[:], h[:8])
				lm = nil
			}
			if acct, groups, sessionBaseKey, err = sc.passThrough(ctx, am, chal, lm); err != nil {
				return nil, err
			}
		} else {
			_, nt, sbk := ntlmssp.NTLMv1Response(hash, [16]byte{}, sc.chal.ServerChallenge, cchal, ess)
			ok := subtle.ConstantTimeCompare(nt, am.NtChallengeResponse) == 1
			if !ok || a == nil {
				return nil, errLogonDenied
			}
			acct, sessionBaseKey = a, sbk
		}
		lm := am.LmChallengeResponse
		if len(lm) < 8 {
			lm = make([]byte, 8)
		}
		kx = ntlmssp.KXKEY(flags&^ntlmssp.NegotiateLMKey, false, sessionBaseKey, lm, sc.chal.ServerChallenge, [16]byte{})
	case len(am.NtChallengeResponse) >= 16+28+4:
		a, hash, err := sc.lookup(ctx, am)
		if err != nil {
			return nil, err
		}
		nt := am.NtChallengeResponse
		if a == nil && sc.verifier != nil {
			// The local checks first: a stale, unbound or misdirected
			// response never reaches the DC.
			if _, micPresent, err = sc.checkV2Blob(nt); err != nil {
				return nil, err
			}
			if acct, groups, sessionBaseKey, err = sc.passThrough(ctx, am, sc.chal.ServerChallenge, am.LmChallengeResponse); err != nil {
				return nil, err
			}
			kx = sessionBaseKey
			break
		}
		// NTProofStr is always computed and compared, also for an unknown
		// user (with a dummy hash), so that both cost the same.
		rk := ntlmssp.NTOWFv2(hash, am.User, am.Domain)
		proof := ntlmssp.HMACMD5(rk[:], sc.chal.ServerChallenge[:], nt[16:])
		ok := subtle.ConstantTimeCompare(proof[:], nt[:16]) == 1
		if !ok || a == nil {
			return nil, errLogonDenied
		}
		acct = a
		sessionBaseKey = ntlmssp.HMACMD5(rk[:], proof[:])
		kx = sessionBaseKey
		if _, micPresent, err = sc.checkV2Blob(nt); err != nil {
			return nil, err
		}
	default:
		return nil, ntlmssp.ErrInvalid("NT response of unknown form")
	}

	exported := kx
	if flags&ntlmssp.NegotiateKeyExch != 0 {
		if len(am.EncryptedRandomSessionKey) != 16 {
			return nil, ntlmssp.ErrInvalid("EncryptedRandomSessionKey must be 16 bytes")
		}
		copy(exported[:], ntlmssp.RC4(kx[:], am.EncryptedRandomSessionKey))
	}
	if micPresent {
		if !am.HasMIC {
			return nil, ntlmssp.ErrInvalid("MsvAvFlags announces a MIC the message lacks")
		}
		mic := ntlmssp.ComputeMIC(exported, sc.negMsg, sc.chalMsg, raw)
		if subtle.ConstantTimeCompare(mic[:], am.MIC) != 1 {
			return nil, ascErr(sspi.SEC_E_MESSAGE_ALTERED, "MIC mismatch")
		}
	} else if p.cfg.RequireMIC && !anonymous {
		return nil, ascErr(sspi.SEC_E_LOGON_DENIED, "a MIC is required")
	}
	now := p.now()
	if err := sc.checkReflection(now); err != nil {
		return nil, err
	}
	flags = p.sessionFlags(flags)
	s := &session{client: false, flags: flags, key: exported, workstation: am.Workstation,
		anonymous: anonymous, start: now, expiry: now.Add(p.cfg.ContextLifetime)}
	if acct != nil {
		s.user, s.domain, s.sid = sc.p.canonicalName(acct, am)
		s.groups = groups
	}
	s.ctxFlags = contextFlags(flags, anonymous)
	return s, nil
}

// lookup finds the account, or returns a nil account with the dummy hash
// for an unknown user. A user name in UPN form (user@domain) with an empty
// domain field is looked up as that user in that domain first, as Windows
// does; the domain part may be the server's DNS domain or forest name,
// which stand for its NetBIOS domain.
func (sc *serverContext) lookup(ctx context.Context, am *ntlmssp.AuthenticateMessage) (*Account, [16]byte, error) {
	var a *Account
	err := ErrNoAccount
	if sc.store == nil {
		// Only a Verifier: every account is the domain's.
		return nil, sc.p.dummyHash(), nil
	}
	if am.Domain == "" {
		if user, dom, ok := sc.p.splitUPN(am.User); ok {
			a, err = sc.store.LookupAccount(ctx, dom, user)
		}
	}
	if errors.Is(err, ErrNoAccount) {
		a, err = sc.store.LookupAccount(ctx, am.Domain, am.User)
	}
	if errors.Is(err, ErrNoAccount) {
		return nil, sc.p.dummyHash(), nil
	}
	if err != nil || a == nil {
		return nil, [16]byte{}, ascErr(sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY, "account store failed"+fileDetail(err))
	}
	return a, a.NTHash, nil
}

// splitUPN splits a UPN-form user name (carol@CONTOSO, carol@contoso.com)
// into the user and the NetBIOS domain to look it up in.
func (p *Package) splitUPN(name string) (user, domain string, ok bool) {
	i := strings.LastIndexByte(name, '@')
	if i <= 0 || i == len(name)-1 {
		return "", "", false
	}
	user, domain = name[:i], name[i+1:]
	if strings.EqualFold(domain, p.cfg.DNSDomain) || (p.cfg.DNSTreeName != "" && strings.EqualFold(domain, p.cfg.DNSTreeName)) {
		domain = p.cfg.NetBIOSDomain
	}
	return user, domain, true
}

// canonicalName is the identity of an authenticated account: the account
// store's spelling of the user and domain, never the client's (which only
// has to match case-insensitively). An account stored without a domain
// belongs to the server's own domain, Config.NetBIOSDomain, whatever
// domain the client typed.
func (p *Package) canonicalName(acct *Account, am *ntlmssp.AuthenticateMessage) (user, domain, sid string) {
	user, domain = acct.User, acct.Domain
	if user == "" {
		user = am.User // a store that does not say
	}
	if domain == "" {
		domain = p.cfg.NetBIOSDomain
	}
	return user, domain, acct.SID
}

// checkBindings applies the call's channel-binding policy (MS-NLMP
// 3.2.5.1.2; sspi.BindingPolicy: the host gives no bindings under
// BindingsOff and sets ASC_REQ_ALLOW_MISSING_BINDINGS under
// BindingsWhenSupported).
func (sc *serverContext) checkBindings(avs ntlmssp.AvPairs) error {
	if sc.bindings == nil {
		return nil
	}
	got, present := avs.Get(ntlmssp.AvChannelBindings)
	var zero [16]byte
	if !present || subtle.ConstantTimeCompare(got, zero[:]) == 1 {
		if sc.req&sspi.ASC_REQ_ALLOW_MISSING_BINDINGS == 0 {
			return ascErr(sspi.SEC_E_BAD_BINDINGS, "channel bindings required and the client sent none")
		}
		return nil
	}
	want := sc.bindings.GSSBindingsHash()
	if subtle.ConstantTimeCompare(got, want[:]) != 1 {
		return ascErr(sspi.SEC_E_BAD_BINDINGS, "channel bindings mismatch")
	}
	return nil
}

// checkTargetName is the optional service binding check of MsvAvTargetName
// (Config.ServicePrincipalNames); a client that names no target passes
// when the call allows missing bindings.
func (sc *serverContext) checkTargetName(avs ntlmssp.AvPairs) error {
	spns := sc.p.cfg.ServicePrincipalNames
	if len(spns) == 0 {
		return nil
	}
	name := avs.String(ntlmssp.AvTargetName)
	if name == "" {
		if sc.req&sspi.ASC_REQ_ALLOW_MISSING_BINDINGS == 0 {
			return ascErr(sspi.SEC_E_BAD_BINDINGS, "client sent no target name")
		}
		return nil
	}
	for _, s := range spns {
		if strings.EqualFold(s, name) {
			return nil
		}
	}
	return ascErr(sspi.SEC_E_BAD_BINDINGS, "target name does not name this service")
}

// checkReflection, unless Config.AllowReflection, refuses an AUTHENTICATE
// that this package's own client produced for our CHALLENGE (NTLM
// reflection, MS08-068; reflection.go), and one for a CHALLENGE older than
// the record of answers covers (Config.MaxClockSkew, the age past which an
// NTLMv2 timestamp is refused too).
func (sc *serverContext) checkReflection(now time.Time) error {
	p := sc.p
	if p.cfg.AllowReflection {
		return nil
	}
	if now.Sub(sc.issued) > p.cfg.MaxClockSkew {
		return ascErr(sspi.SEC_E_CONTEXT_EXPIRED, "the CHALLENGE expired before it was answered")
	}
	if p.answered.reflected(sc.chal.ServerChallenge, sc.issued, now, p.cfg.MaxClockSkew) {
		return ascErr(sspi.SEC_E_LOGON_DENIED, "reflected: this host's own client answered the CHALLENGE")
	}
	return nil
}
