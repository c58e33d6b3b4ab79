package ntlm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi/secpkg"

	"github.com/gosspi/gosspi/sspi"
)

// Interop with gss-ntlmssp through python3-gssapi, both ways. The exchanges
// are recorded under testdata/ (go test -run Interop -record) and replayed
// by TestReplay* without the peer.

var record = flag.Bool("record", false, "rewrite the interop transcripts under testdata/")

const python = "/usr/bin/python3"

// transcript is one recorded exchange.
type transcript struct {
	Peer      string   `json:"peer"`
	Direction string   `json:"direction"` // "gosspi-client" or "gosspi-server"
	User      string   `json:"user"`
	Domain    string   `json:"domain"`
	Password  string   `json:"password"`
	Target    string   `json:"target,omitempty"`
	Bindings  string   `json:"bindings,omitempty"` // hex application data
	Time      string   `json:"time"`               // our clock during the exchange
	Seed      string   `json:"seed"`               // hex ChaCha8 seed of our random source
	Tokens    []string `json:"tokens"`             // NEGOTIATE, CHALLENGE, AUTHENTICATE (base64)
	// SessionKey is the key both sides reported.
	SessionKey string `json:"session_key"`
	PeerWrap   string `json:"peer_wrap"`
	PeerMIC    string `json:"peer_mic"`
	PeerMICMsg string `json:"peer_mic_msg"`
	OurWrap    string `json:"our_wrap"`
	OurMIC     string `json:"our_mic"`
	OurMICMsg  string `json:"our_mic_msg"`
}

type pyPeer struct {
	t testing.TB
	*testutil.Peer
}

func startPeer(t *testing.T, env []string, args ...string) *pyPeer {
	t.Helper()
	return &pyPeer{t, testutil.StartPeer(t, env, false, python, append([]string{"testdata/gss_peer.py"}, args...)...)}
}

func (p *pyPeer) send(v map[string]any) { p.t.Helper(); p.Send(v) }

func (p *pyPeer) recv() map[string]any {
	p.t.Helper()
	var m map[string]any
	p.Recv(&m)
	if e, ok := m["error"]; ok {
		p.t.Fatalf("peer failed: %v", e)
	}
	return m
}

func b64d(t testing.TB, v any) []byte {
	t.Helper()
	s, _ := v.(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("bad base64 %q", s)
	}
	return b
}

func b64e(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// fixedConfig returns a config whose clock and random source the
// transcript pins.
func fixedConfig(t testing.TB, tr *transcript, base Config) Config {
	at, err := time.Parse(time.RFC3339Nano, tr.Time)
	if err != nil {
		t.Fatal(err)
	}
	now := testutil.PinClock(t, at)
	seed, _ := hex.DecodeString(tr.Seed)
	var s [32]byte
	copy(s[:], seed)
	base.Now = now
	base.Rand = &testutil.LockedReader{R: mrand.NewChaCha8(s)}
	base.Workstation = "GOSSPI-TEST"
	base.NetBIOSComputer = "GOSSPI-SRV"
	base.NetBIOSDomain = "EXAMPLE"
	return base
}

func newTranscript(direction string, cb []byte) *transcript {
	seed := make([]byte, 32)
	_, _ = io.ReadFull(mrand.NewChaCha8([32]byte{byte(len(direction)), byte(len(cb))}), seed)
	return &transcript{
		Peer: "gss-ntlmssp via python3-gssapi", Direction: direction,
		User: testUser, Domain: testDomain, Password: testPassword,
		Bindings: hex.EncodeToString(cb),
		Time:     time.Now().UTC().Truncate(time.Second).Format(time.RFC3339Nano),
		Seed:     hex.EncodeToString(seed),
	}
}

func bindingsOf(tr *transcript) *sspi.ChannelBindings {
	if tr.Bindings == "" {
		return nil
	}
	b, _ := hex.DecodeString(tr.Bindings)
	return &sspi.ChannelBindings{ApplicationData: b}
}

func userFile(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "ntlm_users")
	if err := os.WriteFile(f, []byte(testDomain+":"+testUser+":"+testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// ourWrap seals msg and returns signature || ciphertext (GSS_Wrap layout).
func ourWrap(t testing.TB, u *UserContext, msg []byte) []byte {
	d := sealDesc(append([]byte(nil), msg...))
	if err := u.SealMessage(0, d, 0); err != nil {
		t.Fatal(err)
	}
	return append(append([]byte(nil), d.Buffers[0].Buffer...), d.Buffers[1].Buffer...)
}

func ourUnwrap(t testing.TB, u *UserContext, tok []byte) []byte {
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: append([]byte(nil), tok...)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
	if _, err := u.UnsealMessage(d, 0); err != nil {
		t.Fatalf("unseal peer message: %v", err)
	}
	return d.Buffers[1].Buffer
}

func ourMIC(t testing.TB, u *UserContext, msg []byte) []byte {
	d := sealDesc(append([]byte(nil), msg...))
	if err := u.MakeSignature(0, d, 0); err != nil {
		t.Fatal(err)
	}
	return d.Buffers[0].Buffer
}

func ourVerify(t testing.TB, u *UserContext, msg, mic []byte) {
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: append([]byte(nil), mic...)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: append([]byte(nil), msg...)})
	if _, err := u.VerifySignature(d, 0); err != nil {
		t.Fatalf("verify peer MIC: %v", err)
	}
}

// afterHandshake runs the message part with the peer and fills the
// transcript.
func afterHandshake(t *testing.T, peer *pyPeer, u *UserContext, tr *transcript) {
	done := peer.recv()
	tr.SessionKey, _ = done["session_key"].(string)
	sk, _ := u.QueryAttributes(sspi.SECPKG_ATTR_SESSION_KEY)
	if got := hex.EncodeToString(sk.(sspi.SecPkgContextSessionKey).SessionKey); got != tr.SessionKey {
		t.Fatalf("session keys differ: ours %s, peer %s", got, tr.SessionKey)
	}
	w := peer.recv()
	tr.PeerWrap = w["wrap"].(string)
	if got := ourUnwrap(t, u, b64d(t, w["wrap"])); !bytes.HasPrefix(got, []byte("wrapped by gss-ntlmssp")) {
		t.Fatalf("unwrapped %q", got)
	}
	m := peer.recv()
	tr.PeerMIC, tr.PeerMICMsg = m["mic"].(string), m["msg"].(string)
	ourVerify(t, u, b64d(t, m["msg"]), b64d(t, m["mic"]))
	ours := []byte("wrapped by gosspi")
	tr.OurWrap = b64e(ourWrap(t, u, ours))
	peer.send(map[string]any{"wrap": tr.OurWrap})
	if got := b64d(t, peer.recv()["unwrapped"]); !bytes.Equal(got, ours) {
		t.Fatalf("peer unwrapped %q", got)
	}
	mm := []byte("signed by gosspi")
	tr.OurMICMsg, tr.OurMIC = b64e(mm), b64e(ourMIC(t, u, mm))
	peer.send(map[string]any{"mic": tr.OurMIC, "msg": tr.OurMICMsg})
	if v, _ := peer.recv()["verified"].(bool); !v {
		t.Fatal("peer did not verify our MIC")
	}
}

func saveTranscript(t *testing.T, name string, tr *transcript) {
	if !*record {
		return
	}
	b, _ := json.MarshalIndent(tr, "", "  ")
	if err := os.WriteFile(filepath.Join("testdata", name), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func interopCB() []byte { return []byte("tls-server-end-point:gosspi-interop-test-binding-0123456789") }

// TestInteropGSSClient: gss-ntlmssp's initiator against our server.
func TestInteropGSSClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		cb   []byte
	}{{"plain", nil}, {"bindings", interopCB()}} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTranscript("gosspi-server", tc.cb)
			tr.Target = "HTTP@server.example.com"
			cfg := fixedConfig(t, tr, Config{})
			srv := testPackage(cfg)
			peer := startPeer(t, nil, "initiate", testDomain+`\`+testUser, testPassword, tr.Target, hex.EncodeToString(tc.cb))
			cred := serverCred(t, srv)
			neg := b64d(t, peer.recv()["token"])
			ctx, out, err := srv.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: withCB(neg, bindingsOf(tr))})
			if err != nil {
				t.Fatal(err)
			}
			chal := out.Output[0].Buffer
			peer.send(map[string]any{"token": b64e(chal)})
			auth := b64d(t, peer.recv()["token"])
			_, out, err = srv.AcceptLsaModeContext(context.Background(), cred, ctx, &secpkg.AcceptContextParams{Input: withCB(auth, bindingsOf(tr))})
			if err != nil {
				t.Fatalf("our server refused gss-ntlmssp: %v", err)
			}
			tr.Tokens = []string{b64e(neg), b64e(chal), b64e(auth)}
			u := mappedOn(t, srv, out)
			afterHandshake(t, peer, u, tr)
			saveTranscript(t, "gss-client-"+tc.name+".json", tr)
		})
	}
}

// TestInteropGSSServer: our client against gss-ntlmssp's acceptor.
func TestInteropGSSServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		cb   []byte
	}{{"plain", nil}, {"bindings", interopCB()}} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTranscript("gosspi-client", tc.cb)
			tr.Target = "HTTP/server.example.com"
			cli := testPackage(fixedConfig(t, tr, Config{}))
			peer := startPeer(t, []string{"NTLM_USER_FILE=" + userFile(t)}, "accept", hex.EncodeToString(tc.cb))
			u, toks := clientLegs(t, cli, tr, func(tok []byte) []byte {
				peer.send(map[string]any{"token": b64e(tok)})
				if ntlmssp.MessageType(tok) == ntlmssp.MsgAuthenticate {
					return nil
				}
				return b64d(t, peer.recv()["token"])
			})
			tr.Tokens = toks
			afterHandshake(t, peer, u, tr)
			saveTranscript(t, "gss-server-"+tc.name+".json", tr)
		})
	}
}

// clientLegs runs our client; exchange sends a token and returns the reply.
func clientLegs(t *testing.T, cli *Package, tr *transcript, exchange func([]byte) []byte) (*UserContext, []string) {
	t.Helper()
	cred := clientCred(t, cli, &sspi.AuthIdentity{User: tr.User, Domain: tr.Domain, Password: tr.Password})
	req := sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_REPLAY_DETECT | sspi.ISC_REQ_SEQUENCE_DETECT
	cb := bindingsOf(tr)
	var in *sspi.SecBufferDesc
	if cb != nil {
		in = withCB(nil, cb)
	}
	ctx, out, err := cli.InitLsaModeContext(context.Background(), cred, nil, &secpkg.InitContextParams{TargetName: tr.Target, ContextReq: req, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	neg := out.Output[0].Buffer
	chal := exchange(neg)
	_, out, err = cli.InitLsaModeContext(context.Background(), cred, ctx, &secpkg.InitContextParams{TargetName: tr.Target, ContextReq: req, Input: withCB(chal, cb)})
	if err != nil {
		t.Fatal(err)
	}
	auth := out.Output[0].Buffer
	exchange(auth)
	return mappedOn(t, cli, out), []string{b64e(neg), b64e(chal), b64e(auth)}
}

func loadTranscript(t *testing.T, name string) *transcript {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (record with: go test ./ntlm -run Interop -record)", err)
	}
	var tr transcript
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return &tr
}

// TestReplayGSSClient replays gss-ntlmssp's initiator against our server:
// with the recorded clock and random source our CHALLENGE is byte for byte
// the recorded one, the recorded AUTHENTICATE verifies, and the peer's
// sealed message and MIC check out.
func TestReplayGSSClient(t *testing.T) {
	for _, name := range []string{"gss-client-plain.json", "gss-client-bindings.json"} {
		t.Run(name, func(t *testing.T) {
			tr := loadTranscript(t, name)
			cfg := fixedConfig(t, tr, Config{})
			srv := testPackage(cfg)
			cred := serverCred(t, srv)
			tok := func(i int) []byte { return b64d(t, tr.Tokens[i]) }
			ctx, out, err := srv.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: withCB(tok(0), bindingsOf(tr))})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Output[0].Buffer, tok(1)) {
				t.Fatalf("CHALLENGE differs from the recording:\n got %x\nwant %x", out.Output[0].Buffer, tok(1))
			}
			_, out, err = srv.AcceptLsaModeContext(context.Background(), cred, ctx, &secpkg.AcceptContextParams{Input: withCB(tok(2), bindingsOf(tr))})
			if err != nil {
				t.Fatal(err)
			}
			replayMessages(t, mappedOn(t, srv, out), tr)
			if tr.Bindings != "" {
				// The same AUTHENTICATE with other bindings is refused.
				srv = testPackage(fixedConfig(t, tr, cfg))
				ctx, _, _ = srv.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: withCB(tok(0), bindingsOf(tr))})
				_, _, err = srv.AcceptLsaModeContext(context.Background(), cred, ctx, &secpkg.AcceptContextParams{
					Input: withCB(tok(2), &sspi.ChannelBindings{ApplicationData: []byte("other")})})
				if sspi.StatusOf(err) != sspi.SEC_E_BAD_BINDINGS {
					t.Fatalf("other bindings: %v", err)
				}
			}
		})
	}
}

// TestReplayGSSServer replays our client against gss-ntlmssp's acceptor:
// our AUTHENTICATE is byte for byte the recorded one.
func TestReplayGSSServer(t *testing.T) {
	for _, name := range []string{"gss-server-plain.json", "gss-server-bindings.json"} {
		t.Run(name, func(t *testing.T) {
			tr := loadTranscript(t, name)
			cli := testPackage(fixedConfig(t, tr, Config{}))
			leg := 0
			u, toks := clientLegs(t, cli, tr, func(tok []byte) []byte {
				if want := b64d(t, tr.Tokens[2*leg]); !bytes.Equal(tok, want) {
					t.Fatalf("leg %d differs from the recording:\n got %x\nwant %x", leg, tok, want)
				}
				leg++
				if leg == 2 {
					return nil
				}
				return b64d(t, tr.Tokens[1])
			})
			if len(toks) != 3 {
				t.Fatal("handshake incomplete")
			}
			replayMessages(t, u, tr)
		})
	}
}

func replayMessages(t *testing.T, u *UserContext, tr *transcript) {
	t.Helper()
	sk, _ := u.QueryAttributes(sspi.SECPKG_ATTR_SESSION_KEY)
	if got := hex.EncodeToString(sk.(sspi.SecPkgContextSessionKey).SessionKey); got != tr.SessionKey {
		t.Fatalf("session key %s, peer had %s", got, tr.SessionKey)
	}
	if got := ourUnwrap(t, u, b64d(t, tr.PeerWrap)); !bytes.HasPrefix(got, []byte("wrapped by gss-ntlmssp")) {
		t.Fatalf("unwrapped %q", got)
	}
	ourVerify(t, u, b64d(t, tr.PeerMICMsg), b64d(t, tr.PeerMIC))
	if got := b64e(ourWrap(t, u, []byte("wrapped by gosspi"))); got != tr.OurWrap {
		t.Errorf("our wrap token differs from the recording")
	}
	if got := b64e(ourMIC(t, u, b64d(t, tr.OurMICMsg))); got != tr.OurMIC {
		t.Errorf("our MIC differs from the recording")
	}
}

// TestInteropWrongPassword: a wrong password fails both ways with real
// peers: our server says SEC_E_LOGON_DENIED to gss-ntlmssp's initiator, and
// gss-ntlmssp's acceptor refuses our AUTHENTICATE.
func TestInteropWrongPassword(t *testing.T) {
	t.Run("gss-client", func(t *testing.T) {
		srv := testPackage(Config{})
		peer := startPeer(t, nil, "initiate", testDomain+`\`+testUser, "not-the-password", "HTTP@server.example.com")
		cred := serverCred(t, srv)
		ctx, out, err := srv.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: withCB(b64d(t, peer.recv()["token"]), nil)})
		if err != nil {
			t.Fatal(err)
		}
		peer.send(map[string]any{"token": b64e(out.Output[0].Buffer)})
		_, _, err = srv.AcceptLsaModeContext(context.Background(), cred, ctx, &secpkg.AcceptContextParams{Input: withCB(b64d(t, peer.recv()["token"]), nil)})
		if sspi.StatusOf(err) != sspi.SEC_E_LOGON_DENIED {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("gss-server", func(t *testing.T) {
		cli := testPackage(Config{})
		peer := startPeer(t, []string{"NTLM_USER_FILE=" + userFile(t)}, "accept")
		cred := clientCred(t, cli, &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: "not-the-password"})
		ctx, out, err := cli.InitLsaModeContext(context.Background(), cred, nil, &secpkg.InitContextParams{ContextReq: sspi.ISC_REQ_CONFIDENTIALITY})
		if err != nil {
			t.Fatal(err)
		}
		peer.send(map[string]any{"token": b64e(out.Output[0].Buffer)})
		_, out, err = cli.InitLsaModeContext(context.Background(), cred, ctx, &secpkg.InitContextParams{ContextReq: sspi.ISC_REQ_CONFIDENTIALITY, Input: withCB(b64d(t, peer.recv()["token"]), nil)})
		if err != nil {
			t.Fatal(err)
		}
		peer.send(map[string]any{"token": b64e(out.Output[0].Buffer)})
		var m map[string]any
		peer.Recv(&m)
		if m["error"] == nil {
			t.Fatalf("gss-ntlmssp accepted a wrong password: %v", m)
		}
	})
}
