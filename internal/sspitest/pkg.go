// Package sspitest is test support for the host and the SSPI surface: a
// small but complete security package ("TestPkg") and a conformance suite
// that runs against any package.
//
// TestPkg is written for tests only. Its handshake is three or four legs
// (HELLO, CHALLENGE, PROOF and, with mutual authentication, a server
// proof) over length-prefixed frames, so SECBUFFER_EXTRA and
// SEC_E_INCOMPLETE_MESSAGE can be exercised. Keys come from HMAC-SHA256
// of the password; messages are signed with HMAC-SHA256 and sealed with
// AES-CTR, with per-direction keys and sequence numbers. It maps its
// contexts: per-message calls run from ContextData alone.
package sspitest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gosspi/gosspi/internal/ctxdata"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Name is TestPkg's package name.
const Name = "TestPkg"

// OID is TestPkg's mechanism OID (a private arc used only in tests).
const OID = "1.3.6.1.4.1.58888.1.1"

const (
	msgHello       = 1
	msgChallenge   = 2
	msgProof       = 3
	msgServerProof = 4

	frameHeader = 5 // 4-byte big-endian length of the body + type byte
	maxFrame    = 4096

	// TrailerSize is TestPkg's signature size: 8-byte sequence number and
	// a 16-byte truncated HMAC.
	TrailerSize = 24
)

// Config configures TestPkg.
type Config struct {
	// Accounts maps user names to passwords for the acceptor.
	Accounts map[string]string
	// Gate, when not nil, makes every AcceptLsaModeContext wait for a
	// receive from it (or for ctx to end), so tests can hold calls in
	// flight.
	Gate chan struct{}
	// Entered, when not nil, receives a value each time an
	// AcceptLsaModeContext call reaches the Gate, so tests know the call is
	// inside the package.
	Entered chan struct{}
	// Expiry is the context lifetime (default 10 hours).
	Expiry time.Duration
	// Env is the clock and random source (default: the wall clock and
	// crypto/rand).
	Env sspi.Env
}

// Package is TestPkg. It implements secpkg.LsaModePackage and
// sspi.UserModePackage.
type Package struct {
	cfg  Config
	keys map[string][]byte // user -> long-term key
	mu   sync.Mutex
	live int // LSA contexts not yet deleted
}

// New returns TestPkg with the given accounts.
func New(cfg Config) *Package {
	if cfg.Expiry == 0 {
		cfg.Expiry = 10 * time.Hour
	}
	p := &Package{cfg: cfg, keys: make(map[string][]byte)}
	for u, pw := range cfg.Accounts {
		p.keys[strings.ToLower(u)] = longTermKey(u, pw)
	}
	return p
}

// LiveContexts returns how many LSA-mode contexts exist (for leak tests).
func (p *Package) LiveContexts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live
}

func longTermKey(user, password string) []byte {
	m := hmac.New(sha256.New, []byte(password))
	m.Write([]byte(strings.ToLower(user)))
	return m.Sum(nil)
}

// Name implements sspi.UserModePackage.
func (p *Package) Name() string { return Name }

// GetInfo implements secpkg.LsaModePackage.
func (p *Package) GetInfo() sspi.PackageInfo {
	return sspi.PackageInfo{
		Capabilities: sspi.SECPKG_FLAG_INTEGRITY | sspi.SECPKG_FLAG_PRIVACY | sspi.SECPKG_FLAG_CONNECTION |
			sspi.SECPKG_FLAG_MUTUAL_AUTH | sspi.SECPKG_FLAG_GSS_COMPATIBLE,
		Version: 1, MaxToken: maxFrame, Name: Name, Comment: "test-only security package",
		OIDs: []string{OID}, Priority: 100,
	}
}

type credential struct {
	user string
	key  []byte
	use  sspi.CredentialUse
}

func (c *credential) Free() { clear(c.key) }

// AcquireCredentialsHandle implements secpkg.LsaModePackage.
func (p *Package) AcquireCredentialsHandle(_ context.Context, req *secpkg.CredentialRequest) (secpkg.LsaCredential, time.Time, error) {
	c := &credential{use: req.Use}
	if req.Use&sspi.SECPKG_CRED_OUTBOUND != 0 {
		if req.AuthData == nil || req.AuthData.User == "" {
			return nil, time.Time{}, sspi.SEC_E_NO_CREDENTIALS
		}
		c.user = req.AuthData.User
		c.key = longTermKey(req.AuthData.User, req.AuthData.Password)
	}
	return c, time.Time{}, nil
}

type lsaContext struct {
	p         *Package
	initiator bool
	step      int
	user      string
	key       []byte
	nonceC    [16]byte
	nonceS    [16]byte
	flags     sspi.ContextFlags
	expiry    time.Time
	deleted   bool
}

func (c *lsaContext) Delete() {
	if c.deleted {
		return
	}
	c.deleted = true
	clear(c.key)
	c.p.mu.Lock()
	c.p.live--
	c.p.mu.Unlock()
}

func (c *lsaContext) QueryAttributes(attr sspi.ContextAttribute) (any, error) {
	switch attr {
	case sspi.SECPKG_ATTR_SIZES:
		return sspi.SecPkgContextSizes{MaxToken: maxFrame, MaxSignature: TrailerSize, SecurityTrailer: TrailerSize, BlockSize: 1}, nil
	case sspi.SECPKG_ATTR_NAMES:
		return sspi.SecPkgContextNames{UserName: c.user}, nil
	}
	return nil, sspi.SEC_E_UNSUPPORTED_FUNCTION
}

func (p *Package) newContext(initiator bool) *lsaContext {
	p.mu.Lock()
	p.live++
	p.mu.Unlock()
	return &lsaContext{p: p, initiator: initiator, expiry: p.cfg.Env.Time().Add(p.cfg.Expiry)}
}

// frame returns a TestPkg frame.
func frame(typ byte, body []byte) []byte {
	b := make([]byte, frameHeader, frameHeader+len(body))
	binary.BigEndian.PutUint32(b, uint32(len(body)))
	b[4] = typ
	return append(b, body...)
}

// readFrame parses the frame at the start of in. It reports the missing
// byte count for a partial frame and the unconsumed tail length.
func readFrame(in []byte, want byte) (body []byte, extra, missing int, err error) {
	if len(in) < frameHeader {
		return nil, 0, frameHeader - len(in), sspi.SEC_E_INCOMPLETE_MESSAGE
	}
	n := int(binary.BigEndian.Uint32(in))
	if n > maxFrame {
		return nil, 0, 0, &sspi.Error{Status: sspi.SEC_E_INVALID_TOKEN, Detail: "frame too large"}
	}
	if len(in) < frameHeader+n {
		return nil, 0, frameHeader + n - len(in), sspi.SEC_E_INCOMPLETE_MESSAGE
	}
	if in[4] != want {
		return nil, 0, 0, &sspi.Error{Status: sspi.SEC_E_INVALID_TOKEN, Detail: "unexpected message type"}
	}
	return in[frameHeader : frameHeader+n], len(in) - frameHeader - n, 0, nil
}

func inputToken(d *sspi.SecBufferDesc) []byte { return d.Token() }

func mac(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func tokenOut(b []byte) []sspi.SecBuffer {
	return []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: b}}
}

// InitLsaModeContext implements secpkg.LsaModePackage.
func (p *Package) InitLsaModeContext(ctx context.Context, cred secpkg.LsaCredential, lc secpkg.LsaContext, in *secpkg.InitContextParams) (secpkg.LsaContext, secpkg.ContextOutput, error) {
	if lc == nil {
		cr, ok := cred.(*credential)
		if !ok || cr.key == nil {
			return nil, secpkg.ContextOutput{}, sspi.SEC_E_NO_CREDENTIALS
		}
		c := p.newContext(true)
		c.user, c.key = cr.user, append([]byte(nil), cr.key...)
		c.flags = sspi.FromISCReq(in.ContextReq) & (sspi.FlagMutualAuth | sspi.FlagReplayDetect | sspi.FlagSequenceDetect | sspi.FlagConfidentiality | sspi.FlagIntegrity | sspi.FlagConnection)
		_, _ = io.ReadFull(p.cfg.Env.Reader(), c.nonceC[:])
		body := append([]byte{byte(c.flags & sspi.FlagMutualAuth)}, c.nonceC[:]...)
		body = append(body, c.user...)
		c.step = 1
		return c, secpkg.ContextOutput{Status: sspi.SEC_I_CONTINUE_NEEDED, Output: tokenOut(frame(msgHello, body)), Flags: c.flags, Expiry: c.expiry}, nil
	}
	c := lc.(*lsaContext)
	tok := inputToken(in.Input)
	switch c.step {
	case 1: // CHALLENGE -> PROOF
		body, extra, missing, err := readFrame(tok, msgChallenge)
		if err != nil {
			return c, secpkg.ContextOutput{Missing: missing}, err
		}
		if len(body) != 16 {
			return c, secpkg.ContextOutput{}, sspi.SEC_E_INVALID_TOKEN
		}
		copy(c.nonceS[:], body)
		proof := mac(c.key, []byte("client"), c.nonceC[:], c.nonceS[:])
		out := secpkg.ContextOutput{Output: tokenOut(frame(msgProof, proof)), Flags: c.flags, Expiry: c.expiry, Extra: extra}
		if c.flags&sspi.FlagMutualAuth != 0 {
			c.step = 2
			out.Status = sspi.SEC_I_CONTINUE_NEEDED
			return c, out, nil
		}
		// Done, but the PROOF token must still be sent: SEC_E_OK with output.
		c.step = 3
		out.Status, out.Mapped, out.ContextData = sspi.SEC_E_OK, true, c.contextData()
		return c, out, nil
	case 2: // server proof
		body, extra, missing, err := readFrame(tok, msgServerProof)
		if err != nil {
			return c, secpkg.ContextOutput{Missing: missing}, err
		}
		if !hmac.Equal(body, mac(c.key, []byte("server"), c.nonceC[:], c.nonceS[:])) {
			return c, secpkg.ContextOutput{}, &sspi.Error{Status: sspi.SEC_E_MUTUAL_AUTH_FAILED, Detail: "server proof does not verify"}
		}
		c.step = 3
		return c, secpkg.ContextOutput{Status: sspi.SEC_E_OK, Flags: c.flags, Expiry: c.expiry, Extra: extra, Mapped: true, ContextData: c.contextData()}, nil
	}
	return c, secpkg.ContextOutput{}, sspi.SEC_E_INVALID_TOKEN
}

// AcceptLsaModeContext implements secpkg.LsaModePackage.
func (p *Package) AcceptLsaModeContext(ctx context.Context, cred secpkg.LsaCredential, lc secpkg.LsaContext, in *secpkg.AcceptContextParams) (secpkg.LsaContext, secpkg.ContextOutput, error) {
	if p.cfg.Gate != nil {
		if p.cfg.Entered != nil {
			p.cfg.Entered <- struct{}{}
		}
		select {
		case <-p.cfg.Gate:
		case <-ctx.Done():
			return nil, secpkg.ContextOutput{}, &sspi.Error{Status: sspi.SEC_E_INTERNAL_ERROR, Detail: ctx.Err().Error()}
		}
	}
	tok := inputToken(in.Input)
	if lc == nil {
		if cr, ok := cred.(*credential); !ok || cr.use&sspi.SECPKG_CRED_INBOUND == 0 {
			return nil, secpkg.ContextOutput{}, sspi.SEC_E_NO_CREDENTIALS
		}
		body, extra, missing, err := readFrame(tok, msgHello)
		if err != nil {
			return nil, secpkg.ContextOutput{Missing: missing}, err
		}
		if len(body) < 17 {
			return nil, secpkg.ContextOutput{}, sspi.SEC_E_INVALID_TOKEN
		}
		c := p.newContext(false)
		c.flags = sspi.FromASCReq(in.ContextReq) & (sspi.FlagReplayDetect | sspi.FlagSequenceDetect | sspi.FlagConfidentiality | sspi.FlagIntegrity | sspi.FlagConnection)
		if body[0]&byte(sspi.FlagMutualAuth) != 0 {
			c.flags |= sspi.FlagMutualAuth
		}
		copy(c.nonceC[:], body[1:17])
		c.user = string(body[17:])
		_, _ = io.ReadFull(p.cfg.Env.Reader(), c.nonceS[:])
		c.step = 1
		return c, secpkg.ContextOutput{Status: sspi.SEC_I_CONTINUE_NEEDED, Output: tokenOut(frame(msgChallenge, c.nonceS[:])), Flags: c.flags, Expiry: c.expiry, Extra: extra}, nil
	}
	c := lc.(*lsaContext)
	if c.step != 1 {
		return c, secpkg.ContextOutput{}, sspi.SEC_E_INVALID_TOKEN
	}
	body, extra, missing, err := readFrame(tok, msgProof)
	if err != nil {
		return c, secpkg.ContextOutput{Missing: missing}, err
	}
	// Unknown users are checked against a dummy key, so both failures take
	// the same path and return the same status.
	key, known := p.keys[strings.ToLower(c.user)]
	if !known {
		key = longTermKey(c.user, "\x00unknown")
	}
	want := mac(key, []byte("client"), c.nonceC[:], c.nonceS[:])
	if !hmac.Equal(body, want) || !known {
		return c, secpkg.ContextOutput{}, &sspi.Error{Status: sspi.SEC_E_LOGON_DENIED, Detail: "proof does not verify"}
	}
	c.key = append([]byte(nil), key...)
	c.step = 3
	out := secpkg.ContextOutput{Status: sspi.SEC_E_OK, Flags: c.flags, Expiry: c.expiry, Extra: extra, Mapped: true, ContextData: c.contextData()}
	if c.flags&sspi.FlagMutualAuth != 0 {
		// Done, with a token that must still be sent.
		out.Output = tokenOut(frame(msgServerProof, mac(key, []byte("server"), c.nonceC[:], c.nonceS[:])))
	}
	return c, out, nil
}

// ContextData tags.
const (
	tagInitiator = 1
	tagUser      = 2
	tagFlags     = 3
	tagExpiry    = 4
	tagSendKey   = 5
	tagRecvKey   = 6
	tagSendSeq   = 7
	tagRecvSeq   = 8
	tagSession   = 9
)

func (c *lsaContext) contextData() []byte {
	session := mac(c.key, []byte("session"), c.nonceC[:], c.nonceS[:])
	c2s := mac(session, []byte("client-to-server"))
	s2c := mac(session, []byte("server-to-client"))
	send, recv := c2s, s2c
	if !c.initiator {
		send, recv = s2c, c2s
	}
	return ctxdata.NewWriter(Name).Bool(tagInitiator, c.initiator).String(tagUser, c.user).
		Uint64(tagFlags, uint64(c.flags)).Time(tagExpiry, c.expiry).Bytes(tagSendKey, send).
		Bytes(tagRecvKey, recv).Uint64(tagSendSeq, 0).Uint64(tagRecvSeq, 0).Bytes(tagSession, session).Finish()
}

// userContext is TestPkg's mapped context.
type userContext struct {
	initiator        bool
	user             string
	flags            sspi.ContextFlags
	expiry           time.Time
	sendKey, recvKey []byte
	sendSeq, recvSeq uint64
	session          []byte
}

// InitUserModeContext implements sspi.UserModePackage: it rebuilds a
// context from ContextData alone.
func (p *Package) InitUserModeContext(data []byte) (sspi.UserModeContext, error) {
	return UserMode{}.InitUserModeContext(data)
}

// UserMode is TestPkg's user-mode half on its own, holding no secrets:
// what an application process loads.
type UserMode struct{}

// Name implements sspi.UserModePackage.
func (UserMode) Name() string { return Name }

// InitUserModeContext implements sspi.UserModePackage.
func (UserMode) InitUserModeContext(data []byte) (sspi.UserModeContext, error) {
	r, err := ctxdata.Parse(data)
	if err != nil || r.Package != Name {
		return nil, sspi.SEC_E_INVALID_TOKEN
	}
	u := &userContext{initiator: r.Bool(tagInitiator), user: r.String(tagUser), sendKey: r.Bytes(tagSendKey), recvKey: r.Bytes(tagRecvKey), session: r.Bytes(tagSession)}
	f, err1 := r.Uint64(tagFlags)
	exp, err2 := r.Time(tagExpiry)
	ss, err3 := r.Uint64(tagSendSeq)
	rs, err4 := r.Uint64(tagRecvSeq)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || len(u.sendKey) != 32 || len(u.recvKey) != 32 {
		return nil, sspi.SEC_E_INVALID_TOKEN
	}
	u.flags, u.expiry, u.sendSeq, u.recvSeq = sspi.ContextFlags(f), exp, ss, rs
	return u, nil
}

func (u *userContext) Delete() { clear(u.sendKey); clear(u.recvKey); clear(u.session) }

// ExportContext implements sspi.UserModeExporter.
func (u *userContext) ExportContext() ([]byte, error) {
	return ctxdata.NewWriter(Name).Bool(tagInitiator, u.initiator).String(tagUser, u.user).
		Uint64(tagFlags, uint64(u.flags)).Time(tagExpiry, u.expiry).Bytes(tagSendKey, u.sendKey).
		Bytes(tagRecvKey, u.recvKey).Uint64(tagSendSeq, u.sendSeq).Uint64(tagRecvSeq, u.recvSeq).Bytes(tagSession, u.session).Finish(), nil
}

func (u *userContext) QueryAttributes(attr sspi.ContextAttribute) (any, error) {
	switch attr {
	case sspi.SECPKG_ATTR_SIZES:
		return sspi.SecPkgContextSizes{MaxToken: maxFrame, MaxSignature: TrailerSize, SecurityTrailer: TrailerSize, BlockSize: 1}, nil
	case sspi.SECPKG_ATTR_NAMES:
		return sspi.SecPkgContextNames{UserName: u.user}, nil
	case sspi.SECPKG_ATTR_SESSION_KEY:
		return sspi.SecPkgContextSessionKey{SessionKey: append([]byte(nil), u.session[:16]...)}, nil
	case sspi.SECPKG_ATTR_FLAGS:
		return sspi.SecPkgContextFlags{Flags: u.flags}, nil
	case sspi.SECPKG_ATTR_LIFESPAN:
		return sspi.SecPkgContextLifespan{Expiry: u.expiry}, nil
	case sspi.SECPKG_ATTR_GOSSPI_IDENTITY:
		return sspi.Identity{Package: Name, User: u.user, Principal: u.user}, nil
	}
	return nil, sspi.SEC_E_UNSUPPORTED_FUNCTION
}

func dataBuffers(d *sspi.SecBufferDesc) []*sspi.SecBuffer {
	var out []*sspi.SecBuffer
	for i := range d.Buffers {
		if d.Buffers[i].BufferType.Base() == sspi.SECBUFFER_DATA {
			out = append(out, &d.Buffers[i])
		}
	}
	return out
}

func (u *userContext) sig(key []byte, seq uint64, sealed bool, data []*sspi.SecBuffer) []byte {
	m := hmac.New(sha256.New, key)
	var s [9]byte
	binary.BigEndian.PutUint64(s[:], seq)
	if sealed {
		s[8] = 1
	}
	m.Write(s[:])
	for _, b := range data {
		m.Write(b.Buffer)
	}
	out := make([]byte, 0, TrailerSize)
	out = append(out, s[:8]...)
	return append(out, m.Sum(nil)[:16]...)
}

func (u *userContext) xor(key []byte, seq uint64, data []*sspi.SecBuffer) {
	blk, _ := aes.NewCipher(key[:16])
	var iv [16]byte
	binary.BigEndian.PutUint64(iv[:], seq)
	s := cipher.NewCTR(blk, iv[:])
	for _, b := range data {
		s.XORKeyStream(b.Buffer, b.Buffer)
	}
}

func (u *userContext) protect(msg *sspi.SecBufferDesc, seal bool) error {
	tok := msg.Find(sspi.SECBUFFER_TOKEN)
	if tok == nil {
		return sspi.SEC_E_INVALID_TOKEN
	}
	data := dataBuffers(msg)
	seq := u.sendSeq
	u.sendSeq++
	if seal {
		u.xor(u.sendKey[16:], seq, data)
	}
	tok.Buffer = append(tok.Buffer[:0], u.sig(u.sendKey, seq, seal, data)...)
	if pad := msg.Find(sspi.SECBUFFER_PADDING); pad != nil {
		pad.Buffer = pad.Buffer[:0] // a stream cipher uses no padding
	}
	return nil
}

func (u *userContext) check(msg *sspi.SecBufferDesc, seal bool) error {
	var tokBytes []byte
	data := dataBuffers(msg)
	if st := msg.Find(sspi.SECBUFFER_STREAM); st != nil && seal {
		if len(st.Buffer) < TrailerSize {
			return sspi.SEC_E_INCOMPLETE_MESSAGE
		}
		tokBytes = st.Buffer[:TrailerSize]
		if len(data) == 0 {
			return sspi.SEC_E_INVALID_TOKEN
		}
		data[0].Buffer = append(data[0].Buffer[:0], st.Buffer[TrailerSize:]...)
		data = data[:1]
	} else {
		tok := msg.Find(sspi.SECBUFFER_TOKEN)
		if tok == nil || len(tok.Buffer) != TrailerSize {
			return sspi.SEC_E_INVALID_TOKEN
		}
		tokBytes = tok.Buffer
	}
	seq := binary.BigEndian.Uint64(tokBytes)
	if !hmac.Equal(tokBytes, u.sig(u.recvKey, seq, seal, data)) {
		return sspi.SEC_E_MESSAGE_ALTERED
	}
	if u.flags&(sspi.FlagSequenceDetect|sspi.FlagReplayDetect) != 0 && seq != u.recvSeq {
		return sspi.SEC_E_OUT_OF_SEQUENCE
	}
	u.recvSeq = seq + 1
	if seal {
		u.xor(u.recvKey[16:], seq, data)
	}
	return nil
}

func (u *userContext) MakeSignature(qop uint32, msg *sspi.SecBufferDesc, _ uint32) error {
	return u.protect(msg, false)
}

func (u *userContext) VerifySignature(msg *sspi.SecBufferDesc, _ uint32) (uint32, error) {
	return 0, u.check(msg, false)
}

func (u *userContext) SealMessage(qop uint32, msg *sspi.SecBufferDesc, _ uint32) error {
	if qop&sspi.SECQOP_WRAP_NO_ENCRYPT == sspi.SECQOP_WRAP_NO_ENCRYPT {
		return sspi.SEC_E_QOP_NOT_SUPPORTED
	}
	return u.protect(msg, true)
}

func (u *userContext) UnsealMessage(msg *sspi.SecBufferDesc, _ uint32) (uint32, error) {
	return 0, u.check(msg, true)
}
