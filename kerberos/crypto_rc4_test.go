package kerberos

import (
	"bytes"
	"testing"

	"github.com/jcmturner/gokrb5/v8/types"

	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
)

// TestRC4HMACEncrypt: our RFC 4757 encryption decrypts with gokrb5's (and
// gokrb5's with ours), for the usages whose message type RFC 4757
// translates and for plain ones; the confounder is the configured
// reader's, so a fixed reader gives a fixed ciphertext; a changed byte
// fails the integrity check.
func TestRC4HMACEncrypt(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a}, 16)
	e, _ := krbcrypto.GetEtype(etypeRC4HMAC)
	for _, usage := range []uint32{2, 3, 7, 9, 11, 12, 14, 23} {
		for _, n := range []int{0, 1, 8, 100} {
			msg := bytes.Repeat([]byte{byte(n)}, n)
			ct, err := rc4HMACEncrypt(bytes.NewReader(bytes.Repeat([]byte{7}, 8)), key, usage, msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(ct) != 16+8+n {
				t.Fatalf("usage %d: %d bytes", usage, len(ct))
			}
			pt, err := e.DecryptMessage(key, ct, usage)
			if err != nil || !bytes.Equal(pt, msg) {
				t.Fatalf("usage %d n=%d: gokrb5 cannot decrypt ours: %v", usage, n, err)
			}
			again, _ := rc4HMACEncrypt(bytes.NewReader(bytes.Repeat([]byte{7}, 8)), key, usage, msg)
			if !bytes.Equal(again, ct) {
				t.Fatalf("usage %d: the same confounder gave another ciphertext", usage)
			}
			ed, err := encryptEncPart(bytes.NewReader(bytes.Repeat([]byte{7}, 8)), msg, types.EncryptionKey{KeyType: etypeRC4HMAC, KeyValue: key}, usage)
			if err != nil || !bytes.Equal(ed.Cipher, ct) {
				t.Fatalf("usage %d: encryptEncPart does not use the RFC 4757 path with the reader: %v", usage, err)
			}
			pt, err = decryptEncPart(ed, types.EncryptionKey{KeyType: etypeRC4HMAC, KeyValue: key}, usage)
			if err != nil || !bytes.Equal(pt, msg) {
				t.Fatalf("usage %d: decryptEncPart: %v", usage, err)
			}
			ct[len(ct)-1] ^= 1
			if _, err := e.DecryptMessage(key, ct, usage); err == nil {
				t.Fatalf("usage %d: a changed byte decrypted", usage)
			}
		}
	}
	if _, err := rc4HMACEncrypt(bytes.NewReader(nil), key, 11, []byte("x")); err == nil {
		t.Fatal("an exhausted reader gave a confounder")
	}
}
