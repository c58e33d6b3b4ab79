package negotiate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Test mechanisms: Kerberos-shaped and NTLM-shaped toys with the real OIDs.
func newToys() (krb, ntlm *toyPkg) {
	krb = &toyPkg{name: "Kerberos", oids: []string{spnego.OIDKerberos.String()}}
	ntlm = &toyPkg{name: "NTLM", oids: []string{spnego.OIDNTLM.String()}, ntlmLike: true}
	return
}

func newNego(t testing.TB, pkgs ...*toyPkg) *Package {
	t.Helper()
	var l []secpkg.LsaModePackage
	var u []sspi.UserModePackage
	for _, p := range pkgs {
		l = append(l, p)
		u = append(u, p)
	}
	n, err := New(Config{Packages: l, UserPackages: u})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// hs is one handshake between an initiator and an acceptor.
type hs struct {
	cli, srv         *Package
	ccred, scred     secpkg.LsaCredential
	cctx, sctx       secpkg.LsaContext
	cout, sout       secpkg.ContextOutput
	cDone, sDone     bool
	target           string
	creq             sspi.ISCReq
	tamper           func(leg int, tok []byte) []byte
	legs             [][]byte
	firstServerInput []byte
}

func acquire(t testing.TB, p *Package, use sspi.CredentialUse, id *sspi.AuthIdentity) secpkg.LsaCredential {
	t.Helper()
	if id == nil {
		id = &sspi.AuthIdentity{User: "alice", Password: "pw"}
	}
	c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: use, AuthData: id})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newHS(t testing.TB, cli, srv *Package) *hs {
	return &hs{cli: cli, srv: srv, ccred: acquire(t, cli, sspi.SECPKG_CRED_OUTBOUND, nil),
		scred: acquire(t, srv, sspi.SECPKG_CRED_INBOUND, nil), target: "HTTP/host.example.com",
		creq: sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_SEQUENCE_DETECT}
}

func tok(out secpkg.ContextOutput) []byte {
	return outToken(out.Output)
}

// sideError says which side failed.
type sideError struct {
	side string
	err  error
	leg  int
}

func (e *sideError) Error() string { return fmt.Sprintf("%s leg %d: %v", e.side, e.leg, e.err) }
func (e *sideError) Unwrap() error { return e.err }

func (h *hs) client(in []byte) error {
	var d *sspi.SecBufferDesc
	if in != nil {
		d = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: in})
	}
	c, out, err := h.cli.InitLsaModeContext(context.Background(), h.ccred, h.cctx, &secpkg.InitContextParams{TargetName: h.target, ContextReq: h.creq, Input: d})
	h.cctx, h.cout = c, out
	if err == nil {
		h.cDone = out.Status == sspi.SEC_E_OK
	}
	return err
}

func (h *hs) server(in []byte) error {
	c, out, err := h.srv.AcceptLsaModeContext(context.Background(), h.scred, h.sctx, &secpkg.AcceptContextParams{
		ContextReq: sspi.ASC_REQ_MUTUAL_AUTH | sspi.ASC_REQ_CONFIDENTIALITY, Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: in})})
	h.sctx, h.sout = c, out
	if err == nil {
		h.sDone = out.Status == sspi.SEC_E_OK
	}
	return err
}

// run relays tokens until both sides finish or one fails.
func (h *hs) run() error {
	var in []byte
	clientTurn := true
	if h.firstServerInput != nil {
		in = h.firstServerInput
	}
	for i := 0; i < 12; i++ {
		var err error
		if clientTurn {
			if h.cDone {
				if len(in) > 0 {
					return &sideError{"client", errors.New("token for a finished client"), i}
				}
				return nil
			}
			if err = h.client(in); err != nil {
				return &sideError{"client", err, i}
			}
			in = tok(h.cout)
		} else {
			if h.sDone {
				if len(in) > 0 {
					return &sideError{"server", errors.New("token for a finished server"), i}
				}
				return nil
			}
			if err = h.server(in); err != nil {
				return &sideError{"server", err, i}
			}
			in = tok(h.sout)
		}
		if h.tamper != nil {
			in = h.tamper(i, in)
		}
		if len(in) > 0 {
			h.legs = append(h.legs, in)
		}
		if h.cDone && h.sDone {
			if len(in) > 0 {
				return errors.New("token left over after both sides finished")
			}
			return nil
		}
		clientTurn = !clientTurn
	}
	return errors.New("handshake did not finish")
}

func mustRun(t *testing.T, h *hs) {
	t.Helper()
	if err := h.run(); err != nil {
		t.Fatal(err)
	}
	if !h.cout.Mapped || !h.sout.Mapped {
		t.Fatal("not mapped")
	}
}

// userPair builds both user-mode contexts from ContextData alone and checks
// signing and sealing in both directions.
func userPair(t *testing.T, h *hs) (cu, su sspi.UserModeContext) {
	t.Helper()
	cu, err := NewUserMode(userPkgs(h.cli)...).InitUserModeContext(h.cout.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	su, err = NewUserMode(userPkgs(h.srv)...).InitUserModeContext(h.sout.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		roundTrip(t, cu, su, fmt.Sprintf("client->server %d", i))
		roundTrip(t, su, cu, fmt.Sprintf("server->client %d", i))
	}
	return cu, su
}

func userPkgs(p *Package) []sspi.UserModePackage {
	var u []sspi.UserModePackage
	for _, ip := range p.inner {
		u = append(u, ip.user)
	}
	return u
}

func roundTrip(t *testing.T, from, to sspi.UserModeContext, text string) {
	t.Helper()
	msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte(text)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 64)})
	if err := from.MakeSignature(0, msg, 0); err != nil {
		t.Fatalf("%s: sign: %v", text, err)
	}
	if _, err := to.VerifySignature(msg, 0); err != nil {
		t.Fatalf("%s: verify: %v", text, err)
	}
	msg = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte(text)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 64)})
	if err := from.SealMessage(0, msg, 0); err != nil {
		t.Fatalf("%s: seal: %v", text, err)
	}
	if bytes.Equal(msg.Buffers[0].Buffer, []byte(text)) {
		t.Fatalf("%s: not sealed", text)
	}
	if _, err := to.UnsealMessage(msg, 0); err != nil {
		t.Fatalf("%s: unseal: %v", text, err)
	}
	if string(msg.Buffers[0].Buffer) != text {
		t.Fatalf("%s: unsealed %q", text, msg.Buffers[0].Buffer)
	}
}

func parseInit(t *testing.T, b []byte) *spnego.NegTokenInit {
	t.Helper()
	i, _, err := spnego.ParseToken(b)
	if err != nil || i == nil {
		t.Fatalf("not a NegTokenInit: %v", err)
	}
	return i
}

func parseResp(t *testing.T, b []byte) *spnego.NegTokenResp {
	t.Helper()
	_, r, err := spnego.ParseToken(b)
	if err != nil || r == nil {
		t.Fatalf("not a NegTokenResp: %v %x", err, b)
	}
	return r
}

func negInfo(t *testing.T, q interface {
	QueryAttributes(sspi.ContextAttribute) (any, error)
}) sspi.SecPkgContextNegotiationInfo {
	t.Helper()
	v, err := q.QueryAttributes(sspi.SECPKG_ATTR_NEGOTIATION_INFO)
	if err != nil {
		t.Fatal(err)
	}
	return v.(sspi.SecPkgContextNegotiationInfo)
}

func TestKerberosOptimistic(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	mustRun(t, h)
	if len(h.legs) != 2 {
		t.Fatalf("%d legs", len(h.legs))
	}
	init := parseInit(t, h.legs[0])
	if len(init.MechTypes) != 2 || !init.MechTypes[0].Equal(spnego.OIDKerberos) || !init.MechTypes[1].Equal(spnego.OIDNTLM) || init.MechToken == nil {
		t.Fatalf("init %+v", init)
	}
	resp := parseResp(t, h.legs[1])
	if resp.NegState != spnego.AcceptCompleted || !resp.SupportedMech.Equal(spnego.OIDKerberos) || resp.ResponseToken == nil || resp.MechListMIC != nil {
		t.Fatalf("resp %+v", resp)
	}
	if h.cout.Flags&sspi.FlagMutualAuth == 0 {
		t.Fatalf("flags %v", h.cout.Flags)
	}
	cu, su := userPair(t, h)
	for _, u := range []sspi.UserModeContext{cu, su} {
		ni := negInfo(t, u)
		if ni.PackageInfo.Name != "Kerberos" || ni.NegotiationState != sspi.SECPKG_NEGOTIATION_COMPLETE {
			t.Fatalf("%+v", ni)
		}
		pi, _ := u.QueryAttributes(sspi.SECPKG_ATTR_PACKAGE_INFO)
		if pi.(sspi.SecPkgContextPackageInfo).PackageInfo.Name != "Kerberos" {
			t.Fatalf("%+v", pi)
		}
	}
	if ni := negInfo(t, h.cctx); ni.NegotiationState != sspi.SECPKG_NEGOTIATION_COMPLETE || ni.PackageInfo.Name != "Kerberos" {
		t.Fatalf("lsa %+v", ni)
	}
}

func TestKerberosNoMutual(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	h.creq = sspi.ISC_REQ_CONFIDENTIALITY
	mustRun(t, h)
	if len(h.legs) != 2 || parseResp(t, h.legs[1]).ResponseToken != nil {
		t.Fatalf("legs %d", len(h.legs))
	}
	userPair(t, h)
}

func TestNTLMOnlyWithMIC(t *testing.T) {
	_, ntlm := newToys()
	n := newNego(t, ntlm)
	h := newHS(t, n, n)
	mustRun(t, h)
	if len(h.legs) != 4 {
		t.Fatalf("%d legs", len(h.legs))
	}
	if r := parseResp(t, h.legs[2]); r.MechListMIC == nil || r.NegState != spnego.AcceptIncomplete {
		t.Fatalf("client final %+v", r)
	}
	if r := parseResp(t, h.legs[3]); r.MechListMIC == nil || r.NegState != spnego.AcceptCompleted || r.ResponseToken != nil {
		t.Fatalf("server final %+v", r)
	}
	userPair(t, h)
}

// TestMICResetReplay checks the MS-SPNG 3.3.5.1 rule end to end: after the
// mechListMIC (sequence number 0) the NTLM-like stream restarts, the
// sequence number keeps counting, and ContextData rebuilds exactly that
// state on both sides.
func TestMICResetReplay(t *testing.T) {
	_, ntlm := newToys()
	n := newNego(t, ntlm)
	h := newHS(t, n, n)
	mustRun(t, h)
	cu, _ := userPair(t, h)
	tu := cu.(*userContext).inner.(toyUserReset)
	if tu.sendSeq != 1+6 || tu.sendPos != 6 {
		t.Fatalf("seq %d pos %d", tu.sendSeq, tu.sendPos)
	}
	// Without the reset, a peer that resets (Windows, MIT) and we disagree.
	_, ntlm2 := newToys()
	ntlm2.noReset = true
	n2 := newNego(t, ntlm2)
	h2 := newHS(t, n2, n)
	mustRun(t, h2)
	cu2, err := NewUserMode(ntlm2).InitUserModeContext(h2.cout.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	su2, err := NewUserMode(ntlm).InitUserModeContext(h2.sout.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte("x")}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	cu2.MakeSignature(0, msg, 0)
	if _, err := su2.VerifySignature(msg, 0); !errors.Is(err, sspi.SEC_E_MESSAGE_ALTERED) {
		t.Fatalf("stream state not reset was accepted: %v", err)
	}
}

func TestFallbackToNTLM(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target string
		setup  func(krb *toyPkg)
		tried  int32
	}{
		{"no KDC", "HTTP/host.example.com", func(k *toyPkg) { k.initErr = sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY }, 1},
		{"unknown SPN", "HTTP/nosuch.example.com", func(k *toyPkg) { k.failTargets = []string{"HTTP/nosuch.example.com"} }, 1},
		{"IPv4 target", "HTTP/192.0.2.7", func(*toyPkg) {}, 0},
		{"IPv4 target with port", "HTTP@192.0.2.7:8080", func(*toyPkg) {}, 0},
		{"IPv6 target", "HTTP/[2001:db8::1]:443", func(*toyPkg) {}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			krb, ntlm := newToys()
			tc.setup(krb)
			n := newNego(t, krb, ntlm)
			h := newHS(t, n, n)
			h.target = tc.target
			mustRun(t, h)
			init := parseInit(t, h.legs[0])
			if len(init.MechTypes) != 1 || !init.MechTypes[0].Equal(spnego.OIDNTLM) || !bytes.HasPrefix(init.MechToken, []byte("NTLMSSP")) {
				t.Fatalf("init %+v", init)
			}
			if krb.inits.Load() != tc.tried {
				t.Fatalf("Kerberos tried %d times", krb.inits.Load())
			}
			if ni := negInfo(t, h.cctx); ni.PackageInfo.Name != "NTLM" {
				t.Fatalf("%+v", ni)
			}
			userPair(t, h)
		})
	}
	// Nothing can start: the first package's error.
	krb, ntlm := newToys()
	krb.initErr = sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY
	ntlm.initErr = sspi.SEC_E_NO_CREDENTIALS
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	if err := h.run(); !errors.Is(err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY) || h.cctx != nil {
		t.Fatalf("err %v", err)
	}
}

func TestTargetIsIP(t *testing.T) {
	for s, want := range map[string]bool{
		"HTTP/10.0.0.1": true, "HTTP@10.0.0.1": true, "10.0.0.1": true, "HTTP/10.0.0.1:80": true,
		"HTTP/[::1]:80": true, "HTTP/::1": true, "HTTP/host": false, "HTTP/host:80": false,
		"host.example.com": false, "HTTP/host.example.com/EXAMPLE.COM": false, "": false,
	} {
		if got := targetIsIP(s); got != want {
			t.Errorf("%q: %v", s, got)
		}
	}
}

func TestPackageList(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	for list, want := range map[string][]spnego.OID{
		"":                {spnego.OIDKerberos, spnego.OIDNTLM},
		"kerberos,!ntlm":  {spnego.OIDKerberos},
		"!kerberos":       {spnego.OIDNTLM},
		"NTLM,Kerberos":   {spnego.OIDNTLM, spnego.OIDKerberos},
		"ntlm, krb5":      {spnego.OIDNTLM, spnego.OIDKerberos},
		"!ntlm,kerberos ": {spnego.OIDKerberos},
	} {
		h := newHS(t, n, n)
		h.ccred = acquire(t, n, sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: "alice", Password: "pw", PackageList: list})
		mustRun(t, h)
		got := parseInit(t, h.legs[0]).MechTypes
		if len(got) != len(want) {
			t.Fatalf("%q: %v", list, got)
		}
		for i := range want {
			if !got[i].Equal(want[i]) {
				t.Fatalf("%q: %v", list, got)
			}
		}
	}
	_, _, err := n.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{Password: "pw", PackageList: "!kerberos,!ntlm"}})
	if !errors.Is(err, sspi.SEC_E_SECPKG_NOT_FOUND) {
		t.Fatalf("empty list: %v", err)
	}
}

// TestAcceptorChoosesSecond: the acceptor has no Kerberos, so it picks
// NTLM, ignores the optimistic Kerberos token and asks for the MIC.
func TestAcceptorChoosesSecond(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	h.scred = acquire(t, n, sspi.SECPKG_CRED_INBOUND, &sspi.AuthIdentity{Password: "pw", Options: map[string]string{"no-kerberos": "1"}})
	mustRun(t, h)
	if len(h.legs) != 6 {
		t.Fatalf("%d legs", len(h.legs))
	}
	r := parseResp(t, h.legs[1])
	if r.NegState != spnego.RequestMIC || !r.SupportedMech.Equal(spnego.OIDNTLM) || r.ResponseToken != nil {
		t.Fatalf("counter-proposal %+v", r)
	}
	if r := parseResp(t, h.legs[2]); !bytes.HasPrefix(r.ResponseToken, []byte(toyNTLMPrefix+"\x01")) {
		t.Fatalf("initiator did not start NTLM: %+v", r)
	}
	if r := parseResp(t, h.legs[4]); r.MechListMIC == nil {
		t.Fatal("no initiator MIC")
	}
	if r := parseResp(t, h.legs[5]); r.MechListMIC == nil || r.NegState != spnego.AcceptCompleted {
		t.Fatalf("acceptor final %+v", r)
	}
	userPair(t, h)
}

// TestKerberosRequestMIC: the initiator lists NTLM first without a token
// for it... instead we list [ntlm-unavailable-at-acceptor, kerberos] so
// that the acceptor picks Kerberos second; the acceptor then sends the
// final mechanism token (AP-REP) with its MIC, and the initiator answers
// with its own.
func TestKerberosRequestMIC(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	h.ccred = acquire(t, n, sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{Password: "pw", PackageList: "ntlm,kerberos"})
	h.scred = acquire(t, n, sspi.SECPKG_CRED_INBOUND, &sspi.AuthIdentity{Password: "pw", Options: map[string]string{"no-ntlm": "1"}})
	mustRun(t, h)
	if len(h.legs) != 5 {
		t.Fatalf("%d legs", len(h.legs))
	}
	if r := parseResp(t, h.legs[1]); r.NegState != spnego.RequestMIC || !r.SupportedMech.Equal(spnego.OIDKerberos) {
		t.Fatalf("%+v", r)
	}
	if r := parseResp(t, h.legs[3]); r.NegState != spnego.AcceptIncomplete || r.MechListMIC == nil || r.ResponseToken == nil {
		t.Fatalf("AP-REP leg %+v", r)
	}
	if r := parseResp(t, h.legs[4]); r.NegState != spnego.AcceptCompleted || r.MechListMIC == nil {
		t.Fatalf("initiator MIC leg %+v", r)
	}
	userPair(t, h)
}

func TestMSKerberosOID(t *testing.T) {
	// A Windows-like initiator lists MS-Kerberos first; our acceptor's
	// Kerberos lists only the standard OID and answers with the OID the
	// initiator used.
	wkrb := &toyPkg{name: "Kerberos", oids: []string{spnego.OIDMSKerberos.String(), spnego.OIDKerberos.String()}}
	_, wntlm := newToys()
	win := newNego(t, wkrb, wntlm)
	krb, ntlm := newToys()
	us := newNego(t, krb, ntlm)
	h := newHS(t, win, us)
	mustRun(t, h)
	init := parseInit(t, h.legs[0])
	if len(init.MechTypes) != 3 || !init.MechTypes[0].Equal(spnego.OIDMSKerberos) {
		t.Fatalf("%v", init.MechTypes)
	}
	if r := parseResp(t, h.legs[1]); !r.SupportedMech.Equal(spnego.OIDMSKerberos) || r.NegState != spnego.AcceptCompleted {
		t.Fatalf("%+v", r)
	}
	// And our initiator accepts an MS-Kerberos answer to its Kerberos offer.
	h2 := newHS(t, us, win)
	h2.tamper = func(leg int, b []byte) []byte {
		if leg != 1 {
			return b
		}
		r := parseResp(t, b)
		r.SupportedMech = spnego.OIDMSKerberos
		out, _ := r.Marshal()
		return out
	}
	mustRun(t, h2)
	userPair(t, h2)
}

// TestDowngrade alters the mechanism list in transit: Kerberos is removed
// so that the acceptor settles for NTLM. The MICs cover different lists
// and the acceptor detects it.
func TestDowngrade(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	h.tamper = func(leg int, b []byte) []byte {
		if leg != 0 {
			return b
		}
		init := parseInit(t, b)
		out, err := (&spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDNTLM}}).Marshal()
		if err != nil || init.MechToken == nil {
			t.Fatal(err)
		}
		return out
	}
	err := h.run()
	var se *sideError
	if !errors.As(err, &se) || se.side != "server" || !errors.Is(err, sspi.SEC_E_DOWNGRADE_DETECTED) {
		t.Fatalf("err %v", err)
	}
	if r := parseResp(t, tok(h.sout)); r.NegState != spnego.Reject {
		t.Fatalf("no reject token: %+v", r)
	}
}

func TestBadMechListMIC(t *testing.T) {
	for _, tc := range []struct {
		name string
		leg  int
		edit func(r *spnego.NegTokenResp)
		side string
	}{
		{"initiator MIC flipped", 2, func(r *spnego.NegTokenResp) { r.MechListMIC[len(r.MechListMIC)-1] ^= 1 }, "server"},
		{"initiator MIC truncated", 2, func(r *spnego.NegTokenResp) { r.MechListMIC = r.MechListMIC[:4] }, "server"},
		{"acceptor MIC flipped", 3, func(r *spnego.NegTokenResp) { r.MechListMIC[5] ^= 0x80 }, "client"},
		{"acceptor MIC missing", 3, func(r *spnego.NegTokenResp) { r.MechListMIC = nil }, "client-ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ntlm := newToys()
			n := newNego(t, ntlm)
			h := newHS(t, n, n)
			h.tamper = func(leg int, b []byte) []byte {
				if leg != tc.leg {
					return b
				}
				r := parseResp(t, b)
				tc.edit(r)
				out, _ := r.Marshal()
				return out
			}
			err := h.run()
			if tc.side == "client-ok" {
				// We volunteered the MIC with NTLM; an acceptor that does not
				// answer with one is tolerated (older Windows), since the
				// mechanism was our first choice.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *sideError
			if !errors.As(err, &se) || se.side != tc.side || !errors.Is(err, sspi.SEC_E_DOWNGRADE_DETECTED) {
				t.Fatalf("err %v", err)
			}
		})
	}
	// A required MIC (acceptor chose the initiator's second mechanism) that
	// the initiator leaves out.
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	h.scred = acquire(t, n, sspi.SECPKG_CRED_INBOUND, &sspi.AuthIdentity{Password: "pw", Options: map[string]string{"no-kerberos": "1"}})
	h.tamper = func(leg int, b []byte) []byte {
		if leg != 4 {
			return b
		}
		r := parseResp(t, b)
		r.MechListMIC = nil
		out, _ := r.Marshal()
		return out
	}
	if err := h.run(); !errors.Is(err, sspi.SEC_E_DOWNGRADE_DETECTED) {
		t.Fatalf("missing required MIC: %v", err)
	}
	// And an acceptor that answers a required MIC exchange without its MIC.
	h = newHS(t, n, n)
	h.scred = acquire(t, n, sspi.SECPKG_CRED_INBOUND, &sspi.AuthIdentity{Password: "pw", Options: map[string]string{"no-kerberos": "1"}})
	h.tamper = func(leg int, b []byte) []byte {
		if leg != 5 {
			return b
		}
		r := parseResp(t, b)
		r.MechListMIC = nil
		out, _ := r.Marshal()
		return out
	}
	var se *sideError
	if err := h.run(); !errors.As(err, &se) || se.side != "client" || !errors.Is(err, sspi.SEC_E_DOWNGRADE_DETECTED) {
		t.Fatalf("missing acceptor MIC: %v", err)
	}
}

func TestUnknownMechanismsOnly(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	scred := acquire(t, n, sspi.SECPKG_CRED_INBOUND, nil)
	b, _ := (&spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.MustParseOID("1.2.3.4"), spnego.OIDNegoEx}, MechToken: []byte{1, 2, 3}}).Marshal()
	for _, in := range [][]byte{b, mustMarshal(t, &spnego.NegTokenInit{MechTypes: []spnego.OID{}})} {
		c, out, err := n.AcceptLsaModeContext(context.Background(), scred, nil, &secpkg.AcceptContextParams{Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: in})})
		if !errors.Is(err, sspi.SEC_E_SECPKG_NOT_FOUND) || c != nil {
			t.Fatalf("err %v", err)
		}
		if r := parseResp(t, tok(out)); r.NegState != spnego.Reject || r.SupportedMech != nil {
			t.Fatalf("%+v", r)
		}
	}
}

func mustMarshal(t *testing.T, i *spnego.NegTokenInit) []byte {
	b, err := i.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRejectTokens(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	reject, _ := (&spnego.NegTokenResp{NegState: spnego.Reject}).Marshal()
	// Reject as the first answer: no mechanism in common.
	h := newHS(t, n, n)
	if err := h.client(nil); err != nil {
		t.Fatal(err)
	}
	if err := h.client(reject); !errors.Is(err, sspi.SEC_E_SECPKG_NOT_FOUND) {
		t.Fatalf("first reject: %v", err)
	}
	// Further calls on a failed context are refused.
	if err := h.client(reject); !errors.Is(err, sspi.SEC_E_OUT_OF_SEQUENCE) {
		t.Fatalf("after failure: %v", err)
	}
	// Reject after the mechanism was agreed.
	_, n2 := newToys()
	nn := newNego(t, n2)
	h = newHS(t, nn, nn)
	h.client(nil)
	h.server(tok(h.cout))
	if err := h.client(tok(h.sout)); err != nil {
		t.Fatal(err)
	}
	if err := h.client(reject); !errors.Is(err, sspi.SEC_E_LOGON_DENIED) {
		t.Fatalf("late reject: %v", err)
	}
	// A wrong password: the acceptor rejects with the mechanism's error
	// token and the initiator reports the mechanism's status.
	h = newHS(t, n, n)
	h.scred = acquire(t, n, sspi.SECPKG_CRED_INBOUND, &sspi.AuthIdentity{Password: "other"})
	err := h.run()
	var se *sideError
	if !errors.As(err, &se) || se.side != "server" || !errors.Is(err, sspi.SEC_E_LOGON_DENIED) {
		t.Fatalf("%v", err)
	}
	r := parseResp(t, tok(h.sout))
	if r.NegState != spnego.Reject || string(r.ResponseToken) != "KE-denied" {
		t.Fatalf("%+v", r)
	}
	if err := h.client(tok(h.sout)); !errors.Is(err, sspi.SEC_E_LOGON_DENIED) {
		t.Fatalf("initiator: %v", err)
	}
	// The acceptor gets a reject from the initiator.
	h = newHS(t, nn, nn)
	h.client(nil)
	h.server(tok(h.cout))
	if err := h.server(reject); !errors.Is(err, sspi.SEC_E_LOGON_DENIED) {
		t.Fatalf("acceptor: %v", err)
	}
}

func TestRawNTLMToAcceptor(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	scred := acquire(t, n, sspi.SECPKG_CRED_INBOUND, nil)
	ccred, _, _ := ntlm.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{Password: "pw"}})
	cctx, cout, err := ntlm.InitLsaModeContext(context.Background(), ccred, nil, &secpkg.InitContextParams{ContextReq: sspi.ISC_REQ_INTEGRITY})
	if err != nil {
		t.Fatal(err)
	}
	desc := func(b []byte) *sspi.SecBufferDesc {
		return sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: b})
	}
	sctx, sout, err := n.AcceptLsaModeContext(context.Background(), scred, nil, &secpkg.AcceptContextParams{Input: desc(tok(cout))})
	if err != nil || sout.Status != sspi.SEC_I_CONTINUE_NEEDED || !bytes.HasPrefix(tok(sout), []byte(toyNTLMPrefix+"\x02")) {
		t.Fatalf("%v %x", err, tok(sout))
	}
	if ni := negInfo(t, sctx); ni.NegotiationState != sspi.SECPKG_NEGOTIATION_DIRECT || ni.PackageInfo.Name != "NTLM" {
		t.Fatalf("%+v", ni)
	}
	_, cout, err = ntlm.InitLsaModeContext(context.Background(), ccred, cctx, &secpkg.InitContextParams{Input: desc(tok(sout))})
	if err != nil {
		t.Fatal(err)
	}
	_, sout, err = n.AcceptLsaModeContext(context.Background(), scred, sctx, &secpkg.AcceptContextParams{Input: desc(tok(cout))})
	if err != nil || sout.Status != sspi.SEC_E_OK || !sout.Mapped {
		t.Fatal(err)
	}
	su, err := n.InitUserModeContext(sout.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	cu, _ := ntlm.InitUserModeContext(cout.ContextData)
	roundTrip(t, cu, su, "raw ntlm")
	roundTrip(t, su, cu, "raw ntlm back")
}

func TestServerInitiated(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	_, ntlmOnly := newToys()
	srv := newNego(t, ntlmOnly)
	h := newHS(t, n, srv)
	// The acceptor speaks first with a NegTokenInit2.
	if err := h.server(nil); err != nil {
		t.Fatal(err)
	}
	init2 := parseInit(t, tok(h.sout))
	if !init2.Init2 || init2.NegHints == nil || init2.NegHints.HintName != spnego.WindowsHintName {
		t.Fatalf("%+v", init2)
	}
	h.firstServerInput = tok(h.sout)
	mustRun(t, h)
	// The initiator offered only what the acceptor listed.
	if init := parseInit(t, h.legs[0]); len(init.MechTypes) != 1 || !init.MechTypes[0].Equal(spnego.OIDNTLM) || krb.inits.Load() != 0 {
		t.Fatalf("%v", init.MechTypes)
	}
	userPair(t, h)
}

func TestIncompleteAndExtra(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	if err := h.client(nil); err != nil {
		t.Fatal(err)
	}
	first := tok(h.cout)
	scred := h.scred
	_, out, err := n.AcceptLsaModeContext(context.Background(), scred, nil, &secpkg.AcceptContextParams{Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: first[:20]})})
	if !errors.Is(err, sspi.SEC_E_INCOMPLETE_MESSAGE) || out.Missing != len(first)-20 {
		t.Fatalf("%v missing %d", err, out.Missing)
	}
	_, out, err = n.AcceptLsaModeContext(context.Background(), scred, nil, &secpkg.AcceptContextParams{Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: append(append([]byte{}, first...), 1, 2, 3)})})
	if err != nil || out.Extra != 3 {
		t.Fatalf("%v extra %d", err, out.Extra)
	}
	// Garbage.
	for _, in := range [][]byte{{0x30, 0}, []byte("hello world"), {0x60, 0x03, 0x06, 0x01, 0x00}} {
		if _, _, err := n.AcceptLsaModeContext(context.Background(), scred, nil, &secpkg.AcceptContextParams{Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: in})}); !errors.Is(err, sspi.SEC_E_INVALID_TOKEN) {
			t.Errorf("%x: %v", in, err)
		}
	}
	// A NegTokenInit where a NegTokenResp is due.
	if err := h.client(first); !errors.Is(err, sspi.SEC_E_INVALID_TOKEN) {
		t.Fatalf("init as response: %v", err)
	}
}

func TestPackageInfo(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	info := n.GetInfo()
	if info.Name != "Negotiate" || info.RPCID != 9 || len(info.OIDs) != 1 || info.OIDs[0] != "1.3.6.1.5.5.2" || info.MaxToken != 128+256 {
		t.Fatalf("%+v", info)
	}
	if _, err := New(Config{}); !errors.Is(err, sspi.SEC_E_SECPKG_NOT_FOUND) {
		t.Fatal(err)
	}
	if _, err := New(Config{Packages: []secpkg.LsaModePackage{&toyPkg{name: "X"}}}); !errors.Is(err, sspi.SEC_E_INVALID_PARAMETER) {
		t.Fatal(err)
	}
	if _, err := New(Config{Packages: []secpkg.LsaModePackage{krb}}); !errors.Is(err, sspi.SEC_E_INVALID_PARAMETER) {
		t.Fatalf("no user-mode package: %v", err)
	}
	// Unmapped context: LSA-side attributes.
	h := newHS(t, n, n)
	h.client(nil)
	if ni := negInfo(t, h.cctx); ni.NegotiationState != sspi.SECPKG_NEGOTIATION_OPTIMISTIC || ni.PackageInfo.Name != "Kerberos" {
		t.Fatalf("%+v", ni)
	}
	if pi, _ := h.cctx.QueryAttributes(sspi.SECPKG_ATTR_PACKAGE_INFO); pi.(sspi.SecPkgContextPackageInfo).PackageInfo.Name != "Negotiate" {
		t.Fatalf("%+v", pi)
	}
}

func TestUserModeBadData(t *testing.T) {
	krb, ntlm := newToys()
	u := NewUserMode(krb, ntlm)
	if _, err := u.InitUserModeContext([]byte("junk")); !errors.Is(err, sspi.SEC_E_INVALID_TOKEN) {
		t.Fatal(err)
	}
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	mustRun(t, h)
	if _, err := NewUserMode(ntlm).InitUserModeContext(h.cout.ContextData); !errors.Is(err, sspi.SEC_E_SECPKG_NOT_FOUND) {
		t.Fatal(err)
	}
}

// TestConcurrentHandshakes shares one Package and one pair of credentials
// between many goroutines (run with -race).
func TestConcurrentHandshakes(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	ccred := acquire(t, n, sspi.SECPKG_CRED_OUTBOUND, nil)
	scred := acquire(t, n, sspi.SECPKG_CRED_INBOUND, &sspi.AuthIdentity{Password: "pw", Options: map[string]string{"no-kerberos": "1"}})
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		go func() {
			h := &hs{cli: n, srv: n, ccred: ccred, scred: scred, target: "HTTP/host", creq: sspi.ISC_REQ_MUTUAL_AUTH}
			if i%2 == 0 {
				h.scred = acquire(t, n, sspi.SECPKG_CRED_INBOUND, nil)
			}
			err := h.run()
			if err == nil && (!h.cout.Mapped || !h.sout.Mapped) {
				err = errors.New("not mapped")
			}
			errs <- err
		}()
	}
	for i := 0; i < 64; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestEarlyMIC: a mechListMIC before the mechanism could have finished is
// refused on both sides: with the acceptor's counter-proposal, and with the
// initiator's first token of the counter-proposed mechanism.
func TestEarlyMIC(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	for _, tc := range []struct {
		leg  int
		side string
	}{{1, "client"}, {2, "server"}} {
		h := newHS(t, n, n)
		h.scred = acquire(t, n, sspi.SECPKG_CRED_INBOUND, &sspi.AuthIdentity{Password: "pw", Options: map[string]string{"no-kerberos": "1"}})
		h.tamper = func(i int, b []byte) []byte {
			if i != tc.leg {
				return b
			}
			r := parseResp(t, b)
			r.MechListMIC = []byte{1, 2, 3}
			out, _ := r.Marshal()
			return out
		}
		err := h.run()
		var se *sideError
		if !errors.As(err, &se) || se.side != tc.side || !errors.Is(err, sspi.SEC_E_INVALID_TOKEN) {
			t.Fatalf("leg %d: %v", tc.leg, err)
		}
	}
}

// TestCounterProposalNeedsRequestMIC: an acceptor that counter-proposes a
// mechanism other than NTLM must say request-mic (RFC 4178 3.2); the
// accept-incomplete that Windows Server 2003 sent is tolerated for NTLM only.
func TestCounterProposalNeedsRequestMIC(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	h.ccred = acquire(t, n, sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{Password: "pw", PackageList: "ntlm,kerberos"})
	h.scred = acquire(t, n, sspi.SECPKG_CRED_INBOUND, &sspi.AuthIdentity{Password: "pw", Options: map[string]string{"no-ntlm": "1"}})
	h.tamper = func(i int, b []byte) []byte {
		if i != 1 {
			return b
		}
		r := parseResp(t, b)
		if r.NegState != spnego.RequestMIC || !r.SupportedMech.Equal(spnego.OIDKerberos) {
			t.Fatalf("%+v", r)
		}
		r.NegState = spnego.AcceptIncomplete
		out, _ := r.Marshal()
		return out
	}
	var se *sideError
	if err := h.run(); !errors.As(err, &se) || se.side != "client" || !errors.Is(err, sspi.SEC_E_INVALID_TOKEN) {
		t.Fatalf("%v", err)
	}
	// A supportedMech that was never offered.
	h = newHS(t, n, n)
	h.tamper = func(i int, b []byte) []byte {
		if i != 1 {
			return b
		}
		r := parseResp(t, b)
		r.SupportedMech = spnego.MustParseOID("1.2.3.4")
		out, _ := r.Marshal()
		return out
	}
	if err := h.run(); !errors.As(err, &se) || se.side != "client" || !errors.Is(err, sspi.SEC_E_INVALID_TOKEN) {
		t.Fatalf("%v", err)
	}
}
