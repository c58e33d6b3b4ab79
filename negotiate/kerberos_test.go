package negotiate

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// The MIT realm of this package's Kerberos tests: started on first use and
// stopped by TestMain.
var (
	realmOnce sync.Once
	theRealm  *negoRealm
	realmErr  error
)

type negoRealm struct {
	*krbtest.Realm
	userPW    string
	svcKeytab string // HTTP/svc.localhost
	ccache    string // kinit of alice
}

const (
	krbUser = "alice"
	svcSPN  = "HTTP/svc.localhost"
	svcHost = "svc.localhost"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theRealm != nil {
		theRealm.Close()
	}
	os.Exit(code)
}

func realm(t testing.TB) *negoRealm {
	t.Helper()
	realmOnce.Do(func() {
		kr, err := krbtest.Start(krbtest.Options{})
		if err != nil {
			realmErr = err
			return
		}
		r := &negoRealm{Realm: kr, userPW: "alice-Secret-1"}
		if err := kr.AddPrincipal(krbUser, r.userPW); err != nil {
			kr.Close()
			realmErr = err
			return
		}
		if r.svcKeytab, err = kr.AddService(svcSPN); err != nil {
			kr.Close()
			realmErr = err
			return
		}
		if r.ccache, err = kr.Kinit(krbUser, r.userPW); err != nil {
			kr.Close()
			realmErr = err
			return
		}
		theRealm = r
	})
	if realmErr != nil {
		t.Fatalf("MIT realm: %v", realmErr)
	}
	return theRealm
}

// env is the python peer's environment: the realm, alice's ticket, the
// service keytab, and an NTLM user file.
func (r *negoRealm) env(t testing.TB) []string {
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte(ntlmDomain+":"+ntlmUser+":"+ntlmPass+"\n"), 0o600)
	return append(r.Env(), "KRB5CCNAME=FILE:"+r.ccache, "KRB5_KTNAME=FILE:"+r.svcKeytab, "NTLM_USER_FILE="+users)
}

// krbNego is Negotiate over our Kerberos (this realm, the service keytab)
// and NTLM.
func krbNego(t testing.TB, r *negoRealm, kcfg kerberos.Config) *Package {
	t.Helper()
	if kcfg.Krb5Conf == "" {
		kcfg.Krb5Conf = r.Krb5Con
	}
	if kcfg.Keytab == "" {
		kcfg.Keytab = r.svcKeytab
	}
	store := ntlm.NewMemoryStore()
	store.Add(ntlmDomain, ntlmUser, ntlmPass)
	n, err := New(Config{
		Packages:     []secpkg.LsaModePackage{kerberos.New(kcfg), ntlm.New(ntlm.Config{Accounts: store})},
		UserPackages: []sspi.UserModePackage{kerberos.UserMode(), ntlmUserMode()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func krbIdentity(r *negoRealm) *sspi.AuthIdentity {
	return &sspi.AuthIdentity{User: krbUser, Password: r.userPW}
}

func kerberosChosen(t testing.TB, u sspi.UserModeContext) {
	t.Helper()
	v, err := u.QueryAttributes(sspi.SECPKG_ATTR_NEGOTIATION_INFO)
	if err != nil {
		t.Fatal(err)
	}
	if ni := v.(sspi.SecPkgContextNegotiationInfo); ni.PackageInfo.Name != kerberos.PackageName || ni.NegotiationState != sspi.SECPKG_NEGOTIATION_COMPLETE {
		t.Fatalf("negotiated %+v", ni)
	}
}

// TestInteropKerberosClient: our initiator (Kerberos preferred) against
// MIT's SPNEGO acceptor with the service keytab.
func TestInteropKerberosClient(t *testing.T) {
	r := realm(t)
	n := krbNego(t, r, kerberos.Config{})
	p := startSPNEGOPeer(t, r.env(t), "server", "--mechs", "krb5,ntlm")
	var legs []string
	out := runOurSideID(t, n, true, "HTTP@"+svcHost, krbIdentity(r), &livePeer{p: p}, &legs)
	if len(legs) != 2 {
		t.Fatalf("%d legs", len(legs))
	}
	init := parseInit(t, unhex(t, legs[0]))
	if len(init.MechTypes) != 3 || !init.MechTypes[0].Equal(spnego.OIDKerberos) || !init.MechTypes[1].Equal(spnego.OIDMSKerberos) || !init.MechTypes[2].Equal(spnego.OIDNTLM) {
		t.Fatalf("offered %v", init.MechTypes)
	}
	if resp := parseResp(t, unhex(t, legs[1])); resp.NegState != spnego.AcceptCompleted || !resp.SupportedMech.Equal(spnego.OIDKerberos) {
		t.Fatalf("MIT answered %+v", resp)
	}
	if m := p.must(map[string]any{"op": "info"}); m["mech"] != spnego.OIDKerberos.String() || !strings.HasPrefix(m["peer"].(string), krbUser+"@") {
		t.Fatalf("MIT says %v", m)
	}
	u, err := n.InitUserModeContext(out.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	kerberosChosen(t, u)
	messagesWithPeer(t, p, u, &transcript{})
}

// TestInteropKerberosServer: MIT's SPNEGO initiator with alice's ticket
// against our acceptor. The handshake is recorded (with the keytab) and
// replayed by TestReplayKerberosServer.
func TestInteropKerberosServer(t *testing.T) {
	r := realm(t)
	now := time.Now().UTC().Truncate(time.Second)
	n := krbNego(t, r, kerberos.Config{Now: func() time.Time { return now }})
	p := startSPNEGOPeer(t, r.env(t), "client", "--mechs", "krb5,ntlm", "--target", "HTTP@"+svcHost)
	tr := &transcript{Peer: "MIT SPNEGO + krb5", Direction: "gosspi-server", Mech: spnego.OIDKerberos.String(), Time: now.Format(time.RFC3339)}
	out := runOurSide(t, n, false, "", &livePeer{p: p}, &tr.Legs)
	init := parseInit(t, unhex(t, tr.Legs[0]))
	if len(init.MechTypes) != 2 || !init.MechTypes[0].Equal(spnego.OIDKerberos) || !init.MechTypes[1].Equal(spnego.OIDNTLM) || init.MechToken == nil {
		t.Fatalf("MIT offered %v", init.MechTypes)
	}
	u, err := n.InitUserModeContext(out.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	kerberosChosen(t, u)
	id, err := u.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if err != nil || !strings.HasPrefix(identityOf(t, id).Principal, krbUser+"@") {
		t.Fatalf("identity %v %v", id, err)
	}
	messagesWithPeer(t, p, u, tr)
	kt, err := os.ReadFile(r.svcKeytab)
	if err != nil {
		t.Fatal(err)
	}
	tr.Keytab = base64.StdEncoding.EncodeToString(kt)
	saveTranscript(t, "mit-krb5-gosspi-server.json", tr)
}

func identityOf(t testing.TB, v any) sspi.Identity {
	switch x := v.(type) {
	case sspi.Identity:
		return x
	case *sspi.Identity:
		return *x
	}
	t.Fatalf("identity is %T", v)
	return sspi.Identity{}
}

// replayKerberosAcceptor is our acceptor over the keytab of a recording,
// with the recording's clock and no replay cache.
func replayKerberosAcceptor(t *testing.T, keytabB64, when string) *Package {
	kt, err := base64.StdEncoding.DecodeString(keytabB64)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keytab")
	if err := os.WriteFile(path, kt, 0o600); err != nil {
		t.Fatal(err)
	}
	now := fixedClock(t, when)
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	os.WriteFile(conf, []byte("[libdefaults]\n default_realm = GOSSPI.TEST\n"), 0o600)
	env := sspi.Env{Now: now}
	n, err := New(Config{
		Packages: []secpkg.LsaModePackage{kerberos.New(kerberos.Config{Krb5Conf: conf, Keytab: path, DisableReplayCache: true,
			Now: now}), ntlm.New(ntlm.Config{Now: now})},
		UserPackages: []sspi.UserModePackage{kerberos.NewUserMode(env), ntlm.NewUserMode(env)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReplayKerberosServer feeds MIT's recorded SPNEGO tokens to our
// acceptor. The acceptor's AP-REP carries a fresh subkey, so only the
// handshake is replayed, not the messages.
func TestReplayKerberosServer(t *testing.T) {
	tr := loadTranscript(t, "mit-krb5-gosspi-server.json")
	n := replayKerberosAcceptor(t, tr.Keytab, tr.Time)
	legs := legBytes(t, tr)
	cred := acquireIn(t, n)
	_, out, err := n.AcceptLsaModeContext(t.Context(), cred, nil, &secpkg.AcceptContextParams{Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: legs[0]})})
	if err != nil || out.Status != sspi.SEC_E_OK || !out.Mapped {
		t.Fatalf("%v %v", out.Status, err)
	}
	resp := parseResp(t, tok(out))
	if resp.NegState != spnego.AcceptCompleted || !resp.SupportedMech.Equal(spnego.OIDKerberos) || resp.ResponseToken == nil {
		t.Fatalf("%+v", resp)
	}
	u, err := n.InitUserModeContext(out.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	kerberosChosen(t, u)
}

func acquireIn(t testing.TB, n *Package) secpkg.LsaCredential {
	t.Helper()
	c, _, err := n.AcquireCredentialsHandle(t.Context(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestInteropFallbackToNTLM: our initiator prefers Kerberos but cannot use
// it (an unknown service principal, an IP-address target, no KDC) and
// falls back to NTLM against MIT's SPNEGO acceptor with gss-ntlmssp. The
// identity is alice@REALM with her Kerberos password, which gss-ntlmssp
// also knows, so that Kerberos has a credential and fails for the reason
// of each case (SecPkgContextNegotiationInfo.Skipped says which).
func TestInteropFallbackToNTLM(t *testing.T) {
	r := realm(t)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte(r.Name+":"+krbUser+":"+r.userPW+"\n"), 0o600)
	noKDC := filepath.Join(t.TempDir(), "krb5.conf")
	os.WriteFile(noKDC, []byte("[libdefaults]\n default_realm = "+r.Name+"\n dns_lookup_kdc = false\n[realms]\n "+r.Name+" = {\n  kdc = 127.0.0.1:1\n }\n"), 0o600)
	for _, tc := range []struct {
		name, target string
		kcfg         kerberos.Config
		why          string // how SecPkgContextNegotiationInfo.Skipped starts
	}{
		{"unknown service principal", "HTTP@nosuch.localhost", kerberos.Config{}, "Kerberos: SEC_E_TARGET_UNKNOWN"},
		{"IP address target", "HTTP@127.0.0.1", kerberos.Config{}, "Kerberos: target is an IP address"},
		{"no KDC", "HTTP@" + svcHost, kerberos.Config{Krb5Conf: noKDC}, "Kerberos: SEC_E_NO_AUTHENTICATING_AUTHORITY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := krbNego(t, r, tc.kcfg)
			p := startSPNEGOPeer(t, append(r.env(t), "NTLM_USER_FILE="+users), "server", "--mechs", "krb5,ntlm")
			var legs []string
			id := &sspi.AuthIdentity{User: krbUser, Domain: r.Name, Password: r.userPW}
			out := runOurSideID(t, n, true, tc.target, id, &livePeer{p: p}, &legs)
			if init := parseInit(t, unhex(t, legs[0])); len(init.MechTypes) != 1 || !init.MechTypes[0].Equal(spnego.OIDNTLM) {
				t.Fatalf("offered %v", init.MechTypes)
			}
			u, err := n.InitUserModeContext(out.ContextData)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := u.QueryAttributes(sspi.SECPKG_ATTR_NEGOTIATION_INFO)
			ni := v.(sspi.SecPkgContextNegotiationInfo)
			if ni.PackageInfo.Name != ntlm.PackageName {
				t.Fatalf("%+v", v)
			}
			if len(ni.Skipped) != 1 || !strings.HasPrefix(ni.Skipped[0], tc.why) {
				t.Fatalf("skipped %q, want %s...", ni.Skipped, tc.why)
			}
			t.Log(ni.Skipped[0])
			messagesWithPeer(t, p, u, &transcript{})
		})
	}
}

// TestInteropDowngradeKerberosStripped: MIT's initiator offers Kerberos
// then NTLM; an attacker removes Kerberos (and its optimistic token) so
// that NTLM is used. MIT's mechListMIC covers the list it sent, and our
// acceptor refuses the altered list.
func TestInteropDowngradeKerberosStripped(t *testing.T) {
	r := realm(t)
	n := krbNego(t, r, kerberos.Config{})
	p := startSPNEGOPeer(t, r.env(t), "client", "--mechs", "krb5,ntlm", "--target", "HTTP@"+svcHost)
	x := &tamperPeer{tokenExchanger: &livePeer{p: p}, edit: func(i int, b []byte) []byte {
		if i != 0 {
			return b
		}
		init := parseInit(t, b)
		if len(init.MechTypes) != 2 || !init.MechTypes[0].Equal(spnego.OIDKerberos) {
			t.Fatalf("MIT offered %v", init.MechTypes)
		}
		out, err := (&spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDNTLM}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}}
	var legs []string
	out, err := runOurSideErr(t, n, false, "", x, &legs)
	if !errors.Is(err, sspi.SEC_E_DOWNGRADE_DETECTED) {
		t.Fatalf("stripped Kerberos went unnoticed: %v (legs %d)", err, len(legs))
	}
	if r := parseResp(t, tok(out)); r.NegState != spnego.Reject {
		t.Fatalf("no reject token: %+v", r)
	}
}

// TestInteropDowngradeToMITAcceptor: our initiator offers Kerberos then
// NTLM; an attacker removes Kerberos on the way to MIT's acceptor. Our
// initiator sees NTLM counter-proposed, requires the MIC exchange, and MIT
// refuses our mechListMIC over the list we really sent.
func TestInteropDowngradeToMITAcceptor(t *testing.T) {
	r := realm(t)
	n := krbNego(t, r, kerberos.Config{})
	// alice's NTLM password is her Kerberos one here: one identity for both.
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte(r.Name+":"+krbUser+":"+r.userPW+"\n"), 0o600)
	p := startSPNEGOPeer(t, append(r.env(t), "NTLM_USER_FILE="+users), "server", "--mechs", "krb5,ntlm")
	lp := &livePeer{p: p, tolerate: true}
	first := true
	x := &tamperOut{tokenExchanger: lp, edit: func(b []byte) []byte {
		if !first {
			return b
		}
		first = false
		init := parseInit(t, b)
		if !init.MechTypes[0].Equal(spnego.OIDKerberos) {
			t.Fatalf("offered %v", init.MechTypes)
		}
		out, _ := (&spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDNTLM}}).Marshal()
		return out
	}}
	var legs []string
	id := &sspi.AuthIdentity{User: krbUser + "@" + r.Name, Password: r.userPW}
	_, err := runOurSideErrID(t, n, true, "HTTP@"+svcHost, id, x, &legs)
	t.Logf("MIT refused: %v; we: %v", lp.err, err)
	if lp.err == nil || !strings.Contains(strings.ToLower(lp.err.Error()), "mic") && !strings.Contains(strings.ToLower(lp.err.Error()), "integrity") {
		t.Fatalf("MIT accepted the altered list: peer %v, ours %v (legs %d)", lp.err, err, len(legs))
	}
}

// curlRecording is curl's Negotiate token as our acceptor received it.
type curlRecording struct {
	Client string `json:"client"`
	Time   string `json:"time"`
	Token  string `json:"token"`  // base64, as in the Authorization header
	Keytab string `json:"keytab"` // base64 keytab of HTTP/svc.localhost
	Realm  string `json:"realm"`
}

// TestCurlNegotiate runs `curl --negotiate` with alice's MIT ticket against
// an HTTP endpoint backed by our acceptor, and records curl's token with
// the realm's keytab for TestReplayCurlNegotiate.
func TestCurlNegotiate(t *testing.T) {
	r := realm(t)
	curl := testutil.RequirePeer(t, "curl")
	now := time.Now().UTC().Truncate(time.Second)
	n := krbNego(t, r, kerberos.Config{Now: func() time.Time { return now }})
	cred := acquireIn(t, n)
	var mu sync.Mutex
	var tokens []string
	var user string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h := req.Header.Get("Authorization")
		if !strings.HasPrefix(h, "Negotiate ") {
			w.Header().Set("WWW-Authenticate", "Negotiate")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		in, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Negotiate "))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		tokens = append(tokens, strings.TrimPrefix(h, "Negotiate "))
		mu.Unlock()
		_, out, err := n.AcceptLsaModeContext(req.Context(), cred, nil, &secpkg.AcceptContextParams{Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: in})})
		if err != nil || out.Status != sspi.SEC_E_OK {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		u, err := n.InitUserModeContext(out.ContextData)
		if err == nil {
			if id, err := u.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY); err == nil {
				mu.Lock()
				user = identityOf(t, id).Principal
				mu.Unlock()
			}
		}
		w.Header().Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(tok(out)))
		io.WriteString(w, "hello "+user)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	url := fmt.Sprintf("http://%s:%d/", svcHost, port)
	cmd := exec.Command(curl, "--negotiate", "-u", ":", "-s", "-S", "--fail", "--resolve", fmt.Sprintf("%s:%d:127.0.0.1", svcHost, port), url)
	cmd.Env = r.env(t)
	body, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v: %s", err, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(tokens) != 1 || !strings.HasPrefix(user, krbUser+"@") || string(body) != "hello "+user {
		t.Fatalf("tokens %d user %q body %q", len(tokens), user, body)
	}
	init := parseInit(t, mustB64(t, tokens[0]))
	if !init.MechTypes[0].IsKerberos() || init.MechToken == nil {
		t.Fatalf("curl offered %v", init.MechTypes)
	}
	if *record {
		kt, err := os.ReadFile(r.svcKeytab)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.MarshalIndent(&curlRecording{Client: curlVersion(curl), Time: now.Format(time.RFC3339), Token: tokens[0],
			Keytab: base64.StdEncoding.EncodeToString(kt), Realm: r.Name}, "", "  ")
		if err := os.WriteFile(filepath.Join("testdata", "curl-negotiate.json"), append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func curlVersion(curl string) string {
	out, _ := exec.Command(curl, "--version").Output()
	line, _, _ := strings.Cut(string(out), "\n")
	return line
}

func mustB64(t testing.TB, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplayCurlNegotiate accepts the recorded curl token with the
// recorded keytab and clock.
func TestReplayCurlNegotiate(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "curl-negotiate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec curlRecording
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	n := replayKerberosAcceptor(t, rec.Keytab, rec.Time)
	_, out, err := n.AcceptLsaModeContext(t.Context(), acquireIn(t, n), nil, &secpkg.AcceptContextParams{
		Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: mustB64(t, rec.Token)})})
	if err != nil || out.Status != sspi.SEC_E_OK {
		t.Fatalf("%v %v", out.Status, err)
	}
	u, err := n.InitUserModeContext(out.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	kerberosChosen(t, u)
	id, err := u.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if err != nil || identityOf(t, id).Principal != krbUser+"@"+rec.Realm {
		t.Fatalf("identity %v %v", id, err)
	}
	// The same token again is a replay, once the acceptor keeps a cache.
	now := fixedClock(t, rec.Time)
	n2, _ := New(Config{Packages: []secpkg.LsaModePackage{kerberos.New(kerberos.Config{Krb5Conf: "/dev/null", Keytab: writeKeytab(t, rec.Keytab), Now: now})},
		UserPackages: []sspi.UserModePackage{kerberos.NewUserMode(sspi.Env{Now: now})}})
	cred := acquireIn(t, n2)
	in := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: mustB64(t, rec.Token)})
	if _, _, err := n2.AcceptLsaModeContext(t.Context(), cred, nil, &secpkg.AcceptContextParams{Input: in}); err != nil {
		t.Fatal(err)
	}
	_, out, err = n2.AcceptLsaModeContext(t.Context(), cred, nil, &secpkg.AcceptContextParams{Input: in.Clone()})
	if err == nil {
		t.Fatal("replayed curl token accepted")
	}
	if r := parseResp(t, tok(out)); r.NegState != spnego.Reject {
		t.Fatalf("%+v", r)
	}
}

func writeKeytab(t *testing.T, b64 string) string {
	path := filepath.Join(t.TempDir(), "keytab")
	if err := os.WriteFile(path, mustB64(t, b64), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fixedClock pins the clock to a recording's time (testutil.PinClock).
func fixedClock(t *testing.T, when string) func() time.Time {
	at, err := time.Parse(time.RFC3339, when)
	if err != nil {
		t.Fatal(err)
	}
	return testutil.PinClock(t, at)
}

// TestRawMechanismTokens presents raw tokens to our Negotiate acceptor, as
// Windows accepts them: a GSS-framed Kerberos AP-REQ from our bare Kerberos
// initiator, the same AP-REQ without framing, and an NTLMSSP NEGOTIATE from
// our bare NTLM initiator. The answers are raw mechanism tokens too.
func TestRawMechanismTokens(t *testing.T) {
	r := realm(t)
	n := krbNego(t, r, kerberos.Config{})
	desc := func(b []byte) *sspi.SecBufferDesc {
		return sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: b})
	}
	for _, unframed := range []bool{false, true} {
		kp := kerberos.New(kerberos.Config{Krb5Conf: r.Krb5Con})
		kc, _, err := kp.AcquireCredentialsHandle(t.Context(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: krbIdentity(r)})
		if err != nil {
			t.Fatal(err)
		}
		cctx, cout, err := kp.InitLsaModeContext(t.Context(), kc, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY})
		if err != nil {
			t.Fatal(err)
		}
		apreq := tok(cout)
		if unframed {
			g, _, err := gss.Parse(apreq)
			if err != nil || len(g.Inner) < 2 {
				t.Fatal(err)
			}
			apreq = g.Inner[2:] // strip TOK_ID 01 00: the bare AP-REQ
			if apreq[0] != 0x6e {
				t.Fatalf("not an AP-REQ: %x", apreq[:4])
			}
		}
		_, sout, err := n.AcceptLsaModeContext(t.Context(), acquireIn(t, n), nil, &secpkg.AcceptContextParams{Input: desc(apreq)})
		if err != nil || sout.Status != sspi.SEC_E_OK {
			t.Fatalf("raw AP-REQ: %v", err)
		}
		if _, _, err := spnego.ParseToken(tok(sout)); err == nil {
			t.Fatal("answer to a raw AP-REQ is SPNEGO")
		}
		_, cout, err = kp.InitLsaModeContext(t.Context(), kc, cctx, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY, Input: desc(tok(sout))})
		if err != nil || cout.Status != sspi.SEC_E_OK {
			t.Fatalf("AP-REP: %v", err)
		}
		cu, _ := kerberos.UserMode().InitUserModeContext(cout.ContextData)
		su, err := n.InitUserModeContext(sout.ContextData)
		if err != nil {
			t.Fatal(err)
		}
		if ni := negInfoTB(t, su); ni.PackageInfo.Name != kerberos.PackageName {
			t.Fatalf("%+v", ni)
		}
		if got := unwrapStream(t, su, wrapStream(t, cu, []byte("raw kerberos"))); string(got) != "raw kerberos" {
			t.Fatalf("%q", got)
		}
		if got := unwrapStream(t, cu, wrapStream(t, su, []byte("and back"))); string(got) != "and back" {
			t.Fatalf("%q", got)
		}
	}

	// Raw NTLMSSP.
	store := ntlm.NewMemoryStore()
	store.Add(ntlmDomain, ntlmUser, ntlmPass)
	np := ntlm.New(ntlm.Config{})
	nc, _, err := np.AcquireCredentialsHandle(t.Context(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPass}})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cout, err := np.InitLsaModeContext(t.Context(), nc, nil, &secpkg.InitContextParams{TargetName: "HTTP/" + svcHost, ContextReq: sspi.ISC_REQ_CONFIDENTIALITY})
	if err != nil {
		t.Fatal(err)
	}
	scred := acquireIn(t, n)
	sctx, sout, err := n.AcceptLsaModeContext(t.Context(), scred, nil, &secpkg.AcceptContextParams{Input: desc(tok(cout))})
	if err != nil || sout.Status != sspi.SEC_I_CONTINUE_NEEDED || string(tok(sout)[:8]) != "NTLMSSP\x00" {
		t.Fatalf("raw NEGOTIATE: %v", err)
	}
	_, cout, err = np.InitLsaModeContext(t.Context(), nc, cctx, &secpkg.InitContextParams{TargetName: "HTTP/" + svcHost, ContextReq: sspi.ISC_REQ_CONFIDENTIALITY, Input: desc(tok(sout))})
	if err != nil {
		t.Fatal(err)
	}
	_, sout, err = n.AcceptLsaModeContext(t.Context(), scred, sctx, &secpkg.AcceptContextParams{Input: desc(tok(cout))})
	if err != nil || sout.Status != sspi.SEC_E_OK || !sout.Mapped {
		t.Fatalf("raw AUTHENTICATE: %v", err)
	}
	cu, _ := ntlm.UserMode().InitUserModeContext(cout.ContextData)
	su, err := n.InitUserModeContext(sout.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	if got := unwrapStream(t, su, wrapStream(t, cu, []byte("raw ntlm"))); string(got) != "raw ntlm" {
		t.Fatalf("%q", got)
	}
}

func negInfoTB(t testing.TB, u sspi.UserModeContext) sspi.SecPkgContextNegotiationInfo {
	v, err := u.QueryAttributes(sspi.SECPKG_ATTR_NEGOTIATION_INFO)
	if err != nil {
		t.Fatal(err)
	}
	return v.(sspi.SecPkgContextNegotiationInfo)
}

// TestInteropKerberosMIC runs the mechListMIC exchange over Kerberos with
// MIT both ways: the initiator lists NTLM first, the acceptor only has
// Kerberos, so it picks the initiator's second mechanism and both sides
// must exchange MICs (RFC 4178 5). Messages flow afterwards, so the MIC's
// sequence numbers were accounted for on both sides.
func TestInteropKerberosMIC(t *testing.T) {
	r := realm(t)
	krbOnly := func(t *testing.T) *Package {
		n, err := New(Config{
			Packages:     []secpkg.LsaModePackage{kerberos.New(kerberos.Config{Krb5Conf: r.Krb5Con, Keytab: r.svcKeytab})},
			UserPackages: []sspi.UserModePackage{kerberos.UserMode()},
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Run("gosspi-client", func(t *testing.T) {
		n := krbNego(t, r, kerberos.Config{})
		p := startSPNEGOPeer(t, r.env(t), "server", "--mechs", "krb5")
		var legs []string
		id := &sspi.AuthIdentity{User: krbUser, Password: r.userPW, PackageList: "ntlm,kerberos"}
		out := runOurSideID(t, n, true, "HTTP@"+svcHost, id, &livePeer{p: p}, &legs)
		if len(legs) != 5 {
			t.Fatalf("%d legs", len(legs))
		}
		if r := parseResp(t, unhex(t, legs[1])); r.NegState != spnego.RequestMIC || !r.SupportedMech.IsKerberos() {
			t.Fatalf("MIT answered %+v", r)
		}
		if r := parseResp(t, unhex(t, legs[3])); r.MechListMIC == nil || r.ResponseToken == nil {
			t.Fatalf("MIT's AP-REP leg %+v", r)
		}
		if r := parseResp(t, unhex(t, legs[4])); r.MechListMIC == nil || r.NegState != spnego.AcceptCompleted {
			t.Fatalf("our MIC leg %+v", r)
		}
		u, err := n.InitUserModeContext(out.ContextData)
		if err != nil {
			t.Fatal(err)
		}
		kerberosChosen(t, u)
		messagesWithPeer(t, p, u, &transcript{})
	})
	t.Run("gosspi-server", func(t *testing.T) {
		n := krbOnly(t)
		p := startSPNEGOPeer(t, r.env(t), "client", "--mechs", "ntlm,krb5", "--target", "HTTP@"+svcHost)
		var legs []string
		out := runOurSide(t, n, false, "", &livePeer{p: p}, &legs)
		init := parseInit(t, unhex(t, legs[0]))
		if len(init.MechTypes) != 2 || !init.MechTypes[0].Equal(spnego.OIDNTLM) {
			t.Fatalf("MIT offered %v", init.MechTypes)
		}
		if r := parseResp(t, unhex(t, legs[1])); r.NegState != spnego.RequestMIC || !r.SupportedMech.Equal(spnego.OIDKerberos) {
			t.Fatalf("we answered %+v", r)
		}
		u, err := n.InitUserModeContext(out.ContextData)
		if err != nil {
			t.Fatal(err)
		}
		kerberosChosen(t, u)
		messagesWithPeer(t, p, u, &transcript{})
	})
}

// TestChannelBindings passes SECBUFFER_CHANNEL_BINDINGS through Negotiate to
// the inner package on both sides, for Kerberos and for NTLM: equal
// bindings succeed, different ones fail with SEC_E_BAD_BINDINGS and a
// reject token.
func TestChannelBindings(t *testing.T) {
	r := realm(t)
	store := ntlm.NewMemoryStore()
	store.Add("", krbUser, r.userPW)
	n, err := New(Config{
		Packages: []secpkg.LsaModePackage{
			kerberos.New(kerberos.Config{Krb5Conf: r.Krb5Con, Keytab: r.svcKeytab}),
			ntlm.New(ntlm.Config{AllowReflection: true, Accounts: store}),
		},
		UserPackages: []sspi.UserModePackage{kerberos.UserMode(), ntlmUserMode()},
	})
	if err != nil {
		t.Fatal(err)
	}
	cb := func(s string) *sspi.ChannelBindings {
		return &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:" + s)}
	}
	for _, tc := range []struct {
		name, list     string
		client, server *sspi.ChannelBindings
		want           sspi.Status
	}{
		{"kerberos", "kerberos", cb("a"), cb("a"), sspi.SEC_E_OK},
		{"kerberos-mismatch", "kerberos", cb("a"), cb("b"), sspi.SEC_E_BAD_BINDINGS},
		{"ntlm", "ntlm", cb("a"), cb("a"), sspi.SEC_E_OK},
		{"ntlm-mismatch", "ntlm", cb("a"), cb("b"), sspi.SEC_E_BAD_BINDINGS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ccred, _, err := n.AcquireCredentialsHandle(t.Context(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
				AuthData: &sspi.AuthIdentity{User: krbUser, Password: r.userPW, PackageList: tc.list}})
			if err != nil {
				t.Fatal(err)
			}
			scred := acquireIn(t, n)
			desc := func(tok []byte, b *sspi.ChannelBindings) *sspi.SecBufferDesc {
				d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_CHANNEL_BINDINGS, Buffer: b.Marshal()})
				if tok != nil {
					d.Buffers = append([]sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok}}, d.Buffers...)
				}
				return d
			}
			var cctx, sctx secpkg.LsaContext
			var in []byte
			var st sspi.Status
			cdone := false
			for i := 0; i < 8; i++ {
				var out secpkg.ContextOutput
				if i%2 == 0 {
					if cdone {
						break
					}
					cctx, out, err = n.InitLsaModeContext(t.Context(), ccred, cctx, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: sspi.ISC_REQ_MUTUAL_AUTH, Input: desc(in, tc.client)})
					cdone = err == nil && out.Status == sspi.SEC_E_OK
				} else {
					sctx, out, err = n.AcceptLsaModeContext(t.Context(), scred, sctx, &secpkg.AcceptContextParams{Input: desc(in, tc.server)})
					if err == nil {
						st = out.Status
					}
				}
				if err != nil {
					if i%2 == 1 {
						if r := parseResp(t, tok(out)); r.NegState != spnego.Reject {
							t.Fatalf("no reject token: %+v", r)
						}
					}
					st = sspi.StatusOf(err)
					break
				}
				if in = tok(out); len(in) == 0 {
					in = nil
					if cdone {
						break
					}
				}
			}
			if st != tc.want {
				t.Fatalf("status %v, want %v", st, tc.want)
			}
		})
	}
}
