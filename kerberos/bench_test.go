package kerberos

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// freshAPReqs makes n AP-REQs for HTTP/svc.localhost from our initiator
// (one service ticket, n authenticators).
func freshAPReqs(b *testing.B, p *Package, n int) [][]byte {
	cred := clientCred(b, p)
	out := make([][]byte, n)
	for i := range out {
		_, o, err := p.InitLsaModeContext(context.Background(), cred, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = outToken(o)
	}
	return out
}

// BenchmarkAccept verifies an AP-REQ and builds the AP-REP, as our acceptor
// does it, with its replay cache on (fresh authenticators) and off (one
// authenticator, like MIT with KRB5RCACHETYPE=none in bench/mitkrb).
func BenchmarkAccept(b *testing.B) {
	realm := liveRealm(b)
	b.Run("gosspi", func(b *testing.B) {
		p := New(Config{})
		cred := serverCred(b, p, realm.svcKeytab, "")
		toks := freshAPReqs(b, p, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(toks[i], nil)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gosspi-norcache", func(b *testing.B) {
		p := New(Config{DisableReplayCache: true})
		cred := serverCred(b, p, realm.svcKeytab, "")
		tok := freshAPReqs(b, p, 1)[0]
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(tok, nil)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	// gokrb5's service.VerifyAPREQ: unmarshal and verify only (no AP-REP),
	// PAC decoding off, its global replay cache on.
	b.Run("gokrb5-VerifyAPREQ", func(b *testing.B) {
		p := New(Config{})
		kt, err := keytab.Load(realm.svcKeytab)
		if err != nil {
			b.Fatal(err)
		}
		settings := service.NewSettings(kt, service.DecodePAC(false))
		toks := freshAPReqs(b, p, b.N)
		for i := range toks {
			toks[i] = innerOf(toks[i])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			var ap messages.APReq
			if err := ap.Unmarshal(toks[i]); err != nil {
				b.Fatal(err)
			}
			if ok, _, err := service.VerifyAPREQ(&ap, settings); !ok || err != nil {
				b.Fatal(err)
			}
		}
	})
}

var benchSizes = []int{64, 1024, 16384}

// benchState makes a message state keyed with a random aes256 key; the
// receive side checks no sequence so that one token unwraps again and
// again.
func benchState(b *testing.B, initiator bool, key []byte) *msgState {
	m := &msgState{initiator: initiator, etype: etypeAES256SHA1, key: key, acceptorSubkey: true}
	m.recv = newSeqState(0, false, false, true)
	if err := m.init(); err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkWrap(b *testing.B) {
	key, _ := randomKey(nil, etypeAES256SHA1)
	for _, n := range benchSizes {
		data := make([]byte, n)
		b.Run(fmt.Sprintf("gosspi/%d", n), func(b *testing.B) {
			m := benchState(b, true, key)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := m.wrap(data, true, false); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("gosspi-SealMessage/%d", n), func(b *testing.B) {
			uc := &userContext{s: &session{msgState: *benchState(b, true, key)}}
			buf := make([]byte, n)
			d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 0, 64)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: buf})
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := uc.SealMessage(0, d, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("bound/%d", n), func(b *testing.B) { benchBound(b, n, true) })
	}
}

func BenchmarkUnwrap(b *testing.B) {
	key, _ := randomKey(nil, etypeAES256SHA1)
	for _, n := range benchSizes {
		data := make([]byte, n)
		tok, err := benchState(b, true, key).wrap(data, true, false)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("gosspi/%d", n), func(b *testing.B) {
			m := benchState(b, false, key)
			scratch := make([]byte, len(tok))
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				copy(scratch, tok) // unwrap works in place, as DecryptMessage does
				if _, _, err := m.unwrap(scratch); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("gosspi-UnsealMessage-token/%d", n), func(b *testing.B) {
			// Windows style: SECBUFFER_TOKEN + SECBUFFER_DATA, decrypted in place.
			cu := &userContext{s: &session{msgState: *benchState(b, true, key)}}
			su := &userContext{s: &session{msgState: *benchState(b, false, key)}}
			d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: make([]byte, n)})
			if err := cu.SealMessage(0, d, 0); err != nil {
				b.Fatal(err)
			}
			tok, ct := d.Buffers[0].Buffer, append([]byte(nil), d.Buffers[1].Buffer...)
			buf := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				copy(buf, ct)
				d.Buffers[0].Buffer, d.Buffers[1].Buffer = tok, buf
				if _, err := su.UnsealMessage(d, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("bound/%d", n), func(b *testing.B) { benchBound(b, n, false) })
	}
}

// benchBound is the raw cost of the cryptography a wrap token needs over n
// bytes of data: AES-256-CBC and HMAC-SHA1 over confounder + data + header
// (n+32 bytes), with keys set up once, no framing and no allocation.
func benchBound(b *testing.B, n int, encrypt bool) {
	key := make([]byte, 32)
	rand.Read(key)
	blk, _ := aes.NewCipher(key)
	mac := hmac.New(sha1.New, key[:20])
	buf := make([]byte, (n+32+15)/16*16)
	iv := make([]byte, 16)
	sum := make([]byte, 0, 20)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if encrypt {
			cipher.NewCBCEncrypter(blk, iv).CryptBlocks(buf, buf)
		} else {
			cipher.NewCBCDecrypter(blk, iv).CryptBlocks(buf, buf)
		}
		mac.Reset()
		mac.Write(buf[:n+32])
		sum = mac.Sum(sum[:0])
	}
}

func BenchmarkMIC(b *testing.B) {
	key, _ := randomKey(nil, etypeAES256SHA1)
	data := make([]byte, 1024)
	m := benchState(b, true, key)
	r := benchState(b, false, key)
	tok, _ := m.mic(data)
	b.Run("make/1024", func(b *testing.B) {
		b.SetBytes(1024)
		for i := 0; i < b.N; i++ {
			m.mic(data)
		}
	})
	b.Run("verify/1024", func(b *testing.B) {
		b.SetBytes(1024)
		for i := 0; i < b.N; i++ {
			if err := r.verifyMIC(tok, data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInitiate is the initiator's first leg with a cached service
// ticket, and the handshake's token parsing.
func BenchmarkInitiate(b *testing.B) {
	p := New(Config{})
	cred := clientCred(b, p)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := p.InitLsaModeContext(context.Background(), cred, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAPRep(b *testing.B) {
	tr := loadTranscript(b, "aes256")
	msg := innerOf(tr.MITAPRep)
	_ = time.Now
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var rep messages.APRep
		if err := rep.Unmarshal(msg); err != nil {
			b.Fatal(err)
		}
	}
}
