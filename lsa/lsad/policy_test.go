package lsad

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/lsa/remote"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// inProcess is a daemon Server in the test process, on a real Unix socket.
type inProcess struct {
	s        *Server
	sock     string
	released chan Peer
}

// startInProcess serves f on a socket in a temporary directory; opts run
// on the server before it serves.
func startInProcess(t testing.TB, f *FileConfig, opts ...func(*Server, string)) *inProcess {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "lsad.sock")
	f.Socket = sock
	if err := f.check(); err != nil {
		t.Fatal(err)
	}
	std, err := standardPackages(f, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{File: f, Packages: append(std, secpkg.LsaModePackage(sspitest.New(sspitest.Config{Accounts: testAccounts})))})
	if err != nil {
		t.Fatal(err)
	}
	ip := &inProcess{s: s, sock: sock, released: make(chan Peer, 1024)}
	s.released = func(p Peer) { ip.released <- p }
	for _, o := range opts {
		o(s, sock)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ip
}

func dialTable(t testing.TB, sock string, user ...sspi.UserModePackage) (*sspi.FunctionTable, *remote.Host) {
	t.Helper()
	h, err := remote.Dial("unix:"+sock, remote.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tbl := sspi.New(h, sspi.Config{UserPackages: user})
	t.Cleanup(func() { tbl.Close(); h.Close() })
	return tbl, h
}

// ntlmFirstLegs runs NTLM's NEGOTIATE and CHALLENGE legs and leaves a
// half-built server context.
func ntlmFirstLegs(t testing.TB, tbl *sspi.FunctionTable) (cli, srv sspi.CtxtHandle, ccred, scred sspi.CredHandle, challenge []byte) {
	t.Helper()
	if st := tbl.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: "alice", Domain: "CONTOSO", Password: "correct horse"}, &ccred, nil); st != sspi.SEC_E_OK {
		t.Fatalf("client credential: %v", st)
	}
	if st := tbl.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_INBOUND, nil, &scred, nil); st != sspi.SEC_E_OK {
		t.Fatalf("server credential: %v", st)
	}
	out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	if st := tbl.InitializeSecurityContext(&ccred, nil, "host/srv", sspi.ISC_REQ_CONNECTION, 0, nil, &cli, out, nil, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("ISC 1: %v", st)
	}
	in := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: out.Token()})
	out2 := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	if st := tbl.AcceptSecurityContext(&scred, nil, in, sspi.ASC_REQ_CONNECTION, 0, &srv, out2, nil, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("ASC 1: %v", st)
	}
	return cli, srv, ccred, scred, out2.Token()
}

func ntlmPolicy(t testing.TB) *FileConfig {
	t.Helper()
	accounts := filepath.Join(t.TempDir(), "ntlm_users")
	if err := os.WriteFile(accounts, []byte("CONTOSO:alice:correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := baseConfig("")
	f.Services[0].NTLMAccounts = accounts
	return f
}

// A caller the policy does not name is refused at the hello, with the
// status and the reason; nothing else reaches the packages.
func TestCallerNotInPolicyRefused(t *testing.T) {
	f := baseConfig("")
	f.Services[0].UIDs = []uint32{uint32(os.Getuid()) + 4242}
	ip := startInProcess(t, f)
	_, err := remote.Dial("unix:"+ip.sock, remote.Config{})
	if !errors.Is(err, sspi.SEC_E_NOT_OWNER) || !strings.Contains(err.Error(), "not in the lsad policy") {
		t.Fatalf("dial as a caller outside the policy: %v", err)
	}
	if n := ip.s.Stats().Connections; n != 0 {
		t.Errorf("refused caller kept a connection: %d", n)
	}
}

// Handles belong to the connection that made them: a second connection
// presenting them (a credential, a half-built context) gets
// SEC_E_INVALID_HANDLE, and the first connection's handshake goes on.
func TestHandleReplayFromSecondConnection(t *testing.T) {
	ip := startInProcess(t, ntlmPolicy(t))
	a, _ := dialTable(t, ip.sock, ntlm.UserMode())
	b, _ := dialTable(t, ip.sock, ntlm.UserMode())
	cli, srv, ccred, scred, challenge := ntlmFirstLegs(t, a)

	out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	var stolen sspi.CtxtHandle
	if st := b.InitializeSecurityContext(&ccred, nil, "host/srv", sspi.ISC_REQ_CONNECTION, 0, nil, &stolen, out, nil, nil); st != sspi.SEC_E_INVALID_HANDLE {
		t.Errorf("second connection with the first's credential: %v", st)
	}
	in := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: challenge})
	if st := b.AcceptSecurityContext(nil, &srv, in, sspi.ASC_REQ_CONNECTION, 0, &stolen, out, nil, nil); st != sspi.SEC_E_INVALID_HANDLE {
		t.Errorf("second connection with the first's context: %v", st)
	}
	var names sspi.SecPkgContextNames
	if st := b.QueryContextAttributes(&srv, sspi.SECPKG_ATTR_NAMES, &names); st != sspi.SEC_E_INVALID_HANDLE {
		t.Errorf("second connection querying the first's context: %v", st)
	}
	if st := b.DeleteSecurityContext(&srv); st != sspi.SEC_E_INVALID_HANDLE {
		t.Errorf("second connection deleting the first's context: %v", st)
	}
	if st := b.FreeCredentialsHandle(&scred); st != sspi.SEC_E_INVALID_HANDLE {
		t.Errorf("second connection freeing the first's credential: %v", st)
	}
	// The owner finishes its handshake.
	in = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: challenge})
	auth := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	if st, err := a.WithContext(context.Background()).InitializeSecurityContext(&ccred, &cli, "host/srv", sspi.ISC_REQ_CONNECTION, 0, in, &cli, auth, nil, nil); st != sspi.SEC_E_OK {
		t.Fatalf("ISC 2: %v", err)
	}
	in = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: auth.Token()})
	if st := a.AcceptSecurityContext(&scred, &srv, in, sspi.ASC_REQ_CONNECTION, 0, &srv, out, nil, nil); st != sspi.SEC_E_OK {
		t.Fatalf("ASC 2 by the owner: %v", st)
	}
	if st := a.QueryContextAttributes(&srv, sspi.SECPKG_ATTR_NAMES, &names); st != sspi.SEC_E_OK || names.UserName != `CONTOSO\alice` {
		t.Errorf("names: %v %q", st, names.UserName)
	}
	// Established: the daemon dropped the LSA half, and the stolen handle
	// is still nothing on the second connection.
	if st := b.QueryContextAttributes(&srv, sspi.SECPKG_ATTR_NAMES, &names); st != sspi.SEC_E_INVALID_HANDLE {
		t.Errorf("second connection querying the first's established context: %v", st)
	}
}

// uid A never gets uid B's tickets: a ccache owned by another uid, or a
// symbolic link to one, is refused, whether named by KRB5CCNAME or by the
// "ccache" option.
func TestOtherUsersCCacheRefused(t *testing.T) {
	ip := startInProcess(t, baseConfig(""))
	dir := t.TempDir()
	other := filepath.Join(dir, "krb5cc_other")
	if err := os.WriteFile(other, []byte{5, 4}, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(other, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "krb5cc_link")
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  string
		opt  string
		want string
	}{
		{"KRB5CCNAME", "FILE:" + other, "", "owned by uid 65534"},
		{"option", "", other, "owned by uid 65534"},
		{"symlink", "FILE:" + link, "", "cannot open"},
		{"KCM", "KCM:", "", "only FILE caches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := remote.Dial("unix:"+ip.sock, remote.Config{Env: func(k string) string {
				if k == "KRB5CCNAME" {
					return tc.env
				}
				return ""
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			var ad *sspi.AuthIdentity
			if tc.opt != "" {
				ad = &sspi.AuthIdentity{Options: map[string]string{"ccache": tc.opt}}
			}
			_, err = h.AcquireCredentialsHandle(context.Background(), &sspi.AcquireCredentialsRequest{Package: "Kerberos", Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: ad})
			if !errors.Is(err, sspi.SEC_E_NO_CREDENTIALS) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want SEC_E_NO_CREDENTIALS mentioning %q", err, tc.want)
			}
		})
	}
}

// The policy's grants: an inbound keytab other than the caller's, an
// account file other than its own, an outbound credential for a service
// that may only accept, and S4U without allow_s4u are refused.
func TestPolicyGrants(t *testing.T) {
	f := ntlmPolicy(t)
	f.Services[0].Keytab = "/etc/gosspi-test-none.keytab"
	f.Services = append(f.Services, Service{Name: "acceptor-only", UIDs: []uint32{4242}, Inbound: true, Packages: []string{"NTLM"}})
	ip := startInProcess(t, f)
	h, err := remote.Dial("unix:"+ip.sock, remote.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  sspi.AcquireCredentialsRequest
		want sspi.Status
	}{
		{"other keytab", sspi.AcquireCredentialsRequest{Package: "Kerberos", Use: sspi.SECPKG_CRED_INBOUND, AuthData: &sspi.AuthIdentity{Options: map[string]string{"keytab": "/etc/krb5.keytab"}}}, sspi.SEC_E_NOT_OWNER},
		{"other accounts", sspi.AcquireCredentialsRequest{Package: "NTLM", Use: sspi.SECPKG_CRED_INBOUND, AuthData: &sspi.AuthIdentity{Options: map[string]string{"accounts": "/etc/shadow"}}}, sspi.SEC_E_NOT_OWNER},
		{"client keytab", sspi.AcquireCredentialsRequest{Package: "Kerberos", Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{Options: map[string]string{"client_keytab": "/etc/krb5.keytab"}}}, sspi.SEC_E_NOT_OWNER},
		{"S4U", sspi.AcquireCredentialsRequest{Package: "Kerberos", Use: sspi.SECPKG_CRED_OUTBOUND, Principal: "bob"}, sspi.SEC_E_DELEGATION_POLICY},
	} {
		if _, err := h.AcquireCredentialsHandle(ctx, &tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The policy's own account file works.
	if _, err := h.AcquireCredentialsHandle(ctx, &sspi.AcquireCredentialsRequest{Package: "NTLM", Use: sspi.SECPKG_CRED_INBOUND}); err != nil {
		t.Errorf("NTLM inbound with the policy's accounts: %v", err)
	}
}

// A process running as another uid (setpriv) is refused by a policy that
// names only root, and is accepted by one that names it: SO_PEERCRED,
// not the request, decides.
func TestPeerCredentialsFromKernel(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test needs root to run a caller as nobody (setpriv)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv not found: install util-linux")
	}
	f := baseConfig("")
	f.Services = append(f.Services, Service{Name: "nobody", UIDs: []uint32{65534}, Inbound: true, Packages: []string{sspitest.Name}})
	ip := startInProcess(t, f)
	for _, p := range []string{filepath.Dir(filepath.Dir(ip.sock)), filepath.Dir(ip.sock)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(ip.sock, 0o666); err != nil {
		t.Fatal(err)
	}
	bin := copyTestBinary(t)
	run := func(uid string) string {
		cmd := exec.Command(setpriv, "--reuid="+uid, "--regid="+uid, "--clear-groups", bin, "-test.run=^TestHelperDial$")
		cmd.Env = append(os.Environ(), helperEnv+"="+ip.sock)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out := run("65534"); !strings.Contains(out, "HELPER uid=65534 service=nobody") {
		t.Errorf("nobody, in the policy: %s", out)
	}
	if err := ip.s.SetPolicy(baseConfig("")); err != nil { // only root now
		t.Fatal(err)
	}
	if out := run("65534"); !strings.Contains(out, "HELPER refused") || !strings.Contains(out, "SEC_E_NOT_OWNER") {
		t.Errorf("nobody, not in the policy: %s", out)
	}

	// A section naming a supplementary group: the kernel's record of the
	// caller's groups at connect time (SO_PEERGROUPS) decides, so uid
	// 61234 with group 61777 is the "group" section, and without it is
	// refused.
	g := baseConfig("")
	g.Services = append(g.Services, Service{Name: "group", GIDs: []uint32{61777}, Inbound: true, Packages: []string{sspitest.Name}})
	if err := ip.s.SetPolicy(g); err != nil {
		t.Fatal(err)
	}
	runGroups := func(groups string) string {
		cmd := exec.Command(setpriv, "--reuid=61234", "--regid=61234", "--groups="+groups, bin, "-test.run=^TestHelperDial$")
		cmd.Env = append(os.Environ(), helperEnv+"="+ip.sock)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out := runGroups("61777"); !strings.Contains(out, "HELPER uid=61234 service=group") {
		t.Errorf("a caller in the section's supplementary group: %s", out)
	}
	if out := runGroups("61778"); !strings.Contains(out, "HELPER refused") {
		t.Errorf("a caller outside the section's groups: %s", out)
	}
}

// helperEnv makes TestHelperDial dial the daemon at its value and report
// what the daemon saw.
const helperEnv = "GOSSPI_LSAD_TEST_HELPER_SOCK"

func TestHelperDial(t *testing.T) {
	sock := os.Getenv(helperEnv)
	if sock == "" {
		return // only as a helper process
	}
	h, err := remote.Dial("unix:"+sock, remote.Config{})
	if err != nil {
		println("HELPER refused: " + err.Error())
		return
	}
	uid, _, _, svc := h.Caller()
	println("HELPER uid=" + strconv.Itoa(int(uid)) + " service=" + svc)
	h.Close()
}

// copyTestBinary copies the test binary where another uid can run it.
func copyTestBinary(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lsad-bin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "lsad.test")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
