package ntlm

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

const (
	testDomain   = "EXAMPLE"
	testUser     = "alice"
	testPassword = "Secr3t!pass"
)

func testStore() *MemoryStore {
	m := NewMemoryStore()
	m.Add(testDomain, testUser, testPassword)
	return m
}

func testPackage(cfg Config) *Package {
	if cfg.Accounts == nil {
		cfg.Accounts = testStore()
	}
	return New(cfg)
}

type peer struct {
	p    *Package
	cred secpkg.LsaCredential
	ctx  secpkg.LsaContext
	out  secpkg.ContextOutput
}

func clientCred(t testing.TB, p *Package, ai *sspi.AuthIdentity) secpkg.LsaCredential {
	t.Helper()
	c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: ai})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func serverCred(t testing.TB, p *Package) secpkg.LsaCredential {
	t.Helper()
	c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exchange runs a handshake. tamper, when set, may change each token
// (leg 1 NEGOTIATE, 2 CHALLENGE, 3 AUTHENTICATE) before it is delivered.
// It returns the client and server peers and the server's final error.
type hsOpts struct {
	ai        *sspi.AuthIdentity
	iscReq    sspi.ISCReq
	ascReq    sspi.ASCReq
	clientCB  *sspi.ChannelBindings
	serverCB  *sspi.ChannelBindings
	target    string
	tamper    func(leg int, tok []byte) []byte
	client    *Package
	server    *Package
	serverCfg Config
}

func withCB(tok []byte, cb *sspi.ChannelBindings) *sspi.SecBufferDesc {
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok})
	if cb != nil {
		d.Buffers = append(d.Buffers, sspi.SecBuffer{BufferType: sspi.SECBUFFER_CHANNEL_BINDINGS, Buffer: cb.Marshal()})
	}
	return d
}

func runHandshake(t testing.TB, o hsOpts) (*peer, *peer, error) {
	t.Helper()
	ctx := context.Background()
	if o.client == nil {
		o.client = testPackage(Config{})
	}
	if o.server == nil {
		o.server = testPackage(o.serverCfg)
	}
	if o.ai == nil {
		o.ai = &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: testPassword}
	}
	if o.iscReq == 0 {
		o.iscReq = sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_CONNECTION
	}
	if o.tamper == nil {
		o.tamper = func(_ int, b []byte) []byte { return b }
	}
	c := &peer{p: o.client, cred: clientCred(t, o.client, o.ai)}
	s := &peer{p: o.server, cred: serverCred(t, o.server)}
	var err error
	var in *sspi.SecBufferDesc
	if o.clientCB != nil {
		in = withCB(nil, o.clientCB)
	}
	c.ctx, c.out, err = c.p.InitLsaModeContext(ctx, c.cred, nil, &secpkg.InitContextParams{TargetName: o.target, ContextReq: o.iscReq, Input: in})
	if err != nil {
		t.Fatalf("ISC 1: %v", err)
	}
	neg := o.tamper(1, c.out.Output[0].Buffer)
	s.ctx, s.out, err = s.p.AcceptLsaModeContext(ctx, s.cred, nil, &secpkg.AcceptContextParams{ContextReq: o.ascReq, Input: withCB(neg, o.serverCB)})
	if err != nil {
		return c, s, err
	}
	chal := o.tamper(2, s.out.Output[0].Buffer)
	c.ctx, c.out, err = c.p.InitLsaModeContext(ctx, c.cred, c.ctx, &secpkg.InitContextParams{TargetName: o.target, ContextReq: o.iscReq, Input: withCB(chal, o.clientCB)})
	if err != nil {
		return c, s, err
	}
	auth := o.tamper(3, c.out.Output[0].Buffer)
	s.ctx, s.out, err = s.p.AcceptLsaModeContext(ctx, s.cred, s.ctx, &secpkg.AcceptContextParams{ContextReq: o.ascReq, Input: withCB(auth, o.serverCB)})
	return c, s, err
}

func mapped(t testing.TB, out secpkg.ContextOutput) *UserContext {
	t.Helper()
	if !out.Mapped || out.Status != sspi.SEC_E_OK {
		t.Fatalf("not mapped: %+v", out)
	}
	u, err := UserMode().InitUserModeContext(out.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	return u.(*UserContext)
}

// mappedOn is mapped on p's clock, as a host hands the LSA-mode half's
// clock to the user-mode half: replays under a pinned clock use it.
func mappedOn(t testing.TB, p *Package, out secpkg.ContextOutput) *UserContext {
	t.Helper()
	if !out.Mapped || out.Status != sspi.SEC_E_OK {
		t.Fatalf("not mapped: %+v", out)
	}
	u, err := p.InitUserModeContext(out.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	return u.(*UserContext)
}

func sealDesc(data []byte) *sspi.SecBufferDesc {
	return sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, SignatureSize)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: data})
}

func roundTrip(t *testing.T, from, to *UserContext, text string) {
	t.Helper()
	data := []byte(text)
	msg := sealDesc(data)
	if err := from.SealMessage(0, msg, 0); err != nil {
		t.Fatal(err)
	}
	if len(text) > 4 && bytes.Equal(msg.Buffers[1].Buffer, []byte(text)) {
		t.Fatal("SealMessage left the data in clear")
	}
	if _, err := to.UnsealMessage(msg, 0); err != nil {
		t.Fatalf("UnsealMessage: %v", err)
	}
	if string(msg.Buffers[1].Buffer) != text {
		t.Fatalf("unsealed %q", msg.Buffers[1].Buffer)
	}
	sig := sealDesc([]byte(text))
	if err := from.MakeSignature(0, sig, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := to.VerifySignature(sig, 0); err != nil {
		t.Fatalf("VerifySignature: %v", err)
	}
}

func TestHandshakeAndMessages(t *testing.T) {
	c, s, err := runHandshake(t, hsOpts{target: "HTTP/server.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	cu, su := mapped(t, c.out), mapped(t, s.out)
	for i := 0; i < 3; i++ {
		roundTrip(t, cu, su, "hello from the client")
		roundTrip(t, su, cu, "hello from the server")
	}
	ck, _ := cu.QueryAttributes(sspi.SECPKG_ATTR_SESSION_KEY)
	sk, _ := su.QueryAttributes(sspi.SECPKG_ATTR_SESSION_KEY)
	if !bytes.Equal(ck.(sspi.SecPkgContextSessionKey).SessionKey, sk.(sspi.SecPkgContextSessionKey).SessionKey) {
		t.Error("session keys differ")
	}
	names, _ := su.QueryAttributes(sspi.SECPKG_ATTR_NAMES)
	if got := names.(sspi.SecPkgContextNames).UserName; got != `EXAMPLE\alice` {
		t.Errorf("NAMES = %q", got)
	}
	sizes, _ := su.QueryAttributes(sspi.SECPKG_ATTR_SIZES)
	if z := sizes.(sspi.SecPkgContextSizes); z.MaxSignature != 16 || z.SecurityTrailer != 16 {
		t.Errorf("SIZES = %+v", z)
	}
	fl, _ := cu.QueryAttributes(sspi.SECPKG_ATTR_FLAGS)
	if f := fl.(sspi.SecPkgContextFlags).Flags; f&sspi.FlagConfidentiality == 0 || f&sspi.FlagIntegrity == 0 {
		t.Errorf("FLAGS = %v", f)
	}
	ls, _ := su.QueryAttributes(sspi.SECPKG_ATTR_LIFESPAN)
	if l := ls.(sspi.SecPkgContextLifespan); !l.Expiry.After(l.Start) {
		t.Errorf("LIFESPAN = %+v", l)
	}
	id, _ := su.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if i := id.(sspi.Identity); i.User != testUser || i.Domain != testDomain || i.Package != "NTLM" {
		t.Errorf("identity = %+v", i)
	}
	if _, err := su.QueryAttributes(sspi.SECPKG_ATTR_KEY_INFO); !errors.Is(err, sspi.SEC_E_UNSUPPORTED_FUNCTION) {
		t.Errorf("unknown attribute: %v", err)
	}
	// LSA-side attributes agree.
	ln, _ := s.ctx.QueryAttributes(sspi.SECPKG_ATTR_NAMES)
	if ln.(sspi.SecPkgContextNames).UserName != `EXAMPLE\alice` {
		t.Errorf("LSA NAMES = %v", ln)
	}
}

func TestUserNameForms(t *testing.T) {
	for _, ai := range []*sspi.AuthIdentity{
		{User: `EXAMPLE\alice`, Password: testPassword},
		{User: `alice@EXAMPLE`, Password: testPassword},
		{User: "alice", Domain: "EXAMPLE", NTHash: func() []byte { h := ntlmssp.NTOWFv1(testPassword); return h[:] }()},
	} {
		if _, _, err := runHandshake(t, hsOpts{ai: ai}); err != nil {
			t.Errorf("%+v: %v", ai.User, err)
		}
	}
}

// TestExportImport shows the user-mode half works from ContextData alone,
// also after messages have flowed and the context was exported.
func TestExportImport(t *testing.T) {
	c, s, err := runHandshake(t, hsOpts{})
	if err != nil {
		t.Fatal(err)
	}
	cu, su := mapped(t, c.out), mapped(t, s.out)
	roundTrip(t, cu, su, "one")
	roundTrip(t, su, cu, "two")
	data, err := cu.ExportContext()
	if err != nil {
		t.Fatal(err)
	}
	cu.Delete()
	if err := cu.SealMessage(0, sealDesc([]byte("x")), 0); !errors.Is(err, sspi.SEC_E_INVALID_HANDLE) {
		t.Errorf("after Delete: %v", err)
	}
	cu2, err := UserMode().InitUserModeContext(data)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, cu2.(*UserContext), su, "three")
	roundTrip(t, su, cu2.(*UserContext), "four")
}

func TestExpiredContext(t *testing.T) {
	past := time.Now().Add(-11 * time.Hour)
	c, _, err := runHandshake(t, hsOpts{client: testPackage(Config{Now: func() time.Time { return past }})})
	if err != nil {
		t.Fatal(err)
	}
	cu := mapped(t, c.out)
	if err := cu.SealMessage(0, sealDesc([]byte("x")), 0); !errors.Is(err, sspi.SEC_E_CONTEXT_EXPIRED) {
		t.Errorf("got %v", err)
	}
}

func TestAnonymous(t *testing.T) {
	anon := &sspi.AuthIdentity{}
	_, _, err := runHandshake(t, hsOpts{ai: anon})
	if !errors.Is(err, sspi.SEC_E_LOGON_DENIED) {
		t.Fatalf("anonymous without ALLOW_NULL_SESSION: %v", err)
	}
	c, s, err := runHandshake(t, hsOpts{ai: anon, ascReq: sspi.ASC_REQ_ALLOW_NULL_SESSION})
	if err != nil {
		t.Fatal(err)
	}
	if s.out.Flags&sspi.FlagNullSession == 0 {
		t.Errorf("flags %v", s.out.Flags)
	}
	cu, su := mapped(t, c.out), mapped(t, s.out)
	roundTrip(t, cu, su, "anonymous")
	id, _ := su.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if !id.(sspi.Identity).Anonymous {
		t.Error("identity not anonymous")
	}
}

func TestLegacyNTLMv1(t *testing.T) {
	legacy := Config{AllowNTLMv1: true}
	// Both sides opted in: NTLMv1 with ESS works.
	c, s, err := runHandshake(t, hsOpts{client: testPackage(legacy), serverCfg: legacy})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, mapped(t, c.out), mapped(t, s.out), "legacy ESS")
	// NTLMv1 without ESS: strip ESS from the NEGOTIATE.
	noESS := func(leg int, b []byte) []byte {
		if leg == 1 {
			b = append([]byte(nil), b...)
			f := uint32(b[12]) | uint32(b[13])<<8 | uint32(b[14])<<16 | uint32(b[15])<<24
			f &^= ntlmssp.NegotiateExtendedSessionSecurity
			b[12], b[13], b[14], b[15] = byte(f), byte(f>>8), byte(f>>16), byte(f>>24)
		}
		return b
	}
	c, s, err = runHandshake(t, hsOpts{client: testPackage(legacy), serverCfg: legacy, tamper: noESS})
	if err != nil {
		t.Fatal(err)
	}
	cu, su := mapped(t, c.out), mapped(t, s.out)
	roundTrip(t, cu, su, "legacy v1")
	roundTrip(t, su, cu, "legacy v1 back")
	// The server has not opted in: refused.
	_, _, err = runHandshake(t, hsOpts{client: testPackage(legacy)})
	if sspi.StatusOf(err) != sspi.SEC_E_LOGON_DENIED {
		t.Fatalf("NTLMv1 to a default server: %v", err)
	}
}

// TestChannelBindings checks the policy as the package sees it per call:
// without ASC_REQ_ALLOW_MISSING_BINDINGS (the Windows semantics, and the
// host's BindingsRequired) a client that sends none is refused; with it
// (the host's BindingsWhenSupported) it passes; with no server bindings
// (the host's BindingsOff) nothing is checked.
func TestChannelBindings(t *testing.T) {
	cb := &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:0123456789abcdef")}
	other := &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:fedcba9876543210")}
	const allow = sspi.ASC_REQ_ALLOW_MISSING_BINDINGS
	for _, tc := range []struct {
		name     string
		req      sspi.ASCReq
		cli, srv *sspi.ChannelBindings
		want     sspi.Status
	}{
		{"match", allow, cb, cb, sspi.SEC_E_OK},
		{"match required", 0, cb, cb, sspi.SEC_E_OK},
		{"mismatch", allow, other, cb, sspi.SEC_E_BAD_BINDINGS},
		{"mismatch required", 0, other, cb, sspi.SEC_E_BAD_BINDINGS},
		{"missing when supported", allow, nil, cb, sspi.SEC_E_OK},
		{"missing required", 0, nil, cb, sspi.SEC_E_BAD_BINDINGS},
		{"no server bindings", 0, other, nil, sspi.SEC_E_OK},
	} {
		_, _, err := runHandshake(t, hsOpts{ascReq: tc.req, clientCB: tc.cli, serverCB: tc.srv})
		if got := sspi.StatusOf(err); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAccountFiles(t *testing.T) {
	dir := t.TempDir()
	hf := OpenHashFile(dir + "/accounts")
	if err := hf.Add(testDomain, testUser, testPassword); err != nil {
		t.Fatal(err)
	}
	if err := hf.Add("", "bob", "bobpw"); err != nil {
		t.Fatal(err)
	}
	raw, _ := readFile(dir + "/accounts")
	if bytes.Contains(raw, []byte(testPassword)) || !bytes.HasPrefix(raw, []byte(HashFileMagic)) {
		t.Fatalf("account file content:\n%s", raw)
	}
	l, _ := hf.List()
	if len(l) != 2 {
		t.Fatalf("List = %v", l)
	}
	srv := New(Config{Accounts: hf})
	if _, _, err := runHandshake(t, hsOpts{server: srv}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runHandshake(t, hsOpts{server: srv, ai: &sspi.AuthIdentity{User: "bob", Domain: "ANY", Password: "bobpw"}}); err != nil {
		t.Fatal(err)
	}
	if err := hf.Remove(testDomain, testUser); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runHandshake(t, hsOpts{server: srv}); sspi.StatusOf(err) != sspi.SEC_E_LOGON_DENIED {
		t.Fatalf("removed account: %v", err)
	}
	if err := hf.Remove(testDomain, testUser); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("second remove: %v", err)
	}

	// gss-ntlmssp's NTLM_USER_FILE, through the options on both sides.
	uf := dir + "/users"
	if err := writeFile(uf, []byte("EXAMPLE:alice:"+testPassword+"\n:carol:pw:with:colons\n")); err != nil {
		t.Fatal(err)
	}
	p := New(Config{})
	sc, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND,
		AuthData: &sspi.AuthIdentity{Options: map[string]string{"accounts": uf}}})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := sc.(*credential).store.LookupAccount(context.Background(), "x", "carol"); err != nil || a.NTHash != ntlmssp.NTOWFv1("pw:with:colons") {
		t.Fatalf("carol: %v %v", a, err)
	}
	cc := clientCred(t, p, &sspi.AuthIdentity{User: "alice", Options: map[string]string{"credfile": uf}})
	if cc.(*credential).ntHash != ntlmssp.NTOWFv1(testPassword) || cc.(*credential).domain != "EXAMPLE" {
		t.Fatal("credfile not used")
	}
	t.Setenv("NTLM_USER_FILE", uf)
	if _, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, Principal: `EXAMPLE\alice`}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentHandshakes runs handshakes on one package and one pair of
// credentials from many goroutines (the race detector watches).
func TestConcurrentHandshakes(t *testing.T) {
	p := testPackage(Config{AllowReflection: true}) // client and server are p
	cc := clientCred(t, p, &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: testPassword})
	sc := serverCred(t, p)
	ctx := context.Background()
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		go func() {
			c, out, err := p.InitLsaModeContext(ctx, cc, nil, &secpkg.InitContextParams{ContextReq: sspi.ISC_REQ_CONFIDENTIALITY})
			if err != nil {
				errs <- err
				return
			}
			s, sout, err := p.AcceptLsaModeContext(ctx, sc, nil, &secpkg.AcceptContextParams{Input: withCB(out.Output[0].Buffer, nil)})
			if err != nil {
				errs <- err
				return
			}
			_, out, err = p.InitLsaModeContext(ctx, cc, c, &secpkg.InitContextParams{ContextReq: sspi.ISC_REQ_CONFIDENTIALITY, Input: withCB(sout.Output[0].Buffer, nil)})
			if err != nil {
				errs <- err
				return
			}
			_, sout, err = p.AcceptLsaModeContext(ctx, sc, s, &secpkg.AcceptContextParams{Input: withCB(out.Output[0].Buffer, nil)})
			if err == nil && !bytes.Equal(out.ContextData, sout.ContextData) {
				cu, _ := p.InitUserModeContext(out.ContextData)
				su, _ := p.InitUserModeContext(sout.ContextData)
				d := sealDesc([]byte("concurrent"))
				if err = cu.SealMessage(0, d, 0); err == nil {
					_, err = su.UnsealMessage(d, 0)
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < 64; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestTargetInfo: the CHALLENGE carries the server's names and a timestamp,
// and the client's response echoes them with its own pairs added.
func TestTargetInfo(t *testing.T) {
	var chal, auth []byte
	_, _, err := runHandshake(t, hsOpts{target: "HTTP/web.example.com",
		serverCfg: Config{NetBIOSDomain: "EXAMPLE", NetBIOSComputer: "WEB", DNSDomain: "example.com", DNSComputer: "web.example.com", DNSTreeName: "example.com"},
		tamper: func(l int, b []byte) []byte {
			switch l {
			case 2:
				chal = b
			case 3:
				auth = b
			}
			return b
		}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ntlmssp.ParseChallenge(chal)
	if err != nil {
		t.Fatal(err)
	}
	av, _ := ntlmssp.ParseAvPairs(c.TargetInfo)
	for id, want := range map[uint16]string{ntlmssp.AvNbDomainName: "EXAMPLE", ntlmssp.AvNbComputerName: "WEB", ntlmssp.AvDnsDomainName: "example.com",
		ntlmssp.AvDnsComputerName: "web.example.com", ntlmssp.AvDnsTreeName: "example.com"} {
		if got := av.String(id); got != want {
			t.Errorf("AV pair %d = %q, want %q", id, got, want)
		}
	}
	if _, ok := av.Get(ntlmssp.AvTimestamp); !ok {
		t.Error("no MsvAvTimestamp")
	}
	a, err := ntlmssp.ParseAuthenticate(auth)
	if err != nil {
		t.Fatal(err)
	}
	if !a.HasMIC || a.Version == nil {
		t.Errorf("AUTHENTICATE without MIC or ntlmssp.Version")
	}
	cav, err := ntlmssp.ParseAvPairs(a.NtChallengeResponse[44:])
	if err != nil {
		t.Fatal(err)
	}
	if cav.String(ntlmssp.AvTargetName) != "HTTP/web.example.com" || cav.String(ntlmssp.AvDnsTreeName) != "example.com" {
		t.Errorf("client AV pairs %v", cav)
	}
	if f, _ := cav.Get(ntlmssp.AvFlags); len(f) != 4 || f[0]&byte(ntlmssp.AvFlagMICPresent) == 0 {
		t.Errorf("MsvAvFlags %x", f)
	}
	if cb, _ := cav.Get(ntlmssp.AvChannelBindings); len(cb) != 16 {
		t.Errorf("MsvAvChannelBindings %x", cb)
	}
}

// TestResetCrypto: after ResetCrypto on both ends of one direction, sealing
// goes on with the RC4 state restarted and the sequence number counting;
// resetting only one end desynchronises that direction.
func TestResetCrypto(t *testing.T) {
	c, s, err := runHandshake(t, hsOpts{target: "HTTP/server.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	cu, su := mapped(t, c.out), mapped(t, s.out)
	seal := func(from, to *UserContext, msg string) error {
		tok := make([]byte, SignatureSize)
		data := []byte(msg)
		d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: data})
		if err := from.SealMessage(0, d, 0); err != nil {
			return err
		}
		_, err := to.UnsealMessage(d, 0)
		if err == nil && string(d.Buffers[1].Buffer) != msg {
			t.Fatalf("plaintext = %q", d.Buffers[1].Buffer)
		}
		return err
	}
	if err := seal(cu, su, "before"); err != nil {
		t.Fatal(err)
	}
	if err := cu.ResetCrypto(true); err != nil {
		t.Fatal(err)
	}
	if err := su.ResetCrypto(false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := seal(cu, su, "after"); err != nil {
			t.Fatalf("after a matched reset: %v", err)
		}
		if err := seal(su, cu, "other way"); err != nil {
			t.Fatalf("the other direction: %v", err)
		}
	}
	if err := cu.ResetCrypto(true); err != nil {
		t.Fatal(err)
	}
	if err := seal(cu, su, "one-sided"); !errors.Is(err, sspi.SEC_E_MESSAGE_ALTERED) {
		t.Fatalf("one-sided reset: %v", err)
	}
}
