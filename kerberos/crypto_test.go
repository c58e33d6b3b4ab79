package kerberos

import (
	"bytes"
	"testing"

	"github.com/gosspi/gosspi/sspi"

	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
)

// Our CBC-CTS and cached-key profile must agree with gokrb5's RFC 3962
// implementation byte for byte.
func TestAESSHA1MatchesGokrb5(t *testing.T) {
	for _, et := range []int32{etypeAES128SHA1, etypeAES256SHA1} {
		key, _ := randomKey(nil, et)
		p, err := newProfile(et, key, nil)
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

// The in-place SealMessage path must produce the same token as the copying
// wrap path would (up to the confounder): check that gokrb5 decrypts it,
// for every length around the block boundaries.
func TestSealInPlaceLengths(t *testing.T) {
	key, _ := randomKey(nil, etypeAES256SHA1)
	e, _ := krbcrypto.GetEtype(etypeAES256SHA1)
	snd := &msgState{initiator: true, etype: etypeAES256SHA1, key: key}
	rcv := &msgState{initiator: false, etype: etypeAES256SHA1, key: key}
	if err := snd.init(); err != nil {
		t.Fatal(err)
	}
	rcv.init()
	rcv.recv = newSeqState(0, true, true, true)
	for n := 32; n < 100; n++ {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		buf := append([]byte(nil), data...)
		tok, ok, err := snd.sealInPlace(buf, nil)
		if err != nil || !ok {
			t.Fatalf("n=%d: %v %v", n, ok, err)
		}
		whole := append(append([]byte(nil), tok...), buf...)
		// Undo RRC and let gokrb5 decrypt: confounder | data | header.
		body := append([]byte(nil), whole[16:]...)
		rotateLeft(body, 28)
		pt, err := e.DecryptMessage(key, body, usageInitiatorSeal)
		if err != nil || !bytes.Equal(pt[:n], data) || !bytes.Equal(pt[n:n+2], []byte{5, 4}) {
			t.Fatalf("n=%d: gokrb5 cannot open the in-place token: %v", n, err)
		}
		got, conf, err := rcv.unwrap(whole)
		if err != nil || !conf || !bytes.Equal(got, data) {
			t.Fatalf("n=%d: unwrap: %v", n, err)
		}
	}
}

// UnsealMessage's in-place path for TOKEN + DATA opens what SealMessage's
// in-place path made, for every length around the block boundaries, and
// refuses every single-bit change.
func TestOpenInPlaceLengths(t *testing.T) {
	key, _ := randomKey(nil, etypeAES256SHA1)
	snd := &msgState{initiator: true, etype: etypeAES256SHA1, key: key, acceptorSubkey: true}
	rcv := &msgState{initiator: false, etype: etypeAES256SHA1, key: key, acceptorSubkey: true}
	snd.init()
	rcv.init()
	rcv.recv = newSeqState(0, true, true, true)
	for n := 32; n < 100; n++ {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*13 + n)
		}
		buf := append([]byte(nil), data...)
		tok, ok, err := snd.sealInPlace(buf, nil)
		if err != nil || !ok {
			t.Fatal(err)
		}
		if n == 40 {
			for i := 0; i < len(tok)*8; i += 3 {
				bt, bd := append([]byte(nil), tok...), append([]byte(nil), buf...)
				bt[i/8] ^= 1 << (i % 8)
				if ok, err := rcv.openInPlace(bt, bd); ok && err == nil {
					t.Fatalf("flipped token bit %d accepted", i)
				}
			}
			for i := 0; i < n*8; i += 5 {
				bd := append([]byte(nil), buf...)
				bd[i/8] ^= 1 << (i % 8)
				if ok, err := rcv.openInPlace(append([]byte(nil), tok...), bd); !ok || sspi.StatusOf(err) != sspi.SEC_E_MESSAGE_ALTERED {
					t.Fatalf("flipped data bit %d: %v %v", i, ok, err)
				}
			}
		}
		ok, err = rcv.openInPlace(tok, buf)
		if !ok || err != nil || !bytes.Equal(buf, data) {
			t.Fatalf("n=%d: %v %v", n, ok, err)
		}
	}
}
