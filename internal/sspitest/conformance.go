package sspitest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gosspi/gosspi/sspi"
)

// Setup describes a package to the conformance suite.
type Setup struct {
	// NewTable returns a fresh SSPI surface with the package registered,
	// and a cleanup function.
	NewTable func(t testing.TB) *sspi.FunctionTable
	// NewUserOnlyTable returns a surface that has only the package's
	// user-mode half (no LSA-mode packages at all), for the mapping test.
	NewUserOnlyTable func(t testing.TB) *sspi.FunctionTable
	Package          string
	Target           string
	Client           *sspi.AuthIdentity // a valid client identity
	WrongPassword    *sspi.AuthIdentity // a known user with the wrong password
	UnknownUser      *sspi.AuthIdentity
	ServerPrincipal  string
	ServerAuthData   *sspi.AuthIdentity
	ClientReq        sspi.ISCReq
	ServerReq        sspi.ASCReq
	// WantUser is the NAMES user name the server must report.
	WantUser string
	// Concurrent is how many handshakes the concurrency test runs (default 1000).
	Concurrent int
}

// Pair is an established client and server context in one table.
type Pair struct {
	T                   *sspi.FunctionTable
	ClientCred, SrvCred sspi.CredHandle
	Client, Server      sspi.CtxtHandle
	ClientAttr          sspi.ISCRet
	ServerAttr          sspi.ASCRet
	// Legs records each leg's status, in order, for reports.
	Legs []Leg
}

// Leg is one handshake leg.
type Leg struct {
	Side   string // "client" or "server"
	Status sspi.Status
	Token  int // output token size
	Flags  string
}

// Handshake runs a complete handshake through the faithful calls and
// returns the pair. It fails the test on any unexpected status.
func (s *Setup) Handshake(t testing.TB, tbl *sspi.FunctionTable, client *sspi.AuthIdentity) (*Pair, error) {
	p := &Pair{T: tbl}
	if st := tbl.AcquireCredentialsHandle("", s.Package, sspi.SECPKG_CRED_OUTBOUND, client, &p.ClientCred, nil); st.Failed() {
		return nil, fmt.Errorf("client AcquireCredentialsHandle: %w", st)
	}
	if st := tbl.AcquireCredentialsHandle(s.ServerPrincipal, s.Package, sspi.SECPKG_CRED_INBOUND, s.ServerAuthData, &p.SrvCred, nil); st.Failed() {
		return nil, fmt.Errorf("server AcquireCredentialsHandle: %w", st)
	}
	err := s.handshake(tbl, p)
	return p, err
}

// HandshakeWith runs a handshake with the credentials already in p.
func (s *Setup) HandshakeWith(tbl *sspi.FunctionTable, p *Pair) error { return s.handshake(tbl, p) }

func (s *Setup) handshake(tbl *sspi.FunctionTable, p *Pair) error {
	var tok []byte
	var cli, srv *sspi.CtxtHandle // nil on the first call
	clientDone, serverDone := false, false
	for i := 0; i < 10 && !(clientDone && serverDone); i++ {
		if !clientDone {
			in := sspi.NewDesc()
			if tok != nil {
				in = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_EMPTY})
			}
			out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
			st := tbl.InitializeSecurityContext(&p.ClientCred, cli, s.Target, s.ClientReq, sspi.SECURITY_NATIVE_DREP, in, &p.Client, out, &p.ClientAttr, nil)
			p.Legs = append(p.Legs, Leg{"client", st, len(out.Token()), p.ClientAttr.String()})
			if st.Failed() {
				return st
			}
			cli = &p.Client
			clientDone = st == sspi.SEC_E_OK
			tok = out.Token()
			if len(tok) == 0 {
				tok = nil
				if !serverDone && clientDone {
					return errors.New("client finished without a token for an unfinished server")
				}
				continue
			}
		}
		if serverDone {
			return errors.New("client sent a token after the server finished")
		}
		in := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_EMPTY})
		out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		st := tbl.AcceptSecurityContext(&p.SrvCred, srv, in, s.ServerReq, sspi.SECURITY_NATIVE_DREP, &p.Server, out, &p.ServerAttr, nil)
		p.Legs = append(p.Legs, Leg{"server", st, len(out.Token()), p.ServerAttr.String()})
		if st.Failed() {
			return st
		}
		srv = &p.Server
		serverDone = st == sspi.SEC_E_OK
		tok = out.Token()
		if len(tok) == 0 {
			tok = nil
		}
		if serverDone && tok == nil && !clientDone {
			return errors.New("server finished without a token for an unfinished client")
		}
	}
	if !clientDone || !serverDone {
		return errors.New("handshake did not finish")
	}
	return nil
}

// Close deletes the pair's contexts and credentials.
func (p *Pair) Close() {
	p.T.DeleteSecurityContext(&p.Client)
	p.T.DeleteSecurityContext(&p.Server)
	p.T.FreeCredentialsHandle(&p.ClientCred)
	p.T.FreeCredentialsHandle(&p.SrvCred)
}

// Seal seals msg on from and returns token||data||padding as one stream,
// failing the test on error.
func Seal(t testing.TB, tbl *sspi.FunctionTable, from *sspi.CtxtHandle, msg []byte) []byte {
	t.Helper()
	out, st := SealStream(tbl, from, msg)
	if st.Failed() {
		t.Fatalf("EncryptMessage: %v", st)
	}
	return out
}

// SealStream seals msg on from and returns token||data||padding.
func SealStream(tbl *sspi.FunctionTable, from *sspi.CtxtHandle, msg []byte) ([]byte, sspi.Status) {
	var sz sspi.SecPkgContextSizes
	if st := tbl.QueryContextAttributes(from, sspi.SECPKG_ATTR_SIZES, &sz); st.Failed() {
		return nil, st
	}
	// As a Windows caller does: a trailer of cbSecurityTrailer and a
	// padding buffer of at least cbBlockSize (here 16 or more), which the
	// package shrinks to what it used.
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, sz.SecurityTrailer)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: append([]byte(nil), msg...)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_PADDING, Buffer: make([]byte, max(sz.BlockSize, 16))})
	if st := tbl.EncryptMessage(from, 0, d, 0); st.Failed() {
		return nil, st
	}
	out := append(append([]byte(nil), d.Buffers[0].Buffer...), d.Buffers[1].Buffer...)
	return append(out, d.Buffers[2].Buffer...), sspi.SEC_E_OK
}

// Unseal opens a stream made by Seal.
func Unseal(tbl *sspi.FunctionTable, to *sspi.CtxtHandle, stream []byte) ([]byte, sspi.Status) {
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: append([]byte(nil), stream...)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
	st := tbl.DecryptMessage(to, d, 0, nil)
	return d.Buffers[1].Buffer, st
}

// Sign returns a signature of msg.
func Sign(t testing.TB, tbl *sspi.FunctionTable, from *sspi.CtxtHandle, msg []byte) []byte {
	t.Helper()
	var sz sspi.SecPkgContextSizes
	if st := tbl.QueryContextAttributes(from, sspi.SECPKG_ATTR_SIZES, &sz); st.Failed() {
		t.Fatalf("QueryContextAttributes(SIZES): %v", st)
	}
	// As on Windows, the caller supplies a token buffer of cbMaxSignature.
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA | sspi.SECBUFFER_READONLY, Buffer: msg},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, sz.MaxSignature)})
	if st := tbl.MakeSignature(from, 0, d, 0); st.Failed() {
		t.Fatalf("MakeSignature: %v", st)
	}
	return d.Buffers[1].Buffer
}

// Verify checks a signature.
func Verify(tbl *sspi.FunctionTable, to *sspi.CtxtHandle, msg, sig []byte) sspi.Status {
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA | sspi.SECBUFFER_READONLY, Buffer: msg},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: append([]byte(nil), sig...)})
	return tbl.VerifySignature(to, d, 0, nil)
}

// RunConformance runs the package-neutral host and surface tests against
// the package s describes.
func RunConformance(t *testing.T, s Setup) {
	if s.Concurrent == 0 {
		s.Concurrent = 1000
	}
	t.Run("Handshake", func(t *testing.T) {
		tbl := s.NewTable(t)
		p, err := s.Handshake(t, tbl, s.Client)
		if err != nil {
			t.Fatalf("handshake: %v (legs %+v)", err, p.Legs)
		}
		defer p.Close()
		if p.Legs[0].Side != "client" || p.Legs[0].Status != sspi.SEC_I_CONTINUE_NEEDED || p.Legs[0].Token == 0 {
			t.Errorf("first leg = %+v, want client SEC_I_CONTINUE_NEEDED with a token", p.Legs[0])
		}
		if !p.Client.IsValid() || !p.Server.IsValid() || p.Client == p.Server {
			t.Fatalf("bad handles %v %v", p.Client, p.Server)
		}
		var names sspi.SecPkgContextNames
		if st := tbl.QueryContextAttributes(&p.Server, sspi.SECPKG_ATTR_NAMES, &names); st.Failed() {
			t.Fatalf("NAMES: %v", st)
		}
		if s.WantUser != "" && names.UserName != s.WantUser {
			t.Errorf("NAMES = %q, want %q", names.UserName, s.WantUser)
		}
		var ck, sk sspi.SecPkgContextSessionKey
		if st := tbl.QueryContextAttributes(&p.Client, sspi.SECPKG_ATTR_SESSION_KEY, &ck); st.Failed() {
			t.Fatalf("client SESSION_KEY: %v", st)
		}
		if st := tbl.QueryContextAttributes(&p.Server, sspi.SECPKG_ATTR_SESSION_KEY, &sk); st.Failed() {
			t.Fatalf("server SESSION_KEY: %v", st)
		}
		if len(ck.SessionKey) == 0 || !bytes.Equal(ck.SessionKey, sk.SessionKey) {
			t.Errorf("session keys differ or are empty")
		}
		var pi sspi.SecPkgContextPackageInfo
		if st := tbl.QueryContextAttributes(&p.Server, sspi.SECPKG_ATTR_PACKAGE_INFO, &pi); st.Failed() || pi.PackageInfo.Name == "" {
			t.Errorf("PACKAGE_INFO: %v %+v", st, pi)
		}
		var sz sspi.SecPkgContextSizes
		if st := tbl.QueryContextAttributes(&p.Client, sspi.SECPKG_ATTR_SIZES, &sz); st.Failed() || sz.MaxSignature == 0 {
			t.Errorf("SIZES: %v %+v", st, sz)
		}
		var fl sspi.SecPkgContextFlags
		if st := tbl.QueryContextAttributes(&p.Client, sspi.SECPKG_ATTR_FLAGS, &fl); st.Failed() {
			t.Errorf("FLAGS: %v", st)
		}
		var ls sspi.SecPkgContextLifespan
		if st := tbl.QueryContextAttributes(&p.Client, sspi.SECPKG_ATTR_LIFESPAN, &ls); st.Failed() {
			t.Errorf("LIFESPAN: %v", st)
		}
		var wrong sspi.SecPkgContextNames
		if st := tbl.QueryContextAttributes(&p.Client, sspi.SECPKG_ATTR_SIZES, &wrong); st != sspi.SEC_E_INVALID_PARAMETER {
			t.Errorf("mismatched pBuffer: %v, want SEC_E_INVALID_PARAMETER", st)
		}
	})

	t.Run("Messages", func(t *testing.T) {
		tbl := s.NewTable(t)
		p, err := s.Handshake(t, tbl, s.Client)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer p.Close()
		for i, dir := range []struct {
			name     string
			from, to *sspi.CtxtHandle
		}{{"client->server", &p.Client, &p.Server}, {"server->client", &p.Server, &p.Client}} {
			msg := []byte(fmt.Sprintf("message %d %s", i, dir.name))
			w := Seal(t, tbl, dir.from, msg)
			if bytes.Contains(w, msg) {
				t.Errorf("%s: sealed message holds the plaintext", dir.name)
			}
			got, st := Unseal(tbl, dir.to, w)
			if st.Failed() || !bytes.Equal(got, msg) {
				t.Fatalf("%s: unseal = %q, %v", dir.name, got, st)
			}
			sig := Sign(t, tbl, dir.from, msg)
			if st := Verify(tbl, dir.to, msg, sig); st.Failed() {
				t.Fatalf("%s: verify: %v", dir.name, st)
			}
			// Tampering is detected.
			w2 := Seal(t, tbl, dir.from, msg)
			w2[len(w2)-1] ^= 1
			if _, st := Unseal(tbl, dir.to, w2); st != sspi.SEC_E_MESSAGE_ALTERED {
				t.Errorf("%s: tampered unseal = %v, want SEC_E_MESSAGE_ALTERED", dir.name, st)
			}
		}
		// Replay: the same sealed message twice.
		w := Seal(t, tbl, &p.Client, []byte("once"))
		if _, st := Unseal(tbl, &p.Server, w); st.Failed() {
			// A package may have desynchronised after the tamper test; accept
			// only the expected statuses.
			if st != sspi.SEC_E_OUT_OF_SEQUENCE {
				t.Fatalf("unseal: %v", st)
			}
		} else if _, st := Unseal(tbl, &p.Server, w); st != sspi.SEC_E_OUT_OF_SEQUENCE && st != sspi.SEC_E_MESSAGE_ALTERED {
			t.Errorf("replayed unseal = %v, want SEC_E_OUT_OF_SEQUENCE", st)
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		for name, id := range map[string]*sspi.AuthIdentity{"wrong password": s.WrongPassword, "unknown user": s.UnknownUser} {
			if id == nil {
				continue
			}
			tbl := s.NewTable(t)
			p, err := s.Handshake(t, tbl, id)
			if !errors.Is(err, sspi.SEC_E_LOGON_DENIED) {
				t.Fatalf("%s: err = %v, want SEC_E_LOGON_DENIED", name, err)
			}
			// The failed server context still exists until it is deleted.
			if !p.Server.IsValid() {
				t.Fatalf("%s: no server handle after a failed later leg", name)
			}
			var pi sspi.SecPkgContextPackageInfo
			if st := tbl.QueryContextAttributes(&p.Server, sspi.SECPKG_ATTR_PACKAGE_INFO, &pi); st.Failed() {
				t.Errorf("%s: failed context vanished before DeleteSecurityContext", name)
			}
			if st := tbl.DeleteSecurityContext(&p.Server); st != sspi.SEC_E_OK {
				t.Errorf("%s: delete failed context: %v", name, st)
			}
			if st := tbl.DeleteSecurityContext(&p.Server); st != sspi.SEC_E_INVALID_HANDLE {
				t.Errorf("%s: second delete: %v, want SEC_E_INVALID_HANDLE", name, st)
			}
			p.Close()
		}
	})

	t.Run("HandleValidation", func(t *testing.T) {
		tbl := s.NewTable(t)
		p, err := s.Handshake(t, tbl, s.Client)
		if err != nil {
			t.Fatal(err)
		}
		bogus := sspi.CtxtHandle{Lower: p.Client.Lower ^ 0x5a5a, Upper: p.Client.Upper}
		wrongKind := sspi.CtxtHandle(p.ClientCred)
		credAsCtx := sspi.CredHandle(p.Client)
		d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte("x")})
		for name, h := range map[string]sspi.CtxtHandle{"unknown": bogus, "wrong kind": wrongKind, "zero": {}} {
			if st := tbl.EncryptMessage(&h, 0, d, 0); st != sspi.SEC_E_INVALID_HANDLE {
				t.Errorf("EncryptMessage(%s) = %v", name, st)
			}
			var sz sspi.SecPkgContextSizes
			if st := tbl.QueryContextAttributes(&h, sspi.SECPKG_ATTR_SIZES, &sz); st != sspi.SEC_E_INVALID_HANDLE {
				t.Errorf("QueryContextAttributes(%s) = %v", name, st)
			}
			out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
			var nc sspi.CtxtHandle
			if st := tbl.InitializeSecurityContext(&p.ClientCred, &h, s.Target, s.ClientReq, 0, sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: []byte{1}}), &nc, out, nil, nil); st != sspi.SEC_E_INVALID_HANDLE {
				t.Errorf("InitializeSecurityContext(%s) = %v", name, st)
			}
			if st := tbl.DeleteSecurityContext(&h); st != sspi.SEC_E_INVALID_HANDLE {
				t.Errorf("DeleteSecurityContext(%s) = %v", name, st)
			}
		}
		out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		var nc sspi.CtxtHandle
		if st := tbl.InitializeSecurityContext(&credAsCtx, nil, s.Target, s.ClientReq, 0, nil, &nc, out, nil, nil); st != sspi.SEC_E_INVALID_HANDLE {
			t.Errorf("context handle as credential = %v", st)
		}
		// A client context passed to AcceptSecurityContext is the wrong kind.
		in := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: []byte{1, 2, 3}})
		if st := tbl.AcceptSecurityContext(&p.SrvCred, &p.Client, in, s.ServerReq, 0, &nc, out, nil, nil); st != sspi.SEC_E_INVALID_HANDLE {
			t.Errorf("client context in AcceptSecurityContext = %v", st)
		}
		// Freed handles.
		p.Close()
		if st := tbl.EncryptMessage(&p.Client, 0, d, 0); st != sspi.SEC_E_INVALID_HANDLE {
			t.Errorf("EncryptMessage(freed) = %v", st)
		}
		if st := tbl.DeleteSecurityContext(&p.Client); st != sspi.SEC_E_INVALID_HANDLE {
			t.Errorf("DeleteSecurityContext(freed) = %v", st)
		}
		if st := tbl.FreeCredentialsHandle(&p.ClientCred); st != sspi.SEC_E_INVALID_HANDLE {
			t.Errorf("FreeCredentialsHandle(freed) = %v", st)
		}
		if st := tbl.InitializeSecurityContext(&p.ClientCred, nil, s.Target, s.ClientReq, 0, nil, &nc, out, nil, nil); st != sspi.SEC_E_INVALID_HANDLE {
			t.Errorf("InitializeSecurityContext(freed cred) = %v", st)
		}
		var c sspi.CredHandle
		if st := tbl.AcquireCredentialsHandle("", "NoSuchPackage", sspi.SECPKG_CRED_OUTBOUND, nil, &c, nil); st != sspi.SEC_E_SECPKG_NOT_FOUND {
			t.Errorf("unknown package = %v", st)
		}
		if _, st := tbl.QuerySecurityPackageInfo("NoSuchPackage"); st != sspi.SEC_E_SECPKG_NOT_FOUND {
			t.Errorf("QuerySecurityPackageInfo(unknown) = %v", st)
		}
	})

	t.Run("UnsupportedRequirement", func(t *testing.T) {
		tbl := s.NewTable(t)
		var cc, sc sspi.CredHandle
		if st := tbl.AcquireCredentialsHandle("", s.Package, sspi.SECPKG_CRED_OUTBOUND, s.Client, &cc, nil); st.Failed() {
			t.Fatal(st)
		}
		defer tbl.FreeCredentialsHandle(&cc)
		if st := tbl.AcquireCredentialsHandle(s.ServerPrincipal, s.Package, sspi.SECPKG_CRED_INBOUND, s.ServerAuthData, &sc, nil); st.Failed() {
			t.Fatal(st)
		}
		defer tbl.FreeCredentialsHandle(&sc)
		var ch sspi.CtxtHandle
		out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		if st := tbl.InitializeSecurityContext(&cc, nil, s.Target, s.ClientReq|sspi.ISC_REQ_PROMPT_FOR_CREDS, 0, nil, &ch, out, nil, nil); st != sspi.SEC_E_UNSUPPORTED_FUNCTION {
			t.Errorf("ISC_REQ_PROMPT_FOR_CREDS = %v", st)
		}
		if ch.IsValid() {
			t.Errorf("failed first call returned a handle")
		}
		if st := tbl.InitializeSecurityContext(&cc, nil, s.Target, s.ClientReq, 0, nil, &ch, out, nil, nil); st.Failed() {
			t.Fatal(st)
		}
		defer tbl.DeleteSecurityContext(&ch)
		in := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: out.Token()})
		var sh sspi.CtxtHandle
		out2 := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		if st := tbl.AcceptSecurityContext(&sc, nil, in, s.ServerReq|sspi.ASC_REQ_PROMPT_FOR_CREDS, 0, &sh, out2, nil, nil); st != sspi.SEC_E_UNSUPPORTED_FUNCTION {
			t.Errorf("ASC_REQ_PROMPT_FOR_CREDS = %v", st)
		}
		// Credentials used in the wrong direction.
		if st := tbl.AcceptSecurityContext(&cc, nil, in, s.ServerReq, 0, &sh, out2, nil, nil); st != sspi.SEC_E_NO_CREDENTIALS {
			t.Errorf("outbound credential in AcceptSecurityContext = %v", st)
		}
	})

	t.Run("MappedAcrossTables", func(t *testing.T) {
		if s.NewUserOnlyTable == nil {
			t.Skip("no user-only table")
		}
		tbl := s.NewTable(t)
		p, err := s.Handshake(t, tbl, s.Client)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		pkg, data, st := tbl.ExportSecurityContext(&p.Client)
		if st.Failed() {
			t.Fatalf("ExportSecurityContext: %v", st)
		}
		other := s.NewUserOnlyTable(t)
		if pk, _ := other.EnumerateSecurityPackages(); len(pk) != 0 {
			t.Fatalf("user-only table has LSA packages: %+v", pk)
		}
		var moved sspi.CtxtHandle
		if st := other.ImportSecurityContext(pkg, data, &moved); st.Failed() {
			t.Fatalf("ImportSecurityContext: %v", st)
		}
		defer other.DeleteSecurityContext(&moved)
		for i := 0; i < 3; i++ {
			msg := []byte(fmt.Sprintf("from the imported context %d", i))
			got, st := Unseal(tbl, &p.Server, Seal(t, other, &moved, msg))
			if st.Failed() || !bytes.Equal(got, msg) {
				t.Fatalf("unseal of imported seal: %q %v", got, st)
			}
			back := []byte(fmt.Sprintf("to the imported context %d", i))
			got, st = Unseal(other, &moved, Seal(t, tbl, &p.Server, back))
			if st.Failed() || !bytes.Equal(got, back) {
				t.Fatalf("imported unseal: %q %v", got, st)
			}
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		tbl := s.NewTable(t)
		var cc, sc sspi.CredHandle
		if st := tbl.AcquireCredentialsHandle("", s.Package, sspi.SECPKG_CRED_OUTBOUND, s.Client, &cc, nil); st.Failed() {
			t.Fatal(st)
		}
		if st := tbl.AcquireCredentialsHandle(s.ServerPrincipal, s.Package, sspi.SECPKG_CRED_INBOUND, s.ServerAuthData, &sc, nil); st.Failed() {
			t.Fatal(st)
		}
		var wg sync.WaitGroup
		errs := make(chan error, s.Concurrent)
		for i := 0; i < s.Concurrent; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				p := &Pair{T: tbl, ClientCred: cc, SrvCred: sc}
				if err := s.handshake(tbl, p); err != nil {
					errs <- err
					return
				}
				msg := []byte(fmt.Sprintf("hello %d", i))
				w, st := SealStream(tbl, &p.Client, msg)
				if st.Failed() {
					errs <- fmt.Errorf("seal %d: %v", i, st)
					return
				}
				got, st := Unseal(tbl, &p.Server, w)
				if st.Failed() || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("unseal %d: %v", i, st)
				}
				tbl.DeleteSecurityContext(&p.Client)
				tbl.DeleteSecurityContext(&p.Server)
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		tbl.FreeCredentialsHandle(&cc)
		tbl.FreeCredentialsHandle(&sc)
	})
}
