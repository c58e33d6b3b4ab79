package negotiate

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Interop with MIT's SPNEGO (python3-gssapi, mechanism 1.3.6.1.5.5.2),
// both ways. The exchanges are recorded under testdata/ (go test -run
// Interop -record) and replayed by TestReplay* without the peer.

var record = flag.Bool("record", false, "rewrite the interop transcripts under testdata/")

const python = "/usr/bin/python3"

// spnegoPeer is testdata/spnego_peer.py running as a subprocess.
type spnegoPeer struct {
	t testing.TB
	*testutil.Peer
}

func startSPNEGOPeer(t testing.TB, env []string, args ...string) *spnegoPeer {
	t.Helper()
	return &spnegoPeer{t, testutil.StartPeer(t, env, false, python, append([]string{"testdata/spnego_peer.py"}, args...)...)}
}

func (p *spnegoPeer) send(v map[string]any) { p.t.Helper(); p.Send(v) }

// recv returns the peer's next answer; a failure answer is returned as an
// error.
func (p *spnegoPeer) recv() (map[string]any, error) {
	p.t.Helper()
	var m map[string]any
	p.Recv(&m)
	if e, ok := m["error"]; ok {
		return m, errors.New(e.(string))
	}
	return m, nil
}

func (p *spnegoPeer) must(v map[string]any) map[string]any {
	p.t.Helper()
	p.send(v)
	m, err := p.recv()
	if err != nil {
		p.t.Fatalf("peer: %v", err)
	}
	return m
}

func hexField(t testing.TB, m map[string]any, k string) []byte {
	t.Helper()
	s, _ := m[k].(string)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in %q: %q", k, s)
	}
	return b
}

// transcript is one recorded exchange with the MIT peer.
type transcript struct {
	Peer      string   `json:"peer"`
	Direction string   `json:"direction"` // "gosspi-client" or "gosspi-server"
	Mech      string   `json:"mech"`
	Time      string   `json:"time"` // our clock during the exchange
	Seed      string   `json:"seed"` // hex ChaCha8 seed of our random source
	Legs      []string `json:"legs"` // every token in order, the initiator's first (hex)
	// Messages after the handshake: the peer's and ours.
	PeerWrap, PeerMIC, OurWrap, OurMIC string
	Keytab                             string `json:"keytab,omitempty"` // base64, Kerberos transcripts
}

const (
	ntlmUser   = "alice"
	ntlmDomain = "TESTDOM"
	ntlmPass   = "Passw0rd!"
	peerMsg    = "message from the MIT peer"
	ourMsg     = "message from gosspi"
)

// ntlmNego builds Negotiate over our NTLM with a fixed clock and a seeded
// random source, so that an exchange can be replayed byte for byte.
func ntlmNego(t testing.TB, now time.Time, seed []byte) *Package {
	t.Helper()
	var s [32]byte
	copy(s[:], seed)
	store := ntlm.NewMemoryStore()
	store.Add(ntlmDomain, ntlmUser, ntlmPass)
	np := ntlm.New(ntlm.Config{AllowReflection: true, Accounts: store, Now: func() time.Time { return now },
		Rand: &testutil.LockedReader{R: mrand.NewChaCha8(s)}, NetBIOSDomain: ntlmDomain, NetBIOSComputer: "GOSSPI"})
	n, err := New(Config{Packages: []secpkg.LsaModePackage{np}, UserPackages: []sspi.UserModePackage{ntlm.NewUserMode(sspi.Env{Now: func() time.Time { return now }})}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// tokenExchanger sends our token and returns the peer's answer (nil when
// the peer has nothing more to say).
type tokenExchanger interface {
	// first returns the peer's first token when the peer initiates.
	first() []byte
	exchange(tok []byte, weDone bool) (answer []byte, peerDone bool)
}

// runOurSide drives our Negotiate side against a peer.
func runOurSide(t testing.TB, n *Package, initiator bool, target string, x tokenExchanger, legs *[]string) secpkg.ContextOutput {
	t.Helper()
	out, err := runOurSideErr(t, n, initiator, target, x, legs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runOurSideErr is runOurSide returning our package's failure, with the
// failing call's output.
func runOurSideErr(t testing.TB, n *Package, initiator bool, target string, x tokenExchanger, legs *[]string) (secpkg.ContextOutput, error) {
	t.Helper()
	return runOurSideErrID(t, n, initiator, target, &sspi.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPass}, x, legs)
}

// runOurSideID is runOurSide with the initiator's identity.
func runOurSideID(t testing.TB, n *Package, initiator bool, target string, id *sspi.AuthIdentity, x tokenExchanger, legs *[]string) secpkg.ContextOutput {
	t.Helper()
	out, err := runOurSideErrID(t, n, initiator, target, id, x, legs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runOurSideErrID(t testing.TB, n *Package, initiator bool, target string, id *sspi.AuthIdentity, x tokenExchanger, legs *[]string) (secpkg.ContextOutput, error) {
	t.Helper()
	var cred secpkg.LsaCredential
	var err error
	if initiator {
		cred, _, err = n.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
			AuthData: id})
	} else {
		cred, _, err = n.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND})
	}
	if err != nil {
		t.Fatal(err)
	}
	var lc secpkg.LsaContext
	var in []byte
	if !initiator {
		in = x.first()
		*legs = append(*legs, hex.EncodeToString(in))
	}
	peerDone := false
	for i := 0; i < 8; i++ {
		var out secpkg.ContextOutput
		var d *sspi.SecBufferDesc
		if in != nil {
			d = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: in})
		}
		if initiator {
			lc, out, err = n.InitLsaModeContext(context.Background(), cred, lc, &secpkg.InitContextParams{TargetName: target,
				ContextReq: sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT, Input: d})
		} else {
			lc, out, err = n.AcceptLsaModeContext(context.Background(), cred, lc, &secpkg.AcceptContextParams{Input: d})
		}
		if err != nil {
			return out, fmt.Errorf("leg %d: %w", i, err)
		}
		done := out.Status == sspi.SEC_E_OK
		tk := tok(out)
		if len(tk) > 0 {
			*legs = append(*legs, hex.EncodeToString(tk))
		}
		if done && peerDone {
			if len(tk) > 0 {
				t.Fatal("we sent a token after the peer finished")
			}
			return out, nil
		}
		if done && len(tk) == 0 {
			return out, nil
		}
		in, peerDone = x.exchange(tk, done)
		if in != nil {
			*legs = append(*legs, hex.EncodeToString(in))
		}
		if in == nil && !done {
			return out, errors.New("peer stopped before we finished")
		}
		if done {
			if in != nil {
				t.Fatal("peer answered a finished context")
			}
			if !peerDone {
				t.Fatal("peer not done after our last token")
			}
			return out, nil
		}
	}
	t.Fatal("handshake did not finish")
	return secpkg.ContextOutput{}, nil
}

// livePeer relays tokens to the python peer. With tolerate, a peer
// failure ends the exchange and is kept in err.
type livePeer struct {
	p        *spnegoPeer
	tolerate bool
	err      error
}

func (l *livePeer) first() []byte {
	m, err := l.p.recv()
	if err != nil {
		l.p.t.Fatalf("peer: %v", err)
	}
	return hexField(l.p.t, m, "tok")
}

func (l *livePeer) exchange(tok []byte, weDone bool) ([]byte, bool) {
	l.p.send(map[string]any{"tok": hex.EncodeToString(tok)})
	m, err := l.p.recv()
	if err != nil {
		if l.tolerate {
			l.err = err
			return nil, true
		}
		l.p.t.Fatalf("peer: %v", err)
	}
	ans := hexField(l.p.t, m, "tok")
	done, _ := m["done"].(bool)
	if len(ans) == 0 {
		ans = nil
	}
	return ans, done
}

// replayPeer answers with recorded tokens.
type replayPeer struct {
	t    testing.TB
	legs [][]byte
	i    int
}

func (r *replayPeer) first() []byte { r.i = 1; return r.legs[0] }

func (r *replayPeer) exchange(tok []byte, weDone bool) ([]byte, bool) {
	if len(tok) > 0 {
		if r.i >= len(r.legs) || !bytes.Equal(tok, r.legs[r.i]) {
			r.t.Fatalf("our token %d differs from the recording", r.i)
		}
		r.i++
	}
	if r.i >= len(r.legs) {
		return nil, true
	}
	ans := r.legs[r.i]
	r.i++
	return ans, r.i >= len(r.legs)
}

func newSeed(direction string) (time.Time, []byte) {
	seed := make([]byte, 32)
	_, _ = io.ReadFull(mrand.NewChaCha8([32]byte{byte(len(direction)), 42}), seed)
	return time.Now().UTC().Truncate(time.Second), seed
}

// messagesWithPeer runs wrap/unwrap and MIC in both directions.
func messagesWithPeer(t *testing.T, p *spnegoPeer, u sspi.UserModeContext, tr *transcript) {
	m := p.must(map[string]any{"op": "wrap", "data": hex.EncodeToString([]byte(peerMsg)), "conf": true})
	peerWrap := hexField(t, m, "tok")
	if got := unwrapStream(t, u, peerWrap); string(got) != peerMsg {
		t.Fatalf("unwrapped %q", got)
	}
	m = p.must(map[string]any{"op": "mic", "data": hex.EncodeToString([]byte(peerMsg))})
	peerMIC := hexField(t, m, "mic")
	verifyMIC(t, u, []byte(peerMsg), peerMIC)

	ourWrap := wrapStream(t, u, []byte(ourMsg))
	m = p.must(map[string]any{"op": "unwrap", "tok": hex.EncodeToString(ourWrap)})
	if got := hexField(t, m, "data"); string(got) != ourMsg || m["conf"] != true {
		t.Fatalf("peer unwrapped %q conf %v", got, m["conf"])
	}
	ourMIC := signMsg(t, u, []byte(ourMsg))
	p.must(map[string]any{"op": "verify", "data": hex.EncodeToString([]byte(ourMsg)), "mic": hex.EncodeToString(ourMIC)})
	tr.PeerWrap, tr.PeerMIC = hex.EncodeToString(peerWrap), hex.EncodeToString(peerMIC)
	tr.OurWrap, tr.OurMIC = hex.EncodeToString(ourWrap), hex.EncodeToString(ourMIC)
}

// replayMessages checks the recorded per-message tokens with a fresh
// user-mode context.
func replayMessages(t *testing.T, u sspi.UserModeContext, tr *transcript) {
	if got := unwrapStream(t, u, unhex(t, tr.PeerWrap)); string(got) != peerMsg {
		t.Fatalf("unwrapped %q", got)
	}
	verifyMIC(t, u, []byte(peerMsg), unhex(t, tr.PeerMIC))
	if w := wrapStream(t, u, []byte(ourMsg)); hex.EncodeToString(w) != tr.OurWrap {
		t.Fatalf("our wrap differs from the recording")
	}
	if m := signMsg(t, u, []byte(ourMsg)); hex.EncodeToString(m) != tr.OurMIC {
		t.Fatalf("our MIC differs from the recording")
	}
}

func maxSig(t testing.TB, u sspi.UserModeContext) int {
	v, err := u.QueryAttributes(sspi.SECPKG_ATTR_SIZES)
	if err != nil {
		t.Fatal(err)
	}
	return int(v.(sspi.SecPkgContextSizes).SecurityTrailer)
}

// wrapStream seals msg and returns the GSS_Wrap token (header||data).
func wrapStream(t testing.TB, u sspi.UserModeContext, msg []byte) []byte {
	t.Helper()
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, maxSig(t, u))},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: append([]byte(nil), msg...)})
	if err := u.SealMessage(0, d, 0); err != nil {
		t.Fatal(err)
	}
	return append(append([]byte(nil), d.Buffers[0].Buffer...), d.Buffers[1].Buffer...)
}

func unwrapStream(t testing.TB, u sspi.UserModeContext, tok []byte) []byte {
	t.Helper()
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: append([]byte(nil), tok...)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
	if _, err := u.UnsealMessage(d, 0); err != nil {
		t.Fatalf("unseal: %v", err)
	}
	return d.Find(sspi.SECBUFFER_DATA).Buffer
}

func signMsg(t testing.TB, u sspi.UserModeContext, msg []byte) []byte {
	t.Helper()
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: msg},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 64)})
	if err := u.MakeSignature(0, d, 0); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), d.Token()...)
}

func verifyMIC(t testing.TB, u sspi.UserModeContext, msg, mic []byte) {
	t.Helper()
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: msg},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: mic})
	if _, err := u.VerifySignature(d, 0); err != nil {
		t.Fatalf("verify MIC: %v", err)
	}
}

func ntlmPeerEnv(t *testing.T) []string {
	dir := t.TempDir()
	f := filepath.Join(dir, "users")
	if err := os.WriteFile(f, []byte(ntlmDomain+":"+ntlmUser+":"+ntlmPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// No Kerberos: an empty krb5.conf, so MIT's SPNEGO falls back to NTLM.
	conf := filepath.Join(dir, "krb5.conf")
	os.WriteFile(conf, []byte("[libdefaults]\n dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n"), 0o600)
	return []string{"NTLM_USER_FILE=" + f, "KRB5_CONFIG=" + conf, "KRB5CCNAME=FILE:" + filepath.Join(dir, "cc"), "KRB5_KTNAME=FILE:" + filepath.Join(dir, "kt")}
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

func loadTranscript(t *testing.T, name string) *transcript {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var tr transcript
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return &tr
}

func legBytes(t *testing.T, tr *transcript) [][]byte {
	var out [][]byte
	for _, l := range tr.Legs {
		out = append(out, unhex(t, l))
	}
	return out
}

// TestInteropNTLMClient: our Negotiate initiator against MIT's SPNEGO
// acceptor with gss-ntlmssp, Kerberos unavailable.
func TestInteropNTLMClient(t *testing.T) {
	now, seed := newSeed("gosspi-client")
	n := ntlmNego(t, now, seed)
	p := startSPNEGOPeer(t, ntlmPeerEnv(t), "server", "--mechs", "krb5,ntlm")
	tr := &transcript{Peer: "MIT SPNEGO + gss-ntlmssp", Direction: "gosspi-client", Mech: spnego.OIDNTLM.String(), Time: now.Format(time.RFC3339), Seed: hex.EncodeToString(seed)}
	out := runOurSide(t, n, true, "HTTP@localhost", &livePeer{p: p}, &tr.Legs)
	u, err := n.InitUserModeContext(out.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	m := p.must(map[string]any{"op": "info"})
	if m["mech"] != spnego.OIDNTLM.String() {
		t.Fatalf("peer mech %v", m["mech"])
	}
	messagesWithPeer(t, p, u, tr)
	p.send(map[string]any{"op": "quit"})
	saveTranscript(t, "mit-ntlm-gosspi-client.json", tr)
}

// TestInteropNTLMServer: MIT's SPNEGO initiator (offering Kerberos and
// NTLM, with no KDC) against our acceptor.
func TestInteropNTLMServer(t *testing.T) {
	now, seed := newSeed("gosspi-server")
	n := ntlmNego(t, now, seed)
	p := startSPNEGOPeer(t, ntlmPeerEnv(t), "client", "--mechs", "krb5,ntlm", "--user", ntlmDomain+`\`+ntlmUser, "--password", ntlmPass)
	tr := &transcript{Peer: "MIT SPNEGO + gss-ntlmssp", Direction: "gosspi-server", Mech: spnego.OIDNTLM.String(), Time: now.Format(time.RFC3339), Seed: hex.EncodeToString(seed)}
	out := runOurSide(t, n, false, "", &livePeer{p: p}, &tr.Legs)
	u, err := n.InitUserModeContext(out.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	messagesWithPeer(t, p, u, tr)
	p.send(map[string]any{"op": "quit"})
	saveTranscript(t, "mit-ntlm-gosspi-server.json", tr)
}

func TestReplayNTLM(t *testing.T) {
	for _, name := range []string{"mit-ntlm-gosspi-client.json", "mit-ntlm-gosspi-server.json"} {
		t.Run(name, func(t *testing.T) {
			tr := loadTranscript(t, name)
			at, err := time.Parse(time.RFC3339, tr.Time)
			if err != nil {
				t.Fatal(err)
			}
			n := ntlmNego(t, testutil.PinClock(t, at)(), unhex(t, tr.Seed))
			var legs []string
			initiator := tr.Direction == "gosspi-client"
			r := &replayPeer{t: t, legs: legBytes(t, tr)}
			if initiator {
				// Our first token is checked by the first exchange.
				r.i = 0
			}
			out := runOurSide(t, n, initiator, "HTTP@localhost", r, &legs)
			if len(legs) != len(tr.Legs) {
				t.Fatalf("%d legs, recorded %d", len(legs), len(tr.Legs))
			}
			u, err := n.InitUserModeContext(out.ContextData)
			if err != nil {
				t.Fatal(err)
			}
			replayMessages(t, u, tr)
		})
	}
}

// ntlmUserMode returns NTLM's user-mode half for Negotiate; its contexts
// implement CryptoResetter (MS-SPNG 3.3.5.1).
func ntlmUserMode() sspi.UserModePackage {
	var _ CryptoResetter = (*ntlm.UserContext)(nil)
	return ntlm.UserMode()
}

// tamperPeer alters the peer's tokens in transit.
type tamperPeer struct {
	tokenExchanger
	edit func(i int, tok []byte) []byte
	i    int
}

func (p *tamperPeer) first() []byte {
	b := p.edit(p.i, p.tokenExchanger.first())
	p.i++
	return b
}

func (p *tamperPeer) exchange(tok []byte, weDone bool) ([]byte, bool) {
	b, done := p.tokenExchanger.exchange(tok, weDone)
	if b != nil {
		b = p.edit(p.i, b)
		p.i++
	}
	return b, done
}

// TestInteropDowngradeMITClient alters the MIT initiator's mechanism list
// in transit (a mechanism is added behind NTLM). The optimistic NTLM token
// still works, but the initiator's mechListMIC covers the list it sent and
// our acceptor refuses the altered one.
func TestInteropDowngradeMITClient(t *testing.T) {
	now, seed := newSeed("downgrade")
	n := ntlmNego(t, now, seed)
	p := startSPNEGOPeer(t, ntlmPeerEnv(t), "client", "--mechs", "krb5,ntlm", "--user", ntlmDomain+`\`+ntlmUser, "--password", ntlmPass)
	x := &tamperPeer{tokenExchanger: &livePeer{p: p}, edit: func(i int, b []byte) []byte {
		if i != 0 {
			return b
		}
		init, _, err := spnego.ParseToken(b)
		if err != nil || init == nil {
			t.Fatalf("MIT's first token: %v", err)
		}
		if len(init.MechTypes) != 1 || !init.MechTypes[0].Equal(spnego.OIDNTLM) {
			t.Fatalf("MIT offered %v", init.MechTypes)
		}
		out, err := (&spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDNTLM, spnego.MustParseOID("1.3.6.1.4.1.311.2.2.30")}, MechToken: init.MechToken}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}}
	var legs []string
	out, err := runOurSideErr(t, n, false, "", x, &legs)
	if !errors.Is(err, sspi.SEC_E_DOWNGRADE_DETECTED) {
		t.Fatalf("altered mechanism list accepted: %v", err)
	}
	if r := parseResp(t, tok(out)); r.NegState != spnego.Reject {
		t.Fatalf("no reject token: %+v", r)
	}
}

// tamperOut alters our tokens on their way to the peer.
type tamperOut struct {
	tokenExchanger
	edit func(tok []byte) []byte
}

func (p *tamperOut) exchange(tok []byte, weDone bool) ([]byte, bool) {
	return p.tokenExchanger.exchange(p.edit(tok), weDone)
}

// TestExportImport moves an established Negotiate context (NTLM inside,
// after the mechListMIC) to a fresh user-mode half with ExportContext, in
// the middle of a conversation.
func TestExportImport(t *testing.T) {
	now, seed := newSeed("export")
	n := ntlmNego(t, now, seed)
	h := &hs{cli: n, srv: n, target: "HTTP/host", creq: sspi.ISC_REQ_CONFIDENTIALITY}
	h.ccred, h.scred = func() (secpkg.LsaCredential, secpkg.LsaCredential) {
		c, _, err := n.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPass}})
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := n.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND})
		if err != nil {
			t.Fatal(err)
		}
		return c, s
	}()
	if err := h.run(); err != nil {
		t.Fatal(err)
	}
	um := NewUserMode(ntlmUserMode())
	cu, err := um.InitUserModeContext(h.cout.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	su, err := um.InitUserModeContext(h.sout.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if got := unwrapStream(t, su, wrapStream(t, cu, []byte("before"))); string(got) != "before" {
			t.Fatal(string(got))
		}
	}
	data, err := cu.(sspi.UserModeExporter).ExportContext()
	if err != nil {
		t.Fatal(err)
	}
	cu2, err := um.InitUserModeContext(data)
	if err != nil {
		t.Fatal(err)
	}
	if ni := negInfoTB(t, cu2); ni.PackageInfo.Name != ntlm.PackageName {
		t.Fatalf("%+v", ni)
	}
	for i := 0; i < 3; i++ {
		if got := unwrapStream(t, su, wrapStream(t, cu2, []byte("after"))); string(got) != "after" {
			t.Fatal(string(got))
		}
		if got := unwrapStream(t, cu2, wrapStream(t, su, []byte("back"))); string(got) != "back" {
			t.Fatal(string(got))
		}
	}
}
