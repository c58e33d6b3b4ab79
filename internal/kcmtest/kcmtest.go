// Package kcmtest runs sssd-kcm, SSSD's KCM credential-cache daemon (the
// RHEL and Fedora default cache, KRB5CCNAME=KCM:), for tests: on a private
// socket in a temporary directory, with a private database, so that
// nothing it stores outlives the test or meets another one.
//
// sssd_kcm 2.8 reads its configuration from the confdb
// /var/lib/sss/db/config.ldb (made from sssd.conf by sssd --genconf-section)
// and keeps its caches in /var/lib/sss/secrets/secrets.ldb, paths compiled
// in. So the daemon runs in a private mount namespace (unshare, as root)
// where the directory's own db/, secrets/ and log/ are bind-mounted over
// those paths; its socket (the [kcm] socket_path of the directory's
// sssd.conf) is in the directory, which the namespace shares with the
// test.
//
// sssd_kcm and sssd come from the Debian packages sssd-kcm and
// sssd-common, unshare and mount from util-linux. When one is missing, or
// the test does not run as root, Start fails: tests must not skip.
package kcmtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Daemon is a running sssd_kcm.
type Daemon struct {
	Dir    string // the directory holding the socket, sssd.conf, the database
	Socket string // the unix socket the daemon listens on

	ownDir bool
	cmd    *exec.Cmd
	done   chan struct{}
	mu     sync.Mutex
	log    bytes.Buffer
}

func look(name string, dirs ...string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("kcmtest: %s not found (install sssd-kcm)", name)
}

// New starts a daemon for one test and stops it when the test ends; it
// fails the test when the daemon cannot start.
func New(t testing.TB) *Daemon {
	t.Helper()
	d, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// Start starts a daemon living in dir (a fresh temporary directory when
// empty, removed by Close). The caller must Close it.
func Start(dir string) (*Daemon, error) {
	kcm, err := look("sssd_kcm", "/usr/libexec/sssd", "/usr/lib/sssd")
	if err != nil {
		return nil, err
	}
	sssd, err := look("sssd", "/usr/sbin")
	if err != nil {
		return nil, err
	}
	unshare, err := look("unshare", "/usr/bin")
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("kcmtest: sssd_kcm runs in a private mount namespace, which needs root (CI runs as root)")
	}
	d := &Daemon{Dir: dir}
	if d.Dir == "" {
		if d.Dir, err = os.MkdirTemp("", "kcmtest-"); err != nil {
			return nil, err
		}
		d.ownDir = true
	}
	d.Socket = filepath.Join(d.Dir, "kcm.sock")
	for _, sub := range []string{"db", "secrets", "log"} {
		if err := os.MkdirAll(filepath.Join(d.Dir, sub), 0o700); err != nil {
			d.Close()
			return nil, err
		}
	}
	conf := filepath.Join(d.Dir, "sssd.conf")
	// sssd refuses a configuration that is not root's and 0600.
	if err := os.WriteFile(conf, []byte("[sssd]\nservices = kcm\n\n[kcm]\nsocket_path = "+d.Socket+"\n"), 0o600); err != nil {
		d.Close()
		return nil, err
	}
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	script := strings.Join([]string{
		"set -e",
		"mount --bind " + q(filepath.Join(d.Dir, "db")) + " /var/lib/sss/db",
		"mount --bind " + q(filepath.Join(d.Dir, "secrets")) + " /var/lib/sss/secrets",
		"mount --bind " + q(filepath.Join(d.Dir, "log")) + " /var/log/sssd",
		q(sssd) + " -c " + q(conf) + " --genconf-section=kcm",
		"exec " + q(kcm) + " --logger=stderr --debug-level=0x1ff0",
	}, "\n")
	// No --fork: unshare and sh exec into sssd_kcm, so the process started
	// is the daemon, and killing it leaves nothing behind.
	d.cmd = exec.Command(unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script)
	d.cmd.Stdout, d.cmd.Stderr = &lockedWriter{d}, &lockedWriter{d}
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		d.Close()
		return nil, fmt.Errorf("kcmtest: start sssd_kcm: %v", err)
	}
	d.done = make(chan struct{})
	go func() { d.cmd.Wait(); close(d.done) }()
	// Wait for the socket on a timer (the daemon starts in real time).
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	retry := time.NewTicker(20 * time.Millisecond)
	defer retry.Stop()
	for {
		if c, err := net.Dial("unix", d.Socket); err == nil {
			c.Close()
			return d, nil
		}
		select {
		case <-d.done:
			err := fmt.Errorf("kcmtest: sssd_kcm exited: %s", d.Log())
			d.Close()
			return nil, err
		case <-timeout.C:
			err := fmt.Errorf("kcmtest: sssd_kcm does not listen on %s: %s", d.Socket, d.Log())
			d.Close()
			return nil, err
		case <-retry.C:
		}
	}
}

type lockedWriter struct{ d *Daemon }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	if w.d.log.Len() > 4<<20 {
		return len(b), nil // enough to tell what went wrong
	}
	return w.d.log.Write(b)
}

// Log is what the daemon wrote (its debug log goes to stderr).
func (d *Daemon) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// Krb5Conf writes a copy of the krb5.conf at src with kcm_socket naming
// the daemon's socket, for MIT's tools and gosspi, and returns its path.
func (d *Daemon) Krb5Conf(src string) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	s := string(b)
	i := strings.Index(s, "[libdefaults]")
	if i < 0 {
		s = "[libdefaults]\n\tkcm_socket = " + d.Socket + "\n" + s
	} else {
		i += len("[libdefaults]")
		s = s[:i] + "\n\tkcm_socket = " + d.Socket + s[i:]
	}
	p := filepath.Join(d.Dir, "krb5.conf")
	return p, os.WriteFile(p, []byte(s), 0o644)
}

// Close stops the daemon (SIGKILL: it keeps nothing worth a clean stop)
// and removes the directory when Start made it.
func (d *Daemon) Close() {
	if d.cmd != nil && d.cmd.Process != nil && d.done != nil {
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
	d.cmd = nil
	if d.ownDir {
		os.RemoveAll(d.Dir)
	}
}
