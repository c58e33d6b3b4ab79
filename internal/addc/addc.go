//go:build linux

// Package addc runs a Samba Active Directory domain controller for tests:
// provisioned with samba-tool (Debian's samba, samba-ad-dc,
// samba-ad-provision), started with `samba --foreground` on loopback only,
// inside a private network and PID namespace that Main makes for the test
// binary. Tests then talk to a real AD KDC, LDAP server and NETLOGON.
//
// Provisioning takes seconds, so it is done once per machine and parameter
// set: the provision, with its accounts and keytabs, is kept in a cache
// under os.TempDir() (keyed by a hash of the provisioning steps and the
// Samba version, made under a lock so that test binaries running at once
// share it), and each test binary starts its DC from a copy.
//
// When the DC cannot be provisioned or does not start, Start fails the
// test with the DC's log: tests must not skip.
package addc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/gosspi/gosspi/internal/sysenv"
)

// The domain every DC of this package serves.
const (
	Realm       = "ADDC.GOSSPI.TEST"          // Kerberos realm
	Domain      = "ADDC"                      // NetBIOS domain name
	DNSDomain   = "addc.gosspi.test"          // DNS domain
	HostName    = "dc1"                       // the DC's host name (the namespace's)
	ServiceHost = "web.addc.gosspi.test"      // host of the service account's SPN
	SPN         = "HTTP/web.addc.gosspi.test" // the service account's SPN
	Addr        = "127.0.0.1"                 // where the DC listens
	baseDN      = "DC=addc,DC=gosspi,DC=test"

	// AdminPassword is the Administrator's password.
	AdminPassword = "Admin-Pass-1!"
	// GroupA and GroupB are global groups: Alice is a member of GroupA,
	// and GroupA of GroupB.
	GroupA = "gosspi-group-a"
	GroupB = "gosspi-group-b"
)

// Account is an account the harness creates, with its password.
type Account struct {
	Name     string // sAMAccountName ("ws1$" for the machine)
	Password string
}

// The accounts of the domain. Their passwords are fixed: the DC lives on
// loopback in a namespace of its own and is thrown away.
var (
	Alice    = Account{"alice", "Alice-Pass-1!"}      // member of GroupA (and so of GroupB)
	Bob      = Account{"bob", "Bob-Pass-1!"}          // no extra groups
	RC4Only  = Account{"rc4user", "Rc4-Pass-1!"}      // only an RC4 (NT hash) key: no AES keys
	Disabled = Account{"disableduser", "Dis-Pass-1!"} // account disabled
	Expired  = Account{"expireduser", "Exp-Pass-1!"}  // password expired (pwdLastSet in 2020)
	// MustChange must change its password at the next logon (pwdLastSet 0).
	MustChange = Account{"mustchange", "Must-Pass-1!"}
	// AccountExpired is an account whose accountExpires has passed.
	AccountExpired = Account{"expiredacct", "Acct-Pass-1!"}
	// Service is the service account that holds SPN;
	// msDS-SupportedEncryptionTypes is 28 (RC4, AES128, AES256).
	Service = Account{"svc-http", "Svc-Pass-1!"}
	// Machine is a computer account (CN=WS1,CN=Computers).
	Machine = Account{"WS1$", "Machine-Pass-1!"}
)

// DC is a running domain controller.
type DC struct {
	Dir      string // the run directory (a copy of the cached provision)
	SMBConf  string // its smb.conf
	Krb5Conf string // krb5.conf for the realm, pointing at 127.0.0.1
	// Keytab holds the keys of SPN and of the service account's own name
	// (svc-http@REALM), all three enctypes.
	Keytab string
	// ClientKeytab holds Alice's keys, for an initiator with a keytab.
	ClientKeytab string
	// Timings of this DC: ProvisionTime is zero when the provision came
	// from the cache.
	ProvisionTime, CopyTime, StartTime time.Duration
	// Version is `samba --version`.
	Version string

	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Principal returns name@REALM.
func (d *DC) Principal(name string) string { return name + "@" + Realm }

// KDCAddr returns "127.0.0.1:88".
func (d *DC) KDCAddr() string { return net.JoinHostPort(Addr, "88") }

// Log returns what samba wrote so far.
func (d *DC) Log() string {
	b, _ := os.ReadFile(d.log)
	return string(b)
}

// Env is the environment for MIT tools pointed at this DC: KRB5_CONFIG and
// a KRB5CCNAME in the run directory, plus the rest of os.Environ.
func (d *DC) Env() []string {
	env := []string{
		"KRB5_CONFIG=" + d.Krb5Conf,
		"KRB5CCNAME=FILE:" + filepath.Join(d.Dir, "ccache"),
		"KRB5_CLIENT_KTNAME=FILE:" + filepath.Join(d.Dir, "no-client.keytab"),
		"KRB5RCACHETYPE=none",
	}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KRB5") {
			env = append(env, e)
		}
	}
	return env
}

// SambaTool runs samba-tool with the DC's smb.conf (local database
// access, as root on the DC) and returns its combined output.
func (d *DC) SambaTool(args ...string) (string, error) {
	return runTool(d.Env(), nil, "samba-tool", append(args, "-s", d.SMBConf)...)
}

// Run runs a program (kinit, ldbsearch, smbclient...) with Env and returns
// its combined output; stdin, when not nil, is its standard input.
func (d *DC) Run(stdin []byte, tool string, args ...string) (string, error) {
	return runTool(d.Env(), stdin, tool, args...)
}

// Kinit gets a TGT for principal with MIT's kinit into a new ccache file
// in dir and returns its path (without FILE:). Extra arguments go before
// the principal.
func (d *DC) Kinit(dir, principal, password string, args ...string) (string, error) {
	cc := filepath.Join(dir, "ccache-"+strings.NewReplacer("/", "_", "@", "_", "$", "_").Replace(principal))
	a := append([]string{"-c", "FILE:" + cc}, args...)
	out, err := d.Run([]byte(password+"\n"), "kinit", append(a, principal)...)
	if err != nil {
		return "", fmt.Errorf("addc: kinit %s: %v: %s", principal, err, out)
	}
	return cc, nil
}

func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("addc: %s not found (make test installs .ci/apt-packages: samba samba-ad-dc samba-ad-provision samba-common-bin winbind krb5-user ldb-tools smbclient)", name)
}

func runTool(env []string, stdin []byte, tool string, args ...string) (string, error) {
	p, err := lookTool(tool)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, p, args...)
	c.Env = env
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	out, err := c.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w", tool, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// The DC shared by the tests of one binary.
var (
	sharedOnce sync.Once
	shared     *DC
	sharedErr  error
)

// Start returns the test binary's DC, provisioning (or copying the cached
// provision) and starting it on first use; Main stops it after the tests.
// It fails the test, with the DC's log, when the DC cannot start, and
// when the binary's TestMain is not addc.Main.
func Start(t testing.TB) *DC {
	t.Helper()
	sharedOnce.Do(func() {
		if !InNamespace() {
			sharedErr = errors.New("addc: the test binary is not in its private namespace: its TestMain must call addc.Main(m)")
			return
		}
		if nsErr != nil {
			sharedErr = nsErr
			return
		}
		shared, sharedErr = start()
	})
	if sharedErr != nil {
		t.Fatalf("the Samba AD DC did not start: %v", sharedErr)
	}
	return shared
}

func stopShared() {
	if shared != nil {
		shared.stop()
	}
	if os.Getpid() == 1 {
		// samba-dcerpcd and the like leave samba's process group: end
		// whatever is left in the namespace, and reap it (this process is
		// the namespace's init), before removing the run directory.
		_ = syscall.Kill(-1, syscall.SIGKILL)
		for {
			if _, err := syscall.Wait4(-1, nil, 0, nil); err != nil && err != syscall.EINTR { // ECHILD: none left
				break
			}
		}
	}
	if shared != nil {
		os.RemoveAll(shared.Dir)
	}
}

func start() (*DC, error) {
	version, err := runTool(os.Environ(), nil, "samba", "--version")
	if err != nil {
		return nil, fmt.Errorf("addc: %v: %s", err, version)
	}
	version = strings.TrimSpace(version)
	d := &DC{Version: version}
	t0 := sysenv.Now()
	cache, provisioned, err := cachedProvision(version)
	if err != nil {
		return nil, err
	}
	if provisioned {
		d.ProvisionTime = sysenv.Now().Sub(t0)
	}
	t1 := sysenv.Now()
	// The run directory lives on the namespace's private tmpfs: it goes
	// with the namespace, even when the test binary is killed.
	if d.Dir, err = os.MkdirTemp(runRoot, "addc-run-"); err != nil {
		return nil, err
	}
	if out, err := runTool(os.Environ(), nil, "cp", "-a", cache+"/.", d.Dir); err != nil {
		return nil, fmt.Errorf("addc: copy the cached provision: %v: %s", err, out)
	}
	if err := d.layout(cache); err != nil {
		return nil, err
	}
	d.CopyTime = sysenv.Now().Sub(t1)
	t2 := sysenv.Now()
	if err := d.launch(); err != nil {
		return nil, err
	}
	d.StartTime = sysenv.Now().Sub(t2)
	return d, nil
}

// layout points the copied smb.conf at the run directory and writes the
// realm's krb5.conf.
func (d *DC) layout(cache string) error {
	d.SMBConf = filepath.Join(d.Dir, "etc", "smb.conf")
	b, err := os.ReadFile(d.SMBConf)
	if err != nil {
		return err
	}
	conf := strings.ReplaceAll(string(b), cache, d.Dir)
	if err := os.WriteFile(d.SMBConf, []byte(conf), 0o644); err != nil {
		return err
	}
	d.Keytab = filepath.Join(d.Dir, "service.keytab")
	d.ClientKeytab = filepath.Join(d.Dir, "alice.keytab")
	d.Krb5Conf = filepath.Join(d.Dir, "krb5.conf")
	d.log = filepath.Join(d.Dir, "samba.log")
	krb5 := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	allow_rc4 = true
	udp_preference_limit = 1
	default_ccache_name = FILE:%[2]s/ccache
	kdc_timesync = 0

[realms]
	%[1]s = {
		kdc = %[3]s:88
		admin_server = %[3]s
		kpasswd_server = %[3]s
	}

[domain_realm]
	.%[4]s = %[1]s
	%[4]s = %[1]s
`, Realm, d.Dir, Addr, DNSDomain)
	return os.WriteFile(d.Krb5Conf, []byte(krb5), 0o644)
}

// launch starts samba and waits until it serves; when it cannot, the error
// carries samba's log.
func (d *DC) launch() error {
	if err := d.startSamba(); err != nil {
		log := d.Log()
		d.stop()
		return fmt.Errorf("%v\n--- samba log (%s) ---\n%s", err, d.log, log)
	}
	return nil
}

func (d *DC) startSamba() error {
	samba, err := lookTool("samba")
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	d.cmd = exec.Command(samba, "-s", d.SMBConf, "--foreground", "--no-process-group", "--debug-stdout", "-d", "1")
	d.cmd.Env = d.Env()
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("addc: start samba: %w", err)
	}
	d.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); logf.Close(); close(done) }(d.cmd, d.done)

	// Ready when the KDC (88) and LDAP (389) accept connections and the
	// KDC issues a TGT: waited for on timers, not clock reads.
	timeout := time.NewTimer(90 * time.Second)
	defer timeout.Stop()
	retry := time.NewTicker(100 * time.Millisecond)
	defer retry.Stop()
	var last error
	for {
		if last = d.ready(); last == nil {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("addc: samba exited: %v", d.cmd.ProcessState)
		case <-timeout.C:
			return fmt.Errorf("addc: the DC is not ready after 90 s: %v", last)
		case <-retry.C:
		}
	}
}

func (d *DC) ready() error {
	for _, port := range []string{"88", "389"} {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(Addr, port), time.Second)
		if err != nil {
			return err
		}
		c.Close()
	}
	_, err := d.Kinit(d.Dir, Bob.Name, Bob.Password)
	return err
}

func (d *DC) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-d.done:
	case <-t.C:
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	if InNamespace() {
		killLeftovers()
	}
	d.cmd = nil
}

// The cache of provisions.

// harnessVersion changes the cache key when the steps change in a way
// their text does not show.
const harnessVersion = "1"

// cachedProvision returns the directory of the cached provision for these
// steps and this Samba version, provisioning it under a lock when it is
// missing (provisioned is then true).
func cachedProvision(version string) (dir string, provisioned bool, err error) {
	steps := provisionSteps("@DIR@")
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", harnessVersion, version)
	for _, s := range steps {
		fmt.Fprintf(h, "%q\n", s)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	root := filepath.Join(os.TempDir(), "gosspi-addc-cache")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", false, err
	}
	dir = filepath.Join(root, key)
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", false, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", false, fmt.Errorf("addc: lock the provision cache: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, "provisioned")); err == nil {
		return dir, false, nil
	}
	// Provision under the final name (smb.conf keeps absolute paths, which
	// a copy rewrites), after a failed attempt is removed.
	os.RemoveAll(dir)
	if err := provision(dir); err != nil {
		os.RemoveAll(dir)
		return "", false, err
	}
	// The marker of a finished provision: only then is dir complete.
	if err := os.WriteFile(filepath.Join(dir, "provisioned"), []byte(version+"\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", false, err
	}
	return dir, true, nil
}

// SID returns the objectSid of the account or group with this
// sAMAccountName, read from the DC's database.
func (d *DC) SID(name string) (string, error) {
	out, err := d.Run(nil, "ldbsearch", "-H", filepath.Join(d.Dir, "private", "sam.ldb"),
		"(sAMAccountName="+name+")", "objectSid")
	if err != nil {
		return "", fmt.Errorf("addc: %v: %s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "objectSid: "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("addc: no objectSid for %s: %s", name, out)
}
