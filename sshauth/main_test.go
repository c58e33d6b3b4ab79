package sshauth

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/internal/testutil"
)

// The tests share one MIT realm with the principal of the local account
// the tests run as (the account sshd logs in to), a principal that maps
// to no local account (mallory), and the host services.
var realm struct {
	*krbtest.Realm
	account   string // the local account (root in CI)
	hostname  string // os.Hostname: sshd's host/HOSTNAME
	userCC    string // ACCOUNT@REALM's TGT
	malloryCC string // mallory@REALM's TGT
	sshdKT    string // host/HOSTNAME, for sshd (GSSAPIStrictAcceptorCheck yes)
	goKT      string // host/localhost, for the Go server
}

const (
	userPW    = "User-Secret-1"
	malloryPW = "Mallory-Secret-1"
)

func TestMain(m *testing.M) {
	kr, err := krbtest.Start(krbtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sshauth tests: cannot start the MIT realm:", err)
		os.Exit(1)
	}
	realm.Realm = kr
	if err := setup(kr); err != nil {
		kr.Close()
		fmt.Fprintln(os.Stderr, "sshauth tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	kr.Close()
	os.Exit(code)
}

func setup(kr *krbtest.Realm) error {
	os.Setenv("KRB5_CONFIG", kr.Krb5Con)
	os.Unsetenv("KRB5CCNAME")
	os.Unsetenv("KRB5_KTNAME")
	u, err := user.Current()
	if err != nil {
		return err
	}
	realm.account = u.Username
	if realm.hostname, err = os.Hostname(); err != nil {
		return err
	}
	if err := kr.AddPrincipal(realm.account, userPW); err != nil {
		return err
	}
	if err := kr.AddPrincipal("mallory", malloryPW); err != nil {
		return err
	}
	if realm.userCC, err = kr.Kinit(realm.account, userPW, "-f"); err != nil {
		return err
	}
	if realm.malloryCC, err = kr.Kinit("mallory", malloryPW); err != nil {
		return err
	}
	if realm.sshdKT, err = kr.AddService("host/" + realm.hostname); err != nil {
		return err
	}
	// The KDC marks sshd's host trusted for delegation (ok-as-delegate),
	// the policy under which the Kerberos package forwards a TGT.
	if _, err := kr.Kadmin("modprinc +ok_as_delegate host/" + realm.hostname); err != nil {
		return err
	}
	realm.goKT, err = kr.AddService("host/localhost")
	return err
}

// ccacheIdentity is a Kerberos identity of a ccache file.
func ccacheIdentity(path string) *gosspi.Identity {
	return &gosspi.Identity{Options: map[string]string{"ccache": "FILE:" + path}}
}

func newHost(t testing.TB, keytab string) *gosspi.Host {
	t.Helper()
	var cfg gosspi.HostConfig
	cfg.Kerberos.Keytab = keytab
	h, err := gosspi.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// sshd is OpenSSH's sshd on a private port of 127.0.0.1.
type sshd struct {
	addr string
	log  *testutil.SyncBuffer
}

// startSSHD runs sshd -D with a private configuration: only
// gssapi-with-mic, with the host keytab of host/HOSTNAME (the default
// GSSAPIStrictAcceptorCheck yes), and the account the tests run as.
func startSSHD(t testing.TB) *sshd {
	t.Helper()
	bin := "/usr/sbin/sshd"
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("sshd not found: install the Debian package openssh-server (.ci/apt-packages)")
	}
	// sshd's privilege separation needs its empty directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "host_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
PidFile %s/sshd.pid
UsePAM no
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication no
AuthorizedKeysFile none
GSSAPIAuthentication yes
GSSAPICleanupCredentials yes
GSSAPIStrictAcceptorCheck yes
StrictModes no
LogLevel VERBOSE
`, port, key, dir)
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-D", "-e", "-f", cfgPath)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "KRB5_CONFIG=" + realm.Krb5Con,
		"KRB5_KTNAME=FILE:" + realm.sshdKT, "KRB5RCACHETYPE=none"}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &sshd{addr: fmt.Sprintf("127.0.0.1:%d", port), log: &testutil.SyncBuffer{}}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		var once sync.Once
		for sc.Scan() {
			fmt.Fprintln(s.log, sc.Text())
			if strings.Contains(sc.Text(), "Server listening on") {
				once.Do(func() { close(ready) })
			}
		}
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.log.String())
		}
	})
	select {
	case <-ready:
	case <-done:
		t.Fatalf("sshd exited:\n%s", s.log.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("sshd is not listening:\n%s", s.log.String())
	}
	return s
}

// runRemote logs in with auth over addr and runs cmd, returning its
// output.
func runRemote(t testing.TB, addr, user string, auth ssh.AuthMethod, cmd string) (string, error) {
	t.Helper()
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{auth},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	var stderr strings.Builder
	sess.Stderr = &stderr
	out, err := sess.Output(cmd)
	if err != nil {
		return string(out) + stderr.String(), err
	}
	return string(out), nil
}

// goServer is an x/crypto/ssh server on 127.0.0.1 that accepts
// gssapi-with-mic with an Acceptor and answers each "exec" request with
// the principal that logged in and the command.
type goServer struct {
	addr string
	mu   sync.Mutex
	errs []error // authentication failures, as x/crypto/ssh reports them
}

func startGoServer(t testing.TB, acc *Acceptor, allow func(ssh.ConnMetadata, gosspi.PeerIdentity) (*ssh.Permissions, error)) *goServer {
	t.Helper()
	return startGoServerWith(t, func() *ssh.GSSAPIWithMICConfig { return acc.Config(allow) })
}

// startGoServerWith is startGoServer with the gssapi-with-mic
// configuration of each connection made by config.
func startGoServerWith(t testing.TB, config func() *ssh.GSSAPIWithMICConfig) *goServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	base := &ssh.ServerConfig{}
	base.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &goServer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			// One configuration, and one Server, per connection.
			cfg := *base
			cfg.GSSAPIWithMICConfig = config()
			cfg.AuthLogCallback = func(conn ssh.ConnMetadata, method string, err error) {
				if method == "gssapi-with-mic" && err != nil {
					g.mu.Lock()
					g.errs = append(g.errs, err)
					g.mu.Unlock()
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.serve(nc, &cfg)
			}()
		}
	}()
	return g
}

func (g *goServer) authErrors() []error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]error(nil), g.errs...)
}

func (g *goServer) serve(nc net.Conn, cfg *ssh.ServerConfig) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	conn, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			return
		}
		for req := range creqs {
			if req.Type != "exec" {
				req.Reply(false, nil)
				continue
			}
			var cmd struct{ Command string }
			ssh.Unmarshal(req.Payload, &cmd)
			req.Reply(true, nil)
			fmt.Fprintf(ch, "principal=%s user=%s cmd=%s\n", conn.Permissions.Extensions["gssapi-principal"], conn.User(), cmd.Command)
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
			ch.Close()
			break
		}
	}
}

// opensshClient runs OpenSSH's ssh with gssapi-with-mic only, with the
// ccache given, to ACCOUNT@localhost at addr.
func opensshClient(t testing.TB, addr, ccache, cmd string, opts ...string) (string, error) {
	t.Helper()
	bin := testutil.RequirePeer(t, "ssh")
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append([]string{"-F", "/dev/null", "-p", port,
		"-o", "BatchMode=yes", "-o", "GSSAPIAuthentication=yes", "-o", "PreferredAuthentications=gssapi-with-mic",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"}, opts...)
	c := exec.CommandContext(ctx, bin, append(args, realm.account+"@localhost", cmd)...)
	c.Env = testutil.Env(os.Environ(), "KRB5_CONFIG="+realm.Krb5Con, "KRB5CCNAME=FILE:"+ccache,
		"KRB5_CLIENT_KTNAME=FILE:/nonexistent", "KRB5_KTNAME=FILE:/nonexistent")
	out, err := c.CombinedOutput()
	return string(out), err
}
