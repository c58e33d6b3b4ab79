package httpauth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	azurentlm "github.com/Azure/go-ntlmssp"
	"github.com/gosspi/gosspi"
)

func quietServer(b *testing.B, cfg Config) *testServer {
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return newServer(b, cfg, BindingsWhenSupported, nil)
}

func get(b *testing.B, c *http.Client, url string, setup func(*http.Request)) {
	req, _ := http.NewRequest("GET", url, nil)
	if setup != nil {
		setup(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkParseAuthorization parses curl's NTLM AUTHENTICATE header.
func BenchmarkParseAuthorization(b *testing.B) {
	v := "NTLM TlRMTVNTUAADAAAAGAAYAEAAAACQAJAAWAAAAAYABgDoAAAAAwADAO4AAAALAAsA8QAAAAAAAAAAAAAABoKJAvx17rOKL9wCCwFT8oYamdhs8Taxc5xGY7an+iVw8ejiKvNRzfHApjUBAQAAAAAAAAC5LIkeet0BbPE2sXOcRmMAAAAAAgAMAEcATwBTAFMAUABJAAEAFABHAE8AUwBTAFAASQAtAFMAUgBWAAQADABnAG8AcwBzAHAAaQADABQAZwBvAHMAcwBwAGkALQBzAHIAdgAHAAgAALksiR563QEAAAAAAAAAAEdPU1NQSWJvYldPUktTVEFUSU9O"
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseAuthorization(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNTLMHandshakeHTTP is a full NTLM handshake over a new loopback
// connection per iteration (three requests), client and server in one
// process: ours, and github.com/Azure/go-ntlmssp's Negotiator as the
// client against the same server.
func BenchmarkNTLMHandshakeHTTP(b *testing.B) {
	s := quietServer(b, Config{Schemes: []string{SchemeNTLM}})
	b.Run("gosspi", func(b *testing.B) {
		tr := &Transport{Host: clientHost(b), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		defer tr.Close()
		c := &http.Client{Transport: tr}
		b.ReportAllocs()
		for b.Loop() {
			get(b, c, s.URL, nil)
			tr.CloseIdleConnections() // a new connection each time
		}
	})
	b.Run("go-ntlmssp", func(b *testing.B) {
		base := &http.Transport{}
		c := &http.Client{Transport: azurentlm.Negotiator{RoundTripper: base}}
		b.ReportAllocs()
		for b.Loop() {
			get(b, c, s.URL, func(r *http.Request) { r.SetBasicAuth(ntDomain+`\`+ntUser, ntPW) })
			base.CloseIdleConnections()
		}
	})
}

// BenchmarkKeepAlive is a request on a keep-alive connection that
// authenticated once (persistence), against the same handler with no
// authentication.
func BenchmarkKeepAlive(b *testing.B) {
	s := quietServer(b, Config{Schemes: []string{SchemeNTLM}, Persist: true})
	b.Run("persistent", func(b *testing.B) {
		tr := &Transport{Host: clientHost(b), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}}
		defer tr.Close()
		c := &http.Client{Transport: tr}
		get(b, c, s.URL, nil)
		b.ReportAllocs()
		for b.Loop() {
			get(b, c, s.URL, nil)
		}
	})
	b.Run("unauthenticated", func(b *testing.B) {
		ts := httptestServer(b, whoamiPlain)
		c := &http.Client{Transport: &http.Transport{}}
		b.ReportAllocs()
		for b.Loop() {
			get(b, c, ts, nil)
		}
	})
}

// whoamiPlain answers like whoami, for a fixed identity.
var whoamiPlain = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"body":"","domain":"GOSSPI","package":"NTLM","principal":"GOSSPI\\bob","user":"bob"}`+"\n")
})

// BenchmarkMiddlewareKerberos is the server's side of a Negotiate
// Kerberos request through the middleware (header parsing, SPNEGO,
// AP-REQ, replay cache, AP-REP, identity), without the network: each
// iteration gets a fresh AP-REQ made beforehand.
func BenchmarkMiddlewareKerberos(b *testing.B) {
	a, err := New(Config{Host: serverHost(b, BindingsWhenSupported), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	h := a.Middleware(whoamiPlain)
	ch := clientHost(b)
	cred, err := ch.AcquireCredential(context.Background(), gosspi.CredentialConfig{Package: "Negotiate", Identity: kerberosIdentity()})
	if err != nil {
		b.Fatal(err)
	}
	toks := make([]string, b.N)
	var ctxs []*gosspi.SecurityContext // closed at the end: see Transport.credential
	defer func() {
		for _, c := range ctxs {
			c.Close()
		}
	}()
	for i := range toks {
		c, err := ch.NewClient(context.Background(), gosspi.ClientConfig{Package: "Negotiate", Target: "HTTP/localhost", Credential: cred})
		if err != nil {
			b.Fatal(err)
		}
		ctxs = append(ctxs, c)
		out, _, err := c.Step(context.Background(), nil)
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = FormatAuthorization("Negotiate", out)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", toks[i])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
