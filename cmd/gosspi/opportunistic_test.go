package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/httpauth"
	"github.com/gosspi/gosspi/internal/krbtest"
)

// TestServeOpportunistic records how clients start Negotiate against
// `gosspi serve`: curl (--negotiate -u :) sends its token with the first
// request, and so does httpauth.Transport with Opportunistic (the
// requests-gssapi behaviour), so that one request and one response make
// the whole exchange; without Opportunistic the first request goes bare
// and gets the 401.
func TestServeOpportunistic(t *testing.T) {
	r := krbtest.NewRealm(t, krbtest.Options{})
	kt, cc, err := r.UserAndService("alice", "alice-Secret-1", "HTTP/localhost")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5_CONFIG", r.Krb5Con)
	t.Setenv("KRB5CCNAME", "FILE:"+cc)
	url, logs := startServe(t, serveOptions{keytab: kt, demo: true})
	url = strings.Replace(url, "127.0.0.1", "localhost", 1) + "/whoami"

	// curl: which requests carried a token, and what each got.
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl not found: install the Debian package curl")
	}
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(path, "-sS", "--max-time", "20", "--trace-ascii", trace, "--negotiate", "-u", ":", "-o", os.DevNull, url)
	cmd.Env = append(r.Env(), "KRB5CCNAME=FILE:"+cc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(trace)
	var seq []string // "GET+token", "GET", "401", "200"
	for _, l := range strings.Split(string(b), "\n") {
		_, l, ok := strings.Cut(l, ": ")
		switch {
		case !ok:
		case strings.HasPrefix(l, "GET "):
			seq = append(seq, "GET")
		case strings.HasPrefix(l, "Authorization: Negotiate "):
			seq[len(seq)-1] += "+token"
		case strings.HasPrefix(l, "HTTP/1.1 "):
			seq = append(seq, strings.Fields(l)[1])
		}
	}
	got := strings.Join(seq, " ")
	t.Logf("curl --negotiate -u : against gosspi serve: %s", got)
	// curl 7.88 with --negotiate as its only method is opportunistic: the
	// first request already carries the AP-REQ (in a NegTokenInit), and
	// the 200 carries the AP-REP; no 401 is seen.
	if got != "GET+token 200" {
		t.Errorf("curl's exchange changed: %s\nlog:\n%s", got, logs.String())
	}

	// httpauth.Transport: one request with Opportunistic, two without.
	host, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	for _, tc := range []struct {
		opportunistic bool
		requests      int
	}{{true, 1}, {false, 2}} {
		tr := &httpauth.Transport{Host: host, Opportunistic: tc.opportunistic}
		var written int
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{WroteHeaders: func() { written++ }})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.Close()
		if resp.StatusCode != 200 || written != tc.requests || !strings.Contains(string(body), "alice@"+r.Name) {
			t.Errorf("Opportunistic %v: %d after %d requests (want %d): %s", tc.opportunistic, resp.StatusCode, written, tc.requests, body)
		}
	}
}
