package httpauth

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/ntlm"
)

// -record reruns the real peers and rewrites testdata/ (transcripts and
// the fuzz seed corpus) from what they sent, like crypto/tls's -update.
var record = flag.Bool("record", false, "rewrite testdata/ from real peer runs")

// transcript is one recorded HTTP authentication exchange.
type transcript struct {
	Peer string    `json:"peer"`
	Time time.Time `json:"time"` // the server's clock
	Seed string    `json:"seed"` // the server's random source
	Legs []leg     `json:"legs"`
}

type leg struct {
	Authorization   string   `json:"authorization"`
	Status          int      `json:"status"`
	WWWAuthenticate []string `json:"www_authenticate"`
}

// recorder wraps a handler and notes each request's Authorization and the
// answer's status and WWW-Authenticate.
type recorder struct {
	mu   sync.Mutex
	legs []leg
	next http.Handler
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

// Unwrap lets http.ResponseController reach the server's writer (read
// deadlines, flushing).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, code: 200}
	rec.next.ServeHTTP(sw, r)
	rec.mu.Lock()
	rec.legs = append(rec.legs, leg{r.Header.Get("Authorization"), sw.code, w.Header().Values("WWW-Authenticate")})
	rec.mu.Unlock()
}

// deterministicServer serves the middleware with NTLM's clock and random
// source fixed, so that a recorded client replays.
func deterministicServer(t *testing.T, now time.Time, seed string) *testServer {
	cfg := gosspi.HostConfig{Now: testutil.PinClock(t, now)}
	cfg.NTLM = ntlm.Config{Accounts: testAccounts(), Rand: &testutil.SeededReader{Seed: seed},
		NetBIOSComputer: "GOSSPI-SRV", NetBIOSDomain: ntDomain}
	cfg.Kerberos.Keytab = realm.keytab
	h, err := gosspi.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return newServer(t, Config{Host: h, Now: cfg.Now}, BindingsWhenSupported, nil)
}

const curlNTLMTranscript = "testdata/curl-ntlm.json"

// TestCurlNTLMTranscript replays curl's recorded NTLM legs against a
// server with the recorded clock and random source: the CHALLENGE must come
// out byte for byte and the AUTHENTICATE must be accepted. With -record it
// first runs curl to make the transcript.
func TestCurlNTLMTranscript(t *testing.T) {
	if *record {
		now := time.Now().UTC().Truncate(time.Second)
		seed := fmt.Sprintf("curl-ntlm-%d", now.Unix())
		s := deterministicServer(t, now, seed)
		rec := s.rec
		curl(t, curlEnv(), "--ntlm", "-u", ntDomain+`\`+ntUser+":"+ntPW, s.URL+"/whoami")
		tr := transcript{Peer: "curl --ntlm", Time: now, Seed: seed, Legs: rec.legs}
		writeJSON(t, curlNTLMTranscript, tr)
		for i, l := range rec.legs {
			writeSeed(t, "FuzzParseAuthorization", fmt.Sprintf("curl-ntlm-%d", i+1), l.Authorization)
			for j, v := range l.WWWAuthenticate {
				writeSeed(t, "FuzzParseChallenges", fmt.Sprintf("gosspi-ntlm-%d-%d", i+1, j+1), v)
			}
		}
	}
	b, err := os.ReadFile(curlNTLMTranscript)
	if err != nil {
		t.Fatal(err)
	}
	var tr transcript
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	s := deterministicServer(t, tr.Time, tr.Seed)
	l := newLegClient(t, nil)
	for i, want := range tr.Legs {
		resp := l.send(s.URL+"/whoami", want.Authorization)
		if resp.StatusCode != want.Status {
			t.Fatalf("leg %d: status %d, recorded %d\n%s", i+1, resp.StatusCode, want.Status, s.logs.String())
		}
		if got := resp.Header.Values("WWW-Authenticate"); strings.Join(got, "\n") != strings.Join(want.WWWAuthenticate, "\n") {
			t.Fatalf("leg %d: WWW-Authenticate\n%q\nrecorded\n%q", i+1, got, want.WWWAuthenticate)
		}
	}
	if tr.Legs[len(tr.Legs)-1].Status != 200 {
		t.Fatal("the transcript does not end in 200")
	}
}

func writeJSON(t *testing.T, path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeSeed writes one string seed of a fuzz target's corpus.
func writeSeed(t *testing.T, target, name, v string) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("go test fuzz v1\nstring(%q)\n", v)), 0o644); err != nil {
		t.Fatal(err)
	}
}
