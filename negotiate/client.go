package negotiate

import (
	"context"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// InitLsaModeContext is SpInitLsaModeContext, the initiator (RFC 4178 3.2,
// MS-SPNG 3.1.5).
//
// The first call offers the mechanisms of the credential's packages in
// order of preference and sends an optimistic token for the first one that
// can start. A package that cannot start (no KDC, an unknown service
// principal, an IP-address target for Kerberos) is dropped from the list
// and the next one is tried, so Kerberos falls back to NTLM. If the first
// call's input holds a NegTokenInit2 from the acceptor, only mechanisms it
// lists are offered. Each mechanism left out is recorded with the reason:
// when the call fails, the error lists them (reasons.go).
func (p *Package) InitLsaModeContext(ctx context.Context, cred secpkg.LsaCredential, lc secpkg.LsaContext, prm *secpkg.InitContextParams) (secpkg.LsaContext, secpkg.ContextOutput, error) {
	ctx = ctxOrBackground(ctx)
	var out secpkg.ContextOutput
	if lc == nil {
		cr, err := asLsaCred(cred)
		if err != nil {
			return nil, out, err
		}
		if cr.use&sspi.SECPKG_CRED_OUTBOUND == 0 {
			return nil, out, &sspi.Error{Op: "InitializeSecurityContext", Status: sspi.SEC_E_NO_CREDENTIALS, Detail: "credential is not for outbound use"}
		}
		c := &negContext{pkg: p, cred: cr, initiator: true}
		if err := c.initFirst(ctx, prm, &out); err != nil {
			c.Delete()
			return nil, out, c.explain("InitializeSecurityContext", err)
		}
		return c, out, nil
	}
	c, ok := lc.(*negContext)
	if !ok || !c.initiator {
		return lc, out, sspi.SEC_E_INVALID_HANDLE
	}
	if c.failed || c.complete {
		return c, out, &sspi.Error{Op: "InitializeSecurityContext", Status: sspi.SEC_E_OUT_OF_SEQUENCE, Detail: "context is finished"}
	}
	if err := c.initNext(ctx, prm, &out); err != nil {
		return c, out, c.fail(c.explain("InitializeSecurityContext", err))
	}
	return c, out, nil
}

func (c *negContext) innerInitParams(prm *secpkg.InitContextParams, tok []byte) *secpkg.InitContextParams {
	return &secpkg.InitContextParams{
		TargetName: prm.TargetName,
		// Ask for integrity so that the mechanism can make the mechListMIC
		// (NTLM then negotiates SIGN), as MIT's SPNEGO does.
		ContextReq:    prm.ContextReq | sspi.ISC_REQ_INTEGRITY,
		TargetDataRep: prm.TargetDataRep,
		Input:         innerInput(prm.Input, tok),
	}
}

func (c *negContext) initFirst(ctx context.Context, prm *secpkg.InitContextParams, out *secpkg.ContextOutput) error {
	// A NegTokenInit2 from the acceptor (server-initiated SPNEGO, as in SMB
	// and some HTTP servers) restricts what we offer.
	var acceptorMechs []spnego.OID
	restrict := false
	if tok := prm.Input.Token(); len(tok) > 0 {
		if !secpkg.RecognizeToken(tok).Framed() {
			return spnego.Invalid("first input is not a NegTokenInit2")
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
			return spnego.Invalid("first input is not a NegTokenInit2")
		}
		acceptorMechs, restrict = init.MechTypes, init.MechTypes != nil
	}
	ipTarget := c.pkg.skipIP && targetIsIP(prm.TargetName)
	var cands []innerCred
	for _, ic := range c.cred.inners {
		if ic.pkg.krb && ipTarget {
			// No SPN can be registered for an address (MS-SPNG 3.1.5.1;
			// Config.SkipKerberosForIP).
			c.skip(skippedNote(ic.pkg, "target is an IP address"))
			continue
		}
		if restrict && !matchesAny(ic.pkg, acceptorMechs) {
			c.skip(skippedNote(ic.pkg, "not offered by the acceptor"))
			continue
		}
		cands = append(cands, ic)
	}
	if len(cands) == 0 {
		return &sspi.Error{Op: "InitializeSecurityContext", Status: sspi.SEC_E_SECPKG_NOT_FOUND, Detail: "no mechanism to offer"}
	}
	var firstErr error
	for i, ic := range cands {
		ictx, iout, err := ic.pkg.lsa.InitLsaModeContext(ctx, ic.cred, nil, c.innerInitParams(prm, nil))
		if err != nil {
			// This mechanism cannot start: try the next one (MIT does the
			// same; Windows falls back from Kerberos to NTLM).
			if firstErr == nil {
				firstErr = err
			}
			c.skip(errorNote(ic.pkg, err))
			if ictx != nil {
				ictx.Delete()
			}
			continue
		}
		c.sel, c.selCred, c.inner = ic.pkg, ic.cred, ictx
		c.selOID = ic.pkg.oids[0]
		t := &spnego.NegTokenInit{}
		if !restrict && i == 0 && len(cands) == len(c.cred.inners) {
			// Everything the credential has: the list made when it was
			// acquired.
			c.offered = c.cred.offer.offered
			t.MechTypes, t.RawMechTypes = c.cred.offer.mechs, c.cred.offer.der
		} else {
			c.offered = offerList(cands[i:], acceptorMechs, restrict)
			t.MechTypes = offerOIDs(c.offered)
		}
		if len(c.offered) > 0 && c.offered[0].pkg == ic.pkg {
			c.selOID = c.offered[0].oid
		}
		switch iout.Status {
		case sspi.SEC_E_OK:
			if err := c.innerFinished(&iout); err != nil {
				return err
			}
		case sspi.SEC_I_CONTINUE_NEEDED:
			c.flags = iout.Flags
		default:
			return &sspi.Error{Op: "InitializeSecurityContext", Status: sspi.SEC_E_UNSUPPORTED_FUNCTION, Detail: ic.pkg.info.Name + " returned " + iout.Status.String()}
		}
		if tok := outToken(iout.Output); len(tok) > 0 {
			t.MechToken = tok
		}
		b, err := t.Marshal()
		if err != nil {
			return err
		}
		c.RawMechTypes = t.RawMechTypes
		c.state = sspi.SECPKG_NEGOTIATION_OPTIMISTIC
		out.Status = sspi.SEC_I_CONTINUE_NEEDED
		out.Output = tokenOutput(b)
		out.Flags = c.flags
		out.Expiry = iout.Expiry
		out.NegotiationState = c.state
		return nil
	}
	// Every mechanism failed to start: the first one's status, and the
	// notes say why each did.
	return &sspi.Error{Op: "InitializeSecurityContext", Status: sspi.StatusOf(firstErr), Detail: "no mechanism could start"}
}

// offerList is what an initiator offers from cands: every OID of each
// package, in order; with restrict, only those the acceptor listed.
func offerList(cands []innerCred, acceptorMechs []spnego.OID, restrict bool) []mechOffer {
	var offered []mechOffer
	for _, ic := range cands {
		for _, o := range ic.pkg.oids {
			if restrict && !containsOID(acceptorMechs, o) && !(ic.pkg.krb && o.IsKerberos() && containsKerberos(acceptorMechs)) {
				continue
			}
			offered = append(offered, mechOffer{oid: o, pkg: ic.pkg, cred: ic.cred})
		}
	}
	return offered
}

func offerOIDs(offered []mechOffer) []spnego.OID {
	mechs := make([]spnego.OID, len(offered))
	for j, m := range offered {
		mechs[j] = m.oid
	}
	return mechs
}

func matchesAny(p *innerPkg, oids []spnego.OID) bool {
	for _, o := range oids {
		if p.matches(o) {
			return true
		}
	}
	return false
}

func containsOID(oids []spnego.OID, o spnego.OID) bool {
	for _, x := range oids {
		if x.Equal(o) {
			return true
		}
	}
	return false
}

func containsKerberos(oids []spnego.OID) bool {
	for _, x := range oids {
		if x.IsKerberos() {
			return true
		}
	}
	return false
}

func (c *negContext) initNext(ctx context.Context, prm *secpkg.InitContextParams, out *secpkg.ContextOutput) error {
	tok := prm.Input.Token()
	if len(tok) == 0 {
		return spnego.Invalid("no input token")
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
		return c.initRejected(ctx, prm, resp)
	}
	if !c.negoDone {
		// The acceptor's first answer (RFC 4178 3.2 step 3).
		mech := resp.SupportedMech
		if mech == nil {
			mech = c.selOID // some Java acceptors omit it
		}
		idx := -1
		for i, m := range c.offered {
			if m.oid.Equal(mech) || (m.pkg.krb && mech.IsKerberos()) {
				idx = i
				break
			}
		}
		if idx < 0 {
			return spnego.Invalid("supportedMech " + mech.String() + " was not offered")
		}
		off := c.offered[idx]
		c.negoDone = true
		c.state = sspi.SECPKG_NEGOTIATION_IN_PROGRESS
		if off.pkg != c.sel {
			c.skip(skippedNote(c.sel, "the acceptor chose "+off.pkg.info.Name))
			return c.reselect(ctx, prm, resp, off, out)
		}
		if resp.NegState == spnego.RequestMIC {
			c.micRequired = true
		}
	}
	if resp.NegState == spnego.AcceptCompleted {
		c.peerComplete = true
	}
	var iout secpkg.ContextOutput
	produced := false
	if !c.innerDone {
		if resp.ResponseToken == nil {
			return spnego.Invalid("acceptor sent no mechanism token")
		}
		ictx, o, err := c.sel.lsa.InitLsaModeContext(ctx, c.selCred, c.inner, c.innerInitParams(prm, resp.ResponseToken))
		if ictx != nil {
			c.inner = ictx
		}
		if err != nil {
			return c.innerErr(err)
		}
		iout, produced = o, true
	} else if len(resp.ResponseToken) > 0 {
		// An empty token is what old IIS servers send; anything else is
		// spurious once the mechanism is done.
		return spnego.Invalid("mechanism token after the mechanism finished")
	}
	return c.initAfterInner(&iout, produced, resp.MechListMIC, out)
}

// reselect handles the acceptor's counter-proposal of another of our
// mechanisms (RFC 4178 3.2 step 3, MIT init_ctx_reselect).
func (c *negContext) reselect(ctx context.Context, prm *secpkg.InitContextParams, resp *spnego.NegTokenResp, off mechOffer, out *secpkg.ContextOutput) error {
	// RFC 4178 requires request-mic here; Windows Server 2003 and earlier
	// sent accept-incomplete, which is tolerated for NTLM only, as MIT does.
	if resp.NegState != spnego.RequestMIC && !(resp.NegState == spnego.AcceptIncomplete && off.pkg.ntlm) {
		return spnego.Invalid("counter-proposal without request-mic")
	}
	if len(resp.ResponseToken) > 0 || resp.MechListMIC != nil {
		return spnego.Invalid("mechanism token or MIC for a mechanism not started")
	}
	if c.inner != nil {
		c.inner.Delete()
		c.inner = nil
	}
	c.innerDone, c.innerData = false, nil
	c.sel, c.selCred, c.selOID = off.pkg, off.cred, off.oid
	c.micRequired = true
	ictx, iout, err := c.sel.lsa.InitLsaModeContext(ctx, c.selCred, nil, c.innerInitParams(prm, nil))
	if err != nil {
		if ictx != nil {
			ictx.Delete()
		}
		return c.innerErr(err)
	}
	c.inner = ictx
	return c.initAfterInner(&iout, true, nil, out)
}

// initRejected handles negState reject. An error token goes to the
// mechanism for a precise status.
func (c *negContext) initRejected(ctx context.Context, prm *secpkg.InitContextParams, resp *spnego.NegTokenResp) error {
	if len(resp.ResponseToken) > 0 && c.inner != nil && !c.innerDone {
		ictx, _, err := c.sel.lsa.InitLsaModeContext(ctx, c.selCred, c.inner, c.innerInitParams(prm, resp.ResponseToken))
		if ictx != nil {
			c.inner = ictx
		}
		if err != nil {
			return c.innerErr(err)
		}
	}
	if !c.negoDone {
		return &sspi.Error{Op: "InitializeSecurityContext", Status: sspi.SEC_E_SECPKG_NOT_FOUND, Detail: "acceptor rejected the offered mechanisms"}
	}
	return &sspi.Error{Op: "InitializeSecurityContext", Status: sspi.SEC_E_LOGON_DENIED, Detail: "acceptor rejected the authentication"}
}

// initAfterInner builds the initiator's NegTokenResp after the inner
// package ran (produced) or was already done, and runs the mechListMIC
// exchange once the inner context is complete.
func (c *negContext) initAfterInner(iout *secpkg.ContextOutput, produced bool, peerMIC []byte, out *secpkg.ContextOutput) error {
	var mechOut []byte
	if produced {
		mechOut = outToken(iout.Output)
		switch iout.Status {
		case sspi.SEC_E_OK:
			if err := c.innerFinished(iout); err != nil {
				return err
			}
		case sspi.SEC_I_CONTINUE_NEEDED:
			c.flags = iout.Flags
			c.expiry = iout.Expiry
		default:
			return &sspi.Error{Op: "InitializeSecurityContext", Status: sspi.SEC_E_UNSUPPORTED_FUNCTION, Detail: c.sel.info.Name + " returned " + iout.Status.String()}
		}
	}
	resp := &spnego.NegTokenResp{NegState: spnego.AcceptIncomplete}
	if len(mechOut) > 0 {
		resp.ResponseToken = mechOut
	}
	out.Flags = c.flags
	out.Expiry = c.expiry
	if !c.innerDone {
		if peerMIC != nil {
			return spnego.Invalid("mechListMIC before the mechanism finished")
		}
		if resp.ResponseToken == nil {
			return &sspi.Error{Op: "InitializeSecurityContext", Status: sspi.SEC_E_INTERNAL_ERROR, Detail: c.sel.info.Name + " continues without a token"}
		}
		return c.emit(resp, sspi.SEC_I_CONTINUE_NEEDED, out)
	}
	if peerMIC != nil {
		if c.micRcvd {
			return spnego.Invalid("second mechListMIC")
		}
		if err := c.verifyMIC(peerMIC); err != nil {
			out.Output = tokenOutput(rejectToken(nil))
			return err
		}
	}
	// Send a MIC when it is required, when the acceptor sent one, and
	// with the final mechanism token when the mechanism has integrity (as
	// Windows does for NTLM); RFC 4178 5.
	if !c.micSent && (c.micRequired || c.micRcvd || (len(mechOut) > 0 && c.flags&sspi.FlagIntegrity != 0)) {
		mic, err := c.makeMIC()
		if err != nil {
			return err
		}
		resp.MechListMIC = mic
	}
	switch {
	case c.micSent && c.micRcvd:
		// Both MICs are exchanged: done, sending ours if it is new.
		if resp.MechListMIC != nil || resp.ResponseToken != nil {
			resp.NegState = spnego.AcceptCompleted
			if err := c.emitToken(resp, out); err != nil {
				return err
			}
		}
		c.finish(out)
		out.Status = sspi.SEC_E_OK
		return nil
	case resp.ResponseToken != nil || resp.MechListMIC != nil:
		if c.peerComplete && resp.MechListMIC == nil {
			// The acceptor is done; our last mechanism token still goes out.
			if err := c.emitToken(resp, out); err != nil {
				return err
			}
			c.finish(out)
			out.Status = sspi.SEC_E_OK
			return nil
		}
		return c.emit(resp, sspi.SEC_I_CONTINUE_NEEDED, out)
	}
	if !c.peerComplete {
		return spnego.Invalid("acceptor expects more but the mechanism is done")
	}
	if c.micRequired && !c.micRcvd {
		return &sspi.Error{Op: "InitializeSecurityContext", Status: sspi.SEC_E_DOWNGRADE_DETECTED, Detail: "required mechListMIC is missing"}
	}
	out.Output = tokenOutput(nil)
	c.finish(out)
	out.Status = sspi.SEC_E_OK
	return nil
}

func (c *negContext) emitToken(resp *spnego.NegTokenResp, out *secpkg.ContextOutput) error {
	b, err := resp.Marshal()
	if err != nil {
		return err
	}
	out.Output = tokenOutput(b)
	return nil
}

func (c *negContext) emit(resp *spnego.NegTokenResp, st sspi.Status, out *secpkg.ContextOutput) error {
	if err := c.emitToken(resp, out); err != nil {
		return err
	}
	out.Status = st
	out.NegotiationState = c.state
	return nil
}
