package kcmtest

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The daemon listens on its private socket, its krb5.conf names it, and
// Close leaves no process and, for a directory of its own, no files.
func TestDaemon(t *testing.T) {
	d, err := Start("")
	if err != nil {
		t.Fatal(err)
	}
	pid := d.cmd.Process.Pid
	c, err := net.Dial("unix", d.Socket)
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	c.Close()
	src := filepath.Join(t.TempDir(), "krb5.conf")
	os.WriteFile(src, []byte("[libdefaults]\n\tdefault_realm = X.TEST\n"), 0o644)
	conf, err := d.Krb5Conf(src)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(conf)
	if !strings.Contains(string(b), "kcm_socket = "+d.Socket) || !strings.Contains(string(b), "default_realm = X.TEST") {
		t.Fatalf("krb5.conf:\n%s", b)
	}
	// The daemon's database is the private one, not the machine's.
	if _, err := os.Stat(filepath.Join(d.Dir, "db", "config.ldb")); err != nil {
		t.Fatalf("no private confdb: %v", err)
	}
	dir := d.Dir
	d.Close()
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("sssd_kcm (pid %d) still runs after Close", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Close left %s", dir)
	}
}
