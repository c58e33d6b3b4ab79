// Package gssproxy runs MIT's gss_accept_sec_context directly and through
// gssproxy (the Debian package gssproxy: a daemon that holds the keytab and
// answers GSS calls on a Unix socket, and an interposer mechanism,
// proxymech.so, that MIT's mechglue loads from /etc/gss/mech.d), so that
// the cost of gssproxy's privilege separation is measured beside lsad's.
//
// The interposer decides at the process's first GSS call, from the
// environment (GSS_USE_PROXY=yes, GSSPROXY_SOCKET), whether it forwards, and
// then stays so for the life of the process. So each side runs in its own
// worker process (the test binary again, as an unprivileged uid), and the
// benchmark process only makes AP-REQs and times the workers: see Worker.
package gssproxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DaemonConfig says how to run one gssproxy.
type DaemonConfig struct {
	// Dir holds the configuration, the log and the socket. Workers running
	// as another uid must be able to reach the socket, so Dir must be
	// searchable by them (0755).
	Dir string
	// Keytab is the acceptor keytab, given to the service section as
	// cred_store = keytab:PATH. Only the daemon needs to read it.
	Keytab string
	// EUID is the uid whose processes the service section serves.
	EUID int
	// Krb5Conf is the krb5.conf the daemon uses (KRB5_CONFIG). The workers
	// must be able to read it: a context the daemon exports carries the
	// names of its profile files, and MIT's gss_import_sec_context in the
	// worker (the interposer imports it on the first gss_wrap or
	// gss_unwrap) opens them again (EACCES otherwise).
	Krb5Conf string
	// Workers is gssproxy's "worker threads"; 0 keeps its default.
	Workers int
}

// Daemon is a running gssproxy started in the foreground (-i) with a
// private configuration: no file of /etc/gssproxy is read.
type Daemon struct {
	// Socket is the daemon's Unix socket, for GSSPROXY_SOCKET.
	Socket string
	// Log is the file holding the daemon's stdout and stderr.
	Log string

	cmd  *exec.Cmd
	done chan struct{}
}

func lookGSSProxy() (string, error) {
	if p, err := exec.LookPath("gssproxy"); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(d, "gssproxy")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("gssproxy: the gssproxy daemon is not installed (Debian package gssproxy)")
}

// config is the gssproxy.conf of one service section: mechs = krb5 for
// the worker's uid, accept only, the keytab as its cred_store.
func (c *DaemonConfig) config(socket string) string {
	s := "[gssproxy]\n"
	if c.Workers > 0 {
		s += fmt.Sprintf("  worker threads = %d\n", c.Workers)
	}
	s += fmt.Sprintf(`
[service/gosspi-bench]
  mechs = krb5
  euid = %d
  cred_usage = accept
  cred_store = keytab:%s
  socket = %s
`, c.EUID, c.Keytab, socket)
	return s
}

// StartDaemon starts gssproxy and waits until its socket accepts
// connections. The caller must Close it.
func StartDaemon(c DaemonConfig) (*Daemon, error) {
	bin, err := lookGSSProxy()
	if err != nil {
		return nil, err
	}
	confDir := filepath.Join(c.Dir, "gssproxy.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return nil, err
	}
	d := &Daemon{Socket: filepath.Join(c.Dir, "gssproxy.sock"), Log: filepath.Join(c.Dir, "gssproxy.log")}
	conf := filepath.Join(c.Dir, "gssproxy.conf")
	if err := os.WriteFile(conf, []byte(c.config(d.Socket)), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(d.Log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	d.cmd = exec.Command(bin, "-i", "-c", conf, "-C", confDir, "-s", d.Socket)
	// The daemon's replay cache is off, as KRB5RCACHETYPE=none is for the
	// direct worker, so that both accept one AP-REQ again and again.
	d.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "KRB5_CONFIG=" + c.Krb5Conf, "KRB5RCACHETYPE=none"}
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("gssproxy: start: %v", err)
	}
	d.done = make(chan struct{})
	go func() { d.cmd.Wait(); logf.Close(); close(d.done) }()

	// The daemon comes up in real time: wait on a timer for its socket.
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	retry := time.NewTicker(10 * time.Millisecond)
	defer retry.Stop()
	for {
		if conn, err := net.Dial("unix", d.Socket); err == nil {
			conn.Close()
			return d, nil
		}
		select {
		case <-d.done:
			b, _ := os.ReadFile(d.Log)
			return nil, fmt.Errorf("gssproxy: exited at start: %s", b)
		case <-timeout.C:
			d.Close()
			b, _ := os.ReadFile(d.Log)
			return nil, fmt.Errorf("gssproxy: no socket at %s after 10 s: %s", d.Socket, b)
		case <-retry.C:
		}
	}
}

// CPU is the CPU time the daemon's threads have used so far: the sum of
// the first field (time on CPU, ns) of /proc/PID/task/*/schedstat.
func (d *Daemon) CPU() (time.Duration, error) {
	dir := filepath.Join("/proc", strconv.Itoa(d.cmd.Process.Pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("gssproxy: schedstat of task %s: %q", t.Name(), b)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("gssproxy: schedstat of task %s: %v", t.Name(), err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// Close stops the daemon (SIGTERM, then SIGKILL after 5 s).
func (d *Daemon) Close() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-d.done:
	case <-t.C:
		d.cmd.Process.Kill()
		<-d.done
	}
}
