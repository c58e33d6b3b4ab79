package kerberos

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"errors"
	"hash"
	"io"
	"sync"

	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3961"

	"github.com/gosspi/gosspi/internal/sysenv"
)

// Encryption type numbers (RFC 3961, RFC 3962, RFC 4757, RFC 8009).
const (
	etypeAES128SHA1   = 17
	etypeAES256SHA1   = 18
	etypeAES128SHA256 = 19
	etypeAES256SHA384 = 20
	etypeRC4HMAC      = 23
)

var errIntegrity = errors.New("kerberos: integrity check failed")

// supportedEtype reports whether per-message protection is implemented for
// an encryption type.
func supportedEtype(e int32) bool {
	switch e {
	case etypeAES128SHA1, etypeAES256SHA1, etypeAES128SHA256, etypeAES256SHA384, etypeRC4HMAC:
		return true
	}
	return false
}

// isCFX reports whether an enctype uses the RFC 4121 token format (all but
// the RFC 1964 / RFC 4757 family).
func isCFX(e int32) bool { return e != etypeRC4HMAC }

// profile is the RFC 3961 encrypt/checksum profile of one key, with the
// per-usage derived keys cached: the hot path of wrap and MIC.
type profile interface {
	// macSize is the size of the integrity tag and of a checksum.
	macSize() int
	// confSize is the size of the confounder encrypt adds.
	confSize() int
	// encrypt returns E(confounder || plaintext) || MAC for the usage.
	encrypt(usage uint32, plaintext []byte) ([]byte, error)
	// decrypt checks and removes the MAC and the confounder.
	decrypt(usage uint32, ciphertext []byte) ([]byte, error)
	// checksum is the keyed checksum (RFC 3961 get_mic) over the parts.
	checksum(usage uint32, parts ...[]byte) []byte
}

func newProfile(etypeID int32, key []byte, random io.Reader) (profile, error) {
	e, err := krbcrypto.GetEtype(etypeID)
	if err != nil {
		return nil, err
	}
	if len(key) != keySize(e) {
		return nil, errors.New("kerberos: key size does not match its enctype")
	}
	switch etypeID {
	case etypeAES128SHA1, etypeAES256SHA1:
		return &aesSHA1{e: e, key: key, rand: random}, nil
	case etypeAES128SHA256, etypeAES256SHA384:
		return newAESSHA2(etypeID, key, random)
	}
	return nil, errors.New("kerberos: enctype has no RFC 3961 profile here")
}

// aesSHA1 is aes128/256-cts-hmac-sha1-96 (RFC 3962) with derived keys cached
// per usage. Key derivation uses gokrb5; the CBC-CTS and HMAC run here so
// that a context pays for derivation once.
type aesSHA1 struct {
	e     etype.EType
	key   []byte
	rand  io.Reader   // confounders; nil is the default source
	slots [4]*aesSlot // usages 22..25 (RFC 4121 section 2)
	other map[uint32]*aesSlot
}

type aesSlot struct {
	ke cipher.Block
	ki hash.Hash // HMAC-SHA1 with Ki, reset before use
	kc hash.Hash // HMAC-SHA1 with Kc, made on first checksum

	base   cipher.Block
	usage  uint32
	keyLen int

	cbc cipher.BlockMode // CBC with ke, made on first use; SetIV per message
	sc  sealScratch      // sealSSPI's working blocks
}

// sealScratch holds the blocks sealSSPI hands to cipher.Block and
// hash.Hash methods: on the stack they would escape through those
// interfaces, one allocation each per message. A slot serves one
// direction of one context, which is used by one goroutine at a time.
type sealScratch struct {
	mac         [sha1.Size]byte
	hdr, iv     [aes.BlockSize]byte
	x, c1, last [aes.BlockSize]byte
}

// cbcEncrypt CBC-encrypts whole blocks b in place chained from iv, with
// the slot's mode reused (cipher.NewCBCEncrypter allocates its 512-byte
// state on every call, a third of a 64-byte seal).
func (s *aesSlot) cbcEncrypt(iv *[aes.BlockSize]byte, b []byte) {
	if len(b) == aes.BlockSize {
		x := &s.sc.x
		subtle.XORBytes(x[:], b, iv[:])
		s.ke.Encrypt(b, x[:])
		return
	}
	if s.cbc == nil {
		s.cbc = cipher.NewCBCEncrypter(s.ke, iv[:])
	} else {
		s.cbc.(interface{ SetIV([]byte) }).SetIV(iv[:])
	}
	s.cbc.CryptBlocks(b, b)
}

func (s *aesSlot) checksumKey() hash.Hash {
	if s.kc == nil {
		kc := aesDK(s.base, s.keyLen, s.usage, 0x99)
		s.kc = hmac.New(sha1.New, kc)
		wipeDK(kc) // hmac.New keeps its own pads
	}
	return s.kc
}

// wipe drops the derived keys and clears the base key.
func (a *aesSHA1) wipe() {
	clear(a.key)
	a.slots = [4]*aesSlot{}
	a.other = nil
}

// wipeDK clears a derived key from aesDK, all 32 bytes of its buffer.
func wipeDK(k []byte) { clear(k[:cap(k)]) }

func (a *aesSHA1) macSize() int  { return 12 }
func (a *aesSHA1) confSize() int { return aes.BlockSize }

func (a *aesSHA1) slot(usage uint32) (*aesSlot, error) {
	var p **aesSlot
	if usage >= 22 && usage <= 25 {
		p = &a.slots[usage-22]
	} else {
		if a.other == nil {
			a.other = map[uint32]*aesSlot{}
		}
		if s := a.other[usage]; s != nil {
			return s, nil
		}
	}
	if p != nil && *p != nil {
		return *p, nil
	}
	base, err := aes.NewCipher(a.key)
	if err != nil {
		return nil, err
	}
	ke, ki := aesDK(base, len(a.key), usage, 0xAA), aesDK(base, len(a.key), usage, 0x55)
	// aes.NewCipher and hmac.New keep their own copies: clear ours.
	defer wipeDK(ke)
	defer wipeDK(ki)
	blk, err := aes.NewCipher(ke)
	if err != nil {
		return nil, err
	}
	s := &aesSlot{ke: blk, ki: hmac.New(sha1.New, ki), base: base, usage: usage, keyLen: len(a.key)}
	if p != nil {
		*p = s
	} else {
		a.other[usage] = s
	}
	return s, nil
}

func (a *aesSHA1) encrypt(usage uint32, plaintext []byte) ([]byte, error) {
	s, err := a.slot(usage)
	if err != nil {
		return nil, err
	}
	n := aes.BlockSize + len(plaintext)
	out := make([]byte, n, n+12+aes.BlockSize)
	if err := sysenv.Read(a.rand, out[:aes.BlockSize]); err != nil {
		return nil, err
	}
	copy(out[aes.BlockSize:], plaintext)
	s.ki.Reset()
	s.ki.Write(out)
	var mac [sha1.Size]byte
	sum := s.ki.Sum(mac[:0])
	ctsEncrypt(s.ke, out)
	return append(out, sum[:12]...), nil
}

// sealInPlace is encrypt without allocation: b holds room for the
// confounder (filled here), then the plaintext; it is encrypted in place
// and the MAC returned.
func (a *aesSHA1) sealInPlace(usage uint32, b []byte) ([12]byte, error) {
	var tag [12]byte
	s, err := a.slot(usage)
	if err != nil {
		return tag, err
	}
	if err := sysenv.Read(a.rand, b[:aes.BlockSize]); err != nil {
		return tag, err
	}
	s.ki.Reset()
	s.ki.Write(b)
	var mac [sha1.Size]byte
	copy(tag[:], s.ki.Sum(mac[:0]))
	ctsEncrypt(s.ke, b)
	return tag, nil
}

func (a *aesSHA1) decrypt(usage uint32, ct []byte) ([]byte, error) {
	return a.open(usage, append([]byte(nil), ct...))
}

// open is decrypt in place: ct is overwritten and the plaintext aliases it.
func (a *aesSHA1) open(usage uint32, ct []byte) ([]byte, error) {
	if len(ct) < aes.BlockSize+12 {
		return nil, errIntegrity
	}
	s, err := a.slot(usage)
	if err != nil {
		return nil, err
	}
	body := ct[:len(ct)-12]
	var want [12]byte
	copy(want[:], ct[len(ct)-12:])
	pt := body
	ctsDecrypt(s.ke, pt, body)
	s.ki.Reset()
	s.ki.Write(pt)
	var mac [sha1.Size]byte
	sum := s.ki.Sum(mac[:0])
	if subtle.ConstantTimeCompare(sum[:12], want[:]) != 1 {
		return nil, errIntegrity
	}
	return pt[aes.BlockSize:], nil
}

func (a *aesSHA1) checksum(usage uint32, parts ...[]byte) []byte {
	s, err := a.slot(usage)
	if err != nil {
		return nil
	}
	kc := s.checksumKey()
	kc.Reset()
	for _, p := range parts {
		kc.Write(p)
	}
	var mac [sha1.Size]byte
	return append([]byte(nil), kc.Sum(mac[:0])[:12]...)
}

// nfolds caches n-fold(usage || kind) to 128 bits (RFC 3961 section 5.1).
var nfolds sync.Map // [5]byte -> []byte

// aesDK is DK(base, usage || kind) of RFC 3961 section 5.1 for the AES
// enctypes (RFC 3962): the n-folded constant encrypted once (aes128) or
// chained twice (aes256); random-to-key is the identity.
func aesDK(base cipher.Block, keyLen int, usage uint32, kind byte) []byte {
	c := [5]byte{byte(usage >> 24), byte(usage >> 16), byte(usage >> 8), byte(usage), kind}
	nf, ok := nfolds.Load(c)
	if !ok {
		nf, _ = nfolds.LoadOrStore(c, rfc3961.Nfold(c[:], 128))
	}
	out := make([]byte, 32)
	base.Encrypt(out[:16], nf.([]byte))
	base.Encrypt(out[16:], out[:16])
	return out[:keyLen]
}

// ctsEncrypt encrypts b in place with AES-CBC and ciphertext stealing, IV
// zero, as RFC 3962 section 5 specifies (CBC-CS3: the last two blocks are
// always swapped). len(b) must be at least one block.
func ctsEncrypt(blk cipher.Block, b []byte) {
	var iv [aes.BlockSize]byte
	ctsEncryptIV(blk, iv[:], b)
}

// ctsEncryptIV is ctsEncrypt chained from iv, for the tail of a message
// whose head was CBC-encrypted separately.
func ctsEncryptIV(blk cipher.Block, iv, b []byte) {
	const bs = aes.BlockSize
	n := len(b)
	if n == bs {
		var x [bs]byte
		for i := range x {
			x[i] = b[i] ^ iv[i]
		}
		blk.Encrypt(b, x[:])
		return
	}
	full := (n - 1) / bs // whole blocks before the last (possibly partial) one
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(b[:full*bs], b[:full*bs])
	// last block, zero padded, chained from C[full-1]
	var last [bs]byte
	r := n - full*bs
	copy(last[:], b[full*bs:])
	prev := b[(full-1)*bs : full*bs]
	for i := range last {
		last[i] ^= prev[i]
	}
	blk.Encrypt(last[:], last[:])
	// output: C1..C(full-1), Cn, C(full) truncated to r
	var cprev [bs]byte
	copy(cprev[:], prev)
	copy(b[(full-1)*bs:], last[:])
	copy(b[full*bs:], cprev[:r])
}

// ctsEncryptTail is ctsEncryptIV for the 17 to 32 bytes at the end of a
// message (one whole block, then the stolen one), without a CBC mode.
func (s *aesSlot) ctsEncryptTail(iv *[aes.BlockSize]byte, b []byte) {
	const bs = aes.BlockSize
	r := len(b) - bs
	c1, last := &s.sc.c1, &s.sc.last
	subtle.XORBytes(c1[:], b[:bs], iv[:])
	s.ke.Encrypt(c1[:], c1[:])
	clear(last[:])
	copy(last[:], b[bs:])
	subtle.XORBytes(last[:], last[:], c1[:])
	s.ke.Encrypt(last[:], last[:])
	// CBC-CS3: the last (full) block first, then C1 truncated to r.
	copy(b, last[:])
	copy(b[bs:], c1[:r])
}

// ctsDecrypt is the inverse of ctsEncrypt; dst and src have the same length
// and either are the same slice or do not overlap.
func ctsDecrypt(blk cipher.Block, dst, src []byte) {
	const bs = aes.BlockSize
	n := len(src)
	if n == bs {
		blk.Decrypt(dst, src)
		return
	}
	full := (n - 1) / bs
	r := n - full*bs
	var iv, cn, cfull [bs]byte
	if full > 1 {
		copy(iv[:], src[(full-2)*bs:(full-1)*bs]) // before an in-place decrypt overwrites it
	}
	// src[(full-1)*bs:full*bs] is Cn (the encrypted last block), src[full*bs:] is C(full)[:r].
	copy(cn[:], src[(full-1)*bs:full*bs])
	copy(cfull[:], src[full*bs:])
	if full > 1 {
		var zero [bs]byte
		cipher.NewCBCDecrypter(blk, zero[:]).CryptBlocks(dst[:(full-1)*bs], src[:(full-1)*bs])
	}
	var d [bs]byte
	blk.Decrypt(d[:], cn[:])
	copy(cfull[r:], d[r:])
	var last [bs]byte
	for i := 0; i < r; i++ {
		last[i] = d[i] ^ cfull[i]
	}
	blk.Decrypt(d[:], cfull[:])
	for i := range d {
		d[i] ^= iv[i]
	}
	copy(dst[(full-1)*bs:], d[:])
	copy(dst[full*bs:], last[:r])
}

// sealSSPI is the in-place RFC 4121 sealed wrap for SealMessage: data is
// encrypted where it lies and the returned token is what goes in front of
// it, so that token || data is the wrap token rotated by RRC = 28. It
// handles len(data) >= 32; shorter messages take the copying path.
//
// The plaintext is confounder || data || header; its ciphertext C || MAC
// rotated right by 28 is C[L-16:] || MAC || C[:16] || C[16:16+n].
func (a *aesSHA1) sealSSPI(usage uint32, hdr *[16]byte, data, tok []byte) ([]byte, error) {
	const bs = aes.BlockSize
	s, err := a.slot(usage)
	if err != nil {
		return nil, err
	}
	n := len(data)
	if cap(tok) < 16+16+12+16 {
		tok = make([]byte, 16+16+12+16)
	}
	tok = tok[:16+16+12+16]
	copy(tok, hdr[:])
	tok[6], tok[7] = 0, 16+12 // RRC in the outer header only
	conf := tok[44:60]
	if err := sysenv.Read(a.rand, conf); err != nil {
		return nil, err
	}
	s.sc.hdr = *hdr
	s.ki.Reset()
	s.ki.Write(conf)
	s.ki.Write(data)
	s.ki.Write(s.sc.hdr[:])
	copy(tok[32:44], s.ki.Sum(s.sc.mac[:0]))
	// C0 = E(confounder), then the data's whole blocks in place, leaving
	// the last 16+q data/header bytes (q = n mod 16, or 16 when 0) to the
	// stealing step together with the header.
	iv := &s.sc.iv
	blk := s.ke
	blk.Encrypt(conf, conf) // IV zero
	q := n % bs
	if q == 0 {
		q = bs
	}
	head := n - q
	copy(iv[:], conf)
	if head > 0 {
		s.cbcEncrypt(iv, data[:head])
		copy(iv[:], data[head-bs:head])
	}
	var tail [2 * bs]byte
	copy(tail[:], data[head:])
	copy(tail[q:], hdr[:])
	t := tail[:q+bs]
	s.ctsEncryptTail(iv, t)
	copy(data[head:], t[:q])
	copy(tok[16:32], t[q:])
	return tok, nil
}

// openSSPI is the inverse of sealSSPI: tok is the 60-byte SECBUFFER_TOKEN
// (header, C[L-16:], MAC, C[:16]) and data the ciphertext C[16:16+n],
// decrypted in place. It returns the decrypted header copy from inside the
// ciphertext, for the caller to compare with the outer header.
func (a *aesSHA1) openSSPI(usage uint32, tok, data []byte) ([16]byte, error) {
	const bs = aes.BlockSize
	var inner [16]byte
	s, err := a.slot(usage)
	if err != nil {
		return inner, err
	}
	n := len(data)
	blk := s.ke
	var conf, c0 [bs]byte
	copy(c0[:], tok[44:60])
	blk.Decrypt(conf[:], c0[:]) // IV zero
	q := n % bs
	if q == 0 {
		q = bs
	}
	head := n - q
	var iv [bs]byte
	copy(iv[:], c0[:])
	if head > 0 {
		var next [bs]byte
		copy(next[:], data[head-bs:head]) // the tail's IV, before decryption overwrites it
		cipher.NewCBCDecrypter(blk, iv[:]).CryptBlocks(data[:head], data[:head])
		iv = next
	}
	var tail [2 * bs]byte
	copy(tail[:], data[head:])
	copy(tail[q:], tok[16:32])
	t := tail[:q+bs]
	ctsDecryptIV(blk, iv[:], t)
	copy(data[head:], t[:q])
	copy(inner[:], t[q:])
	s.ki.Reset()
	s.ki.Write(conf[:])
	s.ki.Write(data)
	s.ki.Write(inner[:])
	var mac [sha1.Size]byte
	if subtle.ConstantTimeCompare(s.ki.Sum(mac[:0])[:12], tok[32:44]) != 1 {
		return inner, errIntegrity
	}
	return inner, nil
}

// ctsDecryptIV decrypts 17 to 32 bytes of CBC-CS3 ciphertext chained from
// iv (the tail of a message whose head was decrypted separately).
func ctsDecryptIV(blk cipher.Block, iv, b []byte) {
	const bs = aes.BlockSize
	r := len(b) - bs
	var d, cfull, last [bs]byte
	blk.Decrypt(d[:], b[:bs]) // Cn
	copy(cfull[:], b[bs:])
	copy(cfull[r:], d[r:])
	for i := 0; i < r; i++ {
		last[i] = d[i] ^ cfull[i]
	}
	blk.Decrypt(d[:], cfull[:])
	for i := range d {
		d[i] ^= iv[i]
	}
	copy(b, d[:])
	copy(b[bs:], last[:r])
}

// keySize is the protocol key size of an enctype. gokrb5 reports 24 bytes
// for aes256-cts-hmac-sha384-192, whose keys are 32 bytes (RFC 8009
// section 5), though its encryption itself takes 32-byte keys.
func keySize(e etype.EType) int {
	if e.GetETypeID() == etypeAES256SHA384 {
		return 32
	}
	return e.GetKeyByteSize()
}

// randomKey makes a fresh random key of an enctype (for subkeys), from r
// (the package's Config.Rand).
func randomKey(r io.Reader, etypeID int32) ([]byte, error) {
	e, err := krbcrypto.GetEtype(etypeID)
	if err != nil {
		return nil, err
	}
	if etypeID == etypeAES256SHA384 || etypeID == etypeAES128SHA256 {
		// RFC 8009 random-to-key is the identity.
		k := make([]byte, keySize(e))
		return k, sysenv.Read(r, k)
	}
	seed := make([]byte, e.GetKeySeedBitLength()/8)
	if err := sysenv.Read(r, seed); err != nil {
		return nil, err
	}
	return e.RandomToKey(seed), nil
}
