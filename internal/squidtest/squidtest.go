// Package squidtest runs Squid (Debian's squid) for tests: a forward proxy
// on a private port of 127.0.0.1 whose NTLM and Negotiate schemes are
// answered by `gosspi ntlm-auth` (squid-2.5-ntlmssp and gss-spnego), with
// a private configuration, account file and keytab, all under one
// directory. Every request needs proxy authentication.
//
// Squid runs its helpers as the user proxy: the directory and what the
// helpers read are made readable by it. A missing squid fails the test:
// tests must not skip.
package squidtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/ntlm"
)

// Options configures a Squid.
type Options struct {
	// Gosspi is the path of the gosspi binary the helpers run; empty
	// builds cmd/gosspi.
	Gosspi string
	// Accounts are the NTLM accounts ("DOMAIN\user" -> password).
	Accounts map[string]string
	// Keytab holds the proxy's Kerberos keys (HTTP/localhost); empty
	// offers no Kerberos.
	Keytab string
	// Krb5Conf is the krb5.conf of the helpers.
	Krb5Conf string
	// SPNs are the NTLM service names the helpers accept (-spn); empty
	// means HTTP/localhost.
	SPNs []string
	// Schemes are the schemes Squid offers, in order: "ntlm",
	// "negotiate"; empty means both.
	Schemes []string
	// TLSCert and TLSKey, PEM files, make Squid also listen for proxy
	// clients over TLS (https_port; Squid.TLSURL).
	TLSCert, TLSKey string
}

// Squid is a running Squid.
type Squid struct {
	Addr   string // 127.0.0.1:port
	URL    string // http://localhost:port, the proxy URL (SPN HTTP/localhost)
	TLSURL string // https://localhost:port with Options.TLSCert
	Dir    string

	log *testutil.SyncBuffer
}

// Start starts Squid for the test and stops it when the test ends.
func Start(t testing.TB, o Options) *Squid {
	t.Helper()
	bin := "/usr/sbin/squid"
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("squid not found: install the Debian package squid (.ci/apt-packages)")
	}
	dir, err := os.MkdirTemp("", "gosspi-squid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(dir, 0o755))
	logs := filepath.Join(dir, "logs")
	must(os.Mkdir(logs, 0o777))
	must(os.Chmod(logs, 0o777)) // the proxy user writes its logs here
	gosspi := o.Gosspi
	if gosspi == "" {
		gosspi = BuildGosspi(t, dir)
	}
	accounts := filepath.Join(dir, "accounts")
	store := ntlm.OpenHashFile(accounts)
	for k, pw := range o.Accounts {
		domain, user, ok := strings.Cut(k, `\`)
		if !ok {
			t.Fatalf("account %q is not DOMAIN\\user", k)
		}
		must(store.Add(domain, user, pw))
	}
	if len(o.Accounts) == 0 {
		must(store.Add("NOBODY", "nobody", "unused-"+filepath.Base(dir)))
	}
	must(os.Chmod(accounts, 0o644))
	helperArgs := []string{"-accounts", accounts}
	spns := o.SPNs
	if len(spns) == 0 {
		spns = []string{"HTTP/localhost"}
	}
	for _, s := range spns {
		helperArgs = append(helperArgs, "-spn", s)
	}
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if o.Keytab != "" {
		kt := filepath.Join(dir, "proxy.keytab")
		b, err := os.ReadFile(o.Keytab)
		must(err)
		must(os.WriteFile(kt, b, 0o644))
		helperArgs = append(helperArgs, "-keytab", kt)
		env = append(env, "KRB5_KTNAME=FILE:"+kt)
	}
	if o.Krb5Conf != "" {
		conf := filepath.Join(dir, "krb5.conf")
		b, err := os.ReadFile(o.Krb5Conf)
		must(err)
		must(os.WriteFile(conf, b, 0o644))
		env = append(env, "KRB5_CONFIG="+conf)
	}
	schemes := o.Schemes
	if len(schemes) == 0 {
		schemes = []string{"negotiate", "ntlm"}
	}
	var auth strings.Builder
	for _, s := range schemes {
		switch s {
		case "ntlm":
			fmt.Fprintf(&auth, "auth_param ntlm program %s ntlm-auth --helper-protocol=squid-2.5-ntlmssp %s\n", gosspi, strings.Join(helperArgs, " "))
			auth.WriteString("auth_param ntlm children 2 startup=1 idle=1\nauth_param ntlm keep_alive on\n")
		case "negotiate":
			fmt.Fprintf(&auth, "auth_param negotiate program %s ntlm-auth --helper-protocol=gss-spnego %s\n", gosspi, strings.Join(helperArgs, " "))
			auth.WriteString("auth_param negotiate children 2 startup=1 idle=1\nauth_param negotiate keep_alive on\n")
		default:
			t.Fatalf("unknown scheme %q", s)
		}
	}
	freePort := func() int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(err)
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	port := freePort()
	var tlsPort int
	if o.TLSCert != "" {
		tlsPort = freePort()
		for _, f := range []struct{ from, to string }{{o.TLSCert, "proxy.crt"}, {o.TLSKey, "proxy.key"}} {
			b, err := os.ReadFile(f.from)
			must(err)
			must(os.WriteFile(filepath.Join(dir, f.to), b, 0o644))
		}
		fmt.Fprintf(&auth, "https_port 127.0.0.1:%d tls-cert=%s/proxy.crt tls-key=%s/proxy.key\n", tlsPort, dir, dir)
	}
	conf := fmt.Sprintf(`http_port 127.0.0.1:%[1]d
pid_filename %[2]s/squid.pid
cache_log %[3]s/cache.log
access_log stdio:%[3]s/access.log squid
cache_store_log none
cache deny all
cache_mem 8 MB
coredump_dir %[3]s
netdb_filename none
pinger_enable off
shutdown_lifetime 0 seconds
visible_hostname localhost
dns_v4_first on
%[4]s
acl authed proxy_auth REQUIRED
http_access allow authed
http_access deny all
`, port, logs, logs, auth.String())
	cfgPath := filepath.Join(dir, "squid.conf")
	must(os.WriteFile(cfgPath, []byte(conf), 0o644))
	if out, err := exec.Command(bin, "-k", "parse", "-f", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("squid -k parse: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-N", "-d", "1", "-f", cfgPath)
	cmd.Env = env
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	must(err)
	must(cmd.Start())
	s := &Squid{Addr: fmt.Sprintf("127.0.0.1:%d", port), URL: fmt.Sprintf("http://localhost:%d", port), Dir: dir, log: &testutil.SyncBuffer{}}
	if tlsPort != 0 {
		s.TLSURL = fmt.Sprintf("https://localhost:%d", tlsPort)
	}
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		var once sync.Once
		for sc.Scan() {
			fmt.Fprintln(s.log, sc.Text())
			if strings.Contains(sc.Text(), "Accepting HTTP Socket connections") {
				once.Do(func() { close(ready) })
			}
		}
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("squid:\n%s\ncache.log:\n%s\naccess.log:\n%s", s.log.String(), s.File("logs/cache.log"), s.File("logs/access.log"))
		}
	})
	select {
	case <-ready:
	case <-done:
		t.Fatalf("squid exited:\n%s\n%s", s.log.String(), s.File("logs/cache.log"))
	case <-time.After(20 * time.Second):
		t.Fatalf("squid does not listen:\n%s", s.log.String())
	}
	// Squid logs that it accepts a little before its socket does: wait
	// until a connection goes through.
	addrs := []string{s.Addr}
	if tlsPort != 0 {
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", tlsPort))
	}
	for _, addr := range addrs {
		for deadline := time.Now().Add(10 * time.Second); ; {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("squid does not accept connections on %s: %v\n%s", addr, err, s.log.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return s
}

// File returns the content of a file of the Squid's directory.
func (s *Squid) File(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, name))
	return string(b)
}

// AccessLog returns Squid's access log.
func (s *Squid) AccessLog() string { return s.File("logs/access.log") }

// BuildGosspi builds cmd/gosspi into dir (which the proxy user must be
// able to read) and returns the binary's path. The build cache makes
// later builds quick.
func BuildGosspi(t testing.TB, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "gosspi")
	if b, err := exec.Command("go", "build", "-o", out, "github.com/gosspi/gosspi/cmd/gosspi").CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/gosspi: %v\n%s", err, b)
	}
	return out
}
