package negotiate

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
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
		Packages:     []sspi.LsaModePackage{kerberos.New(kcfg), ntlm.New(ntlm.Config{Accounts: store})},
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
	if len(init.MechTypes) != 3 || !init.MechTypes[0].Equal(OIDKerberos) || !init.MechTypes[1].Equal(OIDMSKerberos) || !init.MechTypes[2].Equal(OIDNTLM) {
		t.Fatalf("offered %v", init.MechTypes)
	}
	if resp := parseResp(t, unhex(t, legs[1])); resp.NegState != AcceptCompleted || !resp.SupportedMech.Equal(OIDKerberos) {
		t.Fatalf("MIT answered %+v", resp)
	}
	if m := p.must(map[string]any{"op": "info"}); m["mech"] != OIDKerberos.String() || !strings.HasPrefix(m["peer"].(string), krbUser+"@") {
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
	tr := &transcript{Peer: "MIT SPNEGO + krb5", Direction: "gosspi-server", Mech: OIDKerberos.String(), Time: now.Format(time.RFC3339)}
	out := runOurSide(t, n, false, "", &livePeer{p: p}, &tr.Legs)
	init := parseInit(t, unhex(t, tr.Legs[0]))
	if len(init.MechTypes) != 2 || !init.MechTypes[0].Equal(OIDKerberos) || !init.MechTypes[1].Equal(OIDNTLM) || init.MechToken == nil {
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
	now, err := time.Parse(time.RFC3339, when)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	os.WriteFile(conf, []byte("[libdefaults]\n default_realm = GOSSPI.TEST\n"), 0o600)
	n, err := New(Config{
		Packages: []sspi.LsaModePackage{kerberos.New(kerberos.Config{Krb5Conf: conf, Keytab: path, DisableReplayCache: true,
			Now: func() time.Time { return now }}), ntlm.New(ntlm.Config{})},
		UserPackages: []sspi.UserModePackage{kerberos.UserMode(), ntlm.UserMode()},
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
	_, out, err := n.AcceptLsaModeContext(t.Context(), cred, nil, &sspi.AcceptContextParams{Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: legs[0]})})
	if err != nil || out.Status != sspi.SEC_E_OK || !out.Mapped {
		t.Fatalf("%v %v", out.Status, err)
	}
	resp := parseResp(t, tok(out))
	if resp.NegState != AcceptCompleted || !resp.SupportedMech.Equal(OIDKerberos) || resp.ResponseToken == nil {
		t.Fatalf("%+v", resp)
	}
	u, err := n.InitUserModeContext(out.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	kerberosChosen(t, u)
}

func acquireIn(t testing.TB, n *Package) sspi.LsaCredential {
	t.Helper()
	c, _, err := n.AcquireCredentialsHandle(t.Context(), &sspi.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestInteropFallbackToNTLM: our initiator prefers Kerberos but cannot use
// it (an unknown service principal, an IP-address target, no KDC) and
// falls back to NTLM against MIT's SPNEGO acceptor with gss-ntlmssp.
func TestInteropFallbackToNTLM(t *testing.T) {
	r := realm(t)
	noKDC := filepath.Join(t.TempDir(), "krb5.conf")
	os.WriteFile(noKDC, []byte("[libdefaults]\n default_realm = "+r.Name+"\n dns_lookup_kdc = false\n[realms]\n "+r.Name+" = {\n  kdc = 127.0.0.1:1\n }\n"), 0o600)
	for _, tc := range []struct {
		name, target string
		kcfg         kerberos.Config
	}{
		{"unknown service principal", "HTTP@nosuch.localhost", kerberos.Config{}},
		{"IP address target", "HTTP@127.0.0.1", kerberos.Config{}},
		{"no KDC", "HTTP@" + svcHost, kerberos.Config{Krb5Conf: noKDC}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := krbNego(t, r, tc.kcfg)
			p := startSPNEGOPeer(t, r.env(t), "server", "--mechs", "krb5,ntlm")
			var legs []string
			id := &sspi.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPass}
			out := runOurSideID(t, n, true, tc.target, id, &livePeer{p: p}, &legs)
			if init := parseInit(t, unhex(t, legs[0])); len(init.MechTypes) != 1 || !init.MechTypes[0].Equal(OIDNTLM) {
				t.Fatalf("offered %v", init.MechTypes)
			}
			u, err := n.InitUserModeContext(out.ContextData)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := u.QueryAttributes(sspi.SECPKG_ATTR_NEGOTIATION_INFO)
			if v.(sspi.SecPkgContextNegotiationInfo).PackageInfo.Name != ntlm.PackageName {
				t.Fatalf("%+v", v)
			}
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
		if len(init.MechTypes) != 2 || !init.MechTypes[0].Equal(OIDKerberos) {
			t.Fatalf("MIT offered %v", init.MechTypes)
		}
		out, err := (&NegTokenInit{MechTypes: []OID{OIDNTLM}}).Marshal()
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
	if r := parseResp(t, tok(out)); r.NegState != Reject {
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
		if !init.MechTypes[0].Equal(OIDKerberos) {
			t.Fatalf("offered %v", init.MechTypes)
		}
		out, _ := (&NegTokenInit{MechTypes: []OID{OIDNTLM}}).Marshal()
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
