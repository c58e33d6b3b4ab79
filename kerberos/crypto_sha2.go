package kerberos

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"hash"
	"io"

	"github.com/gosspi/gosspi/internal/sysenv"
)

// aesSHA2 is aes128-cts-hmac-sha256-128 and aes256-cts-hmac-sha384-192
// (RFC 8009), written here rather than through gokrb5 so that the
// confounder comes from the package's Config.Rand, the derived keys are
// made once per usage, and a context can wipe them.
type aesSHA2 struct {
	etype int32
	key   []byte
	rand  io.Reader // confounders; nil is the default source
	slots map[uint32]*sha2Slot
}

type sha2Slot struct {
	ke cipher.Block
	ki hash.Hash // HMAC with Ki, reset before use
	kc hash.Hash // HMAC with Kc, made on the first checksum
}

// sha2Params are the sizes of RFC 8009 section 5: the hash, the protocol
// key, Ke, and the truncated MAC (which is also the size of Kc and Ki).
func sha2Params(etypeID int32) (h func() hash.Hash, keyLen, macLen int) {
	if etypeID == etypeAES256SHA384 {
		return sha512.New384, 32, 24
	}
	return sha256.New, 16, 16
}

// newAESSHA2 returns the profile of an RFC 8009 key.
func newAESSHA2(etypeID int32, key []byte, r io.Reader) (*aesSHA2, error) {
	if etypeID != etypeAES128SHA256 && etypeID != etypeAES256SHA384 {
		return nil, errors.New("kerberos: not an RFC 8009 enctype")
	}
	if _, keyLen, _ := sha2Params(etypeID); len(key) != keyLen {
		return nil, errors.New("kerberos: key size does not match its enctype")
	}
	return &aesSHA2{etype: etypeID, key: key, rand: r}, nil
}

// kdfHMACSHA2 is KDF-HMAC-SHA2(key, label, k) of RFC 8009 section 3: the
// first k bytes of HMAC(key, 00000001 | label | 00 | k*8 as 32 bits), the
// counter-mode KDF of SP 800-108 with one iteration.
func kdfHMACSHA2(h func() hash.Hash, key, label []byte, k int) []byte {
	m := hmac.New(h, key)
	var ctr [4]byte
	binary.BigEndian.PutUint32(ctr[:], 1)
	m.Write(ctr[:])
	m.Write(label)
	m.Write([]byte{0})
	binary.BigEndian.PutUint32(ctr[:], uint32(k*8))
	m.Write(ctr[:])
	return m.Sum(nil)[:k]
}

func (a *aesSHA2) macSize() int  { _, _, n := sha2Params(a.etype); return n }
func (a *aesSHA2) confSize() int { return aes.BlockSize }

// wipe clears the base key and drops the derived ones.
func (a *aesSHA2) wipe() {
	clear(a.key)
	a.slots = nil
}

// slot derives Ke and Ki for a usage (RFC 8009 section 5: Ke = KDF(base,
// usage | 0xAA, 128 or 256 bits), Ki = KDF(base, usage | 0x55, 128 or 192)).
func (a *aesSHA2) slot(usage uint32) (*sha2Slot, error) {
	if s := a.slots[usage]; s != nil {
		return s, nil
	}
	h, keyLen, macLen := sha2Params(a.etype)
	ke := kdfHMACSHA2(h, a.key, usageLabel(usage, 0xAA), keyLen)
	ki := kdfHMACSHA2(h, a.key, usageLabel(usage, 0x55), macLen)
	defer clear(ke)
	defer clear(ki) // aes.NewCipher and hmac.New keep their own copies
	blk, err := aes.NewCipher(ke)
	if err != nil {
		return nil, err
	}
	s := &sha2Slot{ke: blk, ki: hmac.New(h, ki)}
	if a.slots == nil {
		a.slots = make(map[uint32]*sha2Slot, 4)
	}
	a.slots[usage] = s
	return s, nil
}

func usageLabel(usage uint32, kind byte) []byte {
	return []byte{byte(usage >> 24), byte(usage >> 16), byte(usage >> 8), byte(usage), kind}
}

// encrypt is RFC 8009 section 5: C = AES-CTS(Ke, IV 0, N | plaintext) with a
// random 16-byte confounder N, then H = HMAC(Ki, IV | C) truncated; the
// ciphertext is C | H.
func (a *aesSHA2) encrypt(usage uint32, plaintext []byte) ([]byte, error) {
	s, err := a.slot(usage)
	if err != nil {
		return nil, err
	}
	_, _, macLen := sha2Params(a.etype)
	n := aes.BlockSize + len(plaintext)
	out := make([]byte, n, n+macLen)
	if err := sysenv.Read(a.rand, out[:aes.BlockSize]); err != nil {
		return nil, err
	}
	copy(out[aes.BlockSize:], plaintext)
	ctsEncrypt(s.ke, out)
	var iv [aes.BlockSize]byte
	s.ki.Reset()
	s.ki.Write(iv[:])
	s.ki.Write(out)
	var mac [sha512.Size384]byte
	return append(out, s.ki.Sum(mac[:0])[:macLen]...), nil
}

// decrypt checks H over the ciphertext before it decrypts (RFC 8009
// section 5: the MAC covers the ciphertext) and removes the confounder.
func (a *aesSHA2) decrypt(usage uint32, ct []byte) ([]byte, error) {
	_, _, macLen := sha2Params(a.etype)
	if len(ct) < aes.BlockSize+macLen {
		return nil, errIntegrity
	}
	s, err := a.slot(usage)
	if err != nil {
		return nil, err
	}
	body := ct[:len(ct)-macLen]
	var iv [aes.BlockSize]byte
	s.ki.Reset()
	s.ki.Write(iv[:])
	s.ki.Write(body)
	var mac [sha512.Size384]byte
	if subtle.ConstantTimeCompare(s.ki.Sum(mac[:0])[:macLen], ct[len(ct)-macLen:]) != 1 {
		return nil, errIntegrity
	}
	pt := make([]byte, len(body))
	ctsDecrypt(s.ke, pt, body)
	return pt[aes.BlockSize:], nil
}

// checksum is the RFC 8009 keyed checksum: HMAC(Kc, message) truncated,
// with Kc = KDF(base, usage | 0x99, 128 or 192 bits).
func (a *aesSHA2) checksum(usage uint32, parts ...[]byte) []byte {
	s, err := a.slot(usage)
	if err != nil {
		return nil
	}
	h, _, macLen := sha2Params(a.etype)
	if s.kc == nil {
		kc := kdfHMACSHA2(h, a.key, usageLabel(usage, 0x99), macLen)
		s.kc = hmac.New(h, kc)
		clear(kc)
	}
	s.kc.Reset()
	for _, p := range parts {
		s.kc.Write(p)
	}
	var mac [sha512.Size384]byte
	return append([]byte(nil), s.kc.Sum(mac[:0])[:macLen]...)
}

// sha2StringToKey is the RFC 8009 section 4 string-to-key: saltp =
// enctype-name | 00 | salt; tkey = PBKDF2-HMAC-SHA2(password, saltp,
// iterations); key = KDF-HMAC-SHA2(tkey, "kerberos", key length). The
// s2kparams are the iteration count as 4 big-endian bytes (default
// 32768); a count of zero is refused, as RFC 8009 requires.
func sha2StringToKey(etypeID int32, password, salt string, s2kparams []byte) ([]byte, error) {
	h, keyLen, _ := sha2Params(etypeID)
	name := "aes128-cts-hmac-sha256-128"
	if etypeID == etypeAES256SHA384 {
		name = "aes256-cts-hmac-sha384-192"
	} else if etypeID != etypeAES128SHA256 {
		return nil, errors.New("kerberos: not an RFC 8009 enctype")
	}
	iter := uint32(32768)
	if s2kparams != nil {
		if len(s2kparams) != 4 {
			return nil, errors.New("kerberos: RFC 8009 s2kparams are 4 bytes")
		}
		iter = binary.BigEndian.Uint32(s2kparams)
	}
	// A count above 2^24 would let a KDC's hint pin a CPU for minutes.
	if iter == 0 || iter > 1<<24 {
		return nil, errors.New("kerberos: RFC 8009 iteration count out of range")
	}
	saltp := append(append([]byte(name), 0), salt...)
	tkey, err := pbkdf2.Key(h, password, saltp, int(iter), keyLen)
	if err != nil {
		return nil, err
	}
	defer clear(tkey)
	return kdfHMACSHA2(h, tkey, []byte("kerberos"), keyLen), nil
}
