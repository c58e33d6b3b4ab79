// Package redistest runs a throwaway redis-server for tests: no
// persistence, listening on a unix socket in a temporary directory and on a
// private loopback TCP port. The server can be stopped and started again on
// the same addresses (Stop, Start), or frozen with SIGSTOP and thawed with
// SIGCONT (Pause, Resume) to make it answer late.
//
// GOSSPI_REDIS_CPUS, when set, is the CPU list (taskset -c) the server runs
// on, for benchmarks that keep it off the CPUs of the process under test.
//
// redis-server comes from the Debian package redis-server. When it is
// missing, Start fails: tests must not skip.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/sysenv"
)

// Server is a running (or stopped, or paused) redis-server.
type Server struct {
	Dir    string // the directory holding the socket, the config and the log
	Socket string // the unix socket path
	Port   int    // the TCP port on 127.0.0.1

	ownDir bool
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	paused bool
}

// Options configures a server.
type Options struct {
	// Dir is where the server lives; a fresh temporary directory when
	// empty (removed by Close).
	Dir string
	// Extra are added to redis.conf, one directive a line, such as
	// "requirepass secret".
	Extra []string
}

func lookServer() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/bin", "/usr/sbin", "/usr/local/bin"} {
		p := filepath.Join(d, "redis-server")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("redistest: redis-server not found (install the Debian package redis-server)")
}

// New starts a server for one test and stops it when the test ends. It
// fails the test when the server cannot start.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Dir == "" {
		// A short path: a unix socket path is limited to about 100 bytes,
		// and t.TempDir's can be longer.
		d, err := os.MkdirTemp("", "redistest-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		o.Dir = d
	}
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a server. The caller must Close it.
func Start(o Options) (*Server, error) {
	bin, err := lookServer()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: o.Dir}
	if s.Dir == "" {
		d, err := os.MkdirTemp("", "redistest-")
		if err != nil {
			return nil, err
		}
		s.Dir, s.ownDir = d, true
	}
	s.Socket = filepath.Join(s.Dir, "redis.sock")
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.configure(o.Extra); err == nil {
			if err = s.start(bin); err == nil {
				return s, nil
			}
		}
		s.kill()
	}
	s.Close()
	return nil, err
}

func (s *Server) configure(extra []string) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf(`bind 127.0.0.1
port %d
unixsocket %s
unixsocketperm 700
dir %s
save ""
appendonly no
daemonize no
protected-mode no
logfile %s
%s
`, s.Port, s.Socket, s.Dir, filepath.Join(s.Dir, "redis.log"), strings.Join(extra, "\n"))
	return os.WriteFile(filepath.Join(s.Dir, "redis.conf"), []byte(conf), 0o600)
}

func (s *Server) start(bin string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("redistest: already running")
	}
	cmd := exec.Command(bin, filepath.Join(s.Dir, "redis.conf"))
	if cpus := os.Getenv("GOSSPI_REDIS_CPUS"); cpus != "" {
		// Benchmarks: keep the server off the CPUs of the process under
		// test, as a Redis on its own host would be.
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return fmt.Errorf("redistest: GOSSPI_REDIS_CPUS needs taskset (util-linux): %v", err)
		}
		cmd = exec.Command(ts, "-c", cpus, bin, filepath.Join(s.Dir, "redis.conf"))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done, s.paused = cmd, done, false
	// redis-server comes up in real time: wait on timers, not a clock.
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	retry := time.NewTicker(10 * time.Millisecond)
	defer retry.Stop()
	for {
		err := ping("unix", s.Socket)
		if err == nil {
			// The TCP port must be ours too: another process may have
			// taken it between configure and start.
			if err = ping("tcp", s.Addr()); err == nil {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("redistest: redis-server exited: %s", s.log())
		case <-timeout.C:
			return fmt.Errorf("redistest: redis-server does not answer: %v: %s", err, s.log())
		case <-retry.C:
		}
	}
}

// ping sends PING and expects +PONG.
func ping(network, addr string) error {
	c, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(sysenv.Deadline(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("redistest: PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	return string(b)
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is the redis:// URL of the TCP port.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// UnixURL is the unix:// URL of the socket.
func (s *Server) UnixURL() string { return "unix://" + s.Socket }

// Stop kills the server (SIGKILL: no persistence, nothing to save) and
// waits until it has exited; its addresses then refuse connections.
func (s *Server) Stop() { s.kill() }

func (s *Server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
	os.Remove(s.Socket)
}

// Restart starts a stopped server again on the same socket and port.
func (s *Server) Restart() error {
	bin, err := lookServer()
	if err != nil {
		return err
	}
	return s.start(bin)
}

// Pause freezes the server with SIGSTOP: connections stay open and
// commands wait unanswered until Resume.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP, true) }

// Resume thaws a paused server with SIGCONT.
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT, false) }

func (s *Server) signal(sig syscall.Signal, paused bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("redistest: not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		return err
	}
	s.paused = paused
	return nil
}

// Close stops the server (thawing it first when paused) and removes the
// directory when Start made it.
func (s *Server) Close() {
	s.mu.Lock()
	if s.paused && s.cmd != nil {
		s.cmd.Process.Signal(syscall.SIGCONT)
		s.paused = false
	}
	s.mu.Unlock()
	s.kill()
	if s.ownDir {
		os.RemoveAll(s.Dir)
	}
}

// CPUTime is the CPU time redis-server's threads have used so far (from
// /proc/PID/task/*/schedstat, nanosecond resolution), for benchmarks that
// count the server's share of an operation; 0 when it is not running.
func (s *Server) CPUTime() time.Duration {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0
	}
	dir := fmt.Sprintf("/proc/%d/task", cmd.Process.Pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				total += time.Duration(ns)
			}
		}
	}
	return total
}
