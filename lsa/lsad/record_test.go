package lsad

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/gosspi/gosspi/internal/lsarpc"
	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// recordEnv makes TestRecordRequests rewrite the fuzz seed corpus of the
// request decoder (internal/lsarpc/testdata/fuzz/FuzzDecodeRequest).
const recordEnv = "GOSSPI_LSAD_RECORD"

// tapListener keeps a copy of every byte the daemon reads.
type tapListener struct {
	net.Listener
	mu     sync.Mutex
	conns  []*bytes.Buffer // what the daemon read
	writes []*bytes.Buffer // what it wrote
}

type tapConn struct {
	net.Conn
	l        *tapListener
	buf, out *bytes.Buffer
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.l.mu.Lock()
	c.out.Write(p)
	c.l.mu.Unlock()
	return c.Conn.Write(p)
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	b, w := &bytes.Buffer{}, &bytes.Buffer{}
	l.mu.Lock()
	l.conns = append(l.conns, b)
	l.writes = append(l.writes, w)
	l.mu.Unlock()
	return &tapConn{Conn: c, l: l, buf: b, out: w}, nil
}

func (c *tapConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.mu.Lock()
	c.buf.Write(p[:n])
	c.l.mu.Unlock()
	return n, err
}

// TestRecordRequests runs handshakes of every package (NTLM, Kerberos
// with a real MIT realm, Negotiate, TestPkg) and the other calls through a
// daemon on a tapped socket, checks that every frame the daemon read
// decodes, and with GOSSPI_LSAD_RECORD=1 writes them as the seed corpus
// of FuzzDecodeRequest.
func TestRecordRequests(t *testing.T) {
	d := startRealDaemonInProcess(t)
	tbl, _ := dialTable(t, d.sock, ntlm.UserMode(), kerberos.UserMode(), sspitest.UserMode{})
	for _, s := range []sspitest.Setup{
		{Package: "NTLM", Target: "host/srv", Client: &sspi.AuthIdentity{User: "alice", Domain: "CONTOSO", Password: "correct horse"}, ClientReq: sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_CONNECTION, ServerReq: sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_CONNECTION},
		{Package: "Kerberos", Target: "HTTP/svc.localhost", ServerPrincipal: "HTTP/svc.localhost", Client: &sspi.AuthIdentity{User: d.user, Password: d.pw}, ClientReq: sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY, ServerReq: sspi.ASC_REQ_MUTUAL_AUTH | sspi.ASC_REQ_CONFIDENTIALITY},
		{Package: sspitest.Name, Target: "host/srv", Client: &sspi.AuthIdentity{User: "alice", Password: "correct horse"}, ClientReq: sspi.ISC_REQ_CONFIDENTIALITY, ServerReq: sspi.ASC_REQ_CONFIDENTIALITY},
	} {
		p, err := s.Handshake(t, tbl, s.Client)
		if err != nil {
			t.Fatalf("%s: %v", s.Package, err)
		}
		for _, a := range []sspi.ContextAttribute{sspi.SECPKG_ATTR_NAMES, sspi.SECPKG_ATTR_GOSSPI_IDENTITY, sspi.SECPKG_ATTR_LIFESPAN} {
			var v any
			tbl.QueryContextAttributes(&p.Server, a, &v)
		}
		tbl.EnumerateSecurityPackages()
		tbl.QuerySecurityPackageInfo(s.Package)
		tbl.QueryCredentialsAttributes(&p.SrvCred, 1)
		p.Close()
	}
	// Calls on a half-built context reach the daemon.
	_, srv, ccred, scred, _ := ntlmFirstLegs(t, tbl)
	for _, a := range []sspi.ContextAttribute{sspi.SECPKG_ATTR_NEGOTIATION_INFO, sspi.SECPKG_ATTR_PACKAGE_INFO, sspi.SECPKG_ATTR_FLAGS} {
		var v any
		if st := tbl.QueryContextAttributes(&srv, a, &v); st != sspi.SEC_E_OK {
			t.Errorf("%v on a half-built context: %v", a, st)
		}
	}
	tbl.CompleteAuthToken(&srv, sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}))
	tbl.DeleteSecurityContext(&srv)
	tbl.FreeCredentialsHandle(&ccred)
	tbl.FreeCredentialsHandle(&scred)
	d.tap.mu.Lock()
	defer d.tap.mu.Unlock()
	frames := splitFrames(t, d.tap.conns, func(p []byte) error { _, err := lsarpc.DecodeRequest(p); return err })
	replies := splitFrames(t, d.tap.writes, func(p []byte) error { _, err := lsarpc.DecodeReply(p); return err })
	// What crosses to the application never holds a long-term key: no
	// reply carries the NT hash of an account or a key of the keytab.
	nt := ntlmssp.NTOWFv1("correct horse")
	secrets := [][]byte{nt[:]}
	kt, err := keytab.Load(d.keytab)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range kt.Entries {
		secrets = append(secrets, e.Key.KeyValue)
	}
	for _, r := range replies {
		for _, k := range secrets {
			if bytes.Contains(r, k) {
				t.Fatalf("a reply to the application holds a long-term key")
			}
		}
	}
	if len(frames) < 20 {
		t.Fatalf("recorded only %d requests", len(frames))
	}
	if os.Getenv(recordEnv) == "" {
		return
	}
	writeCorpus(t, "FuzzDecodeRequest", frames)
	writeCorpus(t, "FuzzDecodeReply", replies)
}

// splitFrames cuts each connection's bytes into frames after the hello and
// checks that each decodes.
func splitFrames(t *testing.T, conns []*bytes.Buffer, decode func([]byte) error) [][]byte {
	var frames [][]byte
	for _, b := range conns {
		r := bytes.NewReader(b.Bytes())
		for first := true; ; first = false {
			p, err := lsarpc.ReadFrame(r, lsarpc.MaxFrameLimit, nil)
			if err != nil {
				break
			}
			if first {
				continue // the hello
			}
			if err := decode(p); err != nil {
				t.Errorf("a recorded frame does not decode: %v", err)
			}
			frames = append(frames, p)
		}
	}
	return frames
}

// writeCorpus writes frames as a fuzz target's seed corpus in
// internal/lsarpc.
func writeCorpus(t *testing.T, target string, frames [][]byte) {
	dir := filepath.Join("..", "..", "internal", "lsarpc", "testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range frames {
		sum := sha256.Sum256(p)
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", p)
		if err := os.WriteFile(filepath.Join(dir, hex.EncodeToString(sum[:8])), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d frames to %s", len(frames), dir)
}

// realInProcess is an in-process daemon on a tapped socket with the
// packages of realDaemon.
type realInProcess struct {
	s        *Server
	sock     string
	tap      *tapListener
	user, pw string
	keytab   string
}

func startRealDaemonInProcess(t testing.TB) *realInProcess {
	t.Helper()
	r := startRealmForDaemon(t)
	f := ntlmPolicy(t)
	f.Krb5Conf = r.realm.Krb5Con
	f.Services[0].Keytab = r.keytab
	d := &realInProcess{user: r.user, pw: r.pw, keytab: r.keytab}
	ip := startInProcess(t, f, func(s *Server, sock string) {})
	// Serve a second, tapped socket.
	d.sock = filepath.Join(filepath.Dir(ip.sock), "tap.sock")
	ln, err := net.Listen("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	d.tap = &tapListener{Listener: ln}
	go ip.s.Serve(d.tap)
	d.s = ip.s
	return d
}
