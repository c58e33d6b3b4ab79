package lsad

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Cancelling a call in the application cancels it in the daemon: the
// package sees its context end, the call returns the cause at once, and
// the connection goes on serving.
func TestCancellationCarriedAcross(t *testing.T) {
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	f := baseConfig(filepath.Join(t.TempDir(), "lsad.sock"))
	if err := f.check(); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{File: f, Packages: []secpkg.LsaModePackage{sspitest.New(sspitest.Config{Accounts: testAccounts, Gate: gate, Entered: entered})}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", f.Socket)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	tbl, _ := dialTable(t, f.Socket, sspitest.UserMode{})
	var cc, sc sspi.CredHandle
	if st := tbl.AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: "alice", Password: "correct horse"}, &cc, nil); st.Failed() {
		t.Fatal(st)
	}
	if st := tbl.AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &sc, nil); st.Failed() {
		t.Fatal(st)
	}
	out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	var cli sspi.CtxtHandle
	if st := tbl.InitializeSecurityContext(&cc, nil, "host/srv", 0, 0, nil, &cli, out, nil, nil); st.Failed() {
		t.Fatal(st)
	}
	base := s.Stats().Contexts // the client's half-built context
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var srv sspi.CtxtHandle
		in := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: out.Token()})
		o := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		_, err := tbl.WithContext(ctx).AcceptSecurityContext(&sc, nil, in, 0, 0, &srv, o, nil, nil)
		done <- err
	}()
	<-entered // the accept is inside the package, in the daemon
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled accept: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled call did not return")
	}
	// The daemon's call ended with its context (the gate was never
	// opened) and left no context behind; the connection still serves.
	for i := 0; i < 500 && s.Stats().Contexts != base; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.Stats().Contexts; n != base {
		t.Errorf("%d contexts after the cancelled accept, %d before", n, base)
	}
	inFlight := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for c := range s.conns {
			c.mu.Lock()
			n += len(c.pending)
			c.mu.Unlock()
		}
		return n
	}
	for i := 0; i < 500 && inFlight() != 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := inFlight(); n != 0 {
		t.Errorf("the daemon still runs %d calls: the cancel did not reach it", n)
	}
	if _, st := tbl.QuerySecurityPackageInfo(sspitest.Name); st != sspi.SEC_E_OK {
		t.Errorf("after the cancel: %v", st)
	}
	close(gate)
}
