package httpauth

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/ntlm"
)

// apache is an Apache httpd with mod_auth_gssapi (Debian packages apache2
// and libapache2-mod-auth-gssapi) started on 127.0.0.1 with a throwaway
// configuration, protecting /index.html with GSSAPI (SPNEGO).
type apache struct {
	URL  string // http://127.0.0.1:port
	dir  string
	proc *exec.Cmd
	done chan struct{}
}

const apacheModules = "/usr/lib/apache2/modules"

// startApache starts httpd. mech is what GssapiAllowedMech allows: "krb5"
// (with the realm's HTTP/localhost keytab) or "ntlmssp" (gss-ntlmssp, with
// the accounts of userFile in NTLM_USER_FILE). The test fails when a piece
// is missing.
func startApache(t testing.TB, mech, userFile string) *apache {
	t.Helper()
	bin, err := exec.LookPath("apache2")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/apache2"); err2 != nil {
			t.Fatal("apache2 not found: install the Debian packages apache2 and libapache2-mod-auth-gssapi")
		}
		bin = "/usr/sbin/apache2"
	}
	if _, err := os.Stat(filepath.Join(apacheModules, "mod_auth_gssapi.so")); err != nil {
		t.Fatal("mod_auth_gssapi not found: install the Debian package libapache2-mod-auth-gssapi")
	}
	// httpd drops root for www-data: everything it reads must be readable
	// by that user, in a directory it can enter.
	dir, err := os.MkdirTemp("", "gosspi-apache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	must := func(err error) {
		if err != nil {
			t.Helper()
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "htdocs"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "htdocs", "index.html"), []byte("hello from apache\n"), 0o644))
	kt, err := os.ReadFile(realm.keytab)
	must(err)
	must(os.WriteFile(filepath.Join(dir, "http.keytab"), kt, 0o644))
	krb5conf, err := os.ReadFile(realm.Krb5Con)
	must(err)
	must(os.WriteFile(filepath.Join(dir, "krb5.conf"), krb5conf, 0o644))
	if userFile != "" {
		must(os.WriteFile(filepath.Join(dir, "ntlm-users"), []byte(userFile), 0o644))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// gss-ntlmssp takes no keytab cred store: its acceptor reads
	// NTLM_USER_FILE.
	credStore := "GssapiCredStore keytab:" + filepath.Join(dir, "http.keytab")
	if mech != "krb5" {
		credStore = ""
	}
	conf := fmt.Sprintf(`ServerRoot "%[1]s"
ServerName localhost
Listen 127.0.0.1:%[2]d
PidFile %[1]s/httpd.pid
DefaultRuntimeDir %[1]s
Mutex file:%[1]s default
ErrorLog %[1]s/error.log
LogLevel info auth_gssapi:debug
LogFormat "%%h %%u \"%%r\" %%>s" short
CustomLog %[1]s/access.log short
LoadModule mpm_prefork_module %[3]s/mod_mpm_prefork.so
LoadModule authn_core_module %[3]s/mod_authn_core.so
LoadModule authz_core_module %[3]s/mod_authz_core.so
LoadModule authz_user_module %[3]s/mod_authz_user.so
LoadModule auth_gssapi_module %[3]s/mod_auth_gssapi.so
StartServers 2
MaxRequestWorkers 8
User www-data
Group www-data
KeepAlive On
DocumentRoot %[1]s/htdocs
<Directory %[1]s/htdocs>
	AuthType GSSAPI
	AuthName "gosspi test"
	%[5]s
	GssapiAllowedMech %[4]s
	GssapiConnectionBound On
	GssapiBasicAuth Off
	Require valid-user
</Directory>
`, dir, port, apacheModules, mech, credStore)
	if apacheBench { // apache_bench_test.go: quiet logs, workers for the load
		conf = strings.Replace(conf, "LogLevel info auth_gssapi:debug", "LogLevel warn", 1)
		conf = strings.Replace(conf, "CustomLog "+dir+"/access.log short\n", "", 1)
		conf = strings.Replace(conf, "StartServers 2\nMaxRequestWorkers 8", apacheBenchWorkers, 1)
	}
	must(os.WriteFile(filepath.Join(dir, "httpd.conf"), []byte(conf), 0o644))
	cmd := exec.Command(bin, "-f", filepath.Join(dir, "httpd.conf"), "-DFOREGROUND")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "KRB5_CONFIG=" + filepath.Join(dir, "krb5.conf"),
		"KRB5_KTNAME=FILE:" + filepath.Join(dir, "http.keytab"), "KRB5RCACHETYPE=none", "NTLM_USER_FILE=" + filepath.Join(dir, "ntlm-users"),
		"APACHE_LOCK_DIR=" + dir, "APACHE_RUN_DIR=" + dir, "APACHE_LOG_DIR=" + dir}
	out, _ := os.Create(filepath.Join(dir, "stdout.log"))
	cmd.Stdout, cmd.Stderr = out, out
	// httpd signals its whole process group when it stops: give it its own.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(cmd.Start())
	a := &apache{URL: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, proc: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); out.Close(); close(a.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-a.done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("apache error log:\n%s\n%s", a.file("error.log"), a.file("stdout.log"))
		}
	})
	// Wait until it answers.
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(a.URL + "/index.html")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		select {
		case <-a.done:
			t.Fatalf("apache exited:\n%s\n%s", a.file("stdout.log"), a.file("error.log"))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("apache does not answer: %v\n%s", err, a.file("error.log"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return a
}

func (a *apache) file(name string) string {
	b, _ := os.ReadFile(filepath.Join(a.dir, name))
	return string(b)
}

// Our client against Apache httpd + mod_auth_gssapi with Kerberos: one
// leg, and Apache's AP-REP verified (mutual authentication).
func TestApacheKerberos(t *testing.T) {
	a := startApache(t, "krb5", "")
	tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity()}
	defer tr.Close()
	url := strings.Replace(a.URL, "127.0.0.1", "localhost", 1) + "/index.html"
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		t.Fatalf("%v\n%s", err, a.file("error.log"))
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from apache\n" {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	checkMutualToken(t, resp.Header.Get("WWW-Authenticate"))
	waitLog(t, a, "alice@"+realm.Name+` "GET /index.html HTTP/1.1" 200`)
}

// Our client against Apache with NTLM through gss-ntlmssp: Negotiate
// carrying NTLM on one connection (GssapiConnectionBound), and the final
// token's mechListMIC checked.
func TestApacheNTLM(t *testing.T) {
	a := startApache(t, "ntlmssp", fmt.Sprintf("%s:%s:%s\n", ntDomain, ntUser, ntPW))
	tr := &Transport{Host: clientHost(t), Identity: ntlmIdentity(), Schemes: []string{SchemeNegotiate}}
	defer tr.Close()
	c := &http.Client{Transport: tr}
	resp, err := c.Get(a.URL + "/index.html")
	if err != nil {
		t.Fatalf("%v\n%s", err, a.file("error.log"))
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from apache\n" {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	// The 200 carries Apache's accept-completed with its mechListMIC,
	// which the client verified before returning.
	if _, tok, err := ParseAuthorization(resp.Header.Get("WWW-Authenticate")); err != nil || len(tok) == 0 {
		t.Errorf("no final Negotiate token on the 200: %q", resp.Header.Get("WWW-Authenticate"))
	}
	waitLog(t, a, ntUser+` "GET /index.html HTTP/1.1" 200`)

	// The wrong password: Apache answers 401 again.
	bad := &Transport{Host: tr.Host, Schemes: []string{SchemeNegotiate}, Identity: ntlmIdentity()}
	bad.Identity.Password = "wrong"
	defer bad.Close()
	resp, err = (&http.Client{Transport: bad}).Get(a.URL + "/index.html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d", resp.StatusCode)
	}
}

func waitLog(t *testing.T, a *apache, want string) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); !strings.Contains(a.file("access.log"), want); {
		if time.Now().After(deadline) {
			t.Errorf("access log lacks %q:\n%s", want, a.file("access.log"))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const apacheNTLMTranscript = "testdata/apache-ntlm.json"

// deterministicClient is a client host whose NTLM client challenge,
// session key and clock are fixed, so that its tokens replay.
func deterministicClient(t *testing.T, now time.Time, seed string) *gosspi.Host {
	h, err := gosspi.NewHost(gosspi.HostConfig{Now: testutil.PinClock(t, now), NTLM: ntlm.Config{Rand: &testutil.SeededReader{Seed: seed},
		Workstation: "GOSSPI-CLI"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// recordingTransport notes each leg the client sends and what came back.
type recordingTransport struct {
	base http.RoundTripper
	legs []leg
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err == nil {
		r.legs = append(r.legs, leg{req.Header.Get("Authorization"), resp.StatusCode, resp.Header.Values("WWW-Authenticate")})
	}
	return resp, err
}

// TestApacheNTLMTranscript replays Apache's (gss-ntlmssp's) recorded
// answers to a client with a fixed random source and clock: the client
// must send the recorded tokens byte for byte and accept Apache's final
// SPNEGO token (its mechListMIC). With -record it first runs Apache.
func TestApacheNTLMTranscript(t *testing.T) {
	if *record {
		now := time.Now().UTC().Truncate(time.Second)
		seed := fmt.Sprintf("apache-ntlm-%d", now.Unix())
		a := startApache(t, "ntlmssp", fmt.Sprintf("%s:%s:%s\n", ntDomain, ntUser, ntPW))
		rec := &recordingTransport{base: &http.Transport{}}
		tr := &Transport{Host: deterministicClient(t, now, seed), Identity: ntlmIdentity(), Schemes: []string{SchemeNegotiate}}
		// A relay in between records the legs; it keeps one connection
		// to Apache, as NTLM needs.
		relay := httptestServer(t, relayTo(t, a.URL, rec))
		resp, err := (&http.Client{Transport: tr}).Get(relay + "/index.html")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tr.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		writeJSON(t, apacheNTLMTranscript, transcript{Peer: "Apache httpd + mod_auth_gssapi + gss-ntlmssp", Time: now, Seed: seed, Legs: rec.legs})
	}
	b, err := os.ReadFile(apacheNTLMTranscript)
	if err != nil {
		t.Fatal(err)
	}
	var tr transcript
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	replay := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if n >= len(tr.Legs) {
			t.Errorf("request %d beyond the transcript", n+1)
			http.Error(w, "beyond the transcript", 500)
			return
		}
		l := tr.Legs[n]
		n++
		if got := r.Header.Get("Authorization"); got != l.Authorization {
			t.Errorf("leg %d: Authorization\n%q\nrecorded\n%q", n, got, l.Authorization)
		}
		for _, v := range l.WWWAuthenticate {
			w.Header().Add("WWW-Authenticate", v)
		}
		w.WriteHeader(l.Status)
	}))
	c := &Transport{Host: deterministicClient(t, tr.Time, tr.Seed), Identity: ntlmIdentity(), Schemes: []string{SchemeNegotiate}}
	defer c.Close()
	resp, err := (&http.Client{Transport: c}).Get(replay + "/index.html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || n != len(tr.Legs) {
		t.Fatalf("status %d after %d of %d legs", resp.StatusCode, n, len(tr.Legs))
	}
}

// relayTo forwards each request to target on one kept-alive connection,
// recording the legs.
func relayTo(t *testing.T, target string, rec *recordingTransport) http.Handler {
	var mu sync.Mutex
	rec.base = &http.Transport{MaxConnsPerHost: 1}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		req, _ := http.NewRequest(r.Method, target+r.URL.Path, nil)
		req.Header = r.Header.Clone()
		resp, err := rec.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
}
