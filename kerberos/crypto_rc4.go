package kerberos

import (
	"crypto/rc4"
	"encoding/binary"
	"io"

	"github.com/gosspi/gosspi/internal/sysenv"
)

// rc4Usage translates a Kerberos key usage into the message type T of
// RFC 4757 section 3: the AS-REP and TGS-REP encrypted parts share 8, and
// usage 23 (the RFC 4121 wrap token's) is 13.
func rc4Usage(usage uint32) [4]byte {
	switch usage {
	case 3, 9:
		usage = 8
	case 23:
		usage = 13
	}
	var t [4]byte
	binary.LittleEndian.PutUint32(t[:], usage)
	return t
}

// rc4HMACEncrypt is the encryption of rc4-hmac (RFC 4757 section 3, not
// exportable): K1 = HMAC-MD5(K, T), checksum = HMAC-MD5(K1, confounder ||
// plaintext), K3 = HMAC-MD5(K1, checksum), and the output checksum ||
// RC4(K3, confounder || plaintext). The confounder comes from r (nil is
// the default source), as every other confounder of the package.
func rc4HMACEncrypt(r io.Reader, key []byte, usage uint32, plaintext []byte) ([]byte, error) {
	out := make([]byte, 16+8+len(plaintext))
	data := out[16:]
	if err := sysenv.Read(r, data[:8]); err != nil {
		return nil, err
	}
	copy(data[8:], plaintext)
	t := rc4Usage(usage)
	k1 := hmacMD5(key, t[:])
	defer clear(k1)
	copy(out[:16], hmacMD5(k1, data))
	k3 := hmacMD5(k1, out[:16])
	defer clear(k3)
	c, err := rc4.NewCipher(k3)
	if err != nil {
		return nil, err
	}
	c.XORKeyStream(data, data)
	return out, nil
}
