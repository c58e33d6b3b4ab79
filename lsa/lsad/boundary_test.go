package lsad

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/lsarpc"
	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/lsa/remote"
	"github.com/gosspi/gosspi/sspi"
)

// rawConn connects to the daemon and says hello.
func rawConn(t *testing.T, sock string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(lsarpc.AppendHello(nil, lsarpc.Hello{Version: lsarpc.Version, MaxFrame: lsarpc.DefaultMaxFrame})); err != nil {
		t.Fatal(err)
	}
	p, err := lsarpc.ReadFrame(c, 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := lsarpc.DecodeHelloReply(p); err != nil || h.Status != 0 {
		t.Fatalf("hello: %+v %v", h, err)
	}
	return c
}

// closedByDaemon reports whether the daemon closed c.
func closedByDaemon(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF)
}

// The daemon closes a connection that sends a frame over its cap or a
// request that does not decode, without reading the rest, and goes on
// serving the others; a wrong protocol version is refused at the hello.
func TestDaemonRefusesBadFrames(t *testing.T) {
	ip := startInProcess(t, baseConfig(""))
	good, _ := dialTable(t, ip.sock, sspitest.UserMode{})

	big := rawConn(t, ip.sock)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], lsarpc.MaxFrameLimit)
	big.Write(hdr[:])
	if !closedByDaemon(t, big) {
		t.Error("a frame over the cap did not close the connection")
	}

	bad := rawConn(t, ip.sock)
	bad.Write([]byte{0, 0, 0, 10, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	if !closedByDaemon(t, bad) {
		t.Error("a malformed request did not close the connection")
	}

	old, err := net.Dial("unix", ip.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	old.Write(lsarpc.AppendHello(nil, lsarpc.Hello{Version: lsarpc.Version + 1}))
	p, err := lsarpc.ReadFrame(old, 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := lsarpc.DecodeHelloReply(p); sspi.Status(h.Status) != sspi.SEC_E_UNSUPPORTED_FUNCTION {
		t.Errorf("another protocol version: %+v", h)
	}

	if _, st := good.QuerySecurityPackageInfo(sspitest.Name); st != sspi.SEC_E_OK {
		t.Errorf("a well-behaved connection after the bad ones: %v", st)
	}
}

// A caller's credentials are bounded by its quota (max_credentials) over
// all its connections.
func TestCredentialQuota(t *testing.T) {
	f := baseConfig("")
	f.Services[0].MaxCredentials = 5
	ip := startInProcess(t, f)
	a, _ := dialTable(t, ip.sock, sspitest.UserMode{})
	b, _ := dialTable(t, ip.sock, sspitest.UserMode{})
	var creds []sspi.CredHandle
	for i := 0; i < 5; i++ {
		tbl := a
		if i%2 == 1 {
			tbl = b
		}
		var c sspi.CredHandle
		if st := tbl.AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &c, nil); st != sspi.SEC_E_OK {
			t.Fatalf("credential %d: %v", i, st)
		}
		creds = append(creds, c)
	}
	var c sspi.CredHandle
	if st := b.AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &c, nil); st != sspi.SEC_E_INSUFFICIENT_MEMORY {
		t.Fatalf("credential over the quota: %v", st)
	}
	if st := a.FreeCredentialsHandle(&creds[0]); st != sspi.SEC_E_OK {
		t.Fatal(st)
	}
	if st := b.AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &c, nil); st != sspi.SEC_E_OK {
		t.Errorf("after freeing one: %v", st)
	}
}

// A caller's connections are bounded by max_connections; closing one makes
// room again.
func TestConnectionQuota(t *testing.T) {
	f := baseConfig("")
	f.Services[0].MaxConnections = 3
	ip := startInProcess(t, f)
	var hs []*remote.Host
	for i := 0; i < 3; i++ {
		h, err := remote.Dial("unix:"+ip.sock, remote.Config{})
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		hs = append(hs, h)
	}
	if _, err := remote.Dial("unix:"+ip.sock, remote.Config{}); !errors.Is(err, sspi.SEC_E_INSUFFICIENT_MEMORY) {
		t.Fatalf("a fourth connection: %v", err)
	}
	hs[0].Close()
	select {
	case <-ip.released:
	case <-time.After(10 * time.Second):
		t.Fatal("the closed connection was not released")
	}
	h, err := remote.Dial("unix:"+ip.sock, remote.Config{})
	if err != nil {
		t.Fatalf("after closing one: %v", err)
	}
	h.Close()
	for _, h := range hs[1:] {
		h.Close()
	}
}
