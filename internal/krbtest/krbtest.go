// Package krbtest runs a throwaway MIT Kerberos realm for tests: a KDC on
// 127.0.0.1 with its own krb5.conf, kdc.conf and database, all under one
// temporary directory. Principals and keytabs are made with kadmin.local,
// tickets with kinit, so tests talk to the real MIT implementation.
//
// A realm takes a few hundred milliseconds to start; share one per test
// binary (start it from TestMain with Start, or per test with NewRealm).
//
// The MIT binaries (krb5kdc, kdb5_util, kadmin.local, kinit) come from the
// Debian packages krb5-kdc, krb5-admin-server and krb5-user. When one is
// missing, Start fails: tests must not skip.
package krbtest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/sysenv"
)

// DefaultEnctypes are the key types a realm makes by default: the AES
// SHA-1 and SHA-2 families and rc4-hmac.
var DefaultEnctypes = []string{
	"aes256-cts-hmac-sha1-96", "aes128-cts-hmac-sha1-96",
	"aes256-cts-hmac-sha384-192", "aes128-cts-hmac-sha256-128",
	"arcfour-hmac",
}

// Options configures a realm.
type Options struct {
	// Realm is the realm name; "GOSSPI.TEST" when empty.
	Realm string
	// Enctypes are the supported_enctypes of the realm (MIT names);
	// DefaultEnctypes when empty.
	Enctypes []string
	// Dir is where the realm lives; a fresh temporary directory when empty
	// (removed by Close).
	Dir string
	// ExtraLibdefaults are added to the [libdefaults] of krb5.conf, such
	// as "forwardable = true".
	ExtraLibdefaults []string
	// Rand is the source of the master key and probe passwords; nil is
	// the default (internal/sysenv).
	Rand io.Reader
	// Peers are realms already running whose KDCs this realm's krb5.conf
	// also lists, so that its KDC and its clients reach them (cross-realm
	// trust: see Trust).
	Peers []*Realm
	// DomainRealm adds [domain_realm] relations (".host.suffix" or a host
	// name -> realm) to this realm's krb5.conf. The KDC reads them too: a
	// host mapped to a peer's realm makes it answer a TGS-REQ for a
	// service on that host with a referral (RFC 6806 section 8).
	DomainRealm map[string]string
}

// Realm is a running throwaway realm.
type Realm struct {
	Name    string // the realm name
	Dir     string // the directory holding everything
	Port    int    // the KDC's port on 127.0.0.1 (UDP and TCP)
	Krb5Con string // path of the realm's krb5.conf
	KDCConf string // path of the realm's kdc.conf

	ownDir bool
	rand   io.Reader
	cmd    *exec.Cmd
	done   chan struct{}
	mu     sync.Mutex
	seq    int
}

var tools = []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit"}

func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("krbtest: %s not found (install krb5-kdc, krb5-admin-server and krb5-user)", name)
}

// NewRealm starts a realm for one test and stops it when the test ends.
// It fails the test when the realm cannot start.
func NewRealm(t testing.TB, o Options) *Realm {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	r, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// Start starts a realm. The caller must Close it.
func Start(o Options) (*Realm, error) {
	for _, n := range tools {
		if _, err := lookTool(n); err != nil {
			return nil, err
		}
	}
	r := &Realm{Name: o.Realm, Dir: o.Dir, rand: sysenv.Reader(o.Rand)}
	if r.Name == "" {
		r.Name = "GOSSPI.TEST"
	}
	if r.Dir == "" {
		d, err := os.MkdirTemp("", "krbtest-")
		if err != nil {
			return nil, err
		}
		r.Dir, r.ownDir = d, true
	}
	enc := o.Enctypes
	if len(enc) == 0 {
		enc = DefaultEnctypes
	}
	r.Krb5Con = filepath.Join(r.Dir, "krb5.conf")
	r.KDCConf = filepath.Join(r.Dir, "kdc.conf")
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = r.start(enc, o); err == nil {
			return r, nil
		}
		r.stopKDC()
	}
	r.Close()
	return nil, err
}

func freePort() (int, error) {
	// The KDC needs the same port free for UDP and TCP.
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, errors.New("krbtest: no free port")
}

func (r *Realm) start(enc []string, o Options) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	r.Port = port
	extra := o.ExtraLibdefaults
	var peers, domains strings.Builder
	for _, p := range o.Peers {
		fmt.Fprintf(&peers, "\t%s = {\n\t\tkdc = %s\n\t}\n", p.Name, p.KDCAddr())
	}
	keys := make([]string, 0, len(o.DomainRealm))
	for k := range o.DomainRealm {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&domains, "\t%s = %s\n", k, o.DomainRealm[k])
	}
	var supported []string
	for _, e := range enc {
		supported = append(supported, e+":normal")
	}
	krb5conf := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	allow_rc4 = true
	allow_weak_crypto = true
	forwardable = true
	udp_preference_limit = 1
	default_ccache_name = FILE:%[2]s/ccache
	default_keytab_name = FILE:%[2]s/default.keytab
	kdc_timesync = 0
	%[4]s

[realms]
	%[1]s = {
		kdc = 127.0.0.1:%[3]d
	}
%[5]s
[domain_realm]
	localhost = %[1]s
	.localhost = %[1]s
%[6]s`, r.Name, r.Dir, port, strings.Join(extra, "\n\t"), peers.String(), domains.String())
	kdcconf := fmt.Sprintf(`[kdcdefaults]
	kdc_listen = 127.0.0.1:%[3]d
	kdc_tcp_listen = 127.0.0.1:%[3]d

[realms]
	%[1]s = {
		database_name = %[2]s/principal
		key_stash_file = %[2]s/stash
		acl_file = %[2]s/kadm5.acl
		supported_enctypes = %[4]s
		max_life = 10h
		max_renewable_life = 7d
	}

[logging]
	kdc = FILE:%[2]s/kdc.log
	default = FILE:%[2]s/kdc.log
`, r.Name, r.Dir, port, strings.Join(supported, " "))
	if err := os.WriteFile(r.Krb5Con, []byte(krb5conf), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(r.KDCConf, []byte(kdcconf), 0o644); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "principal")); err != nil {
		if out, err := r.run(nil, "kdb5_util", "create", "-s", "-P", r.randomString(), "-r", r.Name); err != nil {
			return fmt.Errorf("krbtest: kdb5_util create: %v: %s", err, out)
		}
	}
	kdc, _ := lookTool("krb5kdc")
	r.cmd = exec.Command(kdc, "-n", "-r", r.Name, "-P", filepath.Join(r.Dir, "kdc.pid"))
	r.cmd.Env = r.Env()
	logf, err := os.OpenFile(filepath.Join(r.Dir, "krb5kdc.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("krbtest: start krb5kdc: %v", err)
	}
	r.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); logf.Close(); close(done) }(r.cmd, r.done)

	// krb5kdc can start silently on a port someone else holds, so prove
	// that it serves this realm: kinit a principal with a random password.
	probe := "krbtest-probe"
	pw := r.randomString()
	if err := r.AddPrincipal(probe, pw); err != nil {
		return err
	}
	// The KDC comes up in real time: wait on a timer, not a clock.
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	retry := time.NewTicker(20 * time.Millisecond)
	defer retry.Stop()
	for {
		_, err := r.Kinit(probe, pw)
		if err == nil {
			return nil
		}
		select {
		case <-r.done:
			return fmt.Errorf("krbtest: krb5kdc exited: %s", r.readFile("krb5kdc.out"))
		case <-timeout.C:
			return fmt.Errorf("krbtest: KDC on port %d does not serve %s: %v", port, r.Name, err)
		case <-retry.C:
		}
	}
}

func (r *Realm) readFile(name string) string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, name))
	return string(b)
}

func (r *Realm) stopKDC() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
}

// Close stops the KDC and removes the directory when Start made it.
func (r *Realm) Close() {
	r.stopKDC()
	if r.ownDir {
		os.RemoveAll(r.Dir)
	}
}

// Env is the environment that points MIT tools and libraries (and gosspi)
// at this realm: KRB5_CONFIG, KRB5_KDC_PROFILE, KRB5CCNAME and KRB5_KTNAME
// pointing into the realm directory, plus the rest of os.Environ.
func (r *Realm) Env() []string {
	env := []string{
		"KRB5_CONFIG=" + r.Krb5Con,
		"KRB5_KDC_PROFILE=" + r.KDCConf,
		"KRB5CCNAME=FILE:" + filepath.Join(r.Dir, "ccache"),
		"KRB5_KTNAME=FILE:" + filepath.Join(r.Dir, "default.keytab"),
		"KRB5RCACHETYPE=none",
	}
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "KRB5") {
			continue
		}
		env = append(env, e)
	}
	return env
}

func (r *Realm) run(stdin []byte, tool string, args ...string) (string, error) {
	p, err := lookTool(tool)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, p, args...)
	c.Env = r.Env()
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	out, err := c.CombinedOutput()
	return string(out), err
}

// Trust sets up a two-way cross-realm trust between r and other (RFC 4120
// section 1.2): the principals krbtgt/OTHER@R and krbtgt/R@OTHER, each
// made with one random password in both databases, so that both KDCs
// hold the same keys. For a client of r to reach other's KDC, r's
// krb5.conf must list it (Options.Peers).
func (r *Realm) Trust(other *Realm) error {
	for _, p := range []string{"krbtgt/" + other.Name + "@" + r.Name, "krbtgt/" + r.Name + "@" + other.Name} {
		pw := r.randomString()
		for _, realm := range []*Realm{r, other} {
			if _, err := realm.Kadmin(fmt.Sprintf("addprinc -e aes256-cts-hmac-sha1-96:normal,aes128-cts-hmac-sha1-96:normal -pw %s %s", pw, p)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Kadmin runs kadmin.local queries, one per element. kadmin.local exits 0
// even when a query fails, so Kadmin inspects the output and returns an
// error for any failed query.
func (r *Realm) Kadmin(queries ...string) (string, error) {
	var all strings.Builder
	for _, q := range queries {
		out, err := r.run(nil, "kadmin.local", "-r", r.Name, "-q", q)
		all.WriteString(out)
		if err != nil {
			return all.String(), fmt.Errorf("krbtest: kadmin.local %q: %v: %s", q, err, out)
		}
		for _, line := range strings.Split(out, "\n") {
			l := strings.ToLower(line)
			if strings.Contains(l, " while ") || strings.HasPrefix(l, "kadmin.local: ") && !strings.Contains(l, "authenticating as") ||
				strings.Contains(l, "error") || strings.Contains(l, "usage:") {
				return all.String(), fmt.Errorf("krbtest: kadmin.local %q failed: %s", q, strings.TrimSpace(out))
			}
		}
	}
	return all.String(), nil
}

func enctypeArg(enctypes []string) string {
	if len(enctypes) == 0 {
		return ""
	}
	var ks []string
	for _, e := range enctypes {
		ks = append(ks, e+":normal")
	}
	return "-e " + strings.Join(ks, ",") + " "
}

// AddPrincipal creates a principal with a password and, when enctypes are
// given, only those key types (MIT names such as "arcfour-hmac").
func (r *Realm) AddPrincipal(name, password string, enctypes ...string) error {
	_, err := r.Kadmin(fmt.Sprintf("addprinc %s-pw %s %s", enctypeArg(enctypes), password, name))
	return err
}

// AddService creates a principal with random keys (of the given types, or
// the realm's) and exports them to a new keytab file, whose path it
// returns.
func (r *Realm) AddService(name string, enctypes ...string) (string, error) {
	if _, err := r.Kadmin(fmt.Sprintf("addprinc -randkey %s%s", enctypeArg(enctypes), name)); err != nil {
		return "", err
	}
	return r.Keytab(name)
}

// Keytab exports the current keys of the principals, without changing
// them, to a new keytab file and returns its path.
func (r *Realm) Keytab(principals ...string) (string, error) {
	r.mu.Lock()
	r.seq++
	path := filepath.Join(r.Dir, fmt.Sprintf("kt%d.keytab", r.seq))
	r.mu.Unlock()
	for _, p := range principals {
		if _, err := r.Kadmin(fmt.Sprintf("ktadd -k %s -norandkey %s", path, p)); err != nil {
			return "", err
		}
	}
	return path, nil
}

// Rekey gives a principal new random keys (a new kvno) and exports them to
// a new keytab, whose path it returns.
func (r *Realm) Rekey(name string) (string, error) {
	if _, err := r.Kadmin("cpw -randkey " + name); err != nil {
		return "", err
	}
	return r.Keytab(name)
}

// Kinit obtains a TGT for the principal with kinit into a new ccache file
// and returns the ccache path (without the FILE: prefix). Extra arguments
// go to kinit before the principal, such as "-f" (forwardable).
func (r *Realm) Kinit(principal, password string, args ...string) (string, error) {
	r.mu.Lock()
	r.seq++
	path := filepath.Join(r.Dir, fmt.Sprintf("cc%d", r.seq))
	r.mu.Unlock()
	a := append([]string{"-c", "FILE:" + path}, args...)
	a = append(a, principal)
	out, err := r.run([]byte(password+"\n"), "kinit", a...)
	if err != nil {
		return "", fmt.Errorf("krbtest: kinit %s: %v: %s", principal, err, out)
	}
	return path, nil
}

// UserAndService is the usual setup of a test: a user with a password, a
// service principal with a keytab, and a ccache with the user's TGT. It
// returns the keytab and ccache paths.
func (r *Realm) UserAndService(user, password, service string) (keytab, ccache string, err error) {
	if err := r.AddPrincipal(user, password); err != nil {
		return "", "", err
	}
	if keytab, err = r.AddService(service); err != nil {
		return "", "", err
	}
	if ccache, err = r.Kinit(user, password); err != nil {
		return "", "", err
	}
	return keytab, ccache, nil
}

// Principal returns name@REALM.
func (r *Realm) Principal(name string) string { return name + "@" + r.Name }

// KDCAddr returns "127.0.0.1:port".
func (r *Realm) KDCAddr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

func (r *Realm) randomString() string {
	var b [12]byte
	if err := sysenv.Read(r.rand, b[:]); err != nil {
		panic("krbtest: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// SetString sets a string attribute of a principal (kadmin setstr), such
// as "session_enctypes" = "arcfour-hmac" to make the KDC issue rc4-hmac
// session keys for a service.
func (r *Realm) SetString(principal, key, value string) error {
	_, err := r.Kadmin(fmt.Sprintf("setstr %s %s %s", principal, key, value))
	return err
}
