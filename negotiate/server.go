package negotiate

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/internal/ntlmssp"

	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// AcceptLsaModeContext is SpAcceptLsaModeContext, the acceptor (RFC 4178
// 3.2, MS-SPNG 3.2.5).
//
// It chooses the first mechanism in the initiator's list that one of its
// packages implements, uses the optimistic token when that mechanism is
// the initiator's first, and otherwise answers request-mic with
// supportedMech so that the initiator starts the chosen mechanism. Like
// Windows, it also accepts a raw NTLMSSP token or a raw Kerberos AP-REQ
// (framed or not) and then runs that package directly, with raw tokens.
// Called with no input, it returns a NegTokenInit2 with Windows' negHints
// (server-initiated SPNEGO).
func (p *Package) AcceptLsaModeContext(ctx context.Context, cred secpkg.LsaCredential, lc secpkg.LsaContext, prm *secpkg.AcceptContextParams) (secpkg.LsaContext, secpkg.ContextOutput, error) {
	ctx = ctxOrBackground(ctx)
	var out secpkg.ContextOutput
	if lc == nil {
		cr, err := asLsaCred(cred)
		if err != nil {
			return nil, out, err
		}
		if cr.use&sspi.SECPKG_CRED_INBOUND == 0 {
			return nil, out, &sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_NO_CREDENTIALS, Detail: "credential is not for inbound use"}
		}
		c := &negContext{pkg: p, cred: cr}
		if err := c.acceptFirst(ctx, prm, &out); err != nil {
			c.Delete()
			return nil, out, c.explain("AcceptSecurityContext", err)
		}
		return c, out, nil
	}
	c, ok := lc.(*negContext)
	if !ok || c.initiator {
		return lc, out, sspi.SEC_E_INVALID_HANDLE
	}
	if c.failed || c.complete {
		return c, out, &sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_OUT_OF_SEQUENCE, Detail: "context is finished"}
	}
	if err := c.acceptNext(ctx, prm, &out); err != nil {
		return c, out, c.fail(c.explain("AcceptSecurityContext", err))
	}
	return c, out, nil
}

func (c *negContext) findCred(want func(*innerPkg) bool) (innerCred, bool) {
	for _, ic := range c.cred.inners {
		if want(ic.pkg) {
			return ic, true
		}
	}
	return innerCred{}, false
}

func (c *negContext) acceptFirst(ctx context.Context, prm *secpkg.AcceptContextParams, out *secpkg.ContextOutput) error {
	tok := prm.Input.Token()
	if len(tok) == 0 {
		return c.sendInit2(out)
	}
	// A raw mechanism token presented to Negotiate, as Windows accepts:
	// NTLMSSP, or a Kerberos AP-REQ with or without the GSS framing.
	k := secpkg.RecognizeToken(tok)
	switch {
	case k.IsNTLM() && !k.Framed():
		return c.acceptDirect(ctx, prm, func(p *innerPkg) bool { return p.ntlm }, out)
	case k == secpkg.TokenKerberosAPReq: // [APPLICATION 14] without GSS framing
		return c.acceptDirect(ctx, prm, func(p *innerPkg) bool { return p.krb }, out)
	case k.Framed() && k.Base() != secpkg.TokenSPNEGOInit:
		// Check the framing (RFC 2743 3.1) before handing it over.
		_, _, err := gss.Parse(tok)
		var inc *gss.IncompleteError
		switch {
		case errors.As(err, &inc):
			out.Missing = inc.Missing
			return &sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_INCOMPLETE_MESSAGE, Detail: "token cut short"}
		case err != nil:
			return spnego.Invalid("bad InitialContextToken framing")
		case k.IsKerberos():
			return c.acceptDirect(ctx, prm, func(p *innerPkg) bool { return p.krb }, out)
		}
	}
	return c.acceptInit(ctx, prm, tok, out)
}

// sendInit2 answers an empty first call with a NegTokenInit2 listing our
// mechanisms (MS-SPNG 3.2.5.2).
func (c *negContext) sendInit2(out *secpkg.ContextOutput) error {
	var mechs []spnego.OID
	for _, ic := range c.cred.inners {
		mechs = append(mechs, ic.pkg.oids...)
	}
	t := &spnego.NegTokenInit{MechTypes: mechs, Init2: true, NegHints: &spnego.NegHints{HintName: spnego.WindowsHintName, HasName: true}}
	b, err := t.Marshal()
	if err != nil {
		return err
	}
	c.state = sspi.SECPKG_NEGOTIATION_IN_PROGRESS
	out.Status = sspi.SEC_I_CONTINUE_NEEDED
	out.Output = tokenOutput(b)
	out.NegotiationState = c.state
	return nil
}

// acceptDirect runs an inner package on a raw token.
func (c *negContext) acceptDirect(ctx context.Context, prm *secpkg.AcceptContextParams, want func(*innerPkg) bool, out *secpkg.ContextOutput) error {
	ic, ok := c.findCred(want)
	if !ok {
		return &sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_SECPKG_NOT_FOUND, Detail: "no package for a raw mechanism token"}
	}
	c.direct, c.negoDone = true, true
	c.sel, c.selCred, c.selOID = ic.pkg, ic.cred, ic.pkg.oids[0]
	c.state = sspi.SECPKG_NEGOTIATION_DIRECT
	return c.acceptDirectStep(ctx, prm, out)
}

func (c *negContext) acceptDirectStep(ctx context.Context, prm *secpkg.AcceptContextParams, out *secpkg.ContextOutput) error {
	ictx, iout, err := c.sel.lsa.AcceptLsaModeContext(ctx, c.selCred, c.inner, prm)
	if ictx != nil {
		c.inner = ictx
	}
	*out = iout
	out.NegotiationState = c.state
	if err != nil {
		return c.innerErr(err)
	}
	switch iout.Status {
	case sspi.SEC_E_OK:
		if err := c.innerFinished(&iout); err != nil {
			return err
		}
		c.finish(out)
	case sspi.SEC_I_CONTINUE_NEEDED:
	default:
		return &sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_UNSUPPORTED_FUNCTION, Detail: c.sel.info.Name + " returned " + iout.Status.String()}
	}
	return nil
}

// acceptInit handles the initiator's NegTokenInit.
func (c *negContext) acceptInit(ctx context.Context, prm *secpkg.AcceptContextParams, tok []byte, out *secpkg.ContextOutput) error {
	if !secpkg.RecognizeToken(tok).Framed() {
		return spnego.Invalid("not a SPNEGO token")
	}
	t, err := splitToken(tok, out)
	if err != nil {
		return err
	}
	init, _, err := spnego.ParseToken(t)
	if err != nil {
		return err
	}
	if init == nil {
		return spnego.Invalid("expected a spnego.NegTokenInit")
	}
	c.RawMechTypes = init.RawMechTypes
	idx := -1
	var chosen innerCred
outer:
	for i, m := range init.MechTypes {
		for _, ic := range c.cred.inners {
			if ic.pkg.matches(m) {
				idx, chosen = i, ic
				break outer
			}
		}
	}
	// Record why the packages we prefer to the chosen one (all of them
	// when there is none) were left out.
	for _, ic := range c.cred.inners {
		if idx >= 0 && ic.pkg == chosen.pkg {
			break
		}
		if idx >= 0 && matchesAny(ic.pkg, init.MechTypes) {
			c.skip(skippedNote(ic.pkg, "the initiator preferred "+chosen.pkg.info.Name))
		} else {
			c.skip(skippedNote(ic.pkg, "not offered by the initiator"))
		}
	}
	if idx < 0 {
		out.Output = tokenOutput(rejectToken(nil))
		return &sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_SECPKG_NOT_FOUND, Detail: "no mechanism in common"}
	}
	c.sel, c.selCred = chosen.pkg, chosen.cred
	// Answer with the OID the initiator used: a Windows client listing the
	// MS-Kerberos OID first gets it back (MS-SPNG 3.3.5.2).
	c.selOID = init.MechTypes[idx]
	c.negoDone = true
	c.state = sspi.SECPKG_NEGOTIATION_IN_PROGRESS
	if idx != 0 {
		// Not the initiator's preferred mechanism: the MIC exchange
		// protects the choice (RFC 4178 5).
		c.micRequired = true
	}
	if idx == 0 && init.MechToken != nil {
		return c.acceptInner(ctx, prm, init.MechToken, true, init.MechListMIC, out)
	}
	// The optimistic token, if any, is for a mechanism we did not choose:
	// ignore it and let the initiator start ours.
	st := spnego.AcceptIncomplete
	if c.micRequired {
		st = spnego.RequestMIC
	}
	resp := &spnego.NegTokenResp{NegState: st, SupportedMech: c.selOID}
	c.peerMIC = init.MechListMIC
	return c.emit(resp, sspi.SEC_I_CONTINUE_NEEDED, out)
}

func (c *negContext) acceptNext(ctx context.Context, prm *secpkg.AcceptContextParams, out *secpkg.ContextOutput) error {
	if c.direct {
		err := c.acceptDirectStep(ctx, prm, out)
		return err
	}
	tok := prm.Input.Token()
	if len(tok) == 0 {
		return spnego.Invalid("no input token")
	}
	if !c.negoDone {
		// We sent a NegTokenInit2; this is the initiator's NegTokenInit.
		return c.acceptFirst(ctx, prm, out)
	}
	if secpkg.RecognizeToken(tok) != secpkg.TokenSPNEGOResp {
		return spnego.Invalid("expected a spnego.NegTokenResp")
	}
	t, err := splitToken(tok, out)
	if err != nil {
		return err
	}
	_, resp, err := spnego.ParseToken(t)
	if err != nil {
		return err
	}
	if resp == nil {
		return spnego.Invalid("expected a spnego.NegTokenResp")
	}
	if resp.NegState == spnego.Reject {
		return &sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_LOGON_DENIED, Detail: "initiator rejected the negotiation"}
	}
	if !c.innerDone {
		if resp.ResponseToken == nil {
			out.Output = tokenOutput(rejectToken(nil))
			return spnego.Invalid("initiator sent no mechanism token")
		}
		mic := resp.MechListMIC
		if mic == nil {
			mic = c.peerMIC // one sent early, in the NegTokenInit
		}
		return c.acceptInner(ctx, prm, resp.ResponseToken, false, mic, out)
	}
	// The mechanism is done and we sent our MIC: this token carries the
	// initiator's.
	if len(resp.ResponseToken) > 0 {
		return spnego.Invalid("mechanism token after the mechanism finished")
	}
	if resp.MechListMIC == nil {
		out.Output = tokenOutput(rejectToken(nil))
		return &sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_DOWNGRADE_DETECTED, Detail: "required mechListMIC is missing"}
	}
	if err := c.verifyMIC(resp.MechListMIC); err != nil {
		out.Output = tokenOutput(rejectToken(nil))
		return err
	}
	out.Output = tokenOutput(nil)
	c.finish(out)
	out.Status = sspi.SEC_E_OK
	return nil
}

// acceptInner runs the chosen package on a mechanism token and builds the
// NegTokenResp, with the mechListMIC exchange once the mechanism is done.
func (c *negContext) acceptInner(ctx context.Context, prm *secpkg.AcceptContextParams, mechTok []byte, first bool, peerMIC []byte, out *secpkg.ContextOutput) error {
	ictx, iout, err := c.sel.lsa.AcceptLsaModeContext(ctx, c.selCred, c.inner, &secpkg.AcceptContextParams{
		ContextReq:    prm.ContextReq,
		TargetDataRep: prm.TargetDataRep,
		Input:         innerInput(prm.Input, mechTok),
	})
	if ictx != nil {
		c.inner = ictx
	}
	if err != nil {
		out.Output = tokenOutput(rejectToken(outToken(iout.Output)))
		return c.innerErr(err)
	}
	resp := &spnego.NegTokenResp{NegState: spnego.AcceptIncomplete}
	if first {
		resp.SupportedMech = c.selOID
	}
	respTok := outToken(iout.Output)
	if len(respTok) > 0 {
		resp.ResponseToken = respTok
	}
	switch iout.Status {
	case sspi.SEC_E_OK:
		if err := c.innerFinished(&iout); err != nil {
			return err
		}
		if c.sel.ntlm && ntlmMICPresent(mechTok) {
			// "New SPNEGO" (MS-SPNG 3.2.5.1, 3.3.5.1): an initiator that
			// put a MIC in its NTLM AUTHENTICATE_MESSAGE sends the
			// mechListMIC too, as Windows and Samba require; without it the
			// mechListMIC was stripped in transit.
			c.micRequired = true
		}
	case sspi.SEC_I_CONTINUE_NEEDED:
		c.flags, c.expiry = iout.Flags, iout.Expiry
	default:
		return &sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_UNSUPPORTED_FUNCTION, Detail: c.sel.info.Name + " returned " + iout.Status.String()}
	}
	out.Flags, out.Expiry = c.flags, c.expiry
	if !c.innerDone {
		if peerMIC != nil {
			if !first {
				out.Output = tokenOutput(rejectToken(nil))
				return spnego.Invalid("mechListMIC before the mechanism finished")
			}
			c.peerMIC = peerMIC // sent early, in the NegTokenInit
		}
		return c.emit(resp, sspi.SEC_I_CONTINUE_NEEDED, out)
	}
	if peerMIC != nil {
		if err := c.verifyMIC(peerMIC); err != nil {
			out.Output = tokenOutput(rejectToken(nil))
			return err
		}
	}
	if c.micRequired || c.micRcvd {
		if !c.micRcvd {
			if resp.ResponseToken == nil {
				// The initiator sent the final mechanism token, so the MIC
				// had to come with it (RFC 4178 5).
				out.Output = tokenOutput(rejectToken(nil))
				return &sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_DOWNGRADE_DETECTED, Detail: "required mechListMIC is missing"}
			}
			// We send the final mechanism token: our MIC goes with it and
			// the initiator answers with its own.
			mic, err := c.makeMIC()
			if err != nil {
				return err
			}
			resp.MechListMIC = mic
			return c.emit(resp, sspi.SEC_I_CONTINUE_NEEDED, out)
		}
		mic, err := c.makeMIC()
		if err != nil {
			return err
		}
		resp.MechListMIC = mic
	}
	resp.NegState = spnego.AcceptCompleted
	if err := c.emitToken(resp, out); err != nil {
		return err
	}
	c.finish(out)
	out.Status = sspi.SEC_E_OK
	return nil
}

// ntlmMICPresent reports whether an NTLM AUTHENTICATE_MESSAGE announces a
// MIC in its NTLMv2 response's MsvAvFlags (MS-NLMP 2.2.2.1; the AV pairs
// follow the 16-byte NTProofStr and the 28-byte NTLMv2_CLIENT_CHALLENGE
// header, 2.2.2.7). The inner package has verified that MIC and the AV
// pairs by the time this is asked.
func ntlmMICPresent(tok []byte) bool {
	// MS-NLMP 2.2.1.3: NtChallengeResponseFields (length, max, offset) at
	// byte 20; the NTLMv2 response (2.2.2.8) is NTProofStr (16) and the
	// client challenge header (28) before its AV pairs (2.2.2.1). Read in
	// place: this runs on every NTLM accept through Negotiate.
	if len(tok) < 28 || string(tok[:8]) != "NTLMSSP\x00" || binary.LittleEndian.Uint32(tok[8:]) != 3 {
		return false
	}
	n := int(binary.LittleEndian.Uint16(tok[20:]))
	off := int(binary.LittleEndian.Uint32(tok[24:]))
	if n < 16+28+4 || off > len(tok) || n > len(tok)-off {
		return false
	}
	var flags uint32
	var found bool
	if ntlmssp.WalkAvPairs(tok[off+16+28:off+n], func(id uint16, v []byte) {
		if id == ntlmssp.AvFlags && !found {
			flags, found = binary.LittleEndian.Uint32(v), true
		}
	}) != nil {
		return false
	}
	return found && flags&ntlmssp.AvFlagMICPresent != 0
}
