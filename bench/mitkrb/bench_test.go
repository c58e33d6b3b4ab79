package mitkrb

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"os"
	"testing"

	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
)

// One MIT realm for the run. The process environment points libkrb5 at it
// (KRB5_CONFIG, KRB5CCNAME from kinit, KRB5_KTNAME the service keytab) and
// turns MIT's replay cache off, so that one AP-REQ can be accepted again and
// again (gosspi's "norcache" case is the same).
var (
	realm      *krbtest.Realm
	keytabPath string
)

const (
	spn      = "HTTP/svc.localhost"
	hostName = "HTTP@svc.localhost"
	password = "bench-Secret-1"
)

func TestMain(m *testing.M) {
	r, err := krbtest.Start(krbtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	realm = r
	code := func() int {
		if err := r.AddPrincipal("alice", password); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if keytabPath, err = r.AddService(spn); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cc, err := r.Kinit("alice", password)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.Setenv("KRB5_CONFIG", r.Krb5Con)
		os.Setenv("KRB5CCNAME", "FILE:"+cc)
		os.Setenv("KRB5_KTNAME", "FILE:"+keytabPath)
		os.Setenv("KRB5RCACHETYPE", "none")
		return m.Run()
	}()
	r.Close()
	os.Exit(code)
}

// mitPair establishes an MIT initiator and MIT acceptor context in process.
func mitPair(t testing.TB, flags uint32) (*Context, *Context, []byte) {
	var ic, ac Context
	tok, _, err := ic.Init(hostName, flags, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ac.Accept(tok)
	if err != nil {
		t.Fatal(err)
	}
	if flags&FlagMutual != 0 {
		if _, done, err := ic.Init(hostName, flags, rep); err != nil || !done {
			t.Fatalf("init step 2: %v", err)
		}
	}
	return &ic, &ac, tok
}

func TestMITHarness(t *testing.T) {
	ic, ac, _ := mitPair(t, FlagMutual|FlagConf|FlagInteg)
	defer ic.Delete()
	defer ac.Delete()
	w, err := ic.Wrap([]byte("hello"), true)
	if err != nil {
		t.Fatal(err)
	}
	p, conf, err := ac.Unwrap(w)
	if err != nil || !conf || string(p) != "hello" {
		t.Fatalf("unwrap %q %v %v", p, conf, err)
	}
}

// ours: gosspi contexts through the public API.
type ours struct {
	pkg    *kerberos.Package
	client secpkg.LsaCredential
	server secpkg.LsaCredential
}

func newOurs(t testing.TB, cfg kerberos.Config) *ours {
	p := kerberos.New(cfg)
	ctx := context.Background()
	c, _, err := p.AcquireCredentialsHandle(ctx, &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: "alice", Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := p.AcquireCredentialsHandle(ctx, &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND, AuthData: &sspi.AuthIdentity{Options: map[string]string{"keytab": keytabPath}}})
	if err != nil {
		t.Fatal(err)
	}
	return &ours{pkg: p, client: c, server: s}
}

func (o *ours) apReq(t testing.TB, req sspi.ISCReq) []byte {
	_, out, err := o.pkg.InitLsaModeContext(context.Background(), o.client, nil, &secpkg.InitContextParams{TargetName: spn, ContextReq: req})
	if err != nil {
		t.Fatal(err)
	}
	return out.Output[0].Buffer
}

func (o *ours) accept(tok []byte) (secpkg.ContextOutput, error) {
	_, out, err := o.pkg.AcceptLsaModeContext(context.Background(), o.server, nil, &secpkg.AcceptContextParams{Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok})})
	return out, err
}

const mutual = sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY

// BenchmarkAccept: verify an AP-REQ and build the AP-REP. gosspi and MIT
// accept one token repeatedly with their replay caches off; gosspi-rcache
// and gokrb5 (whose replay cache cannot be turned off) get a fresh AP-REQ
// each time; gokrb5 builds no AP-REP.
func BenchmarkAccept(b *testing.B) {
	b.Run("gosspi", func(b *testing.B) {
		o := newOurs(b, kerberos.Config{DisableReplayCache: true})
		tok := o.apReq(b, mutual)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := o.accept(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gosspi-rcache", func(b *testing.B) {
		o := newOurs(b, kerberos.Config{})
		toks := make([][]byte, b.N)
		for i := range toks {
			toks[i] = o.apReq(b, mutual)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := o.accept(toks[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gokrb5-VerifyAPREQ", func(b *testing.B) {
		o := newOurs(b, kerberos.Config{})
		kt, err := keytab.Load(keytabPath)
		if err != nil {
			b.Fatal(err)
		}
		settings := service.NewSettings(kt, service.DecodePAC(false))
		toks := make([][]byte, b.N)
		for i := range toks {
			t, _, _ := gss.Parse(o.apReq(b, mutual))
			toks[i] = t.Inner[2:]
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
	b.Run("mit-gss_accept_sec_context", func(b *testing.B) {
		var ic Context
		tok, _, err := ic.Init(hostName, FlagMutual|FlagConf|FlagInteg, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ic.Delete()
		b.ResetTimer()
		if err := AcceptLoop(tok, b.N); err != nil {
			b.Fatal(err)
		}
	})
}

var sizes = []int{64, 1024, 16384}

// ourPair is a gosspi initiator/acceptor pair without replay or sequence
// detection, so that one token unwraps repeatedly.
func ourPair(b *testing.B) (sspi.UserModeContext, sspi.UserModeContext) {
	o := newOurs(b, kerberos.Config{DisableReplayCache: true})
	ctx := context.Background()
	req := sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY
	c, out, err := o.pkg.InitLsaModeContext(ctx, o.client, nil, &secpkg.InitContextParams{TargetName: spn, ContextReq: req})
	if err != nil {
		b.Fatal(err)
	}
	sout, err := o.accept(out.Output[0].Buffer)
	if err != nil {
		b.Fatal(err)
	}
	_, out, err = o.pkg.InitLsaModeContext(ctx, o.client, c, &secpkg.InitContextParams{TargetName: spn, ContextReq: req, Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: sout.Output[0].Buffer})})
	if err != nil {
		b.Fatal(err)
	}
	cu, err := kerberos.UserMode().InitUserModeContext(out.ContextData)
	if err != nil {
		b.Fatal(err)
	}
	su, err := kerberos.UserMode().InitUserModeContext(sout.ContextData)
	if err != nil {
		b.Fatal(err)
	}
	return cu, su
}

func seal(b *testing.B, c sspi.UserModeContext, data []byte) []byte {
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: append([]byte(nil), data...)})
	if err := c.SealMessage(0, d, 0); err != nil {
		b.Fatal(err)
	}
	return append(append([]byte(nil), d.Buffers[0].Buffer...), d.Buffers[1].Buffer...)
}

// BenchmarkWrap seals size bytes with aes256-cts-hmac-sha1-96: gosspi's
// SealMessage (in place, SSPI layout), MIT's gss_wrap, and the raw bound
// (AES-256-CBC + HMAC-SHA1 over the same bytes, keys set up once).
func BenchmarkWrap(b *testing.B) {
	cu, _ := ourPair(b)
	ic, ac, _ := mitPair(b, FlagMutual|FlagConf|FlagInteg)
	defer ic.Delete()
	defer ac.Delete()
	for _, n := range sizes {
		data := make([]byte, n)
		b.Run(fmt.Sprintf("gosspi/%d", n), func(b *testing.B) {
			buf := make([]byte, n)
			d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 0, 64)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: buf})
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := cu.SealMessage(0, d, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("mit-gss_wrap/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			if err := ic.WrapLoop(data, true, b.N); err != nil {
				b.Fatal(err)
			}
		})
		b.Run(fmt.Sprintf("bound/%d", n), func(b *testing.B) { bound(b, n, true) })
	}
}

// BenchmarkUnwrap opens a sealed token of size bytes: gosspi's
// UnsealMessage (SECBUFFER_STREAM), MIT's gss_unwrap, and the raw bound.
func BenchmarkUnwrap(b *testing.B) {
	cu, su := ourPair(b)
	ic, ac, _ := mitPair(b, FlagMutual|FlagConf|FlagInteg)
	defer ic.Delete()
	defer ac.Delete()
	for _, n := range sizes {
		data := make([]byte, n)
		rand.Read(data)
		tok := seal(b, cu, data)
		mtok, err := ic.Wrap(data, true)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("gosspi/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
			scratch := make([]byte, len(tok))
			for i := 0; i < b.N; i++ {
				copy(scratch, tok) // DecryptMessage works in place
				d.Buffers[0].Buffer = scratch
				if _, err := su.UnsealMessage(d, 0); err != nil {
					b.Fatal(err)
				}
			}
			if !bytes.Equal(d.Buffers[1].Buffer, data) {
				b.Fatal("wrong plaintext")
			}
		})
		b.Run(fmt.Sprintf("mit-gss_unwrap/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			if err := ac.UnwrapLoop(mtok, b.N); err != nil {
				b.Fatal(err)
			}
		})
		b.Run(fmt.Sprintf("bound/%d", n), func(b *testing.B) { bound(b, n, false) })
	}
}

// bound: AES-256-CBC and HMAC-SHA1 over confounder + data + header.
func bound(b *testing.B, n int, encrypt bool) {
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
