// Command httpbench measures the httpauth middleware with wrk (Debian
// package wrk) and prints the figures recorded in BENCHMARKS.md:
//
//  1. keep-alive: authenticated requests on keep-alive connections with
//     persistence (each connection authenticates once with Kerberos, then
//     sends plain requests), against the same handler with no
//     authentication, in one run;
//  2. new connections each doing a full NTLM handshake (NEGOTIATE, then
//     AUTHENTICATE, then the connection closes).
//
// wrk cannot compute NTLM or Kerberos tokens, so the tokens are made
// beforehand and given to wrk's Lua scripts:
//
//   - Kerberos: one AP-REQ per connection (from a throwaway MIT realm),
//     handed out by the script for each connection's first request and
//     whenever a 401 says a connection is not authenticated yet;
//   - NTLM: the benchmark server's CHALLENGE is made deterministic (fixed
//     random source and clock), so one precomputed AUTHENTICATE answers it
//     on every connection. The server still does all of its work: parsing,
//     the NTProofStr, the MIC, keys and the mapped context.
//
// Usage: go run ./httpauth/internal/httpbench [-d 10s] [-c 32] [-t 2]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/httpauth"
	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/ntlm"
)

var (
	duration = flag.Duration("d", 10*time.Second, "duration of each wrk run")
	conns    = flag.Int("c", 32, "wrk connections")
	threads  = flag.Int("t", 2, "wrk threads")
	tokens   = flag.Int("tokens", 4096, "Kerberos tokens made for the keep-alive run")
	rounds   = flag.Int("rounds", 3, "keep-alive rounds (no authentication, then persistence), for the median")
)

const body = `{"user":"alice","package":"Kerberos"}` + "\n"

// handler is the same in every run: a small JSON answer.
var handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, body)
})

// constReader is the benchmark server's "random" source: always the same
// bytes, so that its CHALLENGE never changes.
type constReader struct{}

func (constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + 1)
	}
	return len(p), nil
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func serve(h http.Handler, a *httpauth.Authenticator) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	if a != nil {
		a.Install(srv)
	}
	go srv.Serve(ln)
	return "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), func() { srv.Close() }, nil
}

func run() error {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return errors.New("wrk not found: apt-get install wrk")
	}
	dir, err := os.MkdirTemp("", "httpbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	r, err := krbtest.Start(krbtest.Options{})
	if err != nil {
		return err
	}
	defer r.Close()
	os.Setenv("KRB5_CONFIG", r.Krb5Con)
	if err := r.AddPrincipal("alice", "alice-Secret-1"); err != nil {
		return err
	}
	kt, err := r.AddService("HTTP/localhost")
	if err != nil {
		return err
	}
	cc, err := r.Kinit("alice", "alice-Secret-1")
	if err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("HTTPBENCH_LOG") != "" {
		quiet = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	store := ntlm.NewMemoryStore()
	store.Add("GOSSPI", "bob", "Bob-Passw0rd!")
	fixed := sysenv.Now()
	cfg := gosspi.HostConfig{}
	cfg.Kerberos.Keytab = kt
	cfg.NTLM = ntlm.Config{Accounts: store, Rand: constReader{}, Now: func() time.Time { return fixed }}
	host, err := gosspi.NewHost(cfg)
	if err != nil {
		return err
	}
	defer host.Close()

	// 1. Keep-alive with persistence vs no authentication.
	auth, err := httpauth.New(httpauth.Config{Host: host, Schemes: []string{"Negotiate"}, Persist: true, Logger: quiet,
		MaxHandshakes: 1 << 16})
	if err != nil {
		return err
	}
	defer auth.Close()
	authURL, stopA, err := serve(auth.Middleware(handler), auth)
	if err != nil {
		return err
	}
	defer stopA()
	plainURL, stopP, err := serve(handler, nil)
	if err != nil {
		return err
	}
	defer stopP()
	client, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		return err
	}
	defer client.Close()
	fmt.Fprintf(os.Stderr, "making %d Kerberos tokens...\n", *tokens)
	var toks []string
	cred, err := client.AcquireCredential(context.Background(), gosspi.CredentialConfig{Package: "Negotiate",
		Identity: &gosspi.Identity{Options: map[string]string{"ccache": "FILE:" + cc}}})
	if err != nil {
		return err
	}
	for i := 0; i < *tokens; i++ {
		c, err := client.NewClient(context.Background(), gosspi.ClientConfig{Package: "Negotiate", Target: "HTTP/localhost", Credential: cred})
		if err != nil {
			return err
		}
		out, _, err := c.Step(context.Background(), nil)
		// Closed only at the end: deleting a Kerberos client context wipes
		// the credential's cached service-ticket key (see httpauth's
		// Transport.credential).
		defer c.Close()
		if err != nil {
			return err
		}
		toks = append(toks, httpauth.FormatAuthorization("Negotiate", out))
	}
	persist := filepath.Join(dir, "persist.lua")
	if err := os.WriteFile(persist, []byte(persistLua(toks)), 0o644); err != nil {
		return err
	}
	// Alternate the two runs so that both see the same machine load; the
	// ratio is the median of the rounds.
	var plain, authd wrkResult
	var ratios []float64
	var results [][2]wrkResult
	for i := 0; i < *rounds; i++ {
		fmt.Fprintf(os.Stderr, "wrk round %d: keep-alive, no authentication...\n", i+1)
		p, err := runWrk(wrk, persist, plainURL)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrk round %d: keep-alive, Kerberos once per connection, then persistence...\n", i+1)
		a, err := runWrk(wrk, persist, authURL)
		if err != nil {
			return err
		}
		ratios = append(ratios, a.rps/p.rps)
		fmt.Fprintf(os.Stderr, "round %d: %.0f vs %.0f req/s: %.1f%%\n", i+1, a.rps, p.rps, 100*a.rps/p.rps)
		results = append(results, [2]wrkResult{p, a})
	}
	for i, r := range ratios {
		if r == median(ratios) {
			plain, authd = results[i][0], results[i][1]
		}
	}

	// 2. New connections, each a full NTLM handshake.
	nauth, err := httpauth.New(httpauth.Config{Host: host, Schemes: []string{"NTLM"}, Logger: quiet, MaxHandshakes: 1 << 16})
	if err != nil {
		return err
	}
	defer nauth.Close()
	ntlmURL, stopN, err := serve(nauth.Middleware(handler), nauth)
	if err != nil {
		return err
	}
	defer stopN()
	neg, authTok, err := ntlmPair(client, ntlmURL)
	if err != nil {
		return err
	}
	ntlmScript := filepath.Join(dir, "ntlm.lua")
	if err := os.WriteFile(ntlmScript, []byte(ntlmLua(neg, authTok)), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "wrk: a new connection and a full NTLM handshake per pair of requests...")
	hs, err := runWrk(wrk, ntlmScript, ntlmURL)
	if err != nil {
		return err
	}

	fmt.Printf("wrk -t%d -c%d -d%s, loopback, %s\n\n", *threads, *conns, *duration, cpuInfo())
	fmt.Println("| run | requests/s | non-2xx | avg latency |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	fmt.Printf("| keep-alive, no authentication | %.0f | %d | %s |\n", plain.rps, plain.non2xx, plain.latency)
	fmt.Printf("| keep-alive, authenticated once per connection (Kerberos) + persistence | %.0f | %d | %s |\n", authd.rps, authd.non2xx, authd.latency)
	fmt.Printf("| new connection per NTLM handshake (2 requests each) | %.0f | %d (the 401 CHALLENGEs) | %s |\n\n", hs.rps, hs.non2xx, hs.latency)
	fmt.Printf("persistence: %.1f%% of the unauthenticated throughput, median of %d rounds %v (goal >= 90%%)\n",
		100*median(ratios), *rounds, percents(ratios))
	fmt.Printf("full NTLM handshakes on new connections: %.0f/s\n", hs.rps/2)
	return nil
}

// persistLua hands a token to each connection's first request and after
// each 401; the other requests carry no Authorization.
func persistLua(toks []string) string {
	var b strings.Builder
	b.WriteString("local toks = {\n")
	for _, t := range toks {
		fmt.Fprintf(&b, "  %q,\n", t)
	}
	fmt.Fprintf(&b, "}\nowed = %d -- this thread's connections: each first request carries a token\n", (*conns+*threads-1) / *threads)
	b.WriteString(`n = 0
id = 0
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
local plain
function init(args)
  plain = wrk.format("GET", "/") -- in init: wrk.host is known by then
end
function request()
  if owed > 0 then
    owed = owed - 1
    n = n + 1
    local i = (id * 7919 + n) % #toks + 1
    return wrk.format("GET", "/", {["Authorization"] = toks[i]})
  end
  return plain
end
function response(status, headers, body)
  if status == 401 then owed = owed + 1 end
end
`)
	return b.String()
}

// ntlmLua pipelines NEGOTIATE and AUTHENTICATE on one connection and
// closes it: each pair is a new connection and a full handshake.
func ntlmLua(neg, auth string) string {
	return fmt.Sprintf(`local req
function init(args)
  req = wrk.format("GET", "/", {["Authorization"] = %q}) ..
        wrk.format("GET", "/", {["Authorization"] = %q, ["Connection"] = "close"})
end
function request() return req end
`, neg, auth)
}

// ntlmPair makes the NEGOTIATE and the AUTHENTICATE that answers the
// benchmark server's fixed CHALLENGE, and checks that the pair
// authenticates on a fresh connection.
func ntlmPair(h *gosspi.Host, url string) (string, string, error) {
	c, err := h.NewClient(context.Background(), gosspi.ClientConfig{Package: "NTLM", Target: "HTTP/localhost",
		Identity: &gosspi.Identity{User: "bob", Domain: "GOSSPI", Password: "Bob-Passw0rd!"}})
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	neg, _, err := c.Step(context.Background(), nil)
	if err != nil {
		return "", "", err
	}
	negH := httpauth.FormatAuthorization("NTLM", neg)
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	send := func(v string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", v)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	resp, err := send(negH)
	if err != nil {
		return "", "", err
	}
	_, chal, err := httpauth.ParseAuthorization(resp.Header.Get("WWW-Authenticate"))
	if err != nil {
		return "", "", err
	}
	auth, _, err := c.Step(context.Background(), chal)
	if err != nil {
		return "", "", err
	}
	authH := httpauth.FormatAuthorization("NTLM", auth)
	tr.CloseIdleConnections()
	if _, err = send(negH); err != nil {
		return "", "", err
	}
	if resp, err = send(authH); err != nil || resp.StatusCode != 200 {
		return "", "", fmt.Errorf("the precomputed AUTHENTICATE does not authenticate: %v %v", resp.Status, err)
	}
	return negH, authH, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func percents(v []float64) string {
	var p []string
	for _, x := range v {
		p = append(p, fmt.Sprintf("%.1f%%", 100*x))
	}
	return strings.Join(p, " ")
}

type wrkResult struct {
	rps     float64
	non2xx  int
	latency string
}

var (
	rpsRe     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	non2xxRe  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	latencyRe = regexp.MustCompile(`Latency\s+(\S+)`)
)

func runWrk(wrk, script, url string) (wrkResult, error) {
	cmd := exec.Command(wrk, "-t"+strconv.Itoa(*threads), "-c"+strconv.Itoa(*conns), "-d"+duration.String(), "-s", script, url+"/")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v\n%s", err, out.String())
	}
	fmt.Fprint(os.Stderr, out.String())
	m := rpsRe.FindStringSubmatch(out.String())
	if m == nil {
		return wrkResult{}, fmt.Errorf("wrk output without Requests/sec:\n%s", out.String())
	}
	var r wrkResult
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := non2xxRe.FindStringSubmatch(out.String()); m != nil {
		r.non2xx, _ = strconv.Atoi(m[1])
	}
	if m := latencyRe.FindStringSubmatch(out.String()); m != nil {
		r.latency = m[1]
	}
	return r, nil
}

func cpuInfo() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	n := strings.Count(string(b), "processor\t:")
	model := ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				model = strings.TrimSpace(v)
			}
			break
		}
	}
	return fmt.Sprintf("%d CPUs (%s)", n, model)
}
