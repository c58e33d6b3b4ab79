package netlogon

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/gosspi/gosspi/internal/ntlmssp"
)

// Known answers computed with impacket's nrpc (ComputeSessionKeyAES,
// ComputeNetlogonCredentialAES, deriveSequenceNumber,
// encryptSequenceNumberAES) and PyCryptodome's AES-CFB8 and HMAC-SHA256
// for the seal (impacket 0.10's own AES SEAL does not run on Python 3):
// an implementation independent of this one. The live DC checks them too
// (TestSamLogon, the transcripts).
func h(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSessionKeyAndCredentials(t *testing.T) {
	nt := ntlmssp.NTOWFv1("Machine-Pass-1!")
	cc := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	sc := [8]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}
	sk := computeSessionKey(nt, cc, sc)
	if !bytes.Equal(sk[:], h(t, "3865515439a9d03aeeb8ec89ef7279f4")) {
		t.Fatalf("session key %x", sk)
	}
	if c := computeCredential(cc, sk); !bytes.Equal(c[:], h(t, "74203709ef0cebc9")) {
		t.Errorf("client credential %x", c)
	}
	if c := computeCredential(sc, sk); !bytes.Equal(c[:], h(t, "64c3177cab4a6b47")) {
		t.Errorf("server credential %x", c)
	}
	chain := credentialChain{sk: sk, stored: computeCredential(cc, sk)}
	a, ts := chain.authenticator(1700000000)
	if !bytes.Equal(a[:], h(t, "01ff54e251bbeb74")) || ts != 1700000000 {
		t.Errorf("authenticator %x %d", a, ts)
	}
	var bad [8]byte
	if chain.checkReturn(bad) {
		t.Error("a wrong return authenticator verified")
	}
	var ret [8]byte
	copy(ret[:], h(t, "00646ab75208c0c6"))
	if !chain.checkReturn(ret) {
		t.Error("the return authenticator does not verify")
	}
	if chain.checkReturn(ret) {
		t.Error("a return authenticator verified twice")
	}
}

type fixedReader []byte

func (f fixedReader) Read(p []byte) (int, error) { return copy(p, f), nil }

// TestSealKnownAnswer seals 40 bytes as message 5 of a secure channel and
// unseals the answer a server would send back.
func TestSealKnownAnswer(t *testing.T) {
	var sk [16]byte
	copy(sk[:], h(t, "3865515439a9d03aeeb8ec89ef7279f4"))
	s := &schannel{sk: sk, seq: 5, rand: fixedReader(h(t, "a1a2a3a4a5a6a7a8"))}
	data := make([]byte, 40)
	for i := range data {
		data[i] = byte(i)
	}
	sig, err := s.Seal(data, data)
	if err != nil {
		t.Fatal(err)
	}
	want := append(h(t, "13001a00ffff0000"+"aa83dc9c42cde290"+"c8a62dafb0f2240f"+"0d3c19926a744104"), make([]byte, 24)...)
	if !bytes.Equal(sig, want) {
		t.Errorf("signature\n %x\nwant %x", sig, want)
	}
	if !bytes.Equal(data, h(t, "e932140645dfb016dc462375eb4306c1f5f1145b0bc9282f30e7f22eb3b75cf6d71ab3fbeea2d5a0")) {
		t.Errorf("sealed %x", data)
	}
	if s.seq != 6 {
		t.Errorf("sequence %d after sealing message 5", s.seq)
	}

	// The server's message 6, made by a server-side schannel.
	srv := &schannel{sk: sk, seq: 6, rand: fixedReader(h(t, "0102030405060708"))}
	msg := []byte("the server's answer")
	srvSig, err := srv.sealAs(msg, msg, false)
	if err != nil {
		t.Fatal(err)
	}
	got := append([]byte(nil), msg...)
	if err := s.Unseal(got, got, srvSig); err != nil || string(got) != "the server's answer" {
		t.Fatalf("Unseal: %q, %v", got, err)
	}
	// Replayed, altered, or with the client's direction bit: refused.
	for name, f := range map[string]func([]byte, []byte){
		"replayed": func(m, sig []byte) {},
		"altered":  func(m, sig []byte) { m[3] ^= 1 },
		"checksum": func(m, sig []byte) { sig[sigChecksumOff] ^= 1 },
		"sequence": func(m, sig []byte) { sig[sigSeqOff] ^= 1 },
		"header":   func(m, sig []byte) { sig[0] = 0x77 },
		"short":    nil,
	} {
		c := &schannel{sk: sk, seq: 6}
		if name == "replayed" {
			c.seq = 8
		}
		m := append([]byte(nil), msg...)
		enc := append([]byte(nil), msg...)
		srv2 := &schannel{sk: sk, seq: 6, rand: fixedReader(h(t, "0102030405060708"))}
		sig2, _ := srv2.sealAs(enc, enc, false)
		if f == nil {
			sig2 = sig2[:40]
		} else {
			f(enc, sig2)
		}
		copy(m, enc)
		if err := c.Unseal(m, m, sig2); err == nil {
			t.Errorf("%s: unsealed", name)
		}
	}
}
