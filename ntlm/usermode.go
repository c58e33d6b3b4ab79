package ntlm

import (
	"time"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
)

// userMode is the user-mode half of the package.
type userMode struct{ now func() time.Time }

// UserMode returns the user-mode half of NTLM (SECPKG_USER_FUNCTION_TABLE)
// on the wall clock. A context is rebuilt from its ContextData alone.
func UserMode() sspi.UserModePackage { return NewUserMode(sspi.Env{}) }

// NewUserMode returns the user-mode half of NTLM on env's clock, which
// decides when a context has expired. Give it the clock of the LSA-mode
// half (Config.Now).
func NewUserMode(env sspi.Env) sspi.UserModePackage { return userMode{now: env.Clock()} }

func (userMode) Name() string { return PackageName }

func (u userMode) InitUserModeContext(contextData []byte) (sspi.UserModeContext, error) {
	return initUserModeContext(contextData, u.now)
}

// InitUserModeContext implements sspi.UserModePackage, on the package's
// clock.
func (p *Package) InitUserModeContext(contextData []byte) (sspi.UserModeContext, error) {
	return initUserModeContext(contextData, p.cfg.Now)
}

func initUserModeContext(contextData []byte, now func() time.Time) (*UserContext, error) {
	s, err := parseSession(contextData)
	if err != nil {
		return nil, err
	}
	return &UserContext{s: s, now: now}, nil
}

// sealer returns the per-message state, derived on first use: a context
// that never signs or seals (HTTP authentication) never pays for the key
// schedules.
func (c *UserContext) sealer() *sealer {
	if c.seal == nil {
		s := c.s
		c.seal = newSealer(s.flags, s.key, s.client, s.sendSeq, s.recvSeq, s.sendStream, s.recvStream)
	}
	return c.seal
}

// UserContext is an established NTLM context in user mode: it signs,
// verifies, seals and unseals messages (MS-NLMP 3.4). Use it from one
// goroutine at a time.
type UserContext struct {
	s       *session
	now     func() time.Time
	seal    *sealer
	deleted bool
}

var (
	errDeleted = &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_INVALID_HANDLE, Detail: "context deleted"}
	errExpired = &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_CONTEXT_EXPIRED, Detail: "context expired"}
	errQOP     = &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_QOP_NOT_SUPPORTED, Detail: "NTLM supports only the default QOP"}
	errNoSeal  = &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_UNSUPPORTED_FUNCTION, Detail: "confidentiality was not negotiated"}
	errNoMsg   = &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_INVALID_PARAMETER, Detail: "no message buffers"}
)

func (c *UserContext) usable(msg *sspi.SecBufferDesc) error {
	if c.deleted {
		return errDeleted
	}
	if msg == nil {
		return errNoMsg
	}
	if !c.s.expiry.IsZero() && c.now().After(c.s.expiry) {
		return errExpired
	}
	return nil
}

// MakeSignature implements sspi.UserModeContext. seqNo is ignored: NTLM
// keeps its own sequence numbers on connection contexts.
func (c *UserContext) MakeSignature(qop uint32, msg *sspi.SecBufferDesc, seqNo uint32) error {
	if err := c.usable(msg); err != nil {
		return err
	}
	if qop != 0 {
		return errQOP
	}
	return c.sealer().sign(msg)
}

// VerifySignature implements sspi.UserModeContext.
func (c *UserContext) VerifySignature(msg *sspi.SecBufferDesc, seqNo uint32) (uint32, error) {
	if err := c.usable(msg); err != nil {
		return 0, err
	}
	return 0, c.sealer().verify(msg)
}

// SealMessage implements sspi.UserModeContext: the 16-byte signature goes
// into the SECBUFFER_TOKEN and the SECBUFFER_DATA buffers are encrypted in
// place (READONLY ones are signed but left clear).
func (c *UserContext) SealMessage(qop uint32, msg *sspi.SecBufferDesc, seqNo uint32) error {
	if err := c.usable(msg); err != nil {
		return err
	}
	if qop != 0 {
		return errQOP
	}
	if c.s.flags&ntlmssp.NegotiateSeal == 0 {
		return errNoSeal
	}
	return c.sealer().seal(msg)
}

// UnsealMessage implements sspi.UserModeContext. It accepts a
// SECBUFFER_TOKEN plus SECBUFFER_DATA, or one SECBUFFER_STREAM holding
// signature || ciphertext (the GSS_Wrap layout of gss-ntlmssp) plus an
// empty SECBUFFER_DATA, which is set to the plaintext inside the stream
// buffer.
func (c *UserContext) UnsealMessage(msg *sspi.SecBufferDesc, seqNo uint32) (uint32, error) {
	if err := c.usable(msg); err != nil {
		return 0, err
	}
	if c.s.flags&ntlmssp.NegotiateSeal == 0 {
		return 0, errNoSeal
	}
	return 0, c.sealer().unseal(msg)
}

// QueryAttributes implements sspi.UserModeContext: SIZES, NAMES,
// NATIVE_NAMES, LIFESPAN, SESSION_KEY, FLAGS, PACKAGE_INFO,
// NEGOTIATION_INFO and SECPKG_ATTR_GOSSPI_IDENTITY.
func (c *UserContext) QueryAttributes(attr sspi.ContextAttribute) (any, error) {
	if c.deleted {
		return nil, errDeleted
	}
	return c.s.attribute(attr)
}

// ExportContext implements sspi.UserModeExporter: the current state,
// sequence numbers included, in the ContextData format.
func (c *UserContext) ExportContext() ([]byte, error) {
	if c.deleted {
		return nil, errDeleted
	}
	s := *c.s
	if c.seal != nil {
		s.sendSeq, s.recvSeq = c.seal.out.seq, c.seal.in.seq
		s.sendStream, s.recvStream = c.seal.out.rc4.n, c.seal.in.rc4.n
		if c.s.flags&ntlmssp.NegotiateExtendedSessionSecurity == 0 {
			s.recvStream = 0
		}
	}
	return s.marshal(), nil
}

// ResetCrypto restarts one direction's RC4 sealing state from its sealing
// key while the sequence number keeps counting. MS-SPNG 3.3.5.1 requires it
// after NTLM makes (outbound) or verifies (inbound) the SPNEGO
// mechListMIC; gss-ntlmssp does the same for GSS_NTLMSSP_RESET_CRYPTO_OID.
// Negotiate calls it through negotiate.CryptoResetter. Without extended
// session security both directions share one RC4 handle, which restarts.
func (c *UserContext) ResetCrypto(outbound bool) error {
	if c.deleted {
		return errDeleted
	}
	sl := c.sealer()
	switch {
	case sl.flags&ntlmssp.NegotiateExtendedSessionSecurity == 0:
		sl.out.rc4.reset() // one handle shared by both directions
	case outbound:
		sl.out.rc4.reset()
	default:
		sl.in.rc4.reset()
	}
	return nil
}

// Delete implements sspi.UserModeContext and forgets the keys: the
// exported session key, the signing and sealing keys and the RC4 states
// of both directions.
func (c *UserContext) Delete() {
	if c.deleted {
		return
	}
	c.deleted = true
	c.s.key = [16]byte{}
	if c.seal != nil {
		c.seal.wipe()
		c.seal = nil
	}
	c.s = &session{}
}
