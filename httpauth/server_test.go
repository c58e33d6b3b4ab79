package httpauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
)

func TestChallenge(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	resp, err := http.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Values("WWW-Authenticate"); strings.Join(got, ",") != "Negotiate,NTLM" {
		t.Errorf("WWW-Authenticate %q", got)
	}
}

func TestNTLMSchemeWithBodyReplay(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	tr := &Transport{Host: clientHost(t), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}}
	defer tr.Close()
	c := &http.Client{Transport: tr}
	// A body without GetBody: the transport buffers it for the three legs.
	body := strings.Repeat("payload ", 1000)
	req, _ := http.NewRequest("POST", s.URL, io.NopCloser(strings.NewReader(body)))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m := decodeWhoami(t, resp)
	if m["principal"] != `GOSSPI\bob` || m["package"] != "NTLM" || m["body"] != body {
		t.Errorf("whoami %v", m)
	}
	wantLog(t, s.logs, "authenticated", "scheme=NTLM", `user=GOSSPI\bob`)
}

func TestNegotiateNTLMFallback(t *testing.T) {
	// 127.0.0.1 has no SPN: Negotiate drops Kerberos and runs NTLM inside
	// SPNEGO, with the server's mechListMIC in the final 200.
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	tr := &Transport{Host: clientHost(t), Identity: ntlmIdentity(), Schemes: []string{SchemeNegotiate}}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	m := decodeWhoami(t, resp)
	if m["principal"] != `GOSSPI\bob` || m["package"] != "NTLM" {
		t.Errorf("whoami %v", m)
	}
}

func TestNegotiateKerberosMutual(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity()}
	defer tr.Close()
	url := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	tok := resp.Header.Get("WWW-Authenticate")
	m := decodeWhoami(t, resp)
	if m["principal"] != "alice@"+realm.Name || m["package"] != "Kerberos" {
		t.Errorf("whoami %v", m)
	}
	checkMutualToken(t, tok)
}

// checkMutualToken checks that a 200's WWW-Authenticate is a Negotiate
// accept-completed carrying a Kerberos AP-REP.
func checkMutualToken(t testing.TB, hdr string) {
	t.Helper()
	scheme, tok, err := ParseAuthorization(hdr)
	if err != nil || scheme != "Negotiate" {
		t.Fatalf("final WWW-Authenticate %q: %v", hdr, err)
	}
	_, resp, err := spnego.ParseToken(tok)
	if err != nil || resp == nil {
		t.Fatalf("final token is not a NegTokenResp: %v", err)
	}
	if resp.NegState != spnego.AcceptCompleted || !resp.SupportedMech.Equal(spnego.OIDKerberos) && !resp.SupportedMech.Equal(spnego.OIDMSKerberos) {
		t.Errorf("final token: negState %v, mech %v", resp.NegState, resp.SupportedMech)
	}
	// GSS framing (RFC 2743 3.1) around TOK_ID 02 00, the AP-REP (RFC 4121 4.1).
	ap := resp.ResponseToken
	if len(ap) < 17 || ap[0] != 0x60 || !strings.Contains(string(ap[:20]), "\x02\x00\x6f") {
		t.Errorf("responseToken is not a framed AP-REP: % x", ap[:min(len(ap), 24)])
	}
}

func TestMutualAuthFailsWithoutServerToken(t *testing.T) {
	// A server that accepts Kerberos but whose 200 lacks the AP-REP (here a
	// proxy strips it): the client asked for mutual authentication and
	// must refuse the response.
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	backend := &http.Transport{}
	defer backend.CloseIdleConnections()
	proxy := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequest(r.Method, s.URL+r.URL.Path, nil)
		req.Header = r.Header.Clone()
		resp, err := backend.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			if resp.StatusCode == 200 && k == "Www-Authenticate" {
				continue
			}
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity()}
	defer tr.Close()
	_, err := (&http.Client{Transport: tr}).Get(strings.Replace(proxy, "127.0.0.1", "localhost", 1))
	if !errors.Is(err, ErrMutualAuth) {
		t.Fatalf("err = %v, want ErrMutualAuth", err)
	}
	// Without ISC_REQ_MUTUAL_AUTH the same response is accepted.
	tr2 := &Transport{Host: tr.Host, Identity: kerberosIdentity(), Flags: gosspi.FlagIntegrity | gosspi.FlagConfidentiality}
	defer tr2.Close()
	resp, err := (&http.Client{Transport: tr2}).Get(strings.Replace(proxy, "127.0.0.1", "localhost", 1))
	if err != nil {
		t.Fatal(err)
	}
	decodeWhoami(t, resp)
}

// httptestServer serves h on 127.0.0.1 without the connection hooks.
func httptestServer(t testing.TB, h http.Handler) string {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestPersistence(t *testing.T) {
	for _, persist := range []bool{true, false} {
		s := newServer(t, Config{Persist: persist}, BindingsWhenSupported, nil)
		tr := &Transport{Host: clientHost(t), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}}
		c := &http.Client{Transport: tr}
		for i := 0; i < 3; i++ {
			resp, err := c.Get(s.URL)
			if err != nil {
				t.Fatal(err)
			}
			decodeWhoami(t, resp)
		}
		tr.Close()
		n := strings.Count(s.logs.String(), "msg=\"httpauth: authenticated\"")
		if persist && n != 1 || !persist && n != 3 {
			t.Errorf("persist=%v: %d handshakes for 3 requests on one connection", persist, n)
		}
	}
}

// legClient sends raw legs over connections it controls.
type legClient struct {
	t  *testing.T
	rt *http.Transport
}

func newLegClient(t *testing.T, tlsConf *tls.Config) *legClient {
	return &legClient{t: t, rt: &http.Transport{MaxConnsPerHost: 1, TLSClientConfig: tlsConf}}
}

func (l *legClient) send(url, auth string) *http.Response {
	l.t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := l.rt.RoundTrip(req)
	if err != nil {
		l.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// ntlmClient starts an NTLM client context.
func ntlmClient(t *testing.T, cb *sspi.ChannelBindings, id *gosspi.Identity) *gosspi.SecurityContext {
	t.Helper()
	c, err := clientHost(t).NewClient(t.Context(), gosspi.ClientConfig{Package: "NTLM", Target: "HTTP/127.0.0.1", Identity: id, ChannelBindings: cb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func challengeToken(t *testing.T, resp *http.Response, scheme string) []byte {
	t.Helper()
	cs, err := ParseChallenges(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if strings.EqualFold(c.Scheme, scheme) && c.Token != nil {
			return c.Token
		}
	}
	t.Fatalf("status %d: no %s token in %q", resp.StatusCode, scheme, resp.Header.Values("WWW-Authenticate"))
	return nil
}

func TestNegativeHeaders(t *testing.T) {
	s := newServer(t, Config{MaxHeaderBytes: 4096}, BindingsWhenSupported, nil)
	l := newLegClient(t, nil)
	cases := []struct {
		name, auth string
		status     int
		log        []string
	}{
		{"bad base64", "Negotiate YII*#!", 400, []string{"level=WARN", "malformed Authorization header", "not base64"}},
		{"bad base64 length", "NTLM TlRMTVNTUAABAAAAB", 400, []string{"level=WARN", "malformed Authorization header", "bad base64 length"}},
		{"oversized", "Negotiate " + strings.Repeat("A", 5000), 400, []string{"level=WARN", "Authorization header too large", "bytes=5010"}},
		{"unknown scheme", "Basic Ym9iOnB3", 401, []string{"level=WARN", "unsupported authentication scheme", "scheme=Basic"}},
		{"no token", "Negotiate", 400, []string{"level=WARN", "without a token"}},
		{"garbage token", "Negotiate " + "YIIBAAAA", 401, []string{"level=WARN", "authentication failed", "status=SEC_E_"}},
		{"continuation first", "NTLM TlRMTVNTUAADAAAAGAAYAEAAAAA=", 401, []string{"level=WARN", "no handshake in progress on this connection"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := l.send(s.URL, c.auth)
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d", resp.StatusCode, c.status)
			}
			if c.status == 401 && len(resp.Header.Values("WWW-Authenticate")) != 2 {
				t.Errorf("401 without the challenges: %q", resp.Header.Values("WWW-Authenticate"))
			}
			wantLog(t, s.logs, c.log...)
		})
	}
	if strings.Contains(s.logs.String(), "Ym9iOnB3") {
		t.Error("a token reached the log")
	}
}

func TestWrongPassword(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	tr := &Transport{Host: clientHost(t), Schemes: []string{SchemeNTLM},
		Identity: &gosspi.Identity{User: ntUser, Domain: ntDomain, Password: "wrong"}}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
	wantLog(t, s.logs, "level=WARN", "authentication failed", "status=SEC_E_LOGON_DENIED")
	if s.auth.Handshakes() != 0 {
		t.Errorf("%d handshakes left in progress", s.auth.Handshakes())
	}
}

func TestHandshakeMovedToAnotherConnection(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	c := ntlmClient(t, nil, ntlmIdentity())
	a, b := newLegClient(t, nil), newLegClient(t, nil)
	neg, _, err := c.Step(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	chal := challengeToken(t, a.send(s.URL, FormatAuthorization("NTLM", neg)), "NTLM")
	auth, _, err := c.Step(t.Context(), chal)
	if err != nil {
		t.Fatal(err)
	}
	resp := b.send(s.URL, FormatAuthorization("NTLM", auth))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("AUTHENTICATE on another connection: status %d", resp.StatusCode)
	}
	wantLog(t, s.logs, "level=WARN", "no handshake in progress on this connection")
	// The first connection's handshake is still pending, and goes away
	// when that connection closes.
	if s.auth.Handshakes() != 1 {
		t.Errorf("handshakes in progress = %d, want 1", s.auth.Handshakes())
	}
	a.rt.CloseIdleConnections()
	waitFor(t, func() bool { return s.auth.Handshakes() == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHandshakeLimit(t *testing.T) {
	s := newServer(t, Config{MaxHandshakes: 1}, BindingsWhenSupported, nil)
	a, b := newLegClient(t, nil), newLegClient(t, nil)
	neg, _, _ := ntlmClient(t, nil, ntlmIdentity()).Step(t.Context(), nil)
	if r := a.send(s.URL, FormatAuthorization("NTLM", neg)); r.StatusCode != 401 {
		t.Fatalf("first handshake: %d", r.StatusCode)
	}
	neg2, _, _ := ntlmClient(t, nil, ntlmIdentity()).Step(t.Context(), nil)
	if r := b.send(s.URL, FormatAuthorization("NTLM", neg2)); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second handshake: %d, want 503", r.StatusCode)
	}
	wantLog(t, s.logs, "level=WARN", "too many handshakes in progress")
	a.rt.CloseIdleConnections()
	waitFor(t, func() bool { return s.auth.Handshakes() == 0 })
	if r := b.send(s.URL, FormatAuthorization("NTLM", neg2)); r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") == "NTLM" {
		t.Fatalf("after the first connection closed: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
}

func TestHTTPSChannelBindings(t *testing.T) {
	cert := selfSigned(t, "gosspi test")
	other := selfSigned(t, "someone else")
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	tlsConf := &tls.Config{RootCAs: pool}
	s := newServer(t, Config{}, BindingsRequired, &cert)

	// Our transport binds to the certificate it sees: accepted.
	tr := &Transport{Host: clientHost(t), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}, Base: &http.Transport{TLSClientConfig: tlsConf}}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	decodeWhoami(t, resp)

	// Bindings of another certificate (a TLS-terminating man in the
	// middle): SEC_E_BAD_BINDINGS.
	wrong, _ := sspi.TLSServerEndPoint(other.Leaf)
	for _, tc := range []struct {
		name string
		cb   *sspi.ChannelBindings
	}{{"mismatch", wrong}, {"missing", nil}} {
		c := ntlmClient(t, tc.cb, ntlmIdentity())
		l := newLegClient(t, tlsConf)
		neg, _, _ := c.Step(t.Context(), nil)
		chal := challengeToken(t, l.send(s.URL, FormatAuthorization("NTLM", neg)), "NTLM")
		auth, _, err := c.Step(t.Context(), chal)
		if err != nil {
			t.Fatal(err)
		}
		if r := l.send(s.URL, FormatAuthorization("NTLM", auth)); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s bindings: status %d", tc.name, r.StatusCode)
		}
		wantLog(t, s.logs, "level=WARN", "authentication failed", "status=SEC_E_BAD_BINDINGS")
		l.rt.CloseIdleConnections()
	}
}

func TestHTTPSKerberosBindings(t *testing.T) {
	cert := selfSigned(t, "gosspi test")
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	s := newServer(t, Config{}, BindingsRequired, &cert)
	tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity(), Base: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(strings.Replace(s.URL, "127.0.0.1", "localhost", 1))
	if err != nil {
		t.Fatal(err)
	}
	if m := decodeWhoami(t, resp); m["package"] != "Kerberos" {
		t.Errorf("whoami %v", m)
	}
}

func TestNoConnHooks(t *testing.T) {
	// Without Install, Kerberos (one leg) still works and NTLM fails
	// cleanly with a log line.
	logs := &logBuf{}
	a, err := New(Config{Host: serverHost(t, BindingsWhenSupported), Schemes: []string{"Negotiate", "NTLM"}, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ts := httptestServer(t, a.Middleware(whoami))
	tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity()}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(strings.Replace(ts, "127.0.0.1", "localhost", 1))
	if err != nil {
		t.Fatal(err)
	}
	decodeWhoami(t, resp)
	tr2 := &Transport{Host: tr.Host, Identity: ntlmIdentity(), Schemes: []string{"NTLM"}}
	defer tr2.Close()
	resp, err = (&http.Client{Transport: tr2}).Get(ts)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("NTLM without hooks: %d", resp.StatusCode)
	}
	wantLog(t, logs, "level=ERROR", "needs the connection hooks")
}

// TestKerberosRepeated runs several Kerberos handshakes with one
// Transport, each on a new connection.
func TestKerberosRepeated(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity()}
	defer tr.Close()
	url := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	for i := 0; i < 3; i++ {
		resp, err := (&http.Client{Transport: tr}).Get(url)
		if err != nil {
			t.Fatal(i, err)
		}
		decodeWhoami(t, resp)
		tr.CloseIdleConnections()
	}
	if n := strings.Count(s.logs.String(), "httpauth: authenticated"); n != 3 {
		t.Errorf("%d handshakes, want 3", n)
	}
}

// TestProxyAuthentication: a forward proxy protected by the middleware
// (Config.Proxy) answers 407, and the Transport authenticates to it with
// Proxy-Authorization, NTLM legs on one connection.
func TestProxyAuthentication(t *testing.T) {
	s := newServer(t, Config{Proxy: true, Schemes: []string{SchemeNTLM}}, BindingsWhenSupported, nil)
	proxyURL, _ := url.Parse(s.URL)
	tr := &Transport{Host: clientHost(t), Identity: ntlmIdentity(), Base: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	defer tr.Close()
	// The request goes to the proxy (absolute URI); the proxy's handler
	// answers itself instead of forwarding.
	resp, err := (&http.Client{Transport: tr}).Get("http://origin.invalid/whoami")
	if err != nil {
		t.Fatal(err)
	}
	if m := decodeWhoami(t, resp); m["principal"] != `GOSSPI\bob` {
		t.Errorf("whoami %v", m)
	}
	wantLog(t, s.logs, "authenticated", "scheme=NTLM")
	// Without credentials the proxy's 407 comes back as is.
	resp, err = http.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusProxyAuthRequired || resp.Header.Get("Proxy-Authenticate") != "NTLM" {
		t.Errorf("no credentials: %d %q", resp.StatusCode, resp.Header.Get("Proxy-Authenticate"))
	}
}

// TestKerberosScheme: the "Kerberos" scheme (raw GSS Kerberos tokens), as
// some clients speak it, with the server's AP-REP checked.
func TestKerberosScheme(t *testing.T) {
	s := newServer(t, Config{Schemes: []string{SchemeKerberos}}, BindingsWhenSupported, nil)
	tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity()}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(strings.Replace(s.URL, "127.0.0.1", "localhost", 1))
	if err != nil {
		t.Fatal(err)
	}
	hdr := resp.Header.Get("WWW-Authenticate")
	if m := decodeWhoami(t, resp); m["package"] != "Kerberos" {
		t.Errorf("whoami %v", m)
	}
	if scheme, tok, err := ParseAuthorization(hdr); err != nil || scheme != "Kerberos" || len(tok) == 0 {
		t.Errorf("final WWW-Authenticate %q", hdr)
	}
}

// TestStaleHandshakesReaped: at the limit, handshakes older than
// HandshakeTimeout make room for new ones.
func TestStaleHandshakesReaped(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	s := newServer(t, Config{MaxHandshakes: 1, HandshakeTimeout: 50 * time.Millisecond, Now: clock.Now}, BindingsWhenSupported, nil)
	a, b := newLegClient(t, nil), newLegClient(t, nil)
	neg, _, _ := ntlmClient(t, nil, ntlmIdentity()).Step(t.Context(), nil)
	if r := a.send(s.URL, FormatAuthorization("NTLM", neg)); r.StatusCode != 401 {
		t.Fatalf("first handshake: %d", r.StatusCode)
	}
	clock.Advance(100 * time.Millisecond)
	neg2, _, _ := ntlmClient(t, nil, ntlmIdentity()).Step(t.Context(), nil)
	if r := b.send(s.URL, FormatAuthorization("NTLM", neg2)); r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") == "NTLM" {
		t.Fatalf("second handshake after the first went stale: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if n := s.auth.Handshakes(); n != 1 {
		t.Errorf("%d handshakes in progress, want 1", n)
	}
}

// TestConnectionClosedMidHandshake: a server that closes the connection
// after its CHALLENGE breaks NTLM; the Transport says so instead of
// sending the AUTHENTICATE on a new connection.
func TestConnectionClosedMidHandshake(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	closing := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequest("GET", s.URL, nil)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req) // a new connection per request
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.Header().Set("Connection", "close")
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	tr := &Transport{Host: clientHost(t), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}}
	defer tr.Close()
	_, err := (&http.Client{Transport: tr}).Get(closing)
	if !errors.Is(err, ErrConnectionChanged) {
		t.Fatalf("err = %v, want ErrConnectionChanged", err)
	}
}

// TestFirstChallengeCloses: a server that closes the connection of its
// first (credential-less) 401 is fine: the handshake starts on the next
// connection and stays there.
func TestFirstChallengeCloses(t *testing.T) {
	tr := &Transport{Host: clientHost(t), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}}
	defer tr.Close()
	closeFirst := newServerWith(t, Config{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				w.Header().Set("Connection", "close")
			}
			h.ServeHTTP(w, r)
		})
	})
	resp, err := (&http.Client{Transport: tr}).Get(closeFirst.URL)
	if err != nil {
		t.Fatal(err)
	}
	decodeWhoami(t, resp)
}

// TestHTTPSKerberosBindingsMismatch: a Kerberos AP-REQ bound to another
// certificate is refused with SEC_E_BAD_BINDINGS.
func TestHTTPSKerberosBindingsMismatch(t *testing.T) {
	cert := selfSigned(t, "gosspi test")
	other := selfSigned(t, "someone else")
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	s := newServer(t, Config{}, BindingsRequired, &cert)
	wrong, _ := sspi.TLSServerEndPoint(other.Leaf)
	c, err := clientHost(t).NewClient(t.Context(), gosspi.ClientConfig{Package: "Negotiate", Target: "HTTP/localhost",
		Identity: kerberosIdentity(), ChannelBindings: wrong})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok, _, err := c.Step(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l := newLegClient(t, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if r := l.send(s.URL, FormatAuthorization("Negotiate", tok)); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d", r.StatusCode)
	}
	wantLog(t, s.logs, "level=WARN", "authentication failed", "scheme=Negotiate", "status=SEC_E_BAD_BINDINGS")
}

// TestLargeBody: a 4 MiB POST authenticates with NTLM (the NEGOTIATE leg
// goes without the body) and with Negotiate, and the handler gets the
// whole body once.
func TestLargeBody(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	body := strings.Repeat("0123456789abcdef", 256<<10)
	for _, scheme := range []string{SchemeNTLM, SchemeNegotiate} {
		tr := &Transport{Host: clientHost(t), Identity: ntlmIdentity(), Schemes: []string{scheme}}
		req, _ := http.NewRequest("POST", s.URL, strings.NewReader(body))
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(scheme, err)
		}
		if m := decodeWhoami(t, resp); len(m["body"]) != len(body) {
			t.Errorf("%s: handler got %d bytes, want %d", scheme, len(m["body"]), len(body))
		}
		tr.Close()
	}
}

// TestServerDrainsContinuationBody: a client that sends a 1 MiB body with
// every leg (as some do) keeps its connection through the handshake.
func TestServerDrainsContinuationBody(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	c := ntlmClient(t, nil, ntlmIdentity())
	l := newLegClient(t, nil)
	body := strings.Repeat("x", 1<<20)
	post := func(auth string) *http.Response {
		req, _ := http.NewRequest("POST", s.URL, strings.NewReader(body))
		req.Header.Set("Authorization", auth)
		resp, err := l.rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	neg, _, _ := c.Step(t.Context(), nil)
	chal := challengeToken(t, post(FormatAuthorization("NTLM", neg)), "NTLM")
	auth, _, err := c.Step(t.Context(), chal)
	if err != nil {
		t.Fatal(err)
	}
	if r := post(FormatAuthorization("NTLM", auth)); r.StatusCode != 200 {
		t.Fatalf("status %d\n%s", r.StatusCode, s.logs.String())
	}
}

// TestRawNTLMUnderNegotiate: Windows clients that cannot get a Kerberos
// ticket send bare NTLMSSP tokens under the Negotiate scheme; the server
// answers in kind.
func TestRawNTLMUnderNegotiate(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	c := ntlmClient(t, nil, ntlmIdentity())
	l := newLegClient(t, nil)
	neg, _, _ := c.Step(t.Context(), nil)
	chal := challengeToken(t, l.send(s.URL, FormatAuthorization("Negotiate", neg)), "Negotiate")
	if string(chal[:8]) != "NTLMSSP\x00" {
		t.Fatalf("answer is not a raw CHALLENGE: % x", chal[:8])
	}
	auth, _, err := c.Step(t.Context(), chal)
	if err != nil {
		t.Fatal(err)
	}
	if r := l.send(s.URL, FormatAuthorization("Negotiate", auth)); r.StatusCode != 200 {
		t.Fatalf("status %d\n%s", r.StatusCode, s.logs.String())
	}
	wantLog(t, s.logs, "authenticated", "scheme=Negotiate", "package=NTLM")
}

// TestConcurrentHandshakes: many clients at once, NTLM and Negotiate, each
// handshake on its own connection; no leaks once they close.
func TestConcurrentHandshakes(t *testing.T) {
	s := newServer(t, Config{Persist: true}, BindingsWhenSupported, nil)
	host := clientHost(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			scheme := []string{SchemeNTLM, SchemeNegotiate}[i%2]
			tr := &Transport{Host: host, Identity: ntlmIdentity(), Schemes: []string{scheme}}
			defer tr.Close()
			for j := 0; j < 4; j++ {
				resp, err := (&http.Client{Transport: tr}).Get(s.URL)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("%s: status %d", scheme, resp.StatusCode)
					return
				}
				tr.CloseIdleConnections()
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, func() bool { return s.auth.Handshakes() == 0 })
}
