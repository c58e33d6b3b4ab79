package negotiate

import (
	"context"
	"time"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// negContext is a Negotiate LSA-mode context, initiator or acceptor.
type negContext struct {
	pkg       *Package
	cred      *credential
	initiator bool

	// Negotiation.
	offered      []mechOffer // initiator: what it offered, in order
	RawMechTypes []byte      // the MechTypeList DER the MIC covers
	sel          *innerPkg   // the chosen (or optimistic) package
	selCred      secpkg.LsaCredential
	selOID       spnego.OID // the OID of sel on the wire
	negoDone     bool
	direct       bool // acceptor: a raw inner token, no SPNEGO
	peerComplete bool // initiator: the acceptor said accept-completed
	complete     bool
	failed       bool
	state        uint32     // SECPKG_NEGOTIATION_*
	notes        []mechNote // mechanisms left out, and why (reasons.go)

	// The inner context.
	inner     secpkg.LsaContext
	innerDone bool
	innerData []byte
	flags     sspi.ContextFlags
	expiry    time.Time

	// mechListMIC (RFC 4178 5).
	micRequired bool
	micSent     bool
	micRcvd     bool
	peerMIC     []byte
	umc         sspi.UserModeContext // inner user-mode context for the MIC
	exported    bool                 // innerData is the state after the MIC operations
}

// mechOffer is one OID of an initiator's mechanism list and the package
// behind it.
type mechOffer struct {
	oid  spnego.OID
	pkg  *innerPkg
	cred secpkg.LsaCredential
}

// Delete is SpDeleteContext.
func (c *negContext) Delete() {
	if c.inner != nil {
		c.inner.Delete()
		c.inner = nil
	}
	if c.umc != nil {
		c.umc.Delete()
		c.umc = nil
	}
	// innerData belongs to the inner package's output; it is not ours to
	// wipe.
	c.innerData = nil
}

// QueryAttributes is SpQueryContextAttributes for a context that is not
// mapped yet: NEGOTIATION_INFO and PACKAGE_INFO are Negotiate's, the rest
// goes to the inner context.
func (c *negContext) QueryAttributes(attr sspi.ContextAttribute) (any, error) {
	switch attr {
	case sspi.SECPKG_ATTR_NEGOTIATION_INFO:
		info := c.pkg.info
		if c.sel != nil {
			info = c.sel.info
		}
		return sspi.SecPkgContextNegotiationInfo{PackageInfo: info, NegotiationState: c.state, Skipped: skipped(c.allNotes())}, nil
	case sspi.SECPKG_ATTR_PACKAGE_INFO:
		if c.sel != nil && c.negoDone {
			return sspi.SecPkgContextPackageInfo{PackageInfo: c.sel.info}, nil
		}
		return sspi.SecPkgContextPackageInfo{PackageInfo: c.pkg.info}, nil
	case sspi.SECPKG_ATTR_FLAGS:
		return sspi.SecPkgContextFlags{Flags: c.flags}, nil
	}
	if c.inner == nil {
		return nil, sspi.SEC_E_UNSUPPORTED_FUNCTION
	}
	return c.inner.QueryAttributes(attr)
}

// innerReq returns the inner call's input: the caller's buffers with the
// token replaced by the inner token (channel bindings and the like pass
// through).
func innerInput(in *sspi.SecBufferDesc, tok []byte) *sspi.SecBufferDesc {
	if tok == nil && in.Find(sspi.SECBUFFER_TOKEN) == nil {
		return in // nothing to replace (the host handed us a copy)
	}
	// One allocation for the usual case: the token and at most three other
	// buffers (channel bindings, target host, ...).
	m := &struct {
		d    sspi.SecBufferDesc
		bufs [4]sspi.SecBuffer
	}{}
	d := &m.d
	d.Buffers = m.bufs[:0]
	if tok != nil {
		d.Buffers = append(d.Buffers, sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok})
	}
	if in != nil {
		d.Version = in.Version
		for _, b := range in.Buffers {
			if b.BufferType.Base() != sspi.SECBUFFER_TOKEN {
				d.Buffers = append(d.Buffers, b)
			}
		}
	}
	return d
}

// outToken returns the SECBUFFER_TOKEN bytes of an inner output.
func outToken(out []sspi.SecBuffer) []byte {
	for _, b := range out {
		if b.BufferType.Base() == sspi.SECBUFFER_TOKEN {
			return b.Buffer
		}
	}
	return nil
}

func tokenOutput(tok []byte) []sspi.SecBuffer {
	if tok == nil {
		return []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: []byte{}}}
	}
	return []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok}}
}

// innerFinished records a completed inner handshake. Negotiate needs the
// inner package to map its context: the mechListMIC and all per-message
// calls run on the user-mode context built from its ContextData.
func (c *negContext) innerFinished(out *secpkg.ContextOutput) error {
	if !out.Mapped || len(out.ContextData) == 0 {
		return &sspi.Error{Op: "Negotiate", Status: sspi.SEC_E_INTERNAL_ERROR, Detail: c.sel.info.Name + " did not map its context"}
	}
	c.innerDone = true
	c.innerData = out.ContextData
	c.flags = out.Flags
	c.expiry = out.Expiry
	return nil
}

// micContext returns the inner user-mode context used for the mechListMIC.
func (c *negContext) micContext() (sspi.UserModeContext, error) {
	if c.umc != nil {
		return c.umc, nil
	}
	if c.sel.user == nil {
		return nil, &sspi.Error{Op: "Negotiate", Status: sspi.SEC_E_UNSUPPORTED_FUNCTION, Detail: "no user-mode package for " + c.sel.info.Name}
	}
	u, err := c.sel.user.InitUserModeContext(c.innerData)
	if err != nil {
		return nil, c.innerErr(err)
	}
	c.umc = u
	return u, nil
}

// makeMIC produces our mechListMIC.
func (c *negContext) makeMIC() ([]byte, error) {
	u, err := c.micContext()
	if err != nil {
		return nil, err
	}
	mic, err := makeMechListMIC(u, c.sel.ntlm, c.RawMechTypes)
	if err != nil {
		return nil, c.innerErr(err)
	}
	c.micSent = true
	return mic, nil
}

// verifyMIC checks the peer's mechListMIC. Any failure is
// SEC_E_DOWNGRADE_DETECTED.
func (c *negContext) verifyMIC(mic []byte) error {
	u, err := c.micContext()
	if err != nil {
		return err
	}
	if err := verifyMechListMIC(u, c.sel.ntlm, c.RawMechTypes, mic); err != nil {
		return err
	}
	c.micRcvd = true
	c.peerMIC = mic
	return nil
}

// CryptoResetter is implemented by an inner user-mode context whose
// per-message state must be reset after a mechListMIC, as NTLM's must:
// MS-SPNG 3.3.5.1 says that after NTLM makes or verifies the mechListMIC
// the RC4 state of that direction starts again from the sealing key (the
// sequence number keeps counting: the first application message uses 1).
// MIT's SPNEGO does the same through gss-ntlmssp's
// GSS_NTLMSSP_RESET_CRYPTO_OID (1.3.6.1.4.1.7165.655.1.3).
//
// outbound selects the sending direction (after MakeSignature) or the
// receiving one (after VerifySignature).
type CryptoResetter interface {
	ResetCrypto(outbound bool) error
}

// makeMechListMIC is GSS_GetMIC over the DER MechTypeList (RFC 4178 5),
// followed by the NTLM reset of MS-SPNG 3.3.5.1.
func makeMechListMIC(u sspi.UserModeContext, ntlm bool, mechTypes []byte) ([]byte, error) {
	size := 64
	if v, err := u.QueryAttributes(sspi.SECPKG_ATTR_SIZES); err == nil {
		var s sspi.SecPkgContextSizes
		switch x := v.(type) {
		case sspi.SecPkgContextSizes:
			s = x
		case *sspi.SecPkgContextSizes:
			s = *x
		}
		if s.MaxSignature > 0 && s.MaxSignature <= 1024 {
			size = int(s.MaxSignature)
		}
	}
	msg := sspi.NewDesc(
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA | sspi.SECBUFFER_READONLY, Buffer: append([]byte(nil), mechTypes...)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, size)},
	)
	if err := u.MakeSignature(0, msg, 0); err != nil {
		return nil, err
	}
	if ntlm {
		if r, ok := u.(CryptoResetter); ok {
			if err := r.ResetCrypto(true); err != nil {
				return nil, err
			}
		}
	}
	return append([]byte(nil), msg.Token()...), nil
}

// verifyMechListMIC is GSS_VerifyMIC over the DER MechTypeList.
func verifyMechListMIC(u sspi.UserModeContext, ntlm bool, mechTypes, mic []byte) error {
	msg := sspi.NewDesc(
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA | sspi.SECBUFFER_READONLY, Buffer: append([]byte(nil), mechTypes...)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: append([]byte(nil), mic...)},
	)
	if _, err := u.VerifySignature(msg, 0); err != nil {
		return &sspi.Error{Op: "Negotiate", Status: sspi.SEC_E_DOWNGRADE_DETECTED, Detail: "mechListMIC does not verify: " + sspi.StatusOf(err).String()}
	}
	if ntlm {
		if r, ok := u.(CryptoResetter); ok {
			if err := r.ResetCrypto(false); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish completes the context: the ContextOutput carries Negotiate's
// ContextData, which wraps the inner package's.
func (c *negContext) finish(out *secpkg.ContextOutput) {
	c.exportAfterMIC()
	c.complete = true
	c.state = sspi.SECPKG_NEGOTIATION_COMPLETE
	out.Mapped = true
	out.ContextData = c.contextData()
	out.Flags = c.flags
	out.Expiry = c.expiry
	out.NegotiationState = c.state
	if c.umc != nil {
		c.umc.Delete()
		c.umc = nil
	}
}

// exportAfterMIC replaces the inner ContextData by the state of the inner
// user-mode context after the mechListMIC operations, when the inner
// package can export it; the user-mode half then has nothing to replay.
func (c *negContext) exportAfterMIC() {
	if c.umc == nil {
		return
	}
	ex, ok := c.umc.(sspi.UserModeExporter)
	if !ok {
		return
	}
	data, err := ex.ExportContext()
	if err != nil || len(data) == 0 {
		return
	}
	c.innerData = data
	c.exported = true
}

func (c *negContext) fail(err error) error {
	c.failed = true
	return err
}

// rejectToken is a NegTokenResp with negState reject, carrying an inner
// error token when there is one.
func rejectToken(errTok []byte) []byte {
	t := &spnego.NegTokenResp{NegState: spnego.Reject}
	if len(errTok) > 0 {
		t.ResponseToken = errTok
	}
	b, err := t.Marshal()
	if err != nil {
		b, _ = (&spnego.NegTokenResp{NegState: spnego.Reject}).Marshal()
	}
	return b
}

// checkInput finds the token of a call and handles partial and
// concatenated input: a token cut short is SEC_E_INCOMPLETE_MESSAGE with
// Missing set; bytes after it are reported as Extra.
func splitToken(in []byte, out *secpkg.ContextOutput) ([]byte, error) {
	n, incomplete, err := spnego.ElementSize(in)
	if err != nil {
		return nil, err
	}
	if incomplete {
		if n > 0 {
			out.Missing = n - len(in)
		} else {
			out.Missing = 1
		}
		return nil, &sspi.Error{Op: "Negotiate", Status: sspi.SEC_E_INCOMPLETE_MESSAGE, Detail: "token cut short"}
	}
	out.Extra = len(in) - n
	return in[:n], nil
}

var _ secpkg.LsaModePackage = (*Package)(nil)
var _ sspi.UserModePackage = (*Package)(nil)

// ctxOrBackground guards against a nil context from a caller.
func ctxOrBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
