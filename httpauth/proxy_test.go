package httpauth

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/squidtest"
	"github.com/gosspi/gosspi/internal/testutil"
)

// startSquid starts a Squid for the test: NTLM and Negotiate (or the
// schemes given) answered by `gosspi ntlm-auth`, with the test NTLM
// account and the keytab of HTTP/localhost.
func startSquid(t testing.TB, schemes ...string) *squidtest.Squid {
	t.Helper()
	return squidtest.Start(t, squidtest.Options{
		Accounts: map[string]string{ntDomain + `\` + ntUser: ntPW},
		Keytab:   realm.keytab,
		Krb5Conf: realm.Krb5Con,
		Schemes:  schemes,
	})
}

// origin is an HTTPS server on 127.0.0.1 (no authentication of its own)
// that answers with the request's method and whether it came over TLS.
func origin(t testing.TB, tlsOn bool) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin %s %s tls=%v proxy-authorization=%q", r.Method, r.URL.Path, r.TLS != nil, r.Header.Get("Proxy-Authorization"))
	}))
	if !tlsOn {
		srv.Start()
		t.Cleanup(srv.Close)
		return srv, nil
	}
	cert := selfSigned(t, "origin")
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return srv, pool
}

func proxyURL(t testing.TB, s *squidtest.Squid) *url.URL {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// getThrough fetches url with an http.Client whose transport is
// configured by d (and wrapped by a Transport for plain-HTTP 407s).
func getThrough(t testing.TB, d *ProxyDialer, pool *x509.CertPool, url string) (string, error) {
	t.Helper()
	return fetchThrough(d, pool, url)
}

func fetchThrough(d *ProxyDialer, pool *x509.CertPool, url string) (string, error) {
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	d.ConfigureTransport(base)
	tr := &Transport{Host: d.Host, Base: base, Identity: d.Identity, Schemes: d.Schemes}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %s", resp.Status)
	}
	return string(b), nil
}

// The dialer through Squid to an HTTPS origin, with NTLM (two legs on
// one connection) and with Kerberos inside Negotiate (one leg; Squid
// never relays the AP-REP).
func TestProxySquidCONNECT(t *testing.T) {
	s := startSquid(t)
	srv, pool := origin(t, true)
	for _, tc := range []struct {
		name    string
		schemes []string
		id      *gosspi.Identity
		user    string // as Squid's access log names the user
	}{
		{"NTLM", []string{SchemeNTLM}, ntlmIdentity(), ntDomain + `\` + ntUser},
		{"Negotiate-NTLM", []string{SchemeNegotiate}, ntlmIdentity(), ntDomain + `\` + ntUser},
		{"Kerberos", []string{SchemeNegotiate}, kerberosIdentity(), "alice@" + realm.Name},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &ProxyDialer{Host: clientHost(t), Proxy: proxyURL(t, s), Identity: tc.id, Schemes: tc.schemes}
			defer d.Close()
			body, err := getThrough(t, d, pool, srv.URL+"/through")
			if err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if want := `origin GET /through tls=true proxy-authorization=""`; body != want {
				t.Fatalf("body %q, want %q", body, want)
			}
			host := strings.TrimPrefix(srv.URL, "https://")
			wantAccess(t, s, "CONNECT "+host, strings.ToLower(tc.user))
		})
	}
}

// wantAccess waits for Squid's access log to hold a line with all parts
// (compared case-insensitively: Squid lowercases some user names).
func wantAccess(t *testing.T, s *squidtest.Squid, parts ...string) {
	t.Helper()
	// Squid writes the line when the tunnel closes; the client closed it.
	for deadline := time.Now().Add(5 * time.Second); ; {
		// Squid writes a user's backslash as \\.
		log := strings.ReplaceAll(strings.ToLower(s.AccessLog()), `\\`, `\`)
		for _, line := range strings.Split(log, "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, strings.ToLower(p))
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line with %q:\n%s", parts, s.AccessLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Plain-HTTP requests go to Squid as absolute URIs, and Transport answers
// its 407 on the kept-alive connection.
func TestProxySquidPlainHTTP(t *testing.T) {
	s := startSquid(t)
	srv, _ := origin(t, false)
	for _, tc := range []struct {
		name    string
		schemes []string
		id      *gosspi.Identity
	}{
		{"NTLM", []string{SchemeNTLM}, ntlmIdentity()},
		{"Kerberos", []string{SchemeNegotiate}, kerberosIdentity()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &ProxyDialer{Host: clientHost(t), Proxy: proxyURL(t, s), Identity: tc.id, Schemes: tc.schemes}
			defer d.Close()
			body, err := getThrough(t, d, nil, srv.URL+"/plain")
			if err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			// Squid takes the Proxy-Authorization off.
			if want := `origin GET /plain tls=false proxy-authorization=""`; body != want {
				t.Fatalf("body %q, want %q", body, want)
			}
		})
	}
}

// A wrong password: the dialer fails with the proxy's 407 and
// SEC_E_LOGON_DENIED, and leaves no connection behind.
func TestProxySquidWrongPassword(t *testing.T) {
	s := startSquid(t, "ntlm")
	srv, _ := origin(t, true)
	bad := &gosspi.Identity{User: ntUser, Domain: ntDomain, Password: "wrong-" + ntPW}
	d := &ProxyDialer{Host: clientHost(t), Proxy: proxyURL(t, s), Identity: bad, Schemes: []string{SchemeNTLM}}
	defer d.Close()
	var conns countingDialer
	d.Dial = conns.dial
	_, err := d.DialContext(t.Context(), "tcp", strings.TrimPrefix(srv.URL, "https://"))
	var pe *ProxyError
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusProxyAuthRequired || !errors.Is(err, gosspi.ErrLogonDenied) {
		t.Fatalf("err = %v, want a ProxyError with 407 and SEC_E_LOGON_DENIED", err)
	}
	if strings.Contains(err.Error(), bad.Password) {
		t.Fatal("the error shows the password")
	}
	if open := conns.open(); open != 0 {
		t.Fatalf("%d connections to the proxy left open", open)
	}
	// The same through the http.Client: an error, no response.
	if body, err := getThrough(t, d, nil, srv.URL+"/"); err == nil {
		t.Fatalf("got through with a wrong password: %s", body)
	}
}

// countingDialer counts the proxy connections still open.
type countingDialer struct {
	mu sync.Mutex
	n  int
}

type countedConn struct {
	net.Conn
	once sync.Once
	d    *countingDialer
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.d.mu.Lock(); c.d.n--; c.d.mu.Unlock() })
	return c.Conn.Close()
}

func (d *countingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.n++
	d.mu.Unlock()
	return &countedConn{Conn: c, d: d}, nil
}

func (d *countingDialer) open() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// The raw tunnel carries any TCP protocol, including one whose server
// speaks first (its banner may come with the 200).
func TestProxySquidRawTunnel(t *testing.T) {
	s := startSquid(t, "ntlm")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "BANNER\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "echo "+line)
	}()
	d := &ProxyDialer{Host: clientHost(t), Proxy: proxyURL(t, s), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}}
	defer d.Close()
	c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if l, err := br.ReadString('\n'); err != nil || l != "BANNER\n" {
		t.Fatalf("banner %q, %v", l, err)
	}
	io.WriteString(c, "hi\n")
	if l, err := br.ReadString('\n'); err != nil || l != "echo hi\n" {
		t.Fatalf("echo %q, %v", l, err)
	}
}

// curl through the same Squid is the control: --proxy-ntlm and
// --proxy-negotiate (MIT's GSS-API, alice's ticket).
func TestProxySquidCurl(t *testing.T) {
	curl := testutil.RequirePeer(t, "curl")
	s := startSquid(t)
	srv, _ := origin(t, true)
	cafile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(cafile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.TLS.Certificates[0].Certificate[0]}), 0o644)
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, curl, append([]string{"-sS", "--fail", "--proxy", s.URL, "--cacert", cafile}, args...)...)
		cmd.Env = testutil.Env(os.Environ(), "KRB5_CONFIG="+realm.Krb5Con, "KRB5CCNAME=FILE:"+realm.ccache, "KRB5_CLIENT_KTNAME=FILE:/nonexistent")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	want := `origin GET /curl tls=true proxy-authorization=""`
	if out, err := run("--proxy-ntlm", "--proxy-user", ntDomain+`\`+ntUser+":"+ntPW, srv.URL+"/curl"); err != nil || out != want {
		t.Fatalf("curl --proxy-ntlm: %v: %s", err, out)
	}
	if out, err := run("--proxy-negotiate", "--proxy-user", ":", srv.URL+"/curl"); err != nil || out != want {
		t.Fatalf("curl --proxy-negotiate: %v: %s", err, out)
	}
	// A wrong password: the CONNECT ends with 407 (%{http_connect}).
	if out, err := run("--proxy-ntlm", "--proxy-user", ntDomain+`\`+ntUser+":wrong", "-o", "/dev/null", "-w", "connect=%{http_connect}", srv.URL+"/curl"); err == nil {
		t.Fatalf("curl with a wrong password got through: %s", out)
	} else if !strings.Contains(out, "connect=407") {
		t.Fatalf("curl with a wrong password: %v: %s (want a 407)", err, out)
	}
}

// Squid never relays its helper's final Negotiate token (the AP-REP): a
// client that requires the proxy's mutual authentication fails through
// it, with ErrMutualAuth, on CONNECT and on plain HTTP alike.
func TestProxySquidRequireMutualAuth(t *testing.T) {
	s := startSquid(t, "negotiate")
	srv, pool := origin(t, true)
	d := &ProxyDialer{Host: clientHost(t), Proxy: proxyURL(t, s), Identity: kerberosIdentity(), Schemes: []string{SchemeNegotiate}, RequireMutualAuth: true}
	defer d.Close()
	_, err := d.DialContext(t.Context(), "tcp", strings.TrimPrefix(srv.URL, "https://"))
	if !errors.Is(err, ErrMutualAuth) {
		t.Fatalf("CONNECT: err %v, want ErrMutualAuth", err)
	}
	plain, _ := origin(t, false)
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	d.ConfigureTransport(base)
	tr := &Transport{Host: d.Host, Base: base, Identity: d.Identity, Schemes: d.Schemes, RequireProxyMutualAuth: true}
	defer tr.Close()
	if resp, err := (&http.Client{Transport: tr}).Get(plain.URL + "/"); !errors.Is(err, ErrMutualAuth) {
		if resp != nil {
			resp.Body.Close()
		}
		t.Fatalf("plain HTTP: err %v, want ErrMutualAuth", err)
	}
}

// A proxy reached over TLS (Squid's https_port): the dialer checks the
// proxy's certificate, binds its tokens to it (channel bindings, which
// Squid does not pass to its helper, so nothing checks them here) and
// tunnels TLS to the origin inside the proxy's TLS.
func TestProxySquidOverTLS(t *testing.T) {
	cert := selfSigned(t, "proxy")
	dir := t.TempDir()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "proxy.crt"), filepath.Join(dir, "proxy.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
	s := squidtest.Start(t, squidtest.Options{
		Accounts: map[string]string{ntDomain + `\` + ntUser: ntPW},
		Keytab:   realm.keytab, Krb5Conf: realm.Krb5Con,
		TLSCert: certFile, TLSKey: keyFile,
	})
	proxyPool := x509.NewCertPool()
	proxyPool.AddCert(cert.Leaf)
	srv, pool := origin(t, true)
	pu, _ := url.Parse(s.TLSURL)
	for _, tc := range []struct {
		name   string
		scheme string
		id     *gosspi.Identity
	}{{"NTLM", SchemeNTLM, ntlmIdentity()}, {"Kerberos", SchemeNegotiate, kerberosIdentity()}} {
		t.Run(tc.name, func(t *testing.T) {
			d := &ProxyDialer{Host: clientHost(t), Proxy: pu, Identity: tc.id, Schemes: []string{tc.scheme}, TLSConfig: &tls.Config{RootCAs: proxyPool}}
			defer d.Close()
			body, err := getThrough(t, d, pool, srv.URL+"/over-tls")
			if err != nil || body != `origin GET /over-tls tls=true proxy-authorization=""` {
				t.Fatalf("%v: %q", err, body)
			}
		})
	}
	// A proxy certificate the client does not trust: no tunnel, no token.
	d := &ProxyDialer{Host: clientHost(t), Proxy: pu, Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}}
	defer d.Close()
	if _, err := d.DialContext(t.Context(), "tcp", strings.TrimPrefix(srv.URL, "https://")); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted proxy certificate: err %v", err)
	}
}

// NTLM to a plain-HTTP proxy binds to the kept-alive connection: Squid
// authenticates the connection once, and the next request on it goes
// through without another handshake.
func TestProxySquidPlainHTTPKeepAlive(t *testing.T) {
	s := startSquid(t, "ntlm")
	srv, _ := origin(t, false)
	d := &ProxyDialer{Host: clientHost(t), Proxy: proxyURL(t, s), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}}
	defer d.Close()
	base := &http.Transport{}
	d.ConfigureTransport(base)
	var conns countingDialer
	base.DialContext = conns.dial
	tr := &Transport{Host: d.Host, Base: base, Identity: d.Identity, Schemes: d.Schemes}
	defer tr.Close()
	c := &http.Client{Transport: tr}
	for i := range 3 {
		resp, err := c.Get(fmt.Sprintf("%s/keepalive-%d", srv.URL, i))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %s", i, resp.Status)
		}
	}
	wantAccess(t, s, "keepalive-2", ntDomain+`\`+ntUser)
	if n := strings.Count(s.AccessLog(), "TCP_DENIED/407"); n != 2 {
		t.Fatalf("%d 407s for three requests, want the two of one NTLM handshake:\n%s", n, s.AccessLog())
	}
	if open := conns.open(); open != 1 {
		t.Fatalf("%d connections to the proxy, want the one kept alive", open)
	}
}

// A request's WithCredentials is for the origin: the tunnel still
// authenticates to the proxy with the dialer's Identity.
func TestProxySquidIgnoresRequestCredentials(t *testing.T) {
	s := startSquid(t, "ntlm")
	srv, pool := origin(t, true)
	d := &ProxyDialer{Host: clientHost(t), Proxy: proxyURL(t, s), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}}
	defer d.Close()
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	d.ConfigureTransport(base)
	tr := &Transport{Host: d.Host, Base: base, Schemes: d.Schemes}
	defer tr.Close()
	other := &gosspi.Identity{User: "mallory", Domain: ntDomain, Password: "not-the-proxy's"}
	req, _ := http.NewRequestWithContext(WithCredentials(t.Context(), other), http.MethodGet, srv.URL+"/mine", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	tr.CloseIdleConnections() // Squid logs a tunnel when it closes
	wantAccess(t, s, "CONNECT", ntDomain+`\`+ntUser)
}
