package negotiate

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gosspi/gosspi/internal/ctxdata"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// toyPkg is a small security package written only for these tests, so
// that Negotiate's state machine can be driven against mechanisms with the
// shapes of Kerberos (one round trip, optional mutual authentication) and
// NTLM (three legs, per-direction stream state that MS-SPNG resets after
// the mechListMIC). Keys come from HMAC-SHA256 of the password.
type toyPkg struct {
	name     string
	oids     []string
	ntlmLike bool
	// initErr, when set, makes the initiator's first call fail the way
	// Kerberos fails without a KDC.
	initErr error
	// failTargets lists target names the initiator cannot start for (an
	// unknown service principal).
	failTargets []string
	// noReset leaves ResetCrypto out of the user-mode context.
	noReset bool
	inits   atomic.Int32
}

func (p *toyPkg) Name() string { return p.name }

func (p *toyPkg) GetInfo() sspi.PackageInfo {
	return sspi.PackageInfo{Name: p.name, Comment: "toy " + p.name, OIDs: p.oids, MaxToken: 128,
		Capabilities: sspi.SECPKG_FLAG_INTEGRITY | sspi.SECPKG_FLAG_PRIVACY | sspi.SECPKG_FLAG_CONNECTION}
}

type toyCred struct{ key []byte }

func (c *toyCred) Free() {}

func (p *toyPkg) AcquireCredentialsHandle(_ context.Context, req *secpkg.CredentialRequest) (secpkg.LsaCredential, time.Time, error) {
	if req.AuthData == nil || req.AuthData.Password == "" {
		return nil, time.Time{}, sspi.SEC_E_NO_CREDENTIALS
	}
	if req.AuthData.Options["no-"+strings.ToLower(p.name)] != "" {
		return nil, time.Time{}, sspi.SEC_E_NO_CREDENTIALS
	}
	m := hmac.New(sha256.New, []byte(req.AuthData.Password))
	m.Write([]byte(p.name))
	return &toyCred{key: m.Sum(nil)}, time.Now().Add(time.Hour), nil
}

type toyLsaCtx struct {
	initiator  bool
	mutual     bool
	cn, sn     []byte
	flags      sspi.ContextFlags
	done       bool
	sessionKey []byte
}

func (c *toyLsaCtx) Delete() {}
func (c *toyLsaCtx) QueryAttributes(attr sspi.ContextAttribute) (any, error) {
	if attr == sspi.SECPKG_ATTR_FLAGS {
		return sspi.SecPkgContextFlags{Flags: c.flags}, nil
	}
	return nil, sspi.SEC_E_UNSUPPORTED_FUNCTION
}

func toyMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)[:16]
}

func nonce() []byte {
	b := make([]byte, 8)
	rand.Read(b)
	return b
}

const toyNTLMPrefix = "NTLMSSP\x00"

func (p *toyPkg) out(c *toyLsaCtx, st sspi.Status, tok []byte) secpkg.ContextOutput {
	o := secpkg.ContextOutput{Status: st, Flags: c.flags, Expiry: time.Now().Add(time.Hour)}
	if tok != nil {
		o.Output = []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok}}
	}
	if st == sspi.SEC_E_OK {
		c.done = true
		o.Mapped = true
		o.ContextData = ctxdata.NewWriter(p.name).Bytes(1, c.sessionKey).Bool(2, c.initiator).Uint64(3, uint64(c.flags)).Finish()
	}
	return o
}

func (p *toyPkg) InitLsaModeContext(_ context.Context, cred secpkg.LsaCredential, lc secpkg.LsaContext, prm *secpkg.InitContextParams) (secpkg.LsaContext, secpkg.ContextOutput, error) {
	cr := cred.(*toyCred)
	in := prm.Input.Token()
	if lc == nil {
		p.inits.Add(1)
		if p.initErr != nil {
			return nil, secpkg.ContextOutput{}, p.initErr
		}
		for _, t := range p.failTargets {
			if prm.TargetName == t {
				return nil, secpkg.ContextOutput{}, sspi.SEC_E_TARGET_UNKNOWN
			}
		}
		c := &toyLsaCtx{initiator: true, cn: nonce(), flags: sspi.FromISCReq(prm.ContextReq) & (sspi.FlagIntegrity | sspi.FlagConfidentiality | sspi.FlagMutualAuth | sspi.FlagSequenceDetect | sspi.FlagReplayDetect)}
		if p.ntlmLike {
			c.flags &^= sspi.FlagMutualAuth
			return c, p.out(c, sspi.SEC_I_CONTINUE_NEEDED, append([]byte(toyNTLMPrefix+"\x01"), c.cn...)), nil
		}
		c.mutual = prm.ContextReq&sspi.ISC_REQ_MUTUAL_AUTH != 0
		mb := byte(0)
		if c.mutual {
			mb = 1
		}
		tok := append(append([]byte("K1"), mb), c.cn...)
		tok = append(tok, toyMAC(cr.key, []byte("ap"), c.cn)...)
		c.sessionKey = toyMAC(cr.key, []byte("sess"), c.cn)
		if !c.mutual {
			return c, p.out(c, sspi.SEC_E_OK, tok), nil
		}
		return c, p.out(c, sspi.SEC_I_CONTINUE_NEEDED, tok), nil
	}
	c := lc.(*toyLsaCtx)
	if c.done {
		return c, secpkg.ContextOutput{}, sspi.SEC_E_OUT_OF_SEQUENCE
	}
	if p.ntlmLike {
		if len(in) != len(toyNTLMPrefix)+1+8 || !bytes.HasPrefix(in, []byte(toyNTLMPrefix+"\x02")) {
			return c, secpkg.ContextOutput{}, sspi.SEC_E_INVALID_TOKEN
		}
		c.sn = in[len(toyNTLMPrefix)+1:]
		c.sessionKey = toyMAC(cr.key, []byte("sess"), c.cn, c.sn)
		tok := append([]byte(toyNTLMPrefix+"\x03"), toyMAC(cr.key, []byte("auth"), c.cn, c.sn)...)
		return c, p.out(c, sspi.SEC_E_OK, tok), nil
	}
	if len(in) != 2+16 || string(in[:2]) != "K2" {
		if len(in) > 2 && string(in[:2]) == "KE" {
			return c, secpkg.ContextOutput{}, sspi.SEC_E_LOGON_DENIED // an error token
		}
		return c, secpkg.ContextOutput{}, sspi.SEC_E_INVALID_TOKEN
	}
	if !hmac.Equal(in[2:], toyMAC(cr.key, []byte("rep"), c.cn)) {
		return c, secpkg.ContextOutput{}, sspi.SEC_E_MUTUAL_AUTH_FAILED
	}
	return c, p.out(c, sspi.SEC_E_OK, nil), nil
}

func (p *toyPkg) AcceptLsaModeContext(_ context.Context, cred secpkg.LsaCredential, lc secpkg.LsaContext, prm *secpkg.AcceptContextParams) (secpkg.LsaContext, secpkg.ContextOutput, error) {
	cr := cred.(*toyCred)
	in := prm.Input.Token()
	var c *toyLsaCtx
	if lc == nil {
		c = &toyLsaCtx{flags: sspi.FlagIntegrity | sspi.FlagConfidentiality | sspi.FlagSequenceDetect | sspi.FlagReplayDetect}
	} else {
		c = lc.(*toyLsaCtx)
	}
	if p.ntlmLike {
		if lc == nil {
			if len(in) != len(toyNTLMPrefix)+1+8 || !bytes.HasPrefix(in, []byte(toyNTLMPrefix+"\x01")) {
				return nil, secpkg.ContextOutput{}, sspi.SEC_E_INVALID_TOKEN
			}
			c.cn, c.sn = in[len(toyNTLMPrefix)+1:], nonce()
			return c, p.out(c, sspi.SEC_I_CONTINUE_NEEDED, append([]byte(toyNTLMPrefix+"\x02"), c.sn...)), nil
		}
		if len(in) != len(toyNTLMPrefix)+1+16 || !bytes.HasPrefix(in, []byte(toyNTLMPrefix+"\x03")) {
			return c, secpkg.ContextOutput{}, sspi.SEC_E_INVALID_TOKEN
		}
		if !hmac.Equal(in[len(toyNTLMPrefix)+1:], toyMAC(cr.key, []byte("auth"), c.cn, c.sn)) {
			return c, secpkg.ContextOutput{}, sspi.SEC_E_LOGON_DENIED
		}
		c.sessionKey = toyMAC(cr.key, []byte("sess"), c.cn, c.sn)
		return c, p.out(c, sspi.SEC_E_OK, nil), nil
	}
	if lc != nil || len(in) != 3+8+16 || string(in[:2]) != "K1" {
		return c, secpkg.ContextOutput{}, sspi.SEC_E_INVALID_TOKEN
	}
	c.cn = in[3:11]
	if !hmac.Equal(in[11:], toyMAC(cr.key, []byte("ap"), c.cn)) {
		// Like a KRB-ERROR: an error token goes back.
		o := secpkg.ContextOutput{Output: []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: []byte("KE-denied")}}}
		return c, o, sspi.SEC_E_LOGON_DENIED
	}
	c.sessionKey = toyMAC(cr.key, []byte("sess"), c.cn)
	if in[2] == 1 {
		c.flags |= sspi.FlagMutualAuth
		return c, p.out(c, sspi.SEC_E_OK, append([]byte("K2"), toyMAC(cr.key, []byte("rep"), c.cn)...)), nil
	}
	return c, p.out(c, sspi.SEC_E_OK, nil), nil
}

// toyUser is a toy user-mode context: signatures are a 4-byte sequence
// number and 8 bytes of HMAC, XORed (for the NTLM-like package) with a
// keystream whose position advances with every signature, like NTLM's RC4.
type toyUser struct {
	p                *toyPkg
	sendKey, recvKey []byte
	sendSeq, recvSeq uint32
	sendPos, recvPos uint64
	flags            sspi.ContextFlags
}

type toyUserReset struct{ *toyUser }

// ResetCrypto implements CryptoResetter.
func (u toyUserReset) ResetCrypto(outbound bool) error {
	if outbound {
		u.sendPos = 0
	} else {
		u.recvPos = 0
	}
	return nil
}

func (p *toyPkg) InitUserModeContext(data []byte) (sspi.UserModeContext, error) {
	r, err := ctxdata.Parse(data)
	if err != nil || r.Package != p.name {
		return nil, sspi.SEC_E_INVALID_TOKEN
	}
	sess := r.Bytes(1)
	c2s, s2c := toyMAC(sess, []byte("c2s")), toyMAC(sess, []byte("s2c"))
	f, _ := r.Uint64(3)
	u := &toyUser{p: p, sendKey: c2s, recvKey: s2c, flags: sspi.ContextFlags(f)}
	if !r.Bool(2) {
		u.sendKey, u.recvKey = s2c, c2s
	}
	if p.ntlmLike && !p.noReset {
		return toyUserReset{u}, nil
	}
	return u, nil
}

func (u *toyUser) stream(key []byte, pos uint64) []byte {
	if !u.p.ntlmLike {
		return make([]byte, 8)
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], pos)
	return toyMAC(key, []byte("stream"), b[:])[:8]
}

func (u *toyUser) sig(key []byte, seq uint32, pos uint64, data []byte) []byte {
	s := make([]byte, 12)
	binary.BigEndian.PutUint32(s, seq)
	mac := toyMAC(key, s[:4], data)
	ks := u.stream(key, pos)
	for i := 0; i < 8; i++ {
		s[4+i] = mac[i] ^ ks[i]
	}
	return s
}

func toyData(msg *sspi.SecBufferDesc) []byte {
	var d []byte
	for _, b := range msg.Buffers {
		if b.BufferType.Base() == sspi.SECBUFFER_DATA {
			d = append(d, b.Buffer...)
		}
	}
	return d
}

func (u *toyUser) MakeSignature(_ uint32, msg *sspi.SecBufferDesc, _ uint32) error {
	t := msg.Find(sspi.SECBUFFER_TOKEN)
	if t == nil {
		return sspi.SEC_E_INVALID_TOKEN
	}
	t.Buffer = append(t.Buffer[:0], u.sig(u.sendKey, u.sendSeq, u.sendPos, toyData(msg))...)
	u.sendSeq++
	u.sendPos++
	return nil
}

func (u *toyUser) VerifySignature(msg *sspi.SecBufferDesc, _ uint32) (uint32, error) {
	t := msg.Find(sspi.SECBUFFER_TOKEN)
	if t == nil || len(t.Buffer) != 12 {
		return 0, sspi.SEC_E_INVALID_TOKEN
	}
	if !hmac.Equal(t.Buffer, u.sig(u.recvKey, u.recvSeq, u.recvPos, toyData(msg))) {
		if binary.BigEndian.Uint32(t.Buffer) != u.recvSeq {
			return 0, sspi.SEC_E_OUT_OF_SEQUENCE
		}
		return 0, sspi.SEC_E_MESSAGE_ALTERED
	}
	u.recvSeq++
	u.recvPos++
	return 0, nil
}

func (u *toyUser) xor(key []byte, seq uint32, msg *sspi.SecBufferDesc) {
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], seq)
	ks := toyMAC(key, []byte("seal"), s[:])
	i := 0
	for j := range msg.Buffers {
		b := &msg.Buffers[j]
		if b.BufferType.Base() != sspi.SECBUFFER_DATA {
			continue
		}
		for k := range b.Buffer {
			b.Buffer[k] ^= ks[i%len(ks)]
			i++
		}
	}
}

func (u *toyUser) SealMessage(qop uint32, msg *sspi.SecBufferDesc, n uint32) error {
	u.xor(u.sendKey, u.sendSeq, msg)
	return u.MakeSignature(qop, msg, n)
}

func (u *toyUser) UnsealMessage(msg *sspi.SecBufferDesc, n uint32) (uint32, error) {
	seq := u.recvSeq
	if _, err := u.VerifySignature(msg, n); err != nil {
		return 0, err
	}
	u.xor(u.recvKey, seq, msg)
	return 0, nil
}

func (u *toyUser) QueryAttributes(attr sspi.ContextAttribute) (any, error) {
	switch attr {
	case sspi.SECPKG_ATTR_SIZES:
		return sspi.SecPkgContextSizes{MaxToken: 128, MaxSignature: 12, SecurityTrailer: 12}, nil
	case sspi.SECPKG_ATTR_FLAGS:
		return sspi.SecPkgContextFlags{Flags: u.flags}, nil
	}
	return nil, sspi.SEC_E_UNSUPPORTED_FUNCTION
}

func (u *toyUser) Delete() {}
