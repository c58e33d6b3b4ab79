package kerberos

import (
	"bytes"
	"testing"

	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
)

// Our CBC-CTS and cached-key profile must agree with gokrb5's RFC 3962
// implementation byte for byte.
func TestAESSHA1MatchesGokrb5(t *testing.T) {
	for _, et := range []int32{etypeAES128SHA1, etypeAES256SHA1} {
		key, _ := randomKey(et)
		p, err := newProfile(et, key)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := krbcrypto.GetEtype(et)
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 1024} {
			msg := bytes.Repeat([]byte{byte(n)}, n)
			ct, err := p.encrypt(24, msg)
			if err != nil {
				t.Fatal(err)
			}
			pt, err := e.DecryptMessage(key, ct, 24)
			if err != nil || !bytes.Equal(pt, msg) {
				t.Fatalf("etype %d n=%d: gokrb5 cannot decrypt ours: %v", et, n, err)
			}
			_, ct2, _ := e.EncryptMessage(key, msg, 22)
			pt2, err := p.decrypt(22, ct2)
			if err != nil || !bytes.Equal(pt2, msg) {
				t.Fatalf("etype %d n=%d: we cannot decrypt gokrb5's: %v", et, n, err)
			}
			ct2[len(ct2)/2] ^= 1
			if _, err := p.decrypt(22, ct2); err == nil {
				t.Fatal("tampered ciphertext accepted")
			}
			want, _ := e.GetChecksumHash(key, msg, 25)
			if got := p.checksum(25, msg[:n/2], msg[n/2:]); !bytes.Equal(got, want) {
				t.Fatalf("checksum differs")
			}
		}
	}
}
