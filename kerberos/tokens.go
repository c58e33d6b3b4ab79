package kerberos

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"crypto/subtle"
	"encoding/binary"
	"io"

	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/sspi"
)

// RFC 4121 section 2: key usages of per-message tokens.
const (
	usageAcceptorSeal  = 22
	usageAcceptorSign  = 23
	usageInitiatorSeal = 24
	usageInitiatorSign = 25
)

// RFC 4121 section 4.2.2 token flags.
const (
	cfxSentByAcceptor = 0x01
	cfxSealed         = 0x02
	cfxAcceptorSubkey = 0x04
)

// RFC 4757 section 7.3 usages of the rc4-hmac token checksum.
const (
	rc4UsageSeal = 13
	rc4UsageSign = 15
)

// msgState is the per-message half of a context: the key, the direction
// and the sequence numbers. It has no lock; a context is used by one
// goroutine at a time.
type msgState struct {
	initiator      bool
	acceptorSubkey bool
	etype          int32
	key            []byte
	sendSeq        uint64
	recv           seqState

	rand    io.Reader // confounders; nil is the default source
	prof    profile   // RFC 4121 enctypes
	rc4Sgn  []byte    // rc4-hmac: Ksign = HMAC-MD5(K, "signaturekey\0")
	deleted bool      // wiped: every operation fails
}

// wipe clears the keys of the state: the message key, the rc4-hmac
// signing key, and the profile's key with its per-usage derived keys
// (dropped: Go's AES and HMAC states cannot be cleared in place, and
// nothing reaches them once dropped). The state is then unusable.
func (m *msgState) wipe() {
	m.deleted = true
	clear(m.key)
	clear(m.rc4Sgn)
	if w, ok := m.prof.(interface{ wipe() }); ok {
		w.wipe()
	}
	m.prof = nil
}

func (m *msgState) init() error {
	if !supportedEtype(m.etype) {
		return statusErr(sspi.SEC_E_ALGORITHM_MISMATCH, "unsupported enctype for per-message tokens")
	}
	if isCFX(m.etype) {
		p, err := newProfile(m.etype, m.key, m.rand)
		if err != nil {
			return statusErr(sspi.SEC_E_ALGORITHM_MISMATCH, err.Error())
		}
		m.prof = p
		return nil
	}
	if len(m.key) != 16 {
		return statusErr(sspi.SEC_E_ALGORITHM_MISMATCH, "bad rc4-hmac key size")
	}
	m.rc4Sgn = hmacMD5(m.key, []byte("signaturekey\x00"))
	return nil
}

func (m *msgState) usages() (sendSeal, sendSign, recvSeal, recvSign uint32) {
	if m.initiator {
		return usageInitiatorSeal, usageInitiatorSign, usageAcceptorSeal, usageAcceptorSign
	}
	return usageAcceptorSeal, usageAcceptorSign, usageInitiatorSeal, usageInitiatorSign
}

func (m *msgState) cfxFlags(sealed bool) byte {
	var f byte
	if !m.initiator {
		f |= cfxSentByAcceptor
	}
	if m.acceptorSubkey {
		f |= cfxAcceptorSubkey
	}
	if sealed {
		f |= cfxSealed
	}
	return f
}

// checkCFXFlags checks the flags of a received token: it must come from
// the peer and agree about the acceptor subkey.
func (m *msgState) checkCFXFlags(f byte) error {
	fromAcceptor := f&cfxSentByAcceptor != 0
	if fromAcceptor != m.initiator {
		return statusErr(sspi.SEC_E_MESSAGE_ALTERED, "token direction flag is wrong")
	}
	if (f&cfxAcceptorSubkey != 0) != m.acceptorSubkey {
		return statusErr(sspi.SEC_E_MESSAGE_ALTERED, "acceptor subkey flag mismatch")
	}
	return nil
}

// wrapOverhead is how many bytes wrap adds in front of the data (the
// TOKEN buffer) with SSPI layout, and after it (PADDING).
func (m *msgState) wrapOverhead(conf bool, n int) (token, padding int) {
	if m.prof != nil {
		if conf {
			return 16 + m.prof.confSize() + 16 + m.prof.macSize(), 0
		}
		return 16 + m.prof.macSize(), 0
	}
	return gss.HeaderLen(gss.OIDKerberos, 32+n+1) + 32, 1
}

// wrap builds a wrap token over data. With sspiLayout, the RFC 4121 RRC
// rotates the trailer in front of the data so that the token ends with the
// (encrypted) data: token[:len-n-pad] goes to SECBUFFER_TOKEN.
func (m *msgState) wrap(data []byte, conf, sspiLayout bool) ([]byte, error) {
	if m.prof == nil {
		return m.rc4Wrap(data, conf)
	}
	seal, _, _, _ := m.usages()
	seq := m.sendSeq
	m.sendSeq++
	// RFC 4121 section 4.2.6.2 header.
	var hdr [16]byte
	hdr[0], hdr[1], hdr[2], hdr[3] = 0x05, 0x04, m.cfxFlags(conf), 0xff
	binary.BigEndian.PutUint64(hdr[8:], seq)
	mac := m.prof.macSize()
	if !conf {
		// Checksum over data || header with EC and RRC zero; EC then
		// carries the checksum length.
		ck := m.prof.checksum(seal, data, hdr[:])
		if ck == nil {
			return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "checksum failed")
		}
		binary.BigEndian.PutUint16(hdr[4:], uint16(mac))
		out := make([]byte, 0, 16+len(data)+mac)
		if sspiLayout {
			binary.BigEndian.PutUint16(hdr[6:], uint16(mac))
			out = append(append(append(out, hdr[:]...), ck...), data...)
		} else {
			out = append(append(append(out, hdr[:]...), data...), ck...)
		}
		return out, nil
	}
	// EC is zero: AES-CTS needs no padding.
	if a, ok := m.prof.(*aesSHA1); ok {
		// One buffer: header, then E(confounder | data | header) | MAC,
		// rotated by RRC when asked.
		n := len(data)
		out := make([]byte, 16+16+n+16+12)
		copy(out, hdr[:])
		copy(out[32:], data)
		copy(out[32+n:], hdr[:])
		tag, err := a.sealInPlace(seal, out[16:16+16+n+16])
		if err != nil {
			return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "encrypt failed")
		}
		copy(out[16+16+n+16:], tag[:])
		if sspiLayout {
			rrc := 16 + 12
			binary.BigEndian.PutUint16(out[6:], uint16(rrc))
			var tail [28]byte
			copy(tail[:], out[len(out)-rrc:])
			copy(out[16+rrc:], out[16:len(out)-rrc])
			copy(out[16:], tail[:])
		}
		return out, nil
	}
	p := make([]byte, len(data)+16)
	copy(p, data)
	copy(p[len(data):], hdr[:])
	ct, err := m.prof.encrypt(seal, p)
	if err != nil {
		return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "encrypt failed")
	}
	out := make([]byte, 16+len(ct))
	copy(out, hdr[:])
	if sspiLayout {
		rrc := 16 + mac
		binary.BigEndian.PutUint16(out[6:], uint16(rrc))
		copy(out[16:], ct[len(ct)-rrc:])
		copy(out[16+rrc:], ct[:len(ct)-rrc])
	} else {
		copy(out[16:], ct)
	}
	return out, nil
}

// sealInPlace is the sealed wrap of SealMessage without copies: data is
// encrypted where it lies, and the returned token (written into tok when
// its capacity allows) goes in front of it. It reports false when the fast
// path does not apply (then use wrap).
func (m *msgState) sealInPlace(data, tok []byte) ([]byte, bool, error) {
	a, ok := m.prof.(*aesSHA1)
	if !ok || len(data) < 32 {
		return nil, false, nil
	}
	seal, _, _, _ := m.usages()
	var hdr [16]byte
	hdr[0], hdr[1], hdr[2], hdr[3] = 0x05, 0x04, m.cfxFlags(true), 0xff
	binary.BigEndian.PutUint64(hdr[8:], m.sendSeq)
	tok, err := a.sealSSPI(seal, &hdr, data, tok)
	if err != nil {
		return nil, true, statusErr(sspi.SEC_E_INTERNAL_ERROR, "encrypt failed")
	}
	m.sendSeq++
	return tok, true, nil
}

// openInPlace is the inverse of sealInPlace for UnsealMessage with a
// SECBUFFER_TOKEN and one SECBUFFER_DATA: when the token has the SSPI layout
// (sealed, EC 0, RRC 28), data is decrypted where it lies. It reports false
// when the fast path does not apply (then the caller joins the buffers).
func (m *msgState) openInPlace(tok, data []byte) (bool, error) {
	a, ok := m.prof.(*aesSHA1)
	if !ok || len(tok) != 60 || len(data) < 32 || tok[0] != 0x05 || tok[1] != 0x04 || tok[3] != 0xff ||
		tok[2]&cfxSealed == 0 || binary.BigEndian.Uint16(tok[4:]) != 0 || binary.BigEndian.Uint16(tok[6:]) != 28 {
		return false, nil
	}
	if err := m.checkCFXFlags(tok[2]); err != nil {
		return true, err
	}
	_, _, seal, _ := m.usages()
	inner, err := a.openSSPI(seal, tok, data)
	if err != nil {
		return true, statusErr(sspi.SEC_E_MESSAGE_ALTERED, "wrap token integrity check failed")
	}
	if inner[0] != 0x05 || inner[1] != 0x04 || inner[2] != tok[2] || inner[3] != 0xff ||
		binary.BigEndian.Uint16(inner[4:]) != 0 || binary.BigEndian.Uint64(inner[8:]) != binary.BigEndian.Uint64(tok[8:]) {
		return true, statusErr(sspi.SEC_E_MESSAGE_ALTERED, "wrap token header altered")
	}
	return true, m.recv.check(binary.BigEndian.Uint64(tok[8:]))
}

// unwrap verifies and opens a wrap token, accepting any RRC. It works in
// place: tok is overwritten and the result aliases it.
func (m *msgState) unwrap(tok []byte) (data []byte, conf bool, err error) {
	if m.prof == nil {
		return m.rc4Unwrap(tok)
	}
	_, _, seal, _ := m.usages()
	if len(tok) < 16 || tok[0] != 0x05 || tok[1] != 0x04 || tok[3] != 0xff {
		return nil, false, tokenErr("not an RFC 4121 wrap token")
	}
	flags := tok[2]
	if err := m.checkCFXFlags(flags); err != nil {
		return nil, false, err
	}
	ec := int(binary.BigEndian.Uint16(tok[4:]))
	rrc := int(binary.BigEndian.Uint16(tok[6:]))
	seq := binary.BigEndian.Uint64(tok[8:])
	body := tok[16:]
	if len(body) == 0 {
		return nil, false, tokenErr("empty wrap token")
	}
	if rrc %= len(body); rrc != 0 {
		rotateLeft(body, rrc)
	}
	conf = flags&cfxSealed != 0
	if conf {
		var pt []byte
		var err error
		if a, ok := m.prof.(*aesSHA1); ok {
			pt, err = a.open(seal, body)
		} else {
			pt, err = m.prof.decrypt(seal, body)
		}
		if err != nil {
			return nil, true, statusErr(sspi.SEC_E_MESSAGE_ALTERED, "wrap token integrity check failed")
		}
		if len(pt) < ec+16 {
			return nil, true, tokenErr("wrap token too short for its EC")
		}
		inner := pt[len(pt)-16:]
		// The encrypted header copy must match, RRC aside.
		if inner[0] != 0x05 || inner[1] != 0x04 || inner[2] != flags || inner[3] != 0xff ||
			binary.BigEndian.Uint16(inner[4:]) != uint16(ec) || binary.BigEndian.Uint64(inner[8:]) != seq {
			return nil, true, statusErr(sspi.SEC_E_MESSAGE_ALTERED, "wrap token header altered")
		}
		data = pt[:len(pt)-16-ec]
	} else {
		mac := m.prof.macSize()
		if ec != mac || len(body) < mac {
			return nil, false, tokenErr("bad checksum length in wrap token")
		}
		data = body[:len(body)-mac]
		var hdr [16]byte
		copy(hdr[:], tok[:16])
		hdr[4], hdr[5], hdr[6], hdr[7] = 0, 0, 0, 0
		ck := m.prof.checksum(seal, data, hdr[:])
		if subtle.ConstantTimeCompare(ck, body[len(body)-mac:]) != 1 {
			return nil, false, statusErr(sspi.SEC_E_MESSAGE_ALTERED, "wrap token checksum mismatch")
		}
	}
	if err := m.recv.check(seq); err != nil {
		return nil, conf, err
	}
	return data, conf, nil
}

// mic builds a MIC token over the concatenated parts.
func (m *msgState) mic(parts ...[]byte) ([]byte, error) {
	if m.prof == nil {
		return m.rc4MIC(parts...)
	}
	_, sign, _, _ := m.usages()
	seq := m.sendSeq
	m.sendSeq++
	// RFC 4121 section 4.2.6.1.
	var hdr [16]byte
	hdr[0], hdr[1], hdr[2] = 0x04, 0x04, m.cfxFlags(false)
	copy(hdr[3:8], []byte{0xff, 0xff, 0xff, 0xff, 0xff})
	binary.BigEndian.PutUint64(hdr[8:], seq)
	ck := m.prof.checksum(sign, append(parts, hdr[:])...)
	if ck == nil {
		return nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "checksum failed")
	}
	return append(hdr[:], ck...), nil
}

// verifyMIC checks a MIC token over the concatenated parts.
func (m *msgState) verifyMIC(tok []byte, parts ...[]byte) error {
	if m.prof == nil {
		return m.rc4VerifyMIC(tok, parts...)
	}
	_, _, _, sign := m.usages()
	if len(tok) != 16+m.prof.macSize() || tok[0] != 0x04 || tok[1] != 0x04 {
		return tokenErr("not an RFC 4121 MIC token")
	}
	for _, b := range tok[3:8] {
		if b != 0xff {
			return tokenErr("bad MIC filler")
		}
	}
	if err := m.checkCFXFlags(tok[2] &^ cfxSealed); err != nil {
		return err
	}
	ck := m.prof.checksum(sign, append(parts, tok[:16])...)
	if subtle.ConstantTimeCompare(ck, tok[16:]) != 1 {
		return statusErr(sspi.SEC_E_MESSAGE_ALTERED, "MIC mismatch")
	}
	return m.recv.check(binary.BigEndian.Uint64(tok[8:]))
}

// ---- rc4-hmac (RFC 4757 section 7; the RFC 1964 token layout) ----

func hmacMD5(key []byte, parts ...[]byte) []byte {
	h := hmac.New(md5.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// rc4Checksum is the HMAC-MD5 token checksum: first 8 bytes of
// HMAC(Ksign, MD5(le32(usage) || parts)).
func (m *msgState) rc4Checksum(usage uint32, parts ...[]byte) []byte {
	h := md5.New()
	var u [4]byte
	binary.LittleEndian.PutUint32(u[:], usage)
	h.Write(u[:])
	for _, p := range parts {
		h.Write(p)
	}
	return hmacMD5(m.rc4Sgn, h.Sum(nil))[:8]
}

// rc4Seq encrypts (or decrypts) the 8-byte SND_SEQ with the key derived
// from the checksum.
func (m *msgState) rc4Seq(cksum, seq []byte) []byte {
	out := make([]byte, 8)
	rc4XOR(hmacMD5(m.key, []byte{0, 0, 0, 0}), cksum, out, seq)
	return out
}

// rc4XOR runs RC4 keyed with HMAC-MD5(base, salt) over src into dst
// (RFC 4757 section 7.3), then wipes the per-message key, base and the
// cipher state.
func rc4XOR(base, salt, dst, src []byte) {
	k := hmacMD5(base, salt)
	c, _ := rc4.NewCipher(k)
	c.XORKeyStream(dst, src)
	//lint:ignore SA1019 best effort: Reset zeroes the key schedule we hold.
	c.Reset()
	clear(k)
	clear(base)
}

func (m *msgState) rc4Direction() []byte {
	if m.initiator {
		return []byte{0, 0, 0, 0}
	}
	return []byte{0xff, 0xff, 0xff, 0xff}
}

// rc4Data encrypts (or decrypts) body in place with Kcrypt of RFC 4757
// section 7.3: key XOR 0xF0, salted with zero, then with SND_SEQ.
func (m *msgState) rc4Data(seq, body []byte) {
	var kl [16]byte
	for i, b := range m.key {
		kl[i] = b ^ 0xf0
	}
	rc4XOR(hmacMD5(kl[:], []byte{0, 0, 0, 0}), seq[:4], body, body)
	clear(kl[:])
}

func (m *msgState) rc4MIC(parts ...[]byte) ([]byte, error) {
	hdr := []byte{0x01, 0x01, 0x11, 0x00, 0xff, 0xff, 0xff, 0xff}
	seq := make([]byte, 8)
	binary.BigEndian.PutUint32(seq, uint32(m.sendSeq))
	copy(seq[4:], m.rc4Direction())
	m.sendSeq++
	ck := m.rc4Checksum(rc4UsageSign, append([][]byte{hdr}, parts...)...)
	inner := append(append(hdr, m.rc4Seq(ck, seq)...), ck...)
	return gss.Frame(gss.OIDKerberos, inner), nil
}

func (m *msgState) rc4Open(tok []byte) ([]byte, error) {
	t, n, err := gss.Parse(tok)
	if err != nil || n != len(tok) || !t.Mech.Equal(gss.OIDKerberos) {
		return nil, tokenErr("bad rc4-hmac token framing")
	}
	return t.Inner, nil
}

// rc4RecvSeq decrypts and checks SND_SEQ: the direction must be the peer's.
func (m *msgState) rc4RecvSeq(encSeq, ck []byte) (uint64, error) {
	seq := m.rc4Seq(ck, encSeq)
	want := []byte{0xff, 0xff, 0xff, 0xff}
	if !m.initiator {
		want = []byte{0, 0, 0, 0}
	}
	if subtle.ConstantTimeCompare(seq[4:], want) != 1 {
		return 0, statusErr(sspi.SEC_E_MESSAGE_ALTERED, "bad sequence direction")
	}
	return uint64(binary.BigEndian.Uint32(seq)), nil
}

func (m *msgState) rc4VerifyMIC(tok []byte, parts ...[]byte) error {
	in, err := m.rc4Open(tok)
	if err != nil {
		return err
	}
	if len(in) != 24 || in[0] != 0x01 || in[1] != 0x01 || in[2] != 0x11 || in[3] != 0 ||
		subtle.ConstantTimeCompare(in[4:8], []byte{0xff, 0xff, 0xff, 0xff}) != 1 {
		return tokenErr("not an rc4-hmac MIC token")
	}
	ck := m.rc4Checksum(rc4UsageSign, append([][]byte{in[:8]}, parts...)...)
	if subtle.ConstantTimeCompare(ck, in[16:24]) != 1 {
		return statusErr(sspi.SEC_E_MESSAGE_ALTERED, "MIC mismatch")
	}
	seq, err := m.rc4RecvSeq(in[8:16], in[16:24])
	if err != nil {
		return err
	}
	return m.recv.check(seq)
}

func (m *msgState) rc4Wrap(data []byte, conf bool) ([]byte, error) {
	hdr := []byte{0x02, 0x01, 0x11, 0x00, 0xff, 0xff, 0xff, 0xff}
	if conf {
		hdr[4], hdr[5] = 0x10, 0x00
	}
	seq := make([]byte, 8)
	binary.BigEndian.PutUint32(seq, uint32(m.sendSeq))
	copy(seq[4:], m.rc4Direction())
	m.sendSeq++
	n := 32 + len(data) + 1
	out := gss.AppendHeader(make([]byte, 0, gss.HeaderLen(gss.OIDKerberos, n)+n), gss.OIDKerberos, n)
	off := len(out)
	out = append(out, hdr...)
	out = append(out, make([]byte, 16)...) // SND_SEQ, SGN_CKSUM
	conf8 := make([]byte, 8)
	if err := sysenv.Read(m.rand, conf8); err != nil {
		return nil, err
	}
	out = append(out, conf8...)
	out = append(out, data...)
	out = append(out, 1) // one byte of padding (block size 1)
	body := out[off+24:]
	ck := m.rc4Checksum(rc4UsageSeal, hdr, body)
	copy(out[off+16:], ck)
	copy(out[off+8:], m.rc4Seq(ck, seq))
	if conf {
		m.rc4Data(seq, body)
	}
	return out, nil
}

func (m *msgState) rc4Unwrap(tok []byte) ([]byte, bool, error) {
	in, err := m.rc4Open(tok)
	if err != nil {
		return nil, false, err
	}
	if len(in) < 33 || in[0] != 0x02 || in[1] != 0x01 || in[2] != 0x11 || in[3] != 0 || in[6] != 0xff || in[7] != 0xff {
		return nil, false, tokenErr("not an rc4-hmac wrap token")
	}
	var conf bool
	switch {
	case in[4] == 0x10 && in[5] == 0:
		conf = true
	case in[4] == 0xff && in[5] == 0xff:
	default:
		return nil, false, tokenErr("unknown seal algorithm")
	}
	seqNo, err := m.rc4RecvSeq(in[8:16], in[16:24])
	if err != nil {
		return nil, conf, err
	}
	body := append([]byte(nil), in[24:]...)
	if conf {
		var s [8]byte
		binary.BigEndian.PutUint32(s[:], uint32(seqNo))
		m.rc4Data(s[:], body)
	}
	ck := m.rc4Checksum(rc4UsageSeal, in[:8], body)
	if subtle.ConstantTimeCompare(ck, in[16:24]) != 1 {
		return nil, conf, statusErr(sspi.SEC_E_MESSAGE_ALTERED, "wrap token checksum mismatch")
	}
	pad := int(body[len(body)-1])
	if pad < 1 || pad > 8 || len(body) < 8+pad {
		return nil, conf, tokenErr("bad padding")
	}
	if err := m.recv.check(seqNo); err != nil {
		return nil, conf, err
	}
	return body[8 : len(body)-pad], conf, nil
}

// rotateLeft rotates b left by k bytes in place (undoing RFC 4121 RRC).
func rotateLeft(b []byte, k int) {
	if k <= 64 {
		var tmp [64]byte
		copy(tmp[:k], b[:k])
		copy(b, b[k:])
		copy(b[len(b)-k:], tmp[:k])
		return
	}
	tmp := append([]byte(nil), b[:k]...)
	copy(b, b[k:])
	copy(b[len(b)-k:], tmp)
}
