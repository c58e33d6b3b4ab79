package sshauth

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/gosspi/gosspi"
)

// Our client logs in to OpenSSH's sshd with the user's ticket
// (gssapi-with-mic only) and runs a command there.
func TestClientToOpenSSH(t *testing.T) {
	d := startSSHD(t)
	c := &Client{Host: newHost(t, ""), Identity: ccacheIdentity(realm.userCC)}
	out, err := runRemote(t, d.addr, realm.account, c.AuthMethod(realm.hostname), "echo logged-in-as-$(id -un)")
	if err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	if want := "logged-in-as-" + realm.account; strings.TrimSpace(out) != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	// sshd names the principal it accepted.
	if !strings.Contains(d.log.String(), "Accepted gssapi-with-mic for "+realm.account) {
		t.Errorf("sshd did not log the gssapi-with-mic login:\n%s", d.log.String())
	}
	// The Client deletes its context after the attempt and can log in
	// again.
	if out, err := runRemote(t, d.addr, realm.account, c.AuthMethod(realm.hostname), "true"); err != nil {
		t.Fatalf("second login: %v\n%s", err, out)
	}
}

// With delegation, sshd stores the forwarded TGT for the session: klist
// there lists the user's krbtgt.
func TestClientToOpenSSHDelegates(t *testing.T) {
	d := startSSHD(t)
	c := &Client{Host: newHost(t, ""), Identity: ccacheIdentity(realm.userCC), Delegate: true}
	out, err := runRemote(t, d.addr, realm.account, c.AuthMethod(realm.hostname), "KRB5_CONFIG="+realm.Krb5Con+" klist")
	if err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	if !strings.Contains(out, "krbtgt/"+realm.Name+"@"+realm.Name) || !strings.Contains(out, realm.Principal(realm.account)) {
		t.Fatalf("no delegated TGT in the session:\n%s", out)
	}
}

// sshd refuses a ticket of a principal that may not use the account
// (krb5_kuserok: mallory@REALM is not root), and a client without a
// ticket cannot start.
func TestClientToOpenSSHRefused(t *testing.T) {
	d := startSSHD(t)
	h := newHost(t, "")
	mallory := &Client{Host: h, Identity: ccacheIdentity(realm.malloryCC)}
	if out, err := runRemote(t, d.addr, realm.account, mallory.AuthMethod(realm.hostname), "true"); err == nil {
		t.Fatalf("mallory logged in as %s:\n%s", realm.account, out)
	} else if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("mallory: %v", err)
	}
	none := &Client{Host: h, Identity: ccacheIdentity(t.TempDir() + "/no-such-ccache")}
	if _, err := runRemote(t, d.addr, realm.account, none.AuthMethod(realm.hostname), "true"); err == nil {
		t.Fatal("a client without a ticket logged in")
	}
	// A ticket for another host's principal (not in sshd's keytab) is
	// refused by sshd: the client asks for host/localhost.
	wrong := &Client{Host: h, Identity: ccacheIdentity(realm.userCC), Target: "host/localhost"}
	if _, err := runRemote(t, d.addr, realm.account, wrong.AuthMethod(realm.hostname), "true"); err == nil {
		t.Fatal("a ticket for host/localhost logged in to sshd of host/" + realm.hostname)
	}
}

// OpenSSH's ssh (MIT's GSS-API, ticket from kinit) logs in to an
// x/crypto/ssh server that uses our Server, which sees the principal.
func TestOpenSSHToServer(t *testing.T) {
	acc := newAcceptor(t)
	g := startGoServer(t, acc, AllowLocalUser(realm.Name))
	out, err := opensshClient(t, g.addr, realm.userCC, "hello")
	if err != nil {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	want := "principal=" + realm.Principal(realm.account) + " user=" + realm.account + " cmd=hello"
	if strings.TrimSpace(out) != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	if errs := g.authErrors(); len(errs) != 0 {
		t.Fatalf("authentication errors: %v", errs)
	}
}

// ssh -K (GSSAPIDelegateCredentials) delegates the user's TGT: the peer
// that AllowLogin sees says so, with the canonical principal.
func TestOpenSSHToServerDelegated(t *testing.T) {
	var cfg gosspi.HostConfig
	cfg.Kerberos.Keytab = realm.goKT
	cfg.Kerberos.DelegationDir = t.TempDir()
	h, err := gosspi.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	acc, err := NewAcceptor(t.Context(), h, "")
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	peers := make(chan gosspi.PeerIdentity, 1)
	ccaches := make(chan string, 1)
	// The test's own Config: AllowLogin reaches the connection's Server
	// for the delegated ccache.
	g := startGoServerWith(t, func() *ssh.GSSAPIWithMICConfig {
		s := acc.NewServer()
		return &ssh.GSSAPIWithMICConfig{Server: s, AllowLogin: func(conn ssh.ConnMetadata, src string) (*ssh.Permissions, error) {
			p, _ := s.Peer()
			peers <- p
			cc, err := s.DelegatedCCache()
			if err != nil {
				return nil, err
			}
			// The file goes with the context: copy it now.
			b, err := os.ReadFile(strings.TrimPrefix(cc, "FILE:"))
			if err != nil {
				return nil, err
			}
			keep := filepath.Join(t.TempDir(), "session.ccache")
			if err := os.WriteFile(keep, b, 0o600); err != nil {
				return nil, err
			}
			ccaches <- keep
			return AllowLocalUser(realm.Name)(conn, p)
		}}
	})
	out, err := opensshClient(t, g.addr, realm.userCC, "hello", "-K")
	if err != nil {
		t.Fatalf("ssh -K: %v\n%s", err, out)
	}
	p := <-peers
	if !p.Delegated || p.Principal != realm.Principal(realm.account) || p.Package != "Kerberos" {
		t.Fatalf("peer %+v: want %s, Kerberos, delegated", p, realm.Principal(realm.account))
	}
	// MIT's klist reads the delegated ccache: the user's TGT.
	cc := <-ccaches
	if _, err := os.Stat(cc); err != nil {
		t.Fatal(err)
	}
	klist, err := exec.Command("klist", "-c", cc).CombinedOutput()
	if err != nil || !strings.Contains(string(klist), "krbtgt/"+realm.Name+"@"+realm.Name) {
		t.Fatalf("klist -c %s: %v\n%s", cc, err, klist)
	}
}

// Our server refuses ssh without a ticket, and mallory's ticket for root
// (AllowLocalUser), with the reason in its log callback.
func TestOpenSSHToServerRefused(t *testing.T) {
	acc := newAcceptor(t)
	g := startGoServer(t, acc, AllowLocalUser(realm.Name))
	if out, err := opensshClient(t, g.addr, t.TempDir()+"/no-such-ccache", "hello"); err == nil {
		t.Fatalf("ssh without a ticket logged in:\n%s", out)
	}
	out, err := opensshClient(t, g.addr, realm.malloryCC, "hello")
	if err == nil {
		t.Fatalf("mallory logged in as %s:\n%s", realm.account, out)
	}
	var found bool
	for _, e := range g.authErrors() {
		if strings.Contains(e.Error(), "mallory@"+realm.Name+" may not log in as") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no refusal of mallory among %v (ssh: %s)", g.authErrors(), out)
	}
}

// Both sides ours, in one process: the login works, and a Server that
// verifies a MIC over other fields (another session) refuses it.
func TestClientToServer(t *testing.T) {
	acc := newAcceptor(t)
	g := startGoServer(t, acc, AllowLocalUser(realm.Name))
	c := &Client{Host: newHost(t, ""), Identity: ccacheIdentity(realm.userCC)}
	out, err := runRemote(t, g.addr, realm.account, c.AuthMethod("localhost"), "x")
	if err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	if !strings.Contains(out, "principal="+realm.Principal(realm.account)) {
		t.Fatalf("output %q", out)
	}
}

func TestMICBindsTheSession(t *testing.T) {
	acc := newAcceptor(t)
	c := &Client{Host: newHost(t, ""), Identity: ccacheIdentity(realm.userCC)}
	s := acc.NewServer()
	defer c.DeleteSecContext()
	defer s.DeleteSecContext()
	if _, err := c.GetMIC([]byte("x")); err == nil {
		t.Fatal("GetMIC before the context")
	}
	if err := s.VerifyMIC([]byte("x"), []byte("y")); err == nil {
		t.Fatal("VerifyMIC before the context")
	}
	tok, more, err := c.InitSecContext("host@localhost", nil, false)
	if err != nil || !more {
		t.Fatalf("InitSecContext: %v (continue %v)", err, more)
	}
	rep, src, more, err := s.AcceptSecContext(tok)
	if err != nil || more {
		t.Fatalf("AcceptSecContext: %v (continue %v)", err, more)
	}
	if src != realm.Principal(realm.account) {
		t.Fatalf("srcName %q", src)
	}
	if _, ok := s.Peer(); ok {
		t.Fatal("Peer before the MIC")
	}
	if _, more, err = c.InitSecContext("host@localhost", rep, false); err != nil || more {
		t.Fatalf("InitSecContext(AP-REP): %v (continue %v)", err, more)
	}
	field := buildMICField([]byte("session-1"), realm.account)
	mic, err := c.GetMIC(field)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyMIC(buildMICField([]byte("session-2"), realm.account), mic); err == nil {
		t.Fatal("a MIC of another session verified")
	}
	if err := s.VerifyMIC(buildMICField([]byte("session-1"), "other"), mic); err == nil {
		t.Fatal("a MIC of another user verified")
	}
	if err := s.VerifyMIC(field, mic); err != nil {
		t.Fatalf("VerifyMIC: %v", err)
	}
	if p, ok := s.Peer(); !ok || p.Principal != realm.Principal(realm.account) {
		t.Fatalf("Peer %+v %v", p, ok)
	}
}

func TestLocalUser(t *testing.T) {
	for _, tc := range []struct {
		in, realm, want string
		ok              bool
	}{
		{"alice@R.TEST", "R.TEST", "alice", true},
		{"alice@OTHER", "R.TEST", "", false},
		{"alice/admin@R.TEST", "R.TEST", "", false},
		{"alice@r.test", "R.TEST", "", false},
		{"@R.TEST", "R.TEST", "", false},
		{"alice", "R.TEST", "", false},
		{"alice@", "", "", false},
	} {
		got, ok := LocalUser(tc.in, tc.realm)
		if got != tc.want || ok != tc.ok {
			t.Errorf("LocalUser(%q, %q) = %q, %v; want %q, %v", tc.in, tc.realm, got, ok, tc.want, tc.ok)
		}
	}
}

func newAcceptor(t testing.TB) *Acceptor {
	t.Helper()
	acc, err := NewAcceptor(t.Context(), newHost(t, realm.goKT), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acc.Close() })
	return acc
}

// buildMICField is the data of RFC 4462 section 3.5 that x/crypto/ssh
// signs.
func buildMICField(session []byte, user string) []byte {
	var b []byte
	str := func(s []byte) {
		b = append(b, byte(len(s)>>24), byte(len(s)>>16), byte(len(s)>>8), byte(len(s)))
		b = append(b, s...)
	}
	str(session)
	b = append(b, 50) // SSH_MSG_USERAUTH_REQUEST
	str([]byte(user))
	str([]byte("ssh-connection"))
	str([]byte("gssapi-with-mic"))
	return b
}
