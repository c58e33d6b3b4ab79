package httpauth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/sspi"
)

// resumingTLS is a client TLS configuration that trusts cert and keeps
// sessions to resume, at one TLS version.
func resumingTLS(cert tls.Certificate, version uint16) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return &tls.Config{RootCAs: pool, ClientSessionCache: tls.NewLRUClientSessionCache(8), MinVersion: version, MaxVersion: version}
}

var tlsVersions = []struct {
	name    string
	version uint16
}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}}

// TestAttackResumedSessionWrongBindings is issue 10, item 6: on a resumed
// TLS session crypto/tls skips certificate selection, and the middleware
// used to learn the certificate there only; under "when-supported" it
// then went on without bindings and let a client bound to another
// certificate (a relay's) in. The bindings of a resumed session must be
// checked as those of a fresh one.
func TestAttackResumedSessionWrongBindings(t *testing.T) {
	cert := selfSigned(t, "gosspi test")
	other := selfSigned(t, "a relay")
	wrong, _ := sspi.TLSServerEndPoint(other.Leaf)
	right, _ := sspi.TLSServerEndPoint(cert.Leaf)
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			s := newServer(t, Config{}, BindingsWhenSupported, &cert)
			l := newLegClient(t, resumingTLS(cert, v.version))
			// A first connection makes the session.
			if r := l.send(s.URL, ""); r.StatusCode != 401 || r.TLS == nil || r.TLS.DidResume {
				t.Fatalf("first connection: %d %+v", r.StatusCode, r.TLS)
			}
			l.rt.CloseIdleConnections()
			for _, tc := range []struct {
				name string
				cb   *sspi.ChannelBindings
				want int
			}{{"wrong bindings", wrong, 401}, {"right bindings", right, 200}} {
				c := ntlmClient(t, tc.cb, ntlmIdentity())
				neg, _, _ := c.Step(t.Context(), nil)
				r := l.send(s.URL, FormatAuthorization("NTLM", neg))
				if r.TLS == nil || !r.TLS.DidResume {
					t.Fatalf("%s: the TLS session was not resumed", tc.name)
				}
				auth, _, err := c.Step(t.Context(), challengeToken(t, r, "NTLM"))
				if err != nil {
					t.Fatal(err)
				}
				if r := l.send(s.URL, FormatAuthorization("NTLM", auth)); r.StatusCode != tc.want {
					t.Errorf("%s on a resumed session: status %d, want %d\n%s", tc.name, r.StatusCode, tc.want, s.logs.String())
				}
				l.rt.CloseIdleConnections()
			}
			wantLog(t, s.logs, "level=WARN", "authentication failed", "status=SEC_E_BAD_BINDINGS")
		})
	}
}

// TestResumedSessionRequiredBindings: under "required", a resumed session
// used to get 500 (no certificate known); now NTLM and Kerberos clients
// that bind to the certificate log on over it.
func TestResumedSessionRequiredBindings(t *testing.T) {
	cert := selfSigned(t, "gosspi test")
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			s := newServer(t, Config{}, BindingsRequired, &cert)
			base := &http.Transport{TLSClientConfig: resumingTLS(cert, v.version)}
			for _, tc := range []struct {
				name string
				id   *gosspi.Identity
				url  string
				pkg  string
			}{
				{"NTLM", ntlmIdentity(), s.URL, "NTLM"},
				{"Kerberos", kerberosIdentity(), strings.Replace(s.URL, "127.0.0.1", "localhost", 1), "Kerberos"},
			} {
				tr := &Transport{Host: clientHost(t), Identity: tc.id, Base: base}
				// The first request makes the session (per server name).
				for i, wantResumed := range []bool{false, true} {
					resp, err := (&http.Client{Transport: tr}).Get(tc.url)
					if err != nil {
						t.Fatalf("%s request %d: %v", tc.name, i+1, err)
					}
					if resp.TLS == nil || resp.TLS.DidResume != wantResumed {
						t.Fatalf("%s request %d: DidResume %v, want %v", tc.name, i+1, resp.TLS != nil && resp.TLS.DidResume, wantResumed)
					}
					if m := decodeWhoami(t, resp); m["package"] != tc.pkg {
						t.Errorf("%s: whoami %v", tc.name, m)
					}
					tr.CloseIdleConnections()
				}
				tr.Close()
			}
		})
	}
}

// closeAfterFinal wraps the middleware: every answer but a 401 that
// continues a handshake closes its connection, so that a client's next
// URL comes on a new connection (and resumes its TLS session). It notes,
// per request, whether its TLS session was resumed.
type closeAfterFinal struct {
	mu      sync.Mutex
	resumed []bool
}

func (c *closeAfterFinal) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.resumed = append(c.resumed, r.TLS != nil && r.TLS.DidResume)
		c.mu.Unlock()
		h.ServeHTTP(&closingWriter{ResponseWriter: w}, r)
	})
}

func (c *closeAfterFinal) anyResumed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.resumed {
		if r {
			return true
		}
	}
	return false
}

type closingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *closingWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		continues := false
		for _, v := range w.Header().Values("WWW-Authenticate") {
			continues = continues || code == 401 && strings.Contains(v, " ")
		}
		if !continues {
			w.Header().Set("Connection", "close")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *closingWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *closingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestCurlNTLMResumedSession: curl resumes its TLS session for the second
// of two URLs (its default). curl's NTLM sends no channel bindings: under
// "when-supported" both logons pass; under "required" both are refused
// with SEC_E_BAD_BINDINGS, the resumed one included (it used to get 500).
func TestCurlNTLMResumedSession(t *testing.T) {
	cert := selfSigned(t, "curl test")
	for _, tc := range []struct {
		policy BindingPolicy
		want   []int
	}{
		{BindingsWhenSupported, []int{401, 200, 401, 200}},
		{BindingsRequired, []int{401, 401, 401, 401}},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			cl := &closeAfterFinal{}
			s := newServerOpts(t, Config{}, tc.policy, &cert, cl.wrap)
			user := ntDomain + `\` + ntUser + ":" + ntPW
			_, codes, body := curl(t, curlEnv(), "-k", "--http1.1", "--ntlm", "-u", user, s.URL+"/whoami", s.URL+"/whoami?again")
			if !slices.Equal(codes, tc.want) {
				t.Errorf("status codes %v, want %v\n%s\n%s", codes, tc.want, body, s.logs.String())
			}
			if !cl.anyResumed() {
				t.Fatal("curl did not resume its TLS session for the second URL")
			}
			if tc.policy == BindingsRequired {
				wantLog(t, s.logs, "level=WARN", "authentication failed", "status=SEC_E_BAD_BINDINGS")
			}
		})
	}
}

// TestResumedSessionCertificateFiles: the common setup, Install then
// ServeTLS with certificate files (which net/http loads into a copy of
// TLSConfig the hooks cannot see). Resumed sessions still carry the right
// bindings: a client bound to another certificate is refused, one bound
// to the server's logs on, under "when-supported" as under "required".
func TestResumedSessionCertificateFiles(t *testing.T) {
	cert := selfSigned(t, "gosspi test")
	other := selfSigned(t, "a relay")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	kder, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	wrong, _ := sspi.TLSServerEndPoint(other.Leaf)
	right, _ := sspi.TLSServerEndPoint(cert.Leaf)
	for _, policy := range []BindingPolicy{BindingsWhenSupported, BindingsRequired} {
		for _, v := range tlsVersions {
			t.Run(policy.String()+"/"+v.name, func(t *testing.T) {
				logs := &logBuf{}
				cfg := Config{Host: serverHost(t, policy), Schemes: []string{SchemeNTLM}, Logger: logs.logger()}
				if !haveLocalCertificate {
					cfg.Certificate = cert.Leaf // before Go 1.27 nothing tells the middleware the file's certificate
				}
				a, err := New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				srv := &http.Server{Handler: a.Middleware(whoami), ErrorLog: log.New(io.Discard, "", 0)}
				a.Install(srv)
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				go srv.ServeTLS(ln, certFile, keyFile)
				t.Cleanup(func() { srv.Close(); a.Close() })
				url := "https://" + ln.Addr().String()
				// HTTP/2 is still served (newH2Client fails otherwise).
				if r, _ := newH2Client(t, cert).send(url, ""); r.StatusCode != 401 {
					t.Fatalf("HTTP/2: %d", r.StatusCode)
				}
				l := newLegClient(t, resumingTLS(cert, v.version))
				if r := l.send(url, ""); r.StatusCode != 401 || r.TLS.DidResume {
					t.Fatalf("first connection: %d resumed=%v", r.StatusCode, r.TLS.DidResume)
				}
				l.rt.CloseIdleConnections()
				for _, tc := range []struct {
					name string
					cb   *sspi.ChannelBindings
					want int
				}{{"wrong bindings", wrong, 401}, {"right bindings", right, 200}} {
					c := ntlmClient(t, tc.cb, ntlmIdentity())
					neg, _, _ := c.Step(t.Context(), nil)
					r := l.send(url, FormatAuthorization("NTLM", neg))
					if !r.TLS.DidResume {
						t.Fatalf("%s: the TLS session was not resumed", tc.name)
					}
					auth, _, err := c.Step(t.Context(), challengeToken(t, r, "NTLM"))
					if err != nil {
						t.Fatal(err)
					}
					if r := l.send(url, FormatAuthorization("NTLM", auth)); r.StatusCode != tc.want {
						t.Errorf("%s on a resumed session: %d, want %d\n%s", tc.name, r.StatusCode, tc.want, logs.String())
					}
					l.rt.CloseIdleConnections()
				}
			})
		}
	}
}
