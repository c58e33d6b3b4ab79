package kerberos

import (
	"io"
	"strings"
	"time"

	"github.com/gosspi/gosspi/internal/ctxdata"
	"github.com/gosspi/gosspi/sspi"
)

// ContextData tags (internal/ctxdata). The blob carries the session's
// per-message key (a subkey or the ticket session key, never a long-term
// key), the sequence numbers, the flags and the names.
const (
	tagInitiator      = 1
	tagFlags          = 2
	tagEtype          = 3
	tagKey            = 4
	tagAcceptorSubkey = 5
	tagSendSeq        = 6
	tagRecvNext       = 7
	tagRecvSeen       = 8
	tagClient         = 9
	tagServer         = 10
	tagStart          = 11
	tagExpiry         = 12
	tagSessionKey     = 13
	tagGroups         = 14
	tagDelegated      = 15
	tagDelegCCache    = 16
	tagSessionEtype   = 17
	tagGSSFlags       = 18
	tagSID            = 19
)

// session is what a finished handshake hands to the user-mode half.
type session struct {
	msgState
	flags        sspi.ContextFlags
	gssFlags     uint32
	client       string // user@REALM
	server       string // service/host@REALM
	start        time.Time
	expiry       time.Time
	sessionKey   []byte
	sessionEtype int32
	pac          pacIdentity // from the ticket's PAC (pac_identity.go)
	delegated    bool
	delegCCache  string
}

func (s *session) marshal() []byte {
	w := ctxdata.NewWriter(PackageName).
		Bool(tagInitiator, s.initiator).
		Uint64(tagFlags, uint64(s.flags)).
		Uint64(tagGSSFlags, uint64(s.gssFlags)).
		Uint64(tagEtype, uint64(uint32(s.etype))).
		Bytes(tagKey, s.key).
		Bool(tagAcceptorSubkey, s.acceptorSubkey).
		Uint64(tagSendSeq, s.sendSeq).
		Uint64(tagRecvNext, s.recv.next).
		Uint64(tagRecvSeen, s.recv.seen).
		String(tagClient, s.client).
		String(tagServer, s.server).
		Time(tagStart, s.start).
		Time(tagExpiry, s.expiry).
		Bytes(tagSessionKey, s.sessionKey).
		Uint64(tagSessionEtype, uint64(uint32(s.sessionEtype))).
		String(tagGroups, strings.Join(s.pac.groups, ",")).
		String(tagSID, s.pac.sid).
		Bool(tagDelegated, s.delegated).
		String(tagDelegCCache, s.delegCCache)
	s.pac.marshal(w)
	return w.Finish()
}

func unmarshalSession(b []byte, random io.Reader) (*session, error) {
	r, err := ctxdata.Parse(b)
	if err != nil || r.Package != PackageName {
		return nil, statusErr(sspi.SEC_E_INVALID_TOKEN, "not Kerberos context data")
	}
	s := &session{}
	s.rand = random
	var errs []error
	u := func(tag uint16) uint64 {
		v, err := r.Uint64(tag)
		errs = append(errs, err)
		return v
	}
	s.initiator = r.Bool(tagInitiator)
	s.flags = sspi.ContextFlags(u(tagFlags))
	s.gssFlags = uint32(u(tagGSSFlags))
	s.etype = int32(uint32(u(tagEtype)))
	s.key = r.Bytes(tagKey)
	s.acceptorSubkey = r.Bool(tagAcceptorSubkey)
	s.sendSeq = u(tagSendSeq)
	next, seen := u(tagRecvNext), u(tagRecvSeen)
	s.client = r.String(tagClient)
	s.server = r.String(tagServer)
	s.start, err = r.Time(tagStart)
	errs = append(errs, err)
	s.expiry, err = r.Time(tagExpiry)
	errs = append(errs, err)
	s.sessionKey = r.Bytes(tagSessionKey)
	s.sessionEtype = int32(uint32(u(tagSessionEtype)))
	if !s.pac.unmarshal(r) {
		errs = append(errs, ctxdata.ErrFormat)
	}
	s.delegated = r.Bool(tagDelegated)
	s.delegCCache = r.String(tagDelegCCache)
	for _, e := range errs {
		if e != nil {
			return nil, statusErr(sspi.SEC_E_INVALID_TOKEN, "malformed Kerberos context data")
		}
	}
	s.recv = newSeqState(next, s.flags&sspi.FlagReplayDetect != 0, s.flags&sspi.FlagSequenceDetect != 0, isCFX(s.etype))
	s.recv.seen = seen
	if err := s.msgState.init(); err != nil {
		return nil, err
	}
	return s, nil
}

// userContext is the user-mode (mapped) context: MakeSignature,
// VerifySignature, SealMessage and UnsealMessage run here, from
// ContextData alone.
type userContext struct {
	s   *session
	now func() time.Time
}

var (
	_ sspi.UserModeContext  = (*userContext)(nil)
	_ sspi.UserModeExporter = (*userContext)(nil)
)

type userPackage struct{ env sspi.Env }

// UserMode returns the user-mode half of the Kerberos package, for
// sspi.InitSecurityInterface, on the wall clock and crypto/rand.
func UserMode() sspi.UserModePackage { return NewUserMode(sspi.Env{}) }

// NewUserMode returns the user-mode half of the Kerberos package on env's
// clock (context expiry) and random source (confounders). Give it the
// clock and source of the LSA-mode half (Config.Now, Config.Rand).
func NewUserMode(env sspi.Env) sspi.UserModePackage {
	return userPackage{env: sspi.Env{Now: env.Clock(), Rand: env.Reader()}}
}

func (userPackage) Name() string { return PackageName }

func (u userPackage) InitUserModeContext(contextData []byte) (sspi.UserModeContext, error) {
	s, err := unmarshalSession(contextData, u.env.Rand)
	if err != nil {
		return nil, err
	}
	return &userContext{s: s, now: u.env.Now}, nil
}

func (c *userContext) expired() error {
	if c.s.deleted {
		return statusErr(sspi.SEC_E_INVALID_HANDLE, "Kerberos context deleted")
	}
	if !c.s.expiry.IsZero() && c.now().After(c.s.expiry) {
		return statusErr(sspi.SEC_E_CONTEXT_EXPIRED, "Kerberos context expired")
	}
	return nil
}

// dataBuffers appends the SECBUFFER_DATA buffers to out (which may be a
// caller's stack array) and returns it; with writable, only those that are
// not read-only.
func dataBuffers(out []*sspi.SecBuffer, msg *sspi.SecBufferDesc, writable bool) []*sspi.SecBuffer {
	if msg == nil {
		return nil
	}
	for i := range msg.Buffers {
		b := &msg.Buffers[i]
		if b.BufferType.Base() != sspi.SECBUFFER_DATA {
			continue
		}
		if writable && b.BufferType.ReadOnly() {
			continue
		}
		out = append(out, b)
	}
	return out
}

// MakeSignature writes a MIC token over the SECBUFFER_DATA buffers (read-only
// ones included) into SECBUFFER_TOKEN.
func (c *userContext) MakeSignature(qop uint32, msg *sspi.SecBufferDesc, seqNo uint32) error {
	if err := c.expired(); err != nil {
		return err
	}
	if qop != 0 {
		return sspi.SEC_E_QOP_NOT_SUPPORTED
	}
	tb := msg.Find(sspi.SECBUFFER_TOKEN)
	if tb == nil {
		return statusErr(sspi.SEC_E_INVALID_TOKEN, "no SECBUFFER_TOKEN for the signature")
	}
	var parts [][]byte
	for _, b := range dataBuffers(nil, msg, false) {
		parts = append(parts, b.Buffer)
	}
	tok, err := c.s.mic(parts...)
	if err != nil {
		return err
	}
	tb.Buffer = tok
	return nil
}

// VerifySignature checks the MIC token in SECBUFFER_TOKEN.
func (c *userContext) VerifySignature(msg *sspi.SecBufferDesc, seqNo uint32) (uint32, error) {
	if err := c.expired(); err != nil {
		return 0, err
	}
	tb := msg.Find(sspi.SECBUFFER_TOKEN)
	if tb == nil {
		return 0, statusErr(sspi.SEC_E_INVALID_TOKEN, "no SECBUFFER_TOKEN")
	}
	var parts [][]byte
	for _, b := range dataBuffers(nil, msg, false) {
		parts = append(parts, b.Buffer)
	}
	return 0, c.s.verifyMIC(tb.Buffer, parts...)
}

// SealMessage wraps the writable SECBUFFER_DATA buffers in place. The
// SECBUFFER_TOKEN receives the start of the wrap token, and
// SECBUFFER_PADDING (rc4-hmac only) its last byte, so that
// TOKEN || DATA || PADDING is one RFC 4121 (or RFC 4757) wrap token.
// qop KERB_WRAP_NO_ENCRYPT makes an integrity-only wrap token.
func (c *userContext) SealMessage(qop uint32, msg *sspi.SecBufferDesc, seqNo uint32) error {
	if err := c.expired(); err != nil {
		return err
	}
	conf := true
	switch qop {
	case 0:
	case sspi.KERB_WRAP_NO_ENCRYPT:
		conf = false
	default:
		return sspi.SEC_E_QOP_NOT_SUPPORTED
	}
	tb := msg.Find(sspi.SECBUFFER_TOKEN)
	if tb == nil {
		return statusErr(sspi.SEC_E_INVALID_TOKEN, "no SECBUFFER_TOKEN")
	}
	var bufArr [4]*sspi.SecBuffer // the usual descriptor has one or two data buffers
	bufs := dataBuffers(bufArr[:0], msg, true)
	var data []byte
	if len(bufs) == 1 {
		data = bufs[0].Buffer
	} else {
		for _, b := range bufs {
			data = append(data, b.Buffer...)
		}
	}
	_, padLen := c.s.wrapOverhead(conf, len(data))
	pb := msg.Find(sspi.SECBUFFER_PADDING)
	if padLen > 0 && pb == nil {
		return statusErr(sspi.SEC_E_BUFFER_TOO_SMALL, "rc4-hmac needs a SECBUFFER_PADDING")
	}
	if pb != nil && padLen == 0 {
		// As on Windows, the padding buffer's size becomes what was used.
		pb.Buffer = pb.Buffer[:0]
		pb = nil
	}
	if conf && len(bufs) == 1 && padLen == 0 {
		var dst []byte // the caller's token buffer, written in place unless it overlaps the data
		if !overlaps(tb.Buffer[:cap(tb.Buffer)], bufs[0].Buffer) {
			dst = tb.Buffer[:0]
		}
		tok, ok, err := c.s.sealInPlace(bufs[0].Buffer, dst)
		if err != nil {
			return err
		}
		if ok {
			tb.Buffer = tok
			return nil
		}
	}
	tok, err := c.s.wrap(data, conf, true)
	if err != nil {
		return err
	}
	n := len(data)
	tokenPart := tok[:len(tok)-n-padLen]
	dataPart := tok[len(tok)-n-padLen : len(tok)-padLen]
	tb.Buffer = append(tb.Buffer[:0], tokenPart...)
	off := 0
	for _, b := range bufs {
		copy(b.Buffer, dataPart[off:off+len(b.Buffer)])
		off += len(b.Buffer)
	}
	if pb != nil {
		pb.Buffer = append(pb.Buffer[:0], tok[len(tok)-padLen:]...)
	}
	return nil
}

// UnsealMessage opens a wrap token given as SECBUFFER_TOKEN + DATA (+
// PADDING), decrypting DATA in place, or as one SECBUFFER_STREAM with an
// empty SECBUFFER_DATA that receives the plaintext.
func (c *userContext) UnsealMessage(msg *sspi.SecBufferDesc, seqNo uint32) (uint32, error) {
	if err := c.expired(); err != nil {
		return 0, err
	}
	if sb := msg.Find(sspi.SECBUFFER_STREAM); sb != nil {
		data, conf, err := c.s.unwrap(sb.Buffer)
		if err != nil {
			return 0, err
		}
		if db := msg.Find(sspi.SECBUFFER_DATA); db != nil {
			db.Buffer = data
		}
		return qopOf(conf), nil
	}
	tb := msg.Find(sspi.SECBUFFER_TOKEN)
	if tb == nil {
		return 0, statusErr(sspi.SEC_E_INVALID_TOKEN, "no SECBUFFER_TOKEN or SECBUFFER_STREAM")
	}
	var bufArr [4]*sspi.SecBuffer // the usual descriptor has one or two data buffers
	bufs := dataBuffers(bufArr[:0], msg, true)
	if pb := msg.Find(sspi.SECBUFFER_PADDING); len(bufs) == 1 && (pb == nil || len(pb.Buffer) == 0) {
		if ok, err := c.s.openInPlace(tb.Buffer, bufs[0].Buffer); ok {
			if err != nil {
				return 0, err
			}
			return 0, nil
		}
	}
	whole := append([]byte(nil), tb.Buffer...)
	for _, b := range bufs {
		whole = append(whole, b.Buffer...)
	}
	if pb := msg.Find(sspi.SECBUFFER_PADDING); pb != nil {
		whole = append(whole, pb.Buffer...)
	}
	data, conf, err := c.s.unwrap(whole)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, b := range bufs {
		total += len(b.Buffer)
	}
	if total == len(data) {
		off := 0
		for _, b := range bufs {
			copy(b.Buffer, data[off:off+len(b.Buffer)])
			off += len(b.Buffer)
		}
	} else if len(bufs) > 0 {
		bufs[0].Buffer = data
		for _, b := range bufs[1:] {
			b.Buffer = b.Buffer[:0]
		}
	}
	return qopOf(conf), nil
}

func qopOf(conf bool) uint32 {
	if conf {
		return 0
	}
	return sspi.KERB_WRAP_NO_ENCRYPT
}

// QueryAttributes answers from the session.
func (c *userContext) QueryAttributes(attr sspi.ContextAttribute) (any, error) {
	return c.s.query(attr)
}

// Delete clears the keys: the message key, the ticket session key and the
// keys derived from them.
func (c *userContext) Delete() { c.s.wipe() }

// ExportContext returns the current state in the ContextData format.
func (c *userContext) ExportContext() ([]byte, error) {
	if c.s.deleted {
		return nil, statusErr(sspi.SEC_E_INVALID_HANDLE, "Kerberos context deleted")
	}
	return c.s.marshal(), nil
}

// wipe clears the session's keys; the session is then unusable.
func (s *session) wipe() {
	s.msgState.wipe()
	clear(s.sessionKey)
}

func splitPrincipal(p string) (user, realm string) {
	if i := strings.LastIndexByte(p, '@'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, ""
}

func (s *session) sizes() sspi.SecPkgContextSizes {
	tok, _ := s.wrapOverhead(true, 0xffff)
	sig := 0
	if s.prof != nil {
		sig = 16 + s.prof.macSize()
	} else {
		sig = 13 + 24
	}
	return sspi.SecPkgContextSizes{MaxToken: maxToken, MaxSignature: uint32(sig), BlockSize: 1, SecurityTrailer: uint32(tok)}
}

func (s *session) query(attr sspi.ContextAttribute) (any, error) {
	if s.deleted {
		return nil, statusErr(sspi.SEC_E_INVALID_HANDLE, "Kerberos context deleted")
	}
	switch attr {
	case sspi.SECPKG_ATTR_SIZES:
		return s.sizes(), nil
	case sspi.SECPKG_ATTR_STREAM_SIZES:
		z := s.sizes()
		return sspi.SecPkgContextStreamSizes{Header: z.SecurityTrailer, Trailer: 1, MaximumMessage: 1 << 16, Buffers: 4, BlockSize: 1}, nil
	case sspi.SECPKG_ATTR_NAMES:
		// An acceptor with a PAC names the client DOMAIN\user, as Windows
		// does; the Kerberos principal is in SECPKG_ATTR_NATIVE_NAMES.
		if n := s.pac.logonName(); !s.initiator && n != "" {
			return sspi.SecPkgContextNames{UserName: n}, nil
		}
		return sspi.SecPkgContextNames{UserName: s.client}, nil
	case sspi.SECPKG_ATTR_NATIVE_NAMES:
		return sspi.SecPkgContextNativeNames{ClientName: s.client, ServerName: s.server}, nil
	case sspi.SECPKG_ATTR_LIFESPAN:
		return sspi.SecPkgContextLifespan{Start: s.start, Expiry: s.expiry}, nil
	case sspi.SECPKG_ATTR_SESSION_KEY:
		// MS-KILE 3.1.1.2: the application session key is the acceptor
		// subkey, else the initiator subkey, else the ticket session key:
		// the key the messages use.
		return sspi.SecPkgContextSessionKey{SessionKey: append([]byte(nil), s.key...)}, nil
	case sspi.SECPKG_ATTR_FLAGS:
		return sspi.SecPkgContextFlags{Flags: s.flags}, nil
	case sspi.SECPKG_ATTR_PACKAGE_INFO:
		return sspi.SecPkgContextPackageInfo{PackageInfo: packageInfo()}, nil
	case sspi.SECPKG_ATTR_GOSSPI_IDENTITY:
		user, realm := splitPrincipal(s.client)
		id := sspi.Identity{Package: PackageName, User: user, Domain: realm, Principal: s.client, Delegated: s.delegated}
		s.pac.fill(&id)
		return id, nil
	case SECPKG_ATTR_DELEGATED_CCACHE:
		return s.delegCCache, nil
	}
	return nil, sspi.SEC_E_UNSUPPORTED_FUNCTION
}
