package sspi_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/sspi"
)

var accounts = map[string]string{"alice": "correct horse", "bob": "battery staple"}

func newTable(t testing.TB, cfg sspi.Config, pkgCfg sspitest.Config) (*sspi.FunctionTable, *lsa.Host, *sspitest.Package) {
	t.Helper()
	if pkgCfg.Accounts == nil {
		pkgCfg.Accounts = accounts
	}
	pkg := sspitest.New(pkgCfg)
	host, err := lsa.New(lsa.Config{}, pkg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.UserPackages = append(cfg.UserPackages, sspitest.UserMode{})
	tbl := sspi.New(host, cfg)
	t.Cleanup(func() {
		tbl.Close()
		host.Close()
	})
	return tbl, host, pkg
}

func testSetup(clientReq sspi.ISCReq) sspitest.Setup {
	return sspitest.Setup{
		NewTable: func(t testing.TB) *sspi.FunctionTable {
			tbl, _, _ := newTable(t, sspi.Config{}, sspitest.Config{})
			return tbl
		},
		NewUserOnlyTable: func(t testing.TB) *sspi.FunctionTable {
			host, err := lsa.New(lsa.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { host.Close() })
			return sspi.InitSecurityInterface(host, sspitest.UserMode{})
		},
		Package:       sspitest.Name,
		Target:        "host/server.example",
		Client:        &sspi.AuthIdentity{User: "alice", Password: "correct horse"},
		WrongPassword: &sspi.AuthIdentity{User: "alice", Password: "wrong"},
		UnknownUser:   &sspi.AuthIdentity{User: "mallory", Password: "correct horse"},
		ClientReq:     clientReq,
		ServerReq:     sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_INTEGRITY | sspi.ASC_REQ_SEQUENCE_DETECT | sspi.ASC_REQ_REPLAY_DETECT,
		WantUser:      "alice",
	}
}

// The conformance suite, against the test-only package, with and without
// mutual authentication (which changes which side ends with a token).
func TestConformanceTestPkg(t *testing.T) {
	base := sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT
	t.Run("Mutual", func(t *testing.T) { sspitest.RunConformance(t, testSetup(base|sspi.ISC_REQ_MUTUAL_AUTH)) })
	t.Run("NoMutual", func(t *testing.T) {
		s := testSetup(base)
		s.Concurrent = 100
		sspitest.RunConformance(t, s)
	})
}

func acquire(t *testing.T, tbl *sspi.FunctionTable, user, pw string) (cli, srv sspi.CredHandle) {
	t.Helper()
	if st := tbl.AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: user, Password: pw}, &cli, nil); st != sspi.SEC_E_OK {
		t.Fatalf("AcquireCredentialsHandle(out) = %v", st)
	}
	if st := tbl.AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &srv, nil); st != sspi.SEC_E_OK {
		t.Fatalf("AcquireCredentialsHandle(in) = %v", st)
	}
	return
}

func tokenDesc(tok []byte) *sspi.SecBufferDesc {
	return sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_EMPTY})
}

func outDesc() *sspi.SecBufferDesc {
	return sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
}

// TestLegSemantics walks the faithful calls leg by leg: no handle on the
// first call, the returned handle later, SEC_E_OK with a token that must
// still be sent, attributes and expiry in the out-parameters.
func TestLegSemantics(t *testing.T) {
	tbl, host, _ := newTable(t, sspi.Config{}, sspitest.Config{})
	cc, sc := acquire(t, tbl, "alice", "correct horse")
	req := sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_SEQUENCE_DETECT

	var cli, srv sspi.CtxtHandle
	var ca sspi.ISCRet
	var sa sspi.ASCRet
	var exp sspi.TimeStamp
	out := outDesc()
	st := tbl.InitializeSecurityContext(&cc, nil, "host/x", req, sspi.SECURITY_NATIVE_DREP, nil, &cli, out, &ca, &exp)
	if st != sspi.SEC_I_CONTINUE_NEEDED || !cli.IsValid() || len(out.Token()) == 0 {
		t.Fatalf("leg 1: %v handle=%v token=%d", st, cli, len(out.Token()))
	}
	if ca&sspi.ISC_RET_MUTUAL_AUTH == 0 || ca&sspi.ISC_RET_CONFIDENTIALITY == 0 || exp.IsZero() {
		t.Errorf("leg 1 attributes %v expiry %v", ca, exp)
	}
	if host.Stats().Contexts != 1 {
		t.Errorf("contexts = %d", host.Stats().Contexts)
	}
	tok := out.Token()
	out = outDesc()
	st = tbl.AcceptSecurityContext(&sc, nil, tokenDesc(tok), sspi.ASC_REQ_CONFIDENTIALITY, sspi.SECURITY_NATIVE_DREP, &srv, out, &sa, &exp)
	if st != sspi.SEC_I_CONTINUE_NEEDED || !srv.IsValid() {
		t.Fatalf("leg 2: %v", st)
	}
	first := cli
	tok = out.Token()
	out = outDesc()
	st = tbl.InitializeSecurityContext(&cc, &cli, "host/x", req, sspi.SECURITY_NATIVE_DREP, tokenDesc(tok), &cli, out, &ca, &exp)
	if st != sspi.SEC_I_CONTINUE_NEEDED || cli != first {
		t.Fatalf("leg 3: %v (handle changed: %v)", st, cli != first)
	}
	tok = out.Token()
	out = outDesc()
	st = tbl.AcceptSecurityContext(&sc, &srv, tokenDesc(tok), sspi.ASC_REQ_CONFIDENTIALITY, sspi.SECURITY_NATIVE_DREP, &srv, out, &sa, &exp)
	if st != sspi.SEC_E_OK || len(out.Token()) == 0 {
		t.Fatalf("leg 4: %v, token %d: the server's last token comes with SEC_E_OK and must be sent", st, len(out.Token()))
	}
	if sa&sspi.ASC_RET_MUTUAL_AUTH == 0 || sa&sspi.ASC_RET_CONFIDENTIALITY == 0 {
		t.Errorf("server attributes %v", sa)
	}
	tok = out.Token()
	out = outDesc()
	st = tbl.InitializeSecurityContext(&cc, &cli, "host/x", req, sspi.SECURITY_NATIVE_DREP, tokenDesc(tok), &cli, out, &ca, &exp)
	if st != sspi.SEC_E_OK || len(out.Token()) != 0 {
		t.Fatalf("leg 5: %v token %d", st, len(out.Token()))
	}
	// A finished context takes no more handshake calls.
	if st := tbl.InitializeSecurityContext(&cc, &cli, "host/x", req, 0, tokenDesc(tok), &cli, outDesc(), nil, nil); st != sspi.SEC_E_INVALID_HANDLE {
		t.Errorf("call on complete context = %v", st)
	}
	// The surface needs an output token buffer.
	var nc sspi.CtxtHandle
	if st := tbl.InitializeSecurityContext(&cc, nil, "host/x", req, 0, nil, &nc, sspi.NewDesc(), nil, nil); st != sspi.SEC_E_INVALID_TOKEN {
		t.Errorf("no output buffer = %v", st)
	}
	// Identity attribute.
	var id sspi.Identity
	if st := tbl.QueryContextAttributes(&srv, sspi.SECPKG_ATTR_GOSSPI_IDENTITY, &id); st.Failed() || id.User != "alice" {
		t.Errorf("identity = %+v, %v", id, st)
	}
	var ni sspi.SecPkgContextNegotiationInfo
	if st := tbl.QueryContextAttributes(&srv, sspi.SECPKG_ATTR_NEGOTIATION_INFO, &ni); st.Failed() || ni.PackageInfo.Name != sspitest.Name || ni.NegotiationState != sspi.SECPKG_NEGOTIATION_COMPLETE {
		t.Errorf("NEGOTIATION_INFO = %+v, %v", ni, st)
	}
	var nn sspi.SecPkgContextNativeNames
	if st := tbl.QueryContextAttributes(&srv, sspi.SECPKG_ATTR_NATIVE_NAMES, &nn); st != sspi.SEC_E_UNSUPPORTED_FUNCTION {
		t.Errorf("NATIVE_NAMES on a package without it = %v", st)
	}
	for _, h := range []*sspi.CtxtHandle{&cli, &srv} {
		if st := tbl.DeleteSecurityContext(h); st != sspi.SEC_E_OK {
			t.Errorf("delete: %v", st)
		}
	}
	if host.Stats().Contexts != 0 {
		t.Errorf("contexts left: %d", host.Stats().Contexts)
	}
}

// TestExtraAndIncomplete checks SECBUFFER_EXTRA for trailing input and
// SEC_E_INCOMPLETE_MESSAGE with SECBUFFER_MISSING for partial input.
func TestExtraAndIncomplete(t *testing.T) {
	tbl, host, pkg := newTable(t, sspi.Config{}, sspitest.Config{})
	cc, sc := acquire(t, tbl, "alice", "correct horse")
	var cli, srv sspi.CtxtHandle
	out := outDesc()
	if st := tbl.InitializeSecurityContext(&cc, nil, "x", 0, 0, nil, &cli, out, nil, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		t.Fatal(st)
	}
	hello := out.Token()

	// A partial first token: no context, and the missing count.
	in := tokenDesc(hello[:3])
	out = outDesc()
	if st := tbl.AcceptSecurityContext(&sc, nil, in, 0, 0, &srv, out, nil, nil); st != sspi.SEC_E_INCOMPLETE_MESSAGE {
		t.Fatalf("partial header = %v", st)
	}
	if m := in.Find(sspi.SECBUFFER_MISSING); m == nil || m.Size() != 2 {
		t.Fatalf("SECBUFFER_MISSING = %+v", in.Buffers)
	}
	if srv.IsValid() || host.Stats().Contexts != 1 {
		t.Fatalf("failed first call created a context")
	}
	in = tokenDesc(hello[:len(hello)-4])
	if st := tbl.AcceptSecurityContext(&sc, nil, in, 0, 0, &srv, outDesc(), nil, nil); st != sspi.SEC_E_INCOMPLETE_MESSAGE {
		t.Fatalf("partial body = %v", st)
	}
	if m := in.Find(sspi.SECBUFFER_MISSING); m == nil || m.Count != 4 {
		t.Fatalf("SECBUFFER_MISSING = %+v", in.Buffers)
	}

	// The whole token plus the start of the next message: SECBUFFER_EXTRA.
	trailing := []byte("NEXT-MESSAGE")
	in = tokenDesc(append(append([]byte(nil), hello...), trailing...))
	out = outDesc()
	if st := tbl.AcceptSecurityContext(&sc, nil, in, 0, 0, &srv, out, nil, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("token with trailing data = %v", st)
	}
	x := in.Find(sspi.SECBUFFER_EXTRA)
	if x == nil || x.Size() != len(trailing) || !bytes.Equal(x.Buffer, trailing) {
		t.Fatalf("SECBUFFER_EXTRA = %+v", in.Buffers)
	}

	// A partial later token keeps the context usable.
	chal := out.Token()
	in = tokenDesc(chal[:10])
	if st := tbl.InitializeSecurityContext(&cc, &cli, "x", 0, 0, in, &cli, outDesc(), nil, nil); st != sspi.SEC_E_INCOMPLETE_MESSAGE {
		t.Fatalf("partial challenge = %v", st)
	}
	out = outDesc()
	if st := tbl.InitializeSecurityContext(&cc, &cli, "x", 0, 0, tokenDesc(chal), &cli, out, nil, nil); st != sspi.SEC_E_OK || len(out.Token()) == 0 {
		t.Fatalf("full challenge after a partial one = %v (token %d)", st, len(out.Token()))
	}
	tbl.DeleteSecurityContext(&cli)
	tbl.DeleteSecurityContext(&srv)
	if pkg.LiveContexts() != 0 {
		t.Errorf("package contexts leaked: %d", pkg.LiveContexts())
	}
}

// TestFailedContextMustBeDeleted: after a failed later leg the context
// stays, refuses further legs with the same status, and leaks nothing once
// deleted.
func TestFailedContextMustBeDeleted(t *testing.T) {
	tbl, host, pkg := newTable(t, sspi.Config{}, sspitest.Config{})
	s := testSetup(0)
	p, err := s.Handshake(t, tbl, &sspi.AuthIdentity{User: "bob", Password: "nope"})
	if !errors.Is(err, sspi.SEC_E_LOGON_DENIED) {
		t.Fatalf("err = %v", err)
	}
	in := tokenDesc([]byte{0, 0, 0, 0, 3})
	if st := tbl.AcceptSecurityContext(&p.SrvCred, &p.Server, in, 0, 0, &p.Server, outDesc(), nil, nil); st != sspi.SEC_E_LOGON_DENIED {
		t.Errorf("leg on failed context = %v", st)
	}
	if host.Stats().Contexts != 2 {
		t.Errorf("contexts = %d, want 2 (client and failed server)", host.Stats().Contexts)
	}
	p.Close()
	if host.Stats().Contexts != 0 || pkg.LiveContexts() != 0 {
		t.Errorf("after delete: host %d, package %d", host.Stats().Contexts, pkg.LiveContexts())
	}
}

func TestStatus(t *testing.T) {
	cases := map[sspi.Status]uint32{
		sspi.SEC_I_CONTINUE_NEEDED: 0x00090312, sspi.SEC_I_COMPLETE_NEEDED: 0x00090313,
		sspi.SEC_I_COMPLETE_AND_CONTINUE: 0x00090314, sspi.SEC_I_ASYNC_CALL_PENDING: 0x00090368,
		sspi.SEC_E_INCOMPLETE_MESSAGE: 0x80090318, sspi.SEC_E_INVALID_TOKEN: 0x80090308,
		sspi.SEC_E_LOGON_DENIED: 0x8009030C, sspi.SEC_E_INVALID_HANDLE: 0x80090301,
		sspi.SEC_E_UNSUPPORTED_FUNCTION: 0x80090302, sspi.SEC_E_BAD_BINDINGS: 0x80090346,
		sspi.SEC_E_OUT_OF_SEQUENCE: 0x80090310, sspi.SEC_E_MESSAGE_ALTERED: 0x8009030F,
		sspi.SEC_E_TIME_SKEW: 0x80090324, sspi.SEC_E_WRONG_PRINCIPAL: 0x80090322,
		sspi.SEC_E_SECPKG_NOT_FOUND: 0x80090305, sspi.SEC_E_INSUFFICIENT_MEMORY: 0x80090300,
	}
	for s, v := range cases {
		if uint32(s) != v {
			t.Errorf("%s = %#x, want %#x", s, uint32(s), v)
		}
	}
	if sspi.SEC_E_LOGON_DENIED.String() != "SEC_E_LOGON_DENIED" || sspi.SEC_I_CONTINUE_NEEDED.String() != "SEC_I_CONTINUE_NEEDED" {
		t.Error("String() is not the Windows name")
	}
	if sspi.SEC_E_OK.Err() != nil || sspi.SEC_I_CONTINUE_NEEDED.Err() != nil || sspi.SEC_I_ASYNC_CALL_PENDING.Err() != nil {
		t.Error("success codes are errors")
	}
	err := error(&sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_LOGON_DENIED, Detail: "bad proof"})
	wrapped := errors.Join(errors.New("context"), err)
	if !errors.Is(wrapped, sspi.SEC_E_LOGON_DENIED) || errors.Is(wrapped, sspi.SEC_E_INVALID_TOKEN) {
		t.Error("errors.Is does not see the status")
	}
	if sspi.StatusOf(wrapped) != sspi.SEC_E_LOGON_DENIED || sspi.StatusOf(nil) != sspi.SEC_E_OK || sspi.StatusOf(errors.New("x")) != sspi.SEC_E_INTERNAL_ERROR {
		t.Error("StatusOf")
	}
	if !errors.Is(sspi.SEC_E_INVALID_TOKEN.Err(), sspi.SEC_E_INVALID_TOKEN) {
		t.Error("Err() of a failure")
	}
	if got := sspi.Status(0x80091234).String(); got != "SECURITY_STATUS(0x80091234)" {
		t.Errorf("unknown status = %s", got)
	}
}

func TestFlags(t *testing.T) {
	// ISC and ASC bits agree below 0x4000 and differ above.
	if uint32(sspi.ISC_REQ_EXTENDED_ERROR) != 0x4000 || uint32(sspi.ASC_REQ_EXTENDED_ERROR) != 0x8000 ||
		uint32(sspi.ISC_REQ_STREAM) != 0x8000 || uint32(sspi.ASC_REQ_STREAM) != 0x10000 ||
		uint32(sspi.ISC_REQ_INTEGRITY) != 0x10000 || uint32(sspi.ASC_REQ_INTEGRITY) != 0x20000 ||
		uint32(sspi.ASC_REQ_ALLOW_NULL_SESSION) != 0x100000 || uint32(sspi.ISC_REQ_NULL_SESSION) != 0x40000 {
		t.Error("flag values")
	}
	f := sspi.FromASCReq(sspi.ASC_REQ_INTEGRITY | sspi.ASC_REQ_MUTUAL_AUTH | sspi.ASC_REQ_EXTENDED_ERROR)
	if f.ASCRet() != sspi.ASC_RET_INTEGRITY|sspi.ASC_RET_MUTUAL_AUTH|sspi.ASC_RET_EXTENDED_ERROR {
		t.Errorf("ASC round trip = %v", f.ASCRet())
	}
	if f.ISCRet() != sspi.ISC_RET_INTEGRITY|sspi.ISC_RET_MUTUAL_AUTH|sspi.ISC_RET_EXTENDED_ERROR {
		t.Errorf("ASC->ISC = %v", f.ISCRet())
	}
	if got := (sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY).String(); got != "MUTUAL_AUTH|CONFIDENTIALITY" {
		t.Errorf("String = %s", got)
	}
	if sspi.SECBUFFER_CHANNEL_BINDINGS != 14 || sspi.SECBUFFER_STREAM != 10 || sspi.SECBUFFER_PADDING != 9 || sspi.SECBUFFER_EXTRA != 5 || sspi.SECBUFFER_MISSING != 4 {
		t.Error("buffer types")
	}
	bt := sspi.SECBUFFER_DATA | sspi.SECBUFFER_READONLY_WITH_CHECKSUM
	if bt.Base() != sspi.SECBUFFER_DATA || !bt.ReadOnly() || bt.String() != "SECBUFFER_DATA|SECBUFFER_READONLY_WITH_CHECKSUM" {
		t.Errorf("buffer attributes: %s", bt)
	}
	if sspi.SECURITY_NATIVE_DREP != 0x10 || sspi.SECURITY_NETWORK_DREP != 0 || sspi.SECPKG_CRED_BOTH != 3 {
		t.Error("drep/cred use")
	}
}
