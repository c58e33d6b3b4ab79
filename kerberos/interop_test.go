package kerberos

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// mitPeer drives kerberos/testdata/gssapi_peer.py: MIT krb5 GSS-API through
// python3-gssapi.
type mitPeer struct {
	t testing.TB
	*testutil.Peer
}

func startMIT(t testing.TB, env ...string) *mitPeer {
	realm := liveRealm(t)
	t.Helper()
	return &mitPeer{t, testutil.StartPeer(t, append(realm.Env(), env...), true, "/usr/bin/python3", "testdata/gssapi_peer.py")}
}

type peerResp struct {
	Token     string `json:"token"`
	Data      string `json:"data"`
	Complete  bool   `json:"complete"`
	Conf      bool   `json:"conf"`
	Initiator string `json:"initiator"`
	Delegated bool   `json:"delegated"`
	Error     string `json:"error"`
}

func (r *peerResp) token() []byte { b, _ := base64.StdEncoding.DecodeString(r.Token); return b }
func (r *peerResp) data() []byte  { b, _ := base64.StdEncoding.DecodeString(r.Data); return b }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// call sends a request; an MIT error fails the test unless allowErr.
func (p *mitPeer) call(req map[string]any, allowErr bool) *peerResp {
	p.t.Helper()
	p.Send(req)
	var r peerResp
	p.Recv(&r)
	if r.Error != "" && !allowErr {
		p.t.Fatalf("MIT %s: %s", req["op"], r.Error)
	}
	return &r
}

var testCB = &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:0123456789abcdef0123456789abcdef")}

// exchangeMessages runs wrap (sealed and integrity-only) and MIC both ways
// between our user-mode context and the MIT context.
func exchangeMessages(t *testing.T, ours sspi.UserModeContext, mit *mitPeer) {
	t.Helper()
	for _, msg := range [][]byte{[]byte("ping from gosspi"), bytes.Repeat([]byte("x"), 3000), {0}} {
		// MIT -> us, sealed and not, through SECBUFFER_STREAM.
		for _, conf := range []bool{true, false} {
			r := mit.call(map[string]any{"op": "wrap", "data": b64(msg), "conf": conf}, false)
			d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: r.token()}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
			qop, err := ours.UnsealMessage(d, 0)
			if err != nil {
				t.Fatalf("unseal MIT wrap (conf=%v): %v", conf, err)
			}
			if !bytes.Equal(d.Buffers[1].Buffer, msg) || (qop == 0) != conf {
				t.Fatalf("unsealed %q qop %#x", d.Buffers[1].Buffer, qop)
			}
		}
		// us -> MIT: TOKEN || DATA || PADDING is one wrap token.
		for _, qop := range []uint32{0, sspi.KERB_WRAP_NO_ENCRYPT} {
			data := append([]byte(nil), msg...)
			d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: data}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_PADDING})
			if err := ours.SealMessage(qop, d, 0); err != nil {
				t.Fatal(err)
			}
			tok := append(append(append([]byte(nil), d.Buffers[0].Buffer...), d.Buffers[1].Buffer...), d.Buffers[2].Buffer...)
			r := mit.call(map[string]any{"op": "unwrap", "token": b64(tok)}, false)
			if !bytes.Equal(r.data(), msg) || r.Conf != (qop == 0) {
				t.Fatalf("MIT unwrapped %q conf %v", r.data(), r.Conf)
			}
		}
		// MIC both ways.
		r := mit.call(map[string]any{"op": "mic", "data": b64(msg)}, false)
		d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: msg}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: r.token()})
		if _, err := ours.VerifySignature(d, 0); err != nil {
			t.Fatalf("verify MIT MIC: %v", err)
		}
		d = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: msg}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		if err := ours.MakeSignature(0, d, 0); err != nil {
			t.Fatal(err)
		}
		mit.call(map[string]any{"op": "verify", "data": b64(msg), "token": b64(d.Buffers[1].Buffer)}, false)
	}
	// A replayed MIT token is refused.
	r := mit.call(map[string]any{"op": "wrap", "data": b64([]byte("once")), "conf": true}, false)
	for i, want := range []error{nil, sspi.SEC_E_OUT_OF_SEQUENCE} {
		d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: r.token()}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
		_, err := ours.UnsealMessage(d, 0)
		if (want == nil) != (err == nil) || (want != nil && sspi.StatusOf(err) != want) {
			t.Fatalf("replay step %d: %v", i, err)
		}
	}
}

// Our initiator against MIT's acceptor.
func TestInteropOurInitiatorMITAcceptor(t *testing.T) {
	realm := liveRealm(t)
	for _, tc := range []struct {
		name, spn, keytab string
		etype             int32
	}{
		{"aes", svcSPN, realm.svcKeytab, etypeAES256SHA1},
		{"rc4", rc4SPN, realm.rc4Keytab, etypeRC4HMAC},
		// RFC 8009 on the initiator: the service's only key and its
		// session_enctypes are aes-sha2, so the ticket and the session key
		// (and so the GSS messages) are too.
		{"aes256-sha384", sha2SPN, realm.sha2Keytab, etypeAES256SHA384},
		{"aes128-sha256", sha256SPN, realm.sha256Keytab, etypeAES128SHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mit := startMIT(t)
			p := New(Config{})
			cred := clientCred(t, p)
			ctx := context.Background()
			c, out, err := p.InitLsaModeContext(ctx, cred, nil, &secpkg.InitContextParams{TargetName: tc.spn, ContextReq: stdISC, Input: tokenDesc(nil, testCB)})
			if err != nil || out.Status != sspi.SEC_I_CONTINUE_NEEDED {
				t.Fatalf("ISC: %v %v", out.Status, err)
			}
			r := mit.call(map[string]any{"op": "accept", "token": b64(outToken(out)), "keytab": tc.keytab, "cb": b64(testCB.ApplicationData)}, false)
			if !r.Complete || r.Initiator != "alice@"+realm.Name {
				t.Fatalf("MIT accept: %+v", r)
			}
			_, out, err = p.InitLsaModeContext(ctx, cred, c, &secpkg.InitContextParams{TargetName: tc.spn, ContextReq: stdISC, Input: tokenDesc(r.token(), nil)})
			if err != nil || out.Status != sspi.SEC_E_OK || !out.Mapped {
				t.Fatalf("ISC step 2: %v %v", out.Status, err)
			}
			if out.Flags&sspi.FlagMutualAuth == 0 {
				t.Fatal("no mutual auth flag")
			}
			uc, err := UserMode().InitUserModeContext(out.ContextData)
			if err != nil {
				t.Fatal(err)
			}
			if et := uc.(*userContext).s.etype; et != tc.etype {
				t.Fatalf("message enctype %d, want %d", et, tc.etype)
			}
			exchangeMessages(t, uc, mit)
		})
	}
	t.Run("bad-bindings", func(t *testing.T) {
		mit := startMIT(t)
		p := New(Config{})
		_, out, err := p.InitLsaModeContext(context.Background(), clientCred(t, p), nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC, Input: tokenDesc(nil, testCB)})
		if err != nil {
			t.Fatal(err)
		}
		r := mit.call(map[string]any{"op": "accept", "token": b64(outToken(out)), "keytab": realm.svcKeytab, "cb": b64([]byte("other"))}, true)
		if r.Error == "" || !strings.Contains(strings.ToLower(r.Error), "bind") {
			t.Fatalf("MIT accepted wrong channel bindings: %+v", r)
		}
	})
}

// MIT's initiator against our acceptor.
func TestInteropMITInitiatorOurAcceptor(t *testing.T) {
	realm := liveRealm(t)
	for _, tc := range []struct {
		name, host, keytab string
		etype              int32
	}{
		{"aes", "HTTP@svc.localhost", realm.svcKeytab, etypeAES256SHA1},
		{"rc4", "HTTP@rc4.localhost", realm.rc4Keytab, etypeRC4HMAC},
		{"aes256-sha384", "HTTP@sha2.localhost", realm.sha2Keytab, etypeAES256SHA384},
		{"aes128-sha256", "HTTP@sha256.localhost", realm.sha256Keytab, etypeAES128SHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mit := startMIT(t, "KRB5CCNAME=FILE:"+realm.fwdCCache)
			p := New(Config{})
			scred := serverCred(t, p, tc.keytab, "")
			r := mit.call(map[string]any{"op": "init", "target": tc.host, "flags": []string{"mutual", "replay", "sequence", "conf", "integ"}, "cb": b64(testCB.ApplicationData)}, false)
			_, out, err := p.AcceptLsaModeContext(context.Background(), scred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(r.token(), testCB)})
			if err != nil || out.Status != sspi.SEC_E_OK {
				t.Fatalf("ASC: %v", err)
			}
			want := sspi.FlagMutualAuth | sspi.FlagReplayDetect | sspi.FlagSequenceDetect | sspi.FlagConfidentiality | sspi.FlagIntegrity
			if out.Flags&want != want {
				t.Fatalf("flags %v, want %v", out.Flags, want)
			}
			r = mit.call(map[string]any{"op": "step", "token": b64(outToken(out))}, false)
			if !r.Complete {
				t.Fatal("MIT initiator not complete after our AP-REP")
			}
			uc, err := UserMode().InitUserModeContext(out.ContextData)
			if err != nil {
				t.Fatal(err)
			}
			if et := uc.(*userContext).s.etype; et != tc.etype {
				t.Fatalf("message enctype %d, want %d", et, tc.etype)
			}
			exchangeMessages(t, uc, mit)
		})
	}
	t.Run("bad-bindings", func(t *testing.T) {
		mit := startMIT(t, "KRB5CCNAME=FILE:"+realm.fwdCCache)
		p := New(Config{})
		r := mit.call(map[string]any{"op": "init", "target": "HTTP@svc.localhost", "flags": []string{"mutual"}, "cb": b64([]byte("tampered"))}, false)
		_, _, err := p.AcceptLsaModeContext(context.Background(), serverCred(t, p, realm.svcKeytab, ""), nil, &secpkg.AcceptContextParams{Input: tokenDesc(r.token(), testCB)})
		if sspi.StatusOf(err) != sspi.SEC_E_BAD_BINDINGS {
			t.Fatalf("got %v, want SEC_E_BAD_BINDINGS", err)
		}
	})
}

// MIT's initiator delegates; our acceptor stores the forwarded TGT and our
// initiator uses it to reach another service.
func TestInteropDelegation(t *testing.T) {
	realm := liveRealm(t)
	mit := startMIT(t, "KRB5CCNAME=FILE:"+realm.fwdCCache)
	p := New(Config{DelegationDir: t.TempDir()})
	r := mit.call(map[string]any{"op": "init", "target": "HTTP@svc.localhost", "flags": []string{"mutual", "deleg", "conf", "integ"}}, false)
	sctx, out, err := p.AcceptLsaModeContext(context.Background(), serverCred(t, p, realm.svcKeytab, ""), nil, &secpkg.AcceptContextParams{ContextReq: sspi.ASC_REQ_DELEGATE, Input: tokenDesc(r.token(), nil)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Flags&sspi.FlagDelegate == 0 {
		t.Fatalf("no delegation flag: %v", out.Flags)
	}
	uc, _ := UserMode().InitUserModeContext(out.ContextData)
	v, _ := uc.QueryAttributes(SECPKG_ATTR_DELEGATED_CCACHE)
	path, _ := v.(string)
	if path == "" {
		t.Fatal("no delegated ccache path")
	}
	dv, _ := sctx.QueryAttributes(SECPKG_ATTR_DELEGATED_CREDENTIALS)
	if d, _ := dv.(*DelegatedCredentials); d == nil || len(d.CCache) == 0 || d.Client != "alice@"+realm.Name {
		t.Fatalf("delegated credentials: %+v", dv)
	}
	id, _ := uc.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if !id.(sspi.Identity).Delegated {
		t.Fatal("identity does not say delegated")
	}
	// Use the forwarded TGT: a ticket to another service, through our
	// initiator and our acceptor.
	dp := New(Config{})
	dcred, _, err := dp.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{Options: map[string]string{"ccache": path}}})
	if err != nil {
		t.Fatalf("delegated ccache: %v", err)
	}
	defer dcred.Free()
	pr, err := handshake(t, dp, dp, dcred, serverCred(t, dp, realm.otherKeytab, otherSPN), otherSPN, stdISC, 0, nil, nil)
	if err != nil {
		t.Fatalf("using delegated TGT: %v", err)
	}
	id, _ = pr.server.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if id.(sspi.Identity).Principal != "alice@"+realm.Name {
		t.Fatalf("second hop identity %+v", id)
	}
	sctx.Delete()
	if _, err := os.Stat(strings.TrimPrefix(path, "FILE:")); !os.IsNotExist(err) {
		t.Fatalf("delegated ccache survives the context: %v", err)
	}
}

// A ticket obtained by kinit, used through the ccache by our initiator,
// both named explicitly and through KRB5CCNAME.
func TestKinitCCache(t *testing.T) {
	realm := liveRealm(t)
	p := New(Config{})
	for _, viaEnv := range []bool{false, true} {
		var ad *sspi.AuthIdentity
		if viaEnv {
			t.Setenv("KRB5CCNAME", "FILE:"+realm.fwdCCache)
		} else {
			ad = &sspi.AuthIdentity{Options: map[string]string{"ccache": "FILE:" + realm.fwdCCache}}
		}
		cred, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: ad})
		if err != nil {
			t.Fatal(err)
		}
		pr, err := handshake(t, p, p, cred, serverCred(t, p, realm.svcKeytab, svcSPN), svcSPN, stdISC, 0, nil, nil)
		cred.Free()
		if err != nil {
			t.Fatal(err)
		}
		sealRoundTrip(t, pr.client, pr.server, []byte("via kinit"), 0)
	}
}

// Our initiator delegates (ISC_REQ_DELEGATE, forwardable TGT from kinit -f)
// to MIT's acceptor, which sees delegated credentials, and to ours. The
// MIT KDC sets no ok-as-delegate on the service's ticket: by default (the
// Windows policy) the initiator does not delegate; Config.DelegateAlways
// delegates all the same.
func TestInteropOurDelegation(t *testing.T) {
	realm := liveRealm(t)
	req := stdISC | sspi.ISC_REQ_DELEGATE
	ccID := &sspi.AuthIdentity{Options: map[string]string{"ccache": "FILE:" + realm.fwdCCache}}
	{
		p := New(Config{})
		cred, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: ccID})
		if err != nil {
			t.Fatal(err)
		}
		_, out, err := p.InitLsaModeContext(context.Background(), cred, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: req})
		cred.Free()
		if err != nil {
			t.Fatal(err)
		}
		if out.Flags&sspi.FlagDelegate != 0 {
			t.Fatal("ISC_RET_DELEGATE to a service whose ticket lacks ok-as-delegate")
		}
	}
	p := New(Config{DelegationDir: t.TempDir(), DelegateAlways: true})
	cred, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: ccID})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Free()
	_, out, err := p.InitLsaModeContext(context.Background(), cred, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: req})
	if err != nil {
		t.Fatal(err)
	}
	if out.Flags&sspi.FlagDelegate == 0 {
		t.Fatal("no ISC_RET_DELEGATE with a forwardable TGT")
	}
	mit := startMIT(t)
	r := mit.call(map[string]any{"op": "accept", "token": b64(outToken(out)), "keytab": realm.svcKeytab}, false)
	if !r.Delegated {
		t.Fatal("MIT acceptor got no delegated credentials")
	}
	pr, err := handshake(t, p, p, cred, serverCred(t, p, realm.svcKeytab, ""), svcSPN, req, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := pr.server.QueryAttributes(SECPKG_ATTR_DELEGATED_CCACHE)
	cc, err := loadCCache(path.(string))
	if err != nil || len(cc.Creds) != 1 || cc.Creds[0].Server.Components[0] != "krbtgt" {
		t.Fatalf("delegated ccache: %v", err)
	}
}

// Without mutual authentication there is no AP-REP: both sides must agree
// on the keys (the initiator's subkey) and the acceptor's first sequence
// number (the initiator's).
func TestInteropNoMutual(t *testing.T) {
	realm := liveRealm(t)
	isc := sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT
	for _, tc := range []struct{ name, spn, host, keytab string }{
		{"aes", svcSPN, "HTTP@svc.localhost", realm.svcKeytab},
		{"rc4", rc4SPN, "HTTP@rc4.localhost", realm.rc4Keytab},
	} {
		t.Run(tc.name+"/ours-to-mit", func(t *testing.T) {
			mit := startMIT(t)
			p := New(Config{})
			_, out, err := p.InitLsaModeContext(context.Background(), clientCred(t, p), nil, &secpkg.InitContextParams{TargetName: tc.spn, ContextReq: isc})
			if err != nil || out.Status != sspi.SEC_E_OK {
				t.Fatalf("ISC: %v %v", out.Status, err)
			}
			r := mit.call(map[string]any{"op": "accept", "token": b64(outToken(out)), "keytab": tc.keytab}, false)
			if !r.Complete || len(r.token()) != 0 {
				t.Fatalf("MIT accept without mutual: %+v", r)
			}
			uc, _ := UserMode().InitUserModeContext(out.ContextData)
			exchangeMessages(t, uc, mit)
		})
		t.Run(tc.name+"/mit-to-ours", func(t *testing.T) {
			mit := startMIT(t, "KRB5CCNAME=FILE:"+realm.fwdCCache)
			p := New(Config{})
			r := mit.call(map[string]any{"op": "init", "target": tc.host, "flags": []string{"replay", "sequence", "conf", "integ"}}, false)
			if !r.Complete {
				t.Fatal("MIT initiator without mutual should be complete after one token")
			}
			_, out, err := p.AcceptLsaModeContext(context.Background(), serverCred(t, p, tc.keytab, ""), nil, &secpkg.AcceptContextParams{Input: tokenDesc(r.token(), nil)})
			if err != nil || len(outToken(out)) != 0 {
				t.Fatalf("ASC: %v", err)
			}
			uc, _ := UserMode().InitUserModeContext(out.ContextData)
			exchangeMessages(t, uc, mit)
		})
	}
}
