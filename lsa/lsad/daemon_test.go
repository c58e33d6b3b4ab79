package lsad

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi/secpkg"
	"github.com/prometheus/client_golang/prometheus"
)

// childEnv names the config file of a test binary started as the daemon;
// gateEnv makes its TestPkg hold every accept until SIGUSR1.
const (
	childEnv = "GOSSPI_LSAD_TEST_CHILD_CONFIG"
	gateEnv  = "GOSSPI_LSAD_TEST_GATE"
)

// testAccounts are the TestPkg accounts of the daemons the tests start.
var testAccounts = map[string]string{"alice": "correct horse", "bob": "battery staple"}

func TestMain(m *testing.M) {
	if p := os.Getenv(childEnv); p != "" {
		os.Exit(childDaemon(p))
	}
	os.Exit(m.Run())
}

// childDaemon is the test binary run as a separate daemon process: the
// standard packages plus TestPkg, on the config's socket, until SIGTERM.
// It prints "READY <metrics address>" once it listens.
func childDaemon(path string) int {
	f, err := LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	SanitizeEnvironment()
	level := slog.LevelInfo
	if f.LogLevel == "debug" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	std, err := standardPackages(f, log, nil, nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	reg := prometheus.NewRegistry()
	tc := sspitest.Config{Accounts: testAccounts}
	if os.Getenv(gateEnv) != "" {
		// TestPkg's accepts wait until SIGUSR1.
		gate := make(chan struct{})
		tc.Gate = gate
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() { <-usr1; close(gate) }()
	}
	s, err := New(Config{File: f, Logger: log, Registerer: reg, Packages: append(std, secpkg.LsaModePackage(sspitest.New(tc)))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	lns, err := Listen(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	go (&httpServer{reg: reg}).serve(mln)
	for _, ln := range lns {
		go s.Serve(ln)
	}
	fmt.Printf("READY %s\n", mln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	s.Close()
	return 0
}

// child is a daemon process started by a test.
type child struct {
	cmd     *exec.Cmd
	sock    string
	cfg     string
	metrics string
	logs    *testutil.SyncBuffer
	wrap    func(*exec.Cmd) *exec.Cmd // runs the daemon under another command
	env     []string                  // more environment for the daemon
}

// writeConfig writes f as JSON into dir and returns its path.
func writeConfig(t testing.TB, dir string, f *FileConfig) string {
	t.Helper()
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "lsad.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startChild starts the test binary as a daemon with the config and waits
// for its READY line. The process is killed when the test ends.
func startChild(t testing.TB, cfgPath, sock string) *child {
	t.Helper()
	c := &child{sock: sock, cfg: cfgPath, logs: &testutil.SyncBuffer{}}
	c.start(t)
	t.Cleanup(func() {
		if c.cmd.Process != nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", tail(c.logs.String(), 8000))
		}
	})
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (c *child) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+c.cfg), c.env...)
	if c.wrap != nil {
		cmd = c.wrap(cmd)
	}
	cmd.Stderr = c.logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		for s.Scan() {
		}
	}()
	select {
	case l, ok := <-line:
		addr, found := strings.CutPrefix(l, "READY ")
		if !ok || !found {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("daemon did not start: %q\n%s", l, c.logs.String())
		}
		c.metrics = addr
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("daemon did not start in 30 s\n%s", c.logs.String())
	}
	c.cmd = cmd
}

// kill9 kills the daemon with SIGKILL and reaps it.
func (c *child) kill9(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	c.cmd.Process = nil
}

// baseConfig is a config for the current uid with everything allowed.
func baseConfig(sock string) *FileConfig {
	return &FileConfig{
		Socket:              sock,
		AllowNTLMReflection: true,
		Services: []Service{{
			Name: "tests", UIDs: []uint32{uint32(os.Getuid())}, Inbound: true, Outbound: true,
			MaxHandshakes: 4096,
		}},
	}
}
