package netlogon

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// cfb8 is AES in 8-bit cipher feedback mode, which MS-NRPC uses for the
// credentials (3.1.4.4.1), the Netlogon signature's sequence number and
// the sealing of secure-channel messages (3.3.4.2.1). Go's crypto/cipher
// has only full-block CFB.
type cfb8 struct {
	b       cipher.Block
	iv, out [aes.BlockSize]byte
	decrypt bool
}

func newCFB8(key []byte, iv []byte, decrypt bool) *cfb8 {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // keys are always 16 bytes
	}
	c := &cfb8{b: b, decrypt: decrypt}
	copy(c.iv[:], iv)
	return c
}

// XORKeyStream encrypts or decrypts src into dst, one byte per block
// encryption: the cipher text byte shifts into the feedback register.
func (c *cfb8) XORKeyStream(dst, src []byte) {
	for i := range src {
		c.b.Encrypt(c.out[:], c.iv[:])
		in := src[i]
		o := in ^ c.out[0]
		copy(c.iv[:], c.iv[1:])
		if c.decrypt {
			c.iv[aes.BlockSize-1] = in
		} else {
			c.iv[aes.BlockSize-1] = o
		}
		dst[i] = o
	}
}

// computeSessionKey is the AES session key (MS-NRPC 3.1.4.3.1): the first
// 16 bytes of HMAC-SHA256, keyed with the NT hash of the machine account's
// password, of the client and server challenges.
func computeSessionKey(ntHash [16]byte, clientChallenge, serverChallenge [8]byte) [16]byte {
	m := hmac.New(sha256.New, ntHash[:])
	m.Write(clientChallenge[:])
	m.Write(serverChallenge[:])
	var k [16]byte
	copy(k[:], m.Sum(nil))
	return k
}

// computeCredential is ComputeNetlogonCredential with AES (MS-NRPC
// 3.1.4.4.1): AES-128-CFB8 of the 8 input bytes under the session key with
// a zero IV.
func computeCredential(in [8]byte, sk [16]byte) [8]byte {
	var out [8]byte
	newCFB8(sk[:], make([]byte, 16), false).XORKeyStream(out[:], in[:])
	return out
}

// credentialChain is the client's side of the Netlogon credential chain
// (MS-NRPC 3.1.4.5): the stored credential, advanced by each
// authenticator.
type credentialChain struct {
	sk     [16]byte
	stored [8]byte
}

// authenticator makes the NETLOGON_AUTHENTICATOR of a request at time
// now (seconds since 1970): the stored credential plus now, encrypted.
func (c *credentialChain) authenticator(now uint32) (cred [8]byte, timestamp uint32) {
	v := binary.LittleEndian.Uint32(c.stored[:4]) + now
	binary.LittleEndian.PutUint32(c.stored[:4], v)
	return computeCredential(c.stored, c.sk), now
}

// checkReturn verifies the server's ReturnAuthenticator: the stored
// credential plus one, encrypted. On success the stored credential
// advances.
func (c *credentialChain) checkReturn(ret [8]byte) bool {
	next := c.stored
	binary.LittleEndian.PutUint32(next[:4], binary.LittleEndian.Uint32(next[:4])+1)
	want := computeCredential(next, c.sk)
	if !hmac.Equal(want[:], ret[:]) {
		return false
	}
	c.stored = next
	return true
}
