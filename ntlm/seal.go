package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"hash/crc32"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
)

// This file holds message integrity and confidentiality (MS-NLMP 3.4):
// NTLMSSP_MESSAGE_SIGNATURE, SIGN, SEAL, VERIFY and UNSEAL, with separate
// keys, sequence numbers and RC4 states per direction.

// SignatureSize is the size of NTLMSSP_MESSAGE_SIGNATURE.
const SignatureSize = 16

// direction is one direction's state: its signing key, RC4 handle and
// sequence number.
type direction struct {
	signKey []byte
	rc4     *stream
	seq     uint32
	mac     hash.Hash // HMAC-MD5 under signKey, reset per message
	// Scratch space for the MAC: values passed to hash.Hash escape, and
	// here they do not cost an allocation per message.
	seqb [4]byte
	sum  [16]byte
}

// stream is an RC4 handle that counts the keystream it has used, so that
// ExportContext can describe its state and an import can regenerate it.
// The key schedule runs on first use: a context that is only exported (the
// mechListMIC path of Negotiate) or that uses one direction never pays for
// the other.
type stream struct {
	key []byte
	c   *rc4.Cipher // nil until first use
	n   uint64      // keystream position
}

func newStream(key []byte, used uint64) *stream { return &stream{key: key, n: used} }

func (s *stream) cipher() *rc4.Cipher {
	if s.c == nil {
		s.c, _ = rc4.NewCipher(s.key)
		var buf [512]byte
		for skip := s.n; skip > 0; {
			k := min(skip, uint64(len(buf)))
			s.c.XORKeyStream(buf[:k], buf[:k])
			skip -= k
		}
	}
	return s.c
}

func (s *stream) XORKeyStream(dst, src []byte) {
	s.cipher().XORKeyStream(dst, src)
	s.n += uint64(len(src))
}

// reset starts the keystream again from the key (lazily).
func (s *stream) reset() {
	if s.c != nil {
		//lint:ignore SA1019 best effort: Reset zeroes the key schedule we hold; the cipher is dropped too.
		s.c.Reset()
	}
	s.c, s.n = nil, 0
}

// wipe forgets the sealing key and the RC4 state (crypto/rc4's Reset
// zeroes its permutation).
func (s *stream) wipe() {
	clear(s.key)
	s.reset()
}

// streamState is a saved stream position, for undoing a failed verify.
type streamState struct {
	c    rc4.Cipher
	n    uint64
	live bool
}

func (s *stream) save() streamState {
	if s.c == nil {
		return streamState{n: s.n}
	}
	return streamState{c: *s.c, n: s.n, live: true}
}

func (s *stream) restore(st streamState) {
	if !st.live {
		s.c, s.n = nil, st.n
		return
	}
	if s.c == nil {
		s.c = new(rc4.Cipher)
	}
	*s.c, s.n = st.c, st.n
}

// wipe forgets a direction's keys: the signing key, the sealing key and
// RC4 state, and the MAC's scratch space. The HMAC state keyed with the
// signing key cannot be zeroed (crypto/hmac keeps it private); it is
// dropped with the direction.
func (d *direction) wipe() {
	clear(d.signKey)
	d.rc4.wipe()
	d.mac = nil
	d.sum = [16]byte{}
}

// sealer is the per-message state of a context: the outgoing and incoming
// directions.
type sealer struct {
	flags   uint32
	out, in *direction
}

// wipe forgets both directions' keys and RC4 states (without ESS they
// share one RC4 handle).
func (s *sealer) wipe() {
	s.out.wipe()
	s.in.wipe()
}

// beginMAC starts the HMAC-MD5 of a message with the sequence number
// (MS-NLMP 3.4.4.2).
func (d *direction) beginMAC() {
	binary.LittleEndian.PutUint32(d.seqb[:], d.seq)
	d.mac.Reset()
	d.mac.Write(d.seqb[:])
}

func newDirection(signKey, sealKey []byte, seq uint32, used uint64) *direction {
	d := &direction{signKey: signKey, seq: seq, rc4: newStream(sealKey, used)}
	if signKey != nil {
		d.mac = hmac.New(md5.New, signKey)
	}
	return d
}

// newSealer derives the four keys from the exported session key (MS-NLMP
// 3.4.5.2 and 3.4.5.3). Without ESS both directions share one RC4 handle,
// as Windows and Samba do.
// sendUsed and recvUsed are the keystream bytes each direction has
// already consumed (for an imported context).
func newSealer(flags uint32, key [16]byte, client bool, sendSeq, recvSeq uint32, sendUsed, recvUsed uint64) *sealer {
	s := &sealer{flags: flags}
	if flags&ntlmssp.NegotiateExtendedSessionSecurity == 0 {
		k := ntlmssp.SEALKEY(flags, key, true)
		s.out = newDirection(nil, k, sendSeq, sendUsed)
		s.in = &direction{rc4: s.out.rc4, seq: recvSeq}
		return s
	}
	s.out = newDirection(ntlmssp.SIGNKEY(flags, key, client), ntlmssp.SEALKEY(flags, key, client), sendSeq, sendUsed)
	s.in = newDirection(ntlmssp.SIGNKEY(flags, key, !client), ntlmssp.SEALKEY(flags, key, !client), recvSeq, recvUsed)
	return s
}

// signature computes NTLMSSP_MESSAGE_SIGNATURE (MS-NLMP 3.4.4) over the
// SECBUFFER_DATA buffers with d's state: an HMAC-MD5 checksum with ESS, a
// CRC32 one without.
func (s *sealer) signature(d *direction, sig []byte, msg *sspi.SecBufferDesc) {
	binary.LittleEndian.PutUint32(sig[0:], 1)
	if s.flags&ntlmssp.NegotiateExtendedSessionSecurity != 0 {
		d.beginMAC()
		for i := range msg.Buffers {
			if msg.Buffers[i].BufferType.Base() == sspi.SECBUFFER_DATA {
				d.mac.Write(msg.Buffers[i].Buffer)
			}
		}
		d.mac.Sum(d.sum[:0])
		copy(sig[4:12], d.sum[:8])
		if s.flags&ntlmssp.NegotiateKeyExch != 0 {
			d.rc4.XORKeyStream(sig[4:12], sig[4:12])
		}
		copy(sig[12:16], d.seqb[:])
	} else {
		var crc uint32
		for i := range msg.Buffers {
			if msg.Buffers[i].BufferType.Base() == sspi.SECBUFFER_DATA {
				crc = crc32.Update(crc, crc32.IEEETable, msg.Buffers[i].Buffer)
			}
		}
		binary.LittleEndian.PutUint32(sig[4:], 0)
		binary.LittleEndian.PutUint32(sig[8:], crc)
		binary.LittleEndian.PutUint32(sig[12:], 0)
		d.rc4.XORKeyStream(sig[4:16], sig[4:16])
		binary.LittleEndian.PutUint32(sig[12:], binary.LittleEndian.Uint32(sig[12:])^d.seq)
		binary.LittleEndian.PutUint32(sig[4:], 0)
	}
	d.seq++
}

func tokenBuffer(msg *sspi.SecBufferDesc) (*sspi.SecBuffer, error) {
	t := msg.Find(sspi.SECBUFFER_TOKEN)
	if t == nil {
		return nil, &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_INVALID_TOKEN, Detail: "no SECBUFFER_TOKEN"}
	}
	return t, nil
}

// sign is MakeSignature.
func (s *sealer) sign(msg *sspi.SecBufferDesc) error {
	t, err := tokenBuffer(msg)
	if err != nil {
		return err
	}
	if len(t.Buffer) < SignatureSize {
		if cap(t.Buffer) < SignatureSize {
			return sspi.SEC_E_BUFFER_TOO_SMALL
		}
	}
	t.Buffer = t.Buffer[:SignatureSize]
	s.signature(s.out, t.Buffer, msg)
	return nil
}

// seal is SealMessage: it encrypts the writable data buffers in place and
// writes the signature into the token buffer.
func (s *sealer) seal(msg *sspi.SecBufferDesc) error {
	t, err := tokenBuffer(msg)
	if err != nil {
		return err
	}
	if len(t.Buffer) < SignatureSize && cap(t.Buffer) < SignatureSize {
		return sspi.SEC_E_BUFFER_TOO_SMALL
	}
	t.Buffer = t.Buffer[:SignatureSize]
	d := s.out
	ess := s.flags&ntlmssp.NegotiateExtendedSessionSecurity != 0
	if ess {
		d.beginMAC()
	}
	var crc uint32
	for i := range msg.Buffers {
		b := &msg.Buffers[i]
		if b.BufferType.Base() != sspi.SECBUFFER_DATA {
			continue
		}
		if ess {
			d.mac.Write(b.Buffer)
		} else {
			crc = crc32.Update(crc, crc32.IEEETable, b.Buffer)
		}
		if !b.BufferType.ReadOnly() {
			d.rc4.XORKeyStream(b.Buffer, b.Buffer)
		}
	}
	s.finish(d, t.Buffer, crc)
	if p := msg.Find(sspi.SECBUFFER_PADDING); p != nil {
		p.Buffer = p.Buffer[:0] // RC4 is a stream cipher: no padding
	}
	return nil
}

// finish writes the signature once the MAC or CRC covers the plaintext and
// the data has been encrypted.
func (s *sealer) finish(d *direction, sig []byte, crc uint32) {
	binary.LittleEndian.PutUint32(sig[0:], 1)
	if s.flags&ntlmssp.NegotiateExtendedSessionSecurity != 0 {
		d.mac.Sum(d.sum[:0])
		copy(sig[4:12], d.sum[:8])
		if s.flags&ntlmssp.NegotiateKeyExch != 0 {
			d.rc4.XORKeyStream(sig[4:12], sig[4:12])
		}
		copy(sig[12:16], d.seqb[:])
	} else {
		binary.LittleEndian.PutUint32(sig[4:], 0)
		binary.LittleEndian.PutUint32(sig[8:], crc)
		binary.LittleEndian.PutUint32(sig[12:], 0)
		d.rc4.XORKeyStream(sig[4:16], sig[4:16])
		binary.LittleEndian.PutUint32(sig[12:], binary.LittleEndian.Uint32(sig[12:])^d.seq)
		binary.LittleEndian.PutUint32(sig[4:], 0)
	}
	d.seq++
}

var (
	errAltered    = &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_MESSAGE_ALTERED, Detail: "signature mismatch"}
	errBadSigVer  = &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_MESSAGE_ALTERED, Detail: "bad signature version"}
	errBadSigSize = &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_MESSAGE_ALTERED, Detail: "bad signature size"}
	errSequence   = &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_OUT_OF_SEQUENCE, Detail: "unexpected sequence number"}
)

// checkHeader checks the signature's version and, with ESS, its clear
// sequence number before any RC4 state is consumed.
func (s *sealer) checkSig(sig []byte) error {
	if len(sig) != SignatureSize {
		return errBadSigSize
	}
	if binary.LittleEndian.Uint32(sig) != 1 {
		return errBadSigVer
	}
	if s.flags&ntlmssp.NegotiateExtendedSessionSecurity != 0 && binary.LittleEndian.Uint32(sig[12:]) != s.in.seq {
		return errSequence
	}
	return nil
}

// verify is VerifySignature.
func (s *sealer) verify(msg *sspi.SecBufferDesc) error {
	t, err := tokenBuffer(msg)
	if err != nil {
		return err
	}
	if err := s.checkSig(t.Buffer); err != nil {
		return err
	}
	saved := s.in.rc4.save()
	savedSeq := s.in.seq
	var want [SignatureSize]byte
	s.signature(s.in, want[:], msg)
	return s.compare(want[:], t.Buffer, saved, savedSeq)
}

func (s *sealer) compare(want, got []byte, saved streamState, savedSeq uint32) error {
	if subtle.ConstantTimeCompare(want, got) == 1 {
		return nil
	}
	// Restore the state so that a forged message does not desynchronise
	// the context.
	s.in.rc4.restore(saved)
	s.in.seq = savedSeq
	if s.flags&ntlmssp.NegotiateExtendedSessionSecurity == 0 &&
		subtle.ConstantTimeCompare(want[:12], got[:12]) == 1 {
		return errSequence
	}
	return errAltered
}

// unseal is UnsealMessage. It accepts a SECBUFFER_TOKEN holding the
// signature and SECBUFFER_DATA buffers holding ciphertext, or a single
// SECBUFFER_STREAM (signature || ciphertext, the GSS_Wrap layout) and an
// empty SECBUFFER_DATA that receives the plaintext.
func (s *sealer) unseal(msg *sspi.SecBufferDesc) error {
	var sig []byte
	if st := msg.Find(sspi.SECBUFFER_STREAM); st != nil {
		if len(st.Buffer) < SignatureSize {
			return &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_INCOMPLETE_MESSAGE, Detail: "stream shorter than a signature"}
		}
		data := msg.Find(sspi.SECBUFFER_DATA)
		if data == nil {
			return &sspi.Error{Op: "ntlm", Status: sspi.SEC_E_INVALID_TOKEN, Detail: "no SECBUFFER_DATA for the plaintext"}
		}
		sig = st.Buffer[:SignatureSize]
		data.Buffer = st.Buffer[SignatureSize:]
	} else {
		t, err := tokenBuffer(msg)
		if err != nil {
			return err
		}
		sig = t.Buffer
	}
	if err := s.checkSig(sig); err != nil {
		return err
	}
	d := s.in
	saved := d.rc4.save()
	savedSeq := d.seq
	ess := s.flags&ntlmssp.NegotiateExtendedSessionSecurity != 0
	if ess {
		d.beginMAC()
	}
	var crc uint32
	for i := range msg.Buffers {
		b := &msg.Buffers[i]
		if b.BufferType.Base() != sspi.SECBUFFER_DATA {
			continue
		}
		if !b.BufferType.ReadOnly() {
			d.rc4.XORKeyStream(b.Buffer, b.Buffer)
		}
		if ess {
			d.mac.Write(b.Buffer)
		} else {
			crc = crc32.Update(crc, crc32.IEEETable, b.Buffer)
		}
	}
	var want [SignatureSize]byte
	s.finish(d, want[:], crc)
	if err := s.compare(want[:], sig, saved, savedSeq); err != nil {
		// Put the ciphertext back: the caller keeps what it gave us. The
		// RC4 state itself was restored by compare.
		c := &stream{key: d.rc4.key}
		c.restore(saved)
		for i := range msg.Buffers {
			b := &msg.Buffers[i]
			if b.BufferType.Base() == sspi.SECBUFFER_DATA && !b.BufferType.ReadOnly() {
				c.XORKeyStream(b.Buffer, b.Buffer)
			}
		}
		return err
	}
	return nil
}
