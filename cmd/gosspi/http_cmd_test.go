package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/ntlm"
)

// startServe runs `gosspi serve` in process on 127.0.0.1:0 until the test
// ends and returns its URL and log.
func startServe(t *testing.T, o serveOptions) (string, *testutil.SyncBuffer) {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	o.addr = "127.0.0.1:0"
	o.logOut = logs
	if o.schemes == "" {
		o.schemes = "Negotiate,NTLM"
	}
	if o.bindings == "" {
		o.bindings = "when-supported"
	}
	o.persist = true
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, &o, func(u string) { ready <- u }) }()
	select {
	case u := <-ready:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		return u, logs
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v\n%s", err, logs.String())
	}
	return "", nil
}

func runCurl(t *testing.T, env []string, args ...string) (headers, body string) {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl not found: install the Debian package curl")
	}
	hdr := filepath.Join(t.TempDir(), "headers")
	cmd := exec.Command(path, append([]string{"-sS", "--max-time", "20", "-D", hdr}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	h, _ := os.ReadFile(hdr)
	return string(h), string(out)
}

// lastResponse returns the last response's header block of curl -D.
func lastResponse(headers string) string {
	i := strings.LastIndex(headers, "HTTP/")
	if i < 0 {
		return ""
	}
	return headers[i:]
}

func TestServeWithCurlNTLM(t *testing.T) {
	f := filepath.Join(t.TempDir(), "accounts")
	hf := ntlm.OpenHashFile(f)
	if err := hf.Add("EXAMPLE", "alice", "Alice-Pw-1"); err != nil {
		t.Fatal(err)
	}
	url, logs := startServe(t, serveOptions{accounts: f})
	h, body := runCurl(t, os.Environ(), "--ntlm", "-u", `EXAMPLE\alice:Alice-Pw-1`, url+"/whoami")
	if !strings.HasPrefix(lastResponse(h), "HTTP/1.1 200") {
		t.Fatalf("headers:\n%s\nbody %s", h, body)
	}
	var v whoamiView
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Principal != `EXAMPLE\alice` || v.Package != "NTLM" || v.User != "alice" {
		t.Errorf("/whoami: %q %v", body, err)
	}
	_, page := runCurl(t, os.Environ(), "--ntlm", "-u", `EXAMPLE\alice:Alice-Pw-1`, url+"/")
	if !strings.Contains(page, `<h1>Hello, EXAMPLE\alice</h1>`) {
		t.Errorf("/: %s", page)
	}
	h, _ = runCurl(t, os.Environ(), "--ntlm", "-u", `EXAMPLE\alice:wrong`, url+"/whoami")
	if !strings.HasPrefix(lastResponse(h), "HTTP/1.1 401") {
		t.Errorf("wrong password:\n%s", h)
	}
	if !strings.Contains(logs.String(), "status=SEC_E_LOGON_DENIED") {
		t.Errorf("no log line for the wrong password:\n%s", logs.String())
	}
	// gosspi get with the same account, and the wrong one.
	var out, errb bytes.Buffer
	code, err := get(t.Context(), &getOptions{user: `EXAMPLE\alice:Alice-Pw-1`, timeout: 10e9}, url+"/whoami", strings.NewReader(""), &out, &errb)
	if code != exitOK || err != nil || !strings.Contains(out.String(), `"principal": "EXAMPLE\\alice"`) {
		t.Errorf("get: %d %v\n%s", code, err, out.String())
	}
	out.Reset()
	code, err = get(t.Context(), &getOptions{user: `EXAMPLE\alice`, timeout: 10e9, data: "x=1"}, url+"/whoami", strings.NewReader("wrong\n"), &out, &errb)
	if code != exitAuth || err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("get with the wrong password: %d %v", code, err)
	}
}

func TestServeWithCurlNegotiateAndGet(t *testing.T) {
	r := krbtest.NewRealm(t, krbtest.Options{})
	kt, cc, err := r.UserAndService("alice", "alice-Secret-1", "HTTP/localhost")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5_CONFIG", r.Krb5Con)
	t.Setenv("KRB5CCNAME", "FILE:"+cc)
	url, logs := startServe(t, serveOptions{keytab: kt, demo: true})
	url = strings.Replace(url, "127.0.0.1", "localhost", 1)
	env := append(r.Env(), "KRB5CCNAME=FILE:"+cc)
	h, body := runCurl(t, env, "--negotiate", "-u", ":", url+"/whoami")
	last := lastResponse(h)
	if !strings.HasPrefix(last, "HTTP/1.1 200") {
		t.Fatalf("headers:\n%s\nbody %s\nlog:\n%s", h, body, logs.String())
	}
	// The mutual-authentication token: a NegTokenResp accept-completed
	// carrying the AP-REP, decoded by `gosspi decode`.
	var tok string
	for _, l := range strings.Split(last, "\r\n") {
		if name, v, ok := strings.Cut(l, ": "); ok && strings.EqualFold(name, "WWW-Authenticate") {
			tok = v
		}
	}
	raw, err := decodeInput(tok)
	if err != nil {
		t.Fatalf("final token %q: %v\n%s", tok, err, h)
	}
	n, err := decodeToken(raw)
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	n.write(&dump, 0)
	for _, want := range []string{"NegTokenResp", "negState: accept-completed", "Kerberos AP-REP"} {
		if !strings.Contains(dump.String(), want) {
			t.Errorf("final token lacks %q:\n%s", want, dump.String())
		}
	}
	var v whoamiView
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Principal != "alice@"+r.Name || v.Package != "Kerberos" {
		t.Errorf("/whoami: %q %v", body, err)
	}

	// gosspi get: the ticket from KRB5CCNAME, mutual authentication
	// required and verified.
	var out, errb bytes.Buffer
	code, err := get(t.Context(), &getOptions{timeout: 10e9, verbose: true}, url+"/whoami", strings.NewReader(""), &out, &errb)
	if code != exitOK || err != nil || !strings.Contains(out.String(), `"principal": "alice@`+r.Name+`"`) {
		t.Errorf("get: %d %v\n%s\n%s", code, err, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "mutual authentication") {
		t.Errorf("get -v does not report the server's final token:\n%s", errb.String())
	}
}

func TestDecodeCommand(t *testing.T) {
	// curl's NTLM AUTHENTICATE, recorded by the httpauth tests.
	b, err := os.ReadFile("../../httpauth/testdata/curl-ntlm.json")
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		Legs []struct {
			Authorization   string   `json:"authorization"`
			WWWAuthenticate []string `json:"www_authenticate"`
		} `json:"legs"`
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	out, _, code := capture(t, "decode", "Authorization: "+tr.Legs[1].Authorization)
	for _, want := range []string{"NTLM AUTHENTICATE_MESSAGE", "user: bob", "domain: GOSSPI", "NTLMv2", "NTProofStr", "MsvAvTimestamp"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("decode AUTHENTICATE (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
	out, _, code = capture(t, "decode", "-json", tr.Legs[0].WWWAuthenticate[0])
	var n node
	if code != exitOK || json.Unmarshal([]byte(out), &n) != nil || !strings.HasPrefix(n.Name, "NTLM CHALLENGE_MESSAGE") {
		t.Errorf("decode -json CHALLENGE (exit %d):\n%s", code, out)
	}
	// Hex works too.
	out, _, code = capture(t, "decode", "4e544c4d53535000010000000682080000000000000000000000000000000000")
	if code != exitOK || !strings.Contains(out, "NEGOTIATE_MESSAGE") {
		t.Errorf("decode hex (exit %d):\n%s", code, out)
	}
	// Garbage: exit 1 with a message; not base64 or hex: usage.
	if _, _, code := capture(t, "decode", "AAAAAAAA"); code != exitFailure {
		t.Errorf("decode garbage: exit %d", code)
	}
	if _, _, code := capture(t, "decode", "!!!"); code != exitUsage {
		t.Errorf("decode !!!: exit %d", code)
	}
}

func TestDemoHTTPSection(t *testing.T) {
	var b bytes.Buffer
	if err := demoHTTP(&b); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	out := b.String()
	for _, want := range []string{"<- 401 Negotiate | NTLM", "Authorization NTLM, 40-byte token", `client got 200: {"package":"NTLM","principal":"GOSSPI\\demo"}`,
		"Authorization (none)                     <- 200", "<- 200 Negotiate <", "wrong password: 401 Unauthorized"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

// FuzzDecodeToken feeds `gosspi decode` any bytes: it must not panic.
// The seed corpus (testdata/fuzz/FuzzDecodeToken) holds curl's and our
// server's real tokens: NTLM, SPNEGO with a Kerberos AP-REQ and AP-REP.
func FuzzDecodeToken(f *testing.F) {
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00\x06\x82\x08\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeToken(b)
		if n == nil && err == nil {
			t.Fatal("no node and no error")
		}
		if n != nil {
			var w bytes.Buffer
			n.write(&w, 0)
			if _, err := json.Marshal(n); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key
// as PEM files.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestServeHTTPSExtendedProtection: `gosspi serve` over HTTPS with
// -channel-bindings required. curl's NTLM sends no channel bindings and
// is refused; `gosspi get` binds to the certificate and gets in.
func TestServeHTTPSExtendedProtection(t *testing.T) {
	certFile, keyFile := writeCert(t)
	url, logs := startServe(t, serveOptions{demo: true, certFile: certFile, keyFile: keyFile, bindings: "required"})
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("url %s", url)
	}
	h, _ := runCurl(t, os.Environ(), "-k", "--http1.1", "--ntlm", "-u", `GOSSPI\demo:`+demoPassword, url+"/whoami")
	if !strings.HasPrefix(lastResponse(h), "HTTP/1.1 401") {
		t.Errorf("curl without channel bindings:\n%s", h)
	}
	if !strings.Contains(logs.String(), "status=SEC_E_BAD_BINDINGS") {
		t.Errorf("no log line for the missing bindings:\n%s", logs.String())
	}
	var out, errb bytes.Buffer
	code, err := get(t.Context(), &getOptions{user: `GOSSPI\demo:` + demoPassword, cacert: certFile, timeout: 10e9}, url+"/whoami",
		strings.NewReader(""), &out, &errb)
	if code != exitOK || err != nil || !strings.Contains(out.String(), `"tls": true`) {
		t.Errorf("get: %d %v\n%s", code, err, out.String())
	}
	// Without HTTPS, "required" is refused at start.
	if err := serve(t.Context(), &serveOptions{addr: "127.0.0.1:0", demo: true, bindings: "required", schemes: "NTLM", logOut: io.Discard}, nil); err == nil {
		t.Error("serve accepted -channel-bindings required without HTTPS")
	}
}

func TestHTTPCommandsUsage(t *testing.T) {
	for _, args := range [][]string{{"get"}, {"get", "-bogus", "http://x"}, {"serve", "extra"}, {"serve", "-bogus"},
		{"decode", "a", "b"}, {"ntlm-auth"}, {"ntlm-auth", "--helper-protocol=squid-3.0-basic"}} {
		if _, _, code := capture(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	for _, name := range []string{"get", "serve", "decode", "ntlm-auth"} {
		if _, _, code := capture(t, name, "--help"); code != exitOK {
			t.Errorf("%s --help: exit %d", name, code)
		}
	}
	// A server that is not there: a failure, not a usage error.
	if _, _, code := capture(t, "get", "-timeout", "2s", "http://127.0.0.1:1/"); code != exitFailure {
		t.Errorf("get of a closed port: exit %d", code)
	}
}

// TestDemoHTTPKerberos: with a KDC configured (a throwaway realm, a
// ticket and a keytab in the environment), the HTTP demo also runs
// Kerberos.
func TestDemoHTTPKerberos(t *testing.T) {
	r := krbtest.NewRealm(t, krbtest.Options{})
	kt, cc, err := r.UserAndService("alice", "alice-Secret-1", "HTTP/localhost")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5_CONFIG", r.Krb5Con)
	t.Setenv("KRB5CCNAME", "FILE:"+cc)
	t.Setenv("KRB5_KTNAME", "FILE:"+kt)
	var b bytes.Buffer
	if err := demoHTTP(&b); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	for _, want := range []string{"Kerberos ticket for HTTP/localhost", "<- 200 Negotiate <", `server's AP-REP verified: {"package":"Kerberos","principal":"alice@`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, b.String())
		}
	}
}
