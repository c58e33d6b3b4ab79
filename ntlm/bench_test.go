package ntlm

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gosspi/gosspi/internal/ntlmssp"

	azurentlm "github.com/Azure/go-ntlmssp"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// BenchmarkHandshake is a full NTLMv2 handshake, both sides in one process:
// NEGOTIATE, CHALLENGE, AUTHENTICATE (with MIC and key exchange), and the
// two user-mode contexts built from ContextData.
func BenchmarkHandshake(b *testing.B) {
	p := testPackage(Config{})
	cc := clientCred(b, p, &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: testPassword})
	sc := serverCred(b, p)
	ctx := context.Background()
	req := sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY
	b.ReportAllocs()
	defer startCPU().report(b)
	for b.Loop() {
		c, out, err := p.InitLsaModeContext(ctx, cc, nil, &secpkg.InitContextParams{ContextReq: req})
		if err != nil {
			b.Fatal(err)
		}
		s, sout, err := p.AcceptLsaModeContext(ctx, sc, nil, &secpkg.AcceptContextParams{Input: withCB(out.Output[0].Buffer, nil)})
		if err != nil {
			b.Fatal(err)
		}
		_, out, err = p.InitLsaModeContext(ctx, cc, c, &secpkg.InitContextParams{ContextReq: req, Input: withCB(sout.Output[0].Buffer, nil)})
		if err != nil {
			b.Fatal(err)
		}
		_, sout, err = p.AcceptLsaModeContext(ctx, sc, s, &secpkg.AcceptContextParams{Input: withCB(out.Output[0].Buffer, nil)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.InitUserModeContext(out.ContextData); err != nil {
			b.Fatal(err)
		}
		if _, err := p.InitUserModeContext(sout.ContextData); err != nil {
			b.Fatal(err)
		}
	}
}

var benchSizes = []int{64, 1024, 16384}

func benchPair(b *testing.B) (*UserContext, *UserContext) {
	c, s, err := runHandshake(b, hsOpts{})
	if err != nil {
		b.Fatal(err)
	}
	return mapped(b, c.out), mapped(b, s.out)
}

// BenchmarkEncryptMessage is SealMessage (EncryptMessage) in user mode.
func BenchmarkEncryptMessage(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			cu, _ := benchPair(b)
			data := make([]byte, n)
			msg := sealDesc(data)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			defer startCPU().report(b)
			for b.Loop() {
				if err := cu.SealMessage(0, msg, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecryptMessage is UnsealMessage (DecryptMessage). Messages are
// sealed in batches outside the timer.
func BenchmarkDecryptMessage(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			cu, su := benchPair(b)
			const batch = 256
			msgs := make([]*sspi.SecBufferDesc, batch)
			for i := range msgs {
				msgs[i] = sealDesc(make([]byte, n))
			}
			fill := func() {
				for _, m := range msgs {
					m.Buffers[0].Buffer = m.Buffers[0].Buffer[:SignatureSize]
					if err := cu.SealMessage(0, m, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			i := batch
			cpu := startCPU()
			defer cpu.report(b)
			for b.Loop() {
				if i == batch {
					b.StopTimer()
					cpu.pause()
					fill()
					i = 0
					cpu.resume()
					b.StartTimer()
				}
				if _, err := su.UnsealMessage(msgs[i], 0); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkRawBound is the bound the sealing is measured against: RC4 over
// the message plus HMAC-MD5 over sequence number and message, with the
// same reused states, and RC4 over the 8-byte checksum.
func BenchmarkRawBound(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c, _ := rc4.NewCipher(make([]byte, 16))
			m := hmac.New(md5.New, make([]byte, 16))
			data := make([]byte, n)
			var seq [4]byte
			var sum [16]byte
			b.SetBytes(int64(n))
			b.ReportAllocs()
			defer startCPU().report(b)
			for b.Loop() {
				binary.LittleEndian.PutUint32(seq[:], 7)
				m.Reset()
				m.Write(seq[:])
				m.Write(data)
				c.XORKeyStream(data, data)
				m.Sum(sum[:0])
				c.XORKeyStream(sum[:8], sum[:8])
			}
		})
	}
}

// BenchmarkClientLegs compares our client's two legs (NEGOTIATE, then
// AUTHENTICATE for a CHALLENGE) with github.com/Azure/go-ntlmssp on the
// same CHALLENGE. go-ntlmssp refuses KEY_EXCH, so the CHALLENGE answers
// its own NEGOTIATE, without it.
func BenchmarkClientLegs(b *testing.B) {
	p := testPackage(Config{})
	sc := serverCred(b, p)
	neg, err := azurentlm.NewNegotiateMessage(testDomain, "")
	if err != nil {
		b.Fatal(err)
	}
	_, sout, err := p.AcceptLsaModeContext(context.Background(), sc, nil, &secpkg.AcceptContextParams{Input: withCB(neg, nil)})
	if err != nil {
		b.Fatal(err)
	}
	chal := sout.Output[0].Buffer
	ctx := context.Background()
	ai := &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: testPassword}
	b.Run("gosspi", func(b *testing.B) {
		cc := clientCred(b, p, ai)
		b.ReportAllocs()
		defer startCPU().report(b)
		for b.Loop() {
			c, _, err := p.InitLsaModeContext(ctx, cc, nil, &secpkg.InitContextParams{})
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := p.InitLsaModeContext(ctx, cc, c, &secpkg.InitContextParams{Input: withCB(chal, nil)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gosspi-with-credential", func(b *testing.B) {
		// AcquireCredentialsHandle inside the loop: the password is hashed
		// every time, as go-ntlmssp does.
		b.ReportAllocs()
		defer startCPU().report(b)
		for b.Loop() {
			cc, _, err := p.AcquireCredentialsHandle(ctx, &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: ai})
			if err != nil {
				b.Fatal(err)
			}
			c, _, err := p.InitLsaModeContext(ctx, cc, nil, &secpkg.InitContextParams{})
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := p.InitLsaModeContext(ctx, cc, c, &secpkg.InitContextParams{Input: withCB(chal, nil)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-ntlmssp", func(b *testing.B) {
		b.ReportAllocs()
		defer startCPU().report(b)
		for b.Loop() {
			if _, err := azurentlm.NewNegotiateMessage(testDomain, ""); err != nil {
				b.Fatal(err)
			}
			if _, err := azurentlm.NewAuthenticateMessage(chal, testDomain+`\`+testUser, testPassword, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParseAuthenticate is token parsing on the server's hot path.
func BenchmarkParseAuthenticate(b *testing.B) {
	tok := realTokens(b, ntlmssp.MsgAuthenticate)[0]
	b.SetBytes(int64(len(tok)))
	b.ReportAllocs()
	defer startCPU().report(b)
	for b.Loop() {
		if _, err := ntlmssp.ParseAuthenticate(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign is MakeSignature and VerifySignature of a 1 KiB message.
func BenchmarkSign(b *testing.B) {
	cu, su := benchPair(b)
	data := make([]byte, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	defer startCPU().report(b)
	for b.Loop() {
		msg := sealDesc(data)
		if err := cu.MakeSignature(0, msg, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := su.VerifySignature(msg, 0); err != nil {
			b.Fatal(err)
		}
	}
}
