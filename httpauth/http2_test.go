package httpauth

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/sspi"
)

// h2Client is a Go HTTP/2 client over TLS that says whether each request
// reused the connection of the one before.
type h2Client struct {
	t     *testing.T
	rt    *http.Transport
	conns atomic.Int32 // connections made
}

func newH2Client(t *testing.T, cert tls.Certificate) *h2Client {
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	c := &h2Client{t: t, rt: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	t.Cleanup(c.rt.CloseIdleConnections)
	return c
}

func (c *h2Client) send(url, auth string) (*http.Response, string) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			c.conns.Add(1)
		}
	}}
	resp, err := c.rt.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		c.t.Fatalf("response over %s, want HTTP/2", resp.Proto)
	}
	return resp, string(b)
}

// kerberosToken is a fresh Negotiate token (an AP-REQ) of alice's for
// HTTP/localhost, bound to cert.
func kerberosToken(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	cb, _ := sspi.TLSServerEndPoint(cert.Leaf)
	c, err := clientHost(t).NewClient(t.Context(), gosspi.ClientConfig{Package: "Negotiate", Target: "HTTP/localhost",
		Identity: kerberosIdentity(), ChannelBindings: cb})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok, _, err := c.Step(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return FormatAuthorization("Negotiate", tok)
}

// TestAttackHTTP2PersistedIdentity is issue 10's HTTP/2 default: with
// Persist, the identity of one stream used to cover every later stream of
// the connection (whoever's request it carries, behind a multiplexing
// proxy), and NTLM's legs could be spread over streams. Over HTTP/2,
// Kerberos works per request, nothing persists, and NTLM is refused with a
// message that asks for HTTP/1.1.
func TestAttackHTTP2PersistedIdentity(t *testing.T) {
	cert := selfSigned(t, "gosspi test")
	s := newServer(t, Config{Persist: true}, BindingsWhenSupported, &cert)
	url := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	c := newH2Client(t, cert)

	// Kerberos: one leg per request, on one HTTP/2 connection.
	for i := 0; i < 2; i++ {
		if r, body := c.send(url, kerberosToken(t, cert)); r.StatusCode != 200 || !strings.Contains(body, `"package":"Kerberos"`) {
			t.Fatalf("Kerberos over HTTP/2, request %d: %d %s", i+1, r.StatusCode, body)
		}
	}
	// A stream without credentials gets no one's identity.
	if r, body := c.send(url, ""); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("stream without credentials after an authenticated one: %d %s", r.StatusCode, body)
	}
	// NTLM, raw, raw under Negotiate, and inside SPNEGO: the first leg
	// gets its token (clients switch to HTTP/1.1 on it) but the
	// handshake cannot go on over HTTP/2, on this stream or another.
	for _, tc := range []struct {
		name, scheme, pkg string
	}{{"NTLM", "NTLM", "NTLM"}, {"raw NTLM under Negotiate", "Negotiate", "NTLM"}, {"NTLM in SPNEGO", "Negotiate", "Negotiate"}} {
		cli, err := clientHost(t).NewClient(t.Context(), gosspi.ClientConfig{Package: tc.pkg, Target: "HTTP/127.0.0.1", Identity: ntlmIdentity()})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		neg, _, err := cli.Step(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		r, body := c.send(url, FormatAuthorization(tc.scheme, neg))
		if r.StatusCode != 401 || !strings.Contains(body, "HTTP/1.1") {
			t.Errorf("%s over HTTP/2, first leg: %d %q, want 401 asking for HTTP/1.1", tc.name, r.StatusCode, body)
		}
		auth, _, err := cli.Step(t.Context(), challengeToken(t, r, tc.scheme))
		if err != nil {
			t.Fatal(err)
		}
		if r, body := c.send(url, FormatAuthorization(tc.scheme, auth)); r.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(body, "HTTP/1.1") {
			t.Errorf("%s over HTTP/2, second leg: %d %q, want 421 asking for HTTP/1.1", tc.name, r.StatusCode, body)
		}
	}
	if n := c.conns.Load(); n != 1 {
		t.Errorf("%d HTTP/2 connections, want 1", n)
	}
	if h := s.auth.Handshakes(); h != 0 {
		t.Errorf("%d handshakes parked on the HTTP/2 connection", h)
	}
	wantLog(t, s.logs, "level=WARN", "over HTTP/2 refused")

	// Over HTTP/1.1 the same server still persists NTLM logons.
	tr := &Transport{Host: clientHost(t), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM},
		Base: &http.Transport{TLSClientConfig: c.rt.TLSClientConfig.Clone()}}
	defer tr.Close()
	for i := 0; i < 2; i++ {
		resp, err := (&http.Client{Transport: tr}).Get(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 1 {
			t.Errorf("Transport over %s", resp.Proto)
		}
		decodeWhoami(t, resp)
	}
	if n := strings.Count(s.logs.String(), "scheme=NTLM"); n == 0 {
		t.Errorf("no NTLM logon over HTTP/1.1:\n%s", s.logs.String())
	}
}

// TestCurlNTLMSwitchesToHTTP1: curl --ntlm over HTTPS offers HTTP/2 and
// sends its NEGOTIATE at once; the answer makes it start again over
// HTTP/1.1, where the logon completes.
func TestCurlNTLMSwitchesToHTTP1(t *testing.T) {
	cert := selfSigned(t, "curl test")
	s := newServer(t, Config{Persist: true}, BindingsWhenSupported, &cert)
	hdrs, codes, body := curl(t, curlEnv(), "-k", "--ntlm", "-u", ntDomain+`\`+ntUser+":"+ntPW, "-w", "%{http_version}", s.URL+"/whoami")
	if len(codes) == 0 || codes[len(codes)-1] != 200 || !strings.HasSuffix(body, "1.1") {
		t.Fatalf("status codes %v, %d responses\n%s\n%s", codes, len(hdrs), body, s.logs.String())
	}
	wantLog(t, s.logs, "level=WARN", "over HTTP/2 cannot complete")
	wantLog(t, s.logs, "level=INFO", "authenticated", "scheme=NTLM")
}

// TestHTTP2ResumedKerberos: Kerberos over HTTP/2 on a resumed TLS session,
// with channel bindings required: the bindings of the connection hold for
// each of its streams.
func TestHTTP2ResumedKerberos(t *testing.T) {
	cert := selfSigned(t, "gosspi test")
	s := newServer(t, Config{}, BindingsRequired, &cert)
	url := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	c := newH2Client(t, cert)
	c.rt.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	for i, wantResumed := range []bool{false, true} {
		r, body := c.send(url, kerberosToken(t, cert))
		if r.StatusCode != 200 || r.TLS.DidResume != wantResumed {
			t.Fatalf("request %d: %d resumed=%v: %s", i+1, r.StatusCode, r.TLS.DidResume, body)
		}
		c.rt.CloseIdleConnections()
	}
}
