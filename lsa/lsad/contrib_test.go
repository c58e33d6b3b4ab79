package lsad

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
)

// The sample configuration shipped in contrib/lsad parses and passes the
// checks.
func TestSampleConfig(t *testing.T) {
	f, err := LoadConfig("../../contrib/lsad/lsad.json")
	if err != nil {
		t.Fatal(err)
	}
	if f.match(33, 33, nil) == nil || f.match(1000, 100, nil) == nil || f.match(1000, 1000, []uint32{100}) == nil {
		t.Error("the sample policy does not match its callers")
	}
	if f.match(1000, 1000, nil) != nil {
		t.Error("the sample policy matches a caller it does not name")
	}
	for _, bad := range []string{`{}`, `{"services":[{"name":"x","uids":[1]}]}`, `{"services":[{"uids":[1],"inbound":true}]}`, `{"bogus":1,"services":[]}`} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
}

// systemd socket activation: the daemon serves the socket it inherits as
// file descriptor 3 (LISTEN_PID, LISTEN_FDS) and makes none of its own.
func TestSocketActivation(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "activated.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	lf, err := ln.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the child holds the socket now
	f := baseConfig("")
	c := &child{cfg: writeConfig(t, dir, f), sock: sock, logs: &testutil.SyncBuffer{}}
	c.wrap = func(cmd *exec.Cmd) *exec.Cmd {
		w := exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`}, cmd.Args...)...)
		w.Env, w.ExtraFiles = cmd.Env, []*os.File{lf}
		return w
	}
	c.start(t)
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	lf.Close()
	tbl, _ := dialTable(t, sock, sspitest.UserMode{})
	setup := sspitest.Setup{Package: sspitest.Name, Target: "host/srv", ClientReq: sspi.ISC_REQ_CONFIDENTIALITY, ServerReq: sspi.ASC_REQ_CONFIDENTIALITY}
	p, err := setup.Handshake(t, tbl, &sspi.AuthIdentity{User: "alice", Password: "correct horse"})
	if err != nil {
		t.Fatalf("handshake through the activated socket: %v\n%s", err, c.logs.String())
	}
	p.Close()
}
