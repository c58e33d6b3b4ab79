package lsad

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/lsa/remote"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// A client that goes away in the middle of handshakes leaves nothing in
// the daemon: its credentials and half-built contexts are freed when the
// connection closes.
func TestDisconnectFreesHalfBuiltContexts(t *testing.T) {
	ip := startInProcess(t, ntlmPolicy(t))
	h, err := remote.Dial("unix:"+ip.sock, remote.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tbl := sspi.New(h, sspi.Config{UserPackages: []sspi.UserModePackage{ntlm.UserMode()}})
	for i := 0; i < 10; i++ {
		ntlmFirstLegs(t, tbl)
	}
	if s := ip.s.Stats(); s.Contexts != 20 || s.Credentials != 20 {
		t.Fatalf("before the disconnect: %+v", s)
	}
	h.Close()
	select {
	case p := <-ip.released:
		if p.UID != uint32(os.Getuid()) {
			t.Errorf("released peer %+v", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not notice the disconnect")
	}
	if s := ip.s.Stats(); s.Contexts != 0 || s.Credentials != 0 || s.Connections != 0 {
		t.Errorf("after the disconnect: %+v", s)
	}
	ip.s.mu.Lock()
	n := len(ip.s.quotas)
	ip.s.mu.Unlock()
	if n != 0 {
		t.Errorf("quota counters left: %d", n)
	}
}

// A caller that floods half-built contexts reaches its quota and gets
// SEC_E_INSUFFICIENT_MEMORY; another caller (another uid) goes on
// authenticating meanwhile, and the flooder can start again once it
// deletes its contexts.
func TestHalfBuiltFloodStoppedByQuota(t *testing.T) {
	const quota = 32
	f := ntlmPolicy(t)
	f.Services[0].MaxHandshakes = quota
	other := f.Services[0]
	other.Name, other.UIDs, other.MaxHandshakes = "other", []uint32{4242}, 0
	f.Services = append(f.Services, other)
	// A second socket of the same daemon stands for uid 4242.
	var otherSock string
	ip := startInProcess(t, f, func(s *Server, sock string) {
		otherSock = filepath.Join(filepath.Dir(sock), "other.sock")
		real := s.peerOf
		s.peerOf = func(c net.Conn) (Peer, error) {
			p, err := real(c)
			if c.LocalAddr().String() == otherSock {
				p.UID = 4242
			}
			return p, err
		}
	})
	ln, err := net.Listen("unix", otherSock)
	if err != nil {
		t.Fatal(err)
	}
	go ip.s.Serve(ln)

	flood, _ := dialTable(t, ip.sock, ntlm.UserMode())
	var scred sspi.CredHandle
	if st := flood.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_INBOUND, nil, &scred, nil); st != sspi.SEC_E_OK {
		t.Fatal(st)
	}
	var cc sspi.CredHandle
	if st := flood.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: "alice", Domain: "CONTOSO", Password: "correct horse"}, &cc, nil); st != sspi.SEC_E_OK {
		t.Fatal(st)
	}
	neg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	var cli sspi.CtxtHandle
	if st := flood.InitializeSecurityContext(&cc, nil, "host/srv", sspi.ISC_REQ_CONNECTION, 0, nil, &cli, neg, nil, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		t.Fatal(st)
	}
	// cli is one half-built context already.
	var held []sspi.CtxtHandle
	refused := 0
	for i := 0; i < 4*quota; i++ {
		in := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: neg.Token()})
		out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		var srv sspi.CtxtHandle
		switch st := flood.AcceptSecurityContext(&scred, nil, in, sspi.ASC_REQ_CONNECTION, 0, &srv, out, nil, nil); st {
		case sspi.SEC_I_CONTINUE_NEEDED:
			held = append(held, srv)
		case sspi.SEC_E_INSUFFICIENT_MEMORY:
			refused++
		default:
			t.Fatalf("flood %d: %v", i, st)
		}
	}
	if len(held) != quota-1 || refused != 3*quota+1 {
		t.Fatalf("held %d, refused %d; want %d and %d", len(held), refused, quota-1, 3*quota+1)
	}
	if n := ip.s.Stats().Contexts; n > quota {
		t.Errorf("the daemon holds %d contexts, over the quota of %d", n, quota)
	}
	// Another caller is not affected.
	otherTbl, _ := dialTable(t, otherSock, ntlm.UserMode())
	for i := 0; i < 5; i++ {
		setup := sspitest.Setup{Package: "NTLM", Target: "host/srv", ClientReq: sspi.ISC_REQ_CONNECTION, ServerReq: sspi.ASC_REQ_CONNECTION}
		p, err := setup.Handshake(t, otherTbl, &sspi.AuthIdentity{User: "alice", Domain: "CONTOSO", Password: "correct horse"})
		if err != nil {
			t.Fatalf("the other caller's handshake %d: %v", i, err)
		}
		p.Close()
	}
	// Deleting brings the flooder under its quota again.
	for i := range held {
		if st := flood.DeleteSecurityContext(&held[i]); st != sspi.SEC_E_OK {
			t.Fatal(st)
		}
	}
	in := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: neg.Token()})
	out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	var srv sspi.CtxtHandle
	if st := flood.AcceptSecurityContext(&scred, nil, in, sspi.ASC_REQ_CONNECTION, 0, &srv, out, nil, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		t.Errorf("after deleting: %v", st)
	}
}

// kill -9 of the daemon under load: every call in flight fails at once
// with SEC_E_NO_AUTHENTICATING_AUTHORITY, calls made while it is down fail
// fast, established contexts go on sealing and unsealing in the
// application, the client reconnects by itself once the daemon is back,
// and no goroutine is left behind.
func TestKill9UnderLoad(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "lsad.sock")
	c := startChild(t, writeConfig(t, dir, baseConfig(sock)), sock)
	base := runtime.NumGoroutine()

	h, err := remote.Dial("unix:"+sock, remote.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tbl := sspi.New(h, sspi.Config{UserPackages: []sspi.UserModePackage{sspitest.UserMode{}}})
	setup := sspitest.Setup{Package: sspitest.Name, Target: "host/srv", Client: &sspi.AuthIdentity{User: "alice", Password: "correct horse"},
		ClientReq: sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_SEQUENCE_DETECT, ServerReq: sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_SEQUENCE_DETECT}
	established, err := setup.Handshake(t, tbl, setup.Client)
	if err != nil {
		t.Fatal(err)
	}

	const workers = 16
	stop := make(chan struct{})
	failed := make(chan time.Time, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cred sspi.CredHandle
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := tbl.WithContext(t.Context()).AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &cred, nil)
				if err != nil {
					if !errors.Is(err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY) {
						t.Errorf("call during the kill: %v", err)
					}
					failed <- time.Now()
					return
				}
				tbl.FreeCredentialsHandle(&cred)
			}
		}()
	}
	killed := time.Now()
	c.kill9(t)
	deadline := time.After(5 * time.Second)
	for i := 0; i < workers; i++ {
		select {
		case at := <-failed:
			if d := at.Sub(killed); d > 2*time.Second {
				t.Errorf("a call failed %v after the kill", d)
			}
		case <-deadline:
			t.Fatalf("only %d of %d workers saw the daemon go", i, workers)
		}
	}
	close(stop)
	wg.Wait()

	// Down: a new call fails fast.
	start := time.Now()
	var cred sspi.CredHandle
	if err := tbl.WithContext(t.Context()).AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &cred, nil); !errors.Is(err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY) {
		t.Errorf("call while down: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("call while down took %v", d)
	}
	// The established pair needs no daemon.
	checkMessages(t, tbl, established)

	// Back: the same host reconnects; old handles are gone, new ones work.
	c.start(t)
	p, err := setup.Handshake(t, tbl, setup.Client)
	if err != nil {
		t.Fatalf("handshake after the restart: %v", err)
	}
	checkMessages(t, tbl, p)
	var names sspi.SecPkgContextNames
	if st := tbl.QueryContextAttributes(&p.Server, sspi.SECPKG_ATTR_NAMES, &names); st != sspi.SEC_E_OK || names.UserName != "alice" {
		t.Errorf("after the restart: %v %q", st, names.UserName)
	}
	if st := tbl.FreeCredentialsHandle(&established.SrvCred); st != sspi.SEC_E_INVALID_HANDLE {
		t.Errorf("a handle of the dead daemon: %v", st)
	}
	p.Close()
	established.Close()
	tbl.Close()
	h.Close()

	// No goroutine is left behind (the reader of each connection ends).
	var n int
	for i := 0; i < 500; i++ {
		if n = runtime.NumGoroutine(); n <= base {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n > base {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// checkMessages seals and unseals one message each way on an established
// pair.
func checkMessages(t testing.TB, tbl *sspi.FunctionTable, p *sspitest.Pair) {
	t.Helper()
	for _, d := range [][2]*sspi.CtxtHandle{{&p.Client, &p.Server}, {&p.Server, &p.Client}} {
		w := sspitest.Seal(t, tbl, d[0], []byte("through the application alone"))
		if got, st := sspitest.Unseal(tbl, d[1], w); st != sspi.SEC_E_OK || string(got) != "through the application alone" {
			t.Errorf("unseal: %q %v", got, st)
		}
	}
}
