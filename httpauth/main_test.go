package httpauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/ntlm"
)

// The tests share one throwaway MIT realm with a user (alice) and the
// service HTTP/localhost, whose keytab the test servers accept with.
var realm struct {
	*krbtest.Realm
	keytab string // HTTP/localhost
	ccache string // alice's TGT, from kinit
}

const (
	alicePW  = "alice-Secret-1"
	ntDomain = "GOSSPI"
	ntUser   = "bob"
	ntPW     = "Bob-Passw0rd!"
)

func TestMain(m *testing.M) {
	kr, err := krbtest.Start(krbtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpauth tests: cannot start the MIT realm:", err)
		os.Exit(1)
	}
	realm.Realm = kr
	setup := func() error {
		os.Setenv("KRB5_CONFIG", kr.Krb5Con)
		os.Unsetenv("KRB5CCNAME")
		os.Unsetenv("KRB5_KTNAME")
		os.Unsetenv("NTLM_USER_FILE")
		realm.keytab, realm.ccache, err = kr.UserAndService("alice", alicePW, "HTTP/localhost")
		return err
	}
	if err := setup(); err != nil {
		kr.Close()
		fmt.Fprintln(os.Stderr, "httpauth tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	kr.Close()
	os.Exit(code)
}

// logBuf collects the middleware's log lines.
type logBuf struct{ testutil.SyncBuffer }

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testAccounts is the NTLM account store of the test servers.
func testAccounts() *ntlm.MemoryStore {
	s := ntlm.NewMemoryStore()
	s.Add(ntDomain, ntUser, ntPW)
	return s
}

// The host's channel-binding policies, as the tests name them.
type BindingPolicy = gosspi.BindingPolicy

const (
	BindingsWhenSupported = gosspi.BindingsWhenSupported
	BindingsOff           = gosspi.BindingsOff
	BindingsRequired      = gosspi.BindingsRequired
)

// serverHost is a host with the test keytab and accounts.
func serverHost(t testing.TB, policy BindingPolicy) *gosspi.Host {
	t.Helper()
	cfg := gosspi.HostConfig{}
	cfg.NTLM.Accounts = testAccounts()
	cfg.Kerberos.Keytab = realm.keytab
	cfg.Kerberos.DisableReplayCache = false
	cfg.ChannelBindings = policy
	h, err := gosspi.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func clientHost(t testing.TB) *gosspi.Host {
	t.Helper()
	h, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// whoami is the protected handler of the tests: it answers the identity
// as JSON and echoes the request body's length.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	id, ok := IdentityFromContext(r.Context())
	if !ok {
		http.Error(w, "no identity", http.StatusInternalServerError)
		return
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"user": id.User, "domain": id.Domain, "principal": id.Principal, "package": id.Package, "body": string(body)})
})

type testServer struct {
	URL  string
	auth *Authenticator
	logs *logBuf
	srv  *http.Server
	rec  *recorder // what passed, for transcripts
}

// newServer starts the middleware on 127.0.0.1 (HTTPS when tlsCert is
// set) with cfg's settings on top of the test defaults.
func newServer(t testing.TB, cfg Config, policy BindingPolicy, tlsCert *tls.Certificate) *testServer {
	t.Helper()
	return newServerOpts(t, cfg, policy, tlsCert, nil)
}

// newServerWith is newServer with the middleware wrapped by wrap.
func newServerWith(t testing.TB, cfg Config, wrap func(http.Handler) http.Handler) *testServer {
	t.Helper()
	return newServerOpts(t, cfg, BindingsWhenSupported, nil, wrap)
}

func newServerOpts(t testing.TB, cfg Config, policy BindingPolicy, tlsCert *tls.Certificate, wrap func(http.Handler) http.Handler) *testServer {
	t.Helper()
	logs := &logBuf{}
	if cfg.Host == nil {
		cfg.Host = serverHost(t, policy)
	}
	if cfg.Logger == nil {
		cfg.Logger = logs.logger()
	}
	if cfg.Schemes == nil {
		cfg.Schemes = []string{SchemeNegotiate, SchemeNTLM}
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = a.Middleware(whoami)
	if wrap != nil {
		h = wrap(h)
	}
	rec := &recorder{next: h}
	srv := &http.Server{Handler: rec, ErrorLog: log.New(io.Discard, "", 0)}
	s := &testServer{URL: "http://" + ln.Addr().String(), auth: a, logs: logs, srv: srv, rec: rec}
	if tlsCert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*tlsCert}}
		s.URL = "https://" + ln.Addr().String()
	}
	a.Install(srv)
	go func() {
		if tlsCert != nil {
			srv.ServeTLS(ln, "", "")
		} else {
			srv.Serve(ln)
		}
	}()
	t.Cleanup(func() { srv.Close(); a.Close() })
	return s
}

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// ntlmIdentity is the test NTLM user's credential.
func ntlmIdentity() *gosspi.Identity {
	return &gosspi.Identity{User: ntUser, Domain: ntDomain, Password: ntPW}
}

// kerberosIdentity uses alice's ccache.
func kerberosIdentity() *gosspi.Identity {
	return &gosspi.Identity{Options: map[string]string{"ccache": "FILE:" + realm.ccache}}
}

func decodeWhoami(t testing.TB, resp *http.Response) map[string]string {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return m
}

// wantLog fails the test unless the server logged a line holding all of
// the parts.
func wantLog(t testing.TB, logs *logBuf, parts ...string) {
	t.Helper()
	for _, line := range strings.Split(logs.String(), "\n") {
		ok := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				ok = false
				break
			}
		}
		if ok {
			return
		}
	}
	t.Errorf("no log line with %q in:\n%s", parts, logs.String())
}
