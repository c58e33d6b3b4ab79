package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/internal/redistest"
	"github.com/gosspi/gosspi/ntlm"
)

// curlNegotiate logs on with curl --negotiate and returns the status line
// of the last response and the Authorization header curl sent (from -v).
func curlNegotiate(t *testing.T, env []string, url string) (status, authorization string) {
	t.Helper()
	h, out := runCurl(t, env, "-v", "--negotiate", "-u", ":", url)
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(l, "\r"), "> Authorization: "); ok {
			authorization = v
		}
	}
	last := lastResponse(h)
	status, _, _ = strings.Cut(last, "\r\n")
	return status, authorization
}

// replayHeader sends the Authorization header on a new connection and
// returns the response status.
func replayHeader(t *testing.T, url, authorization string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", authorization)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeFarmSharesRedisReplayCache: two serve nodes with one keytab and
// one Redis replay cache (one over TCP, one over the unix socket). curl's
// Authorization header, accepted by node A, is refused when replayed to
// node B and to node A. With Redis stopped, or frozen past the timeout,
// both nodes refuse Kerberos (fail closed) within bounded time while NTLM
// still logs on; when Redis is back they accept Kerberos again, without a
// restart.
func TestServeFarmSharesRedisReplayCache(t *testing.T) {
	r := krbtest.NewRealm(t, krbtest.Options{})
	kt, cc, err := r.UserAndService("alice", "alice-Secret-1", "HTTP/localhost")
	if err != nil {
		t.Fatal(err)
	}
	rs := redistest.New(t, redistest.Options{})
	accounts := filepath.Join(t.TempDir(), "accounts")
	if err := ntlm.OpenHashFile(accounts).Add("EXAMPLE", "alice", "Alice-Pw-1"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5_CONFIG", r.Krb5Con)
	const timeout = 300 * time.Millisecond
	node := func(redisURL string) (string, interface{ String() string }) {
		u, logs := startServe(t, serveOptions{keytab: kt, accounts: accounts, replay: serveReplay{url: redisURL, timeout: timeout}})
		return strings.Replace(u, "127.0.0.1", "localhost", 1) + "/whoami", logs
	}
	urlA, logsA := node(rs.URL())
	urlB, logsB := node(rs.UnixURL())
	for _, l := range []interface{ String() string }{logsA, logsB} {
		if !strings.Contains(l.String(), "cache=redis") {
			t.Errorf("start log does not name the Redis replay cache:\n%s", l)
		}
	}
	env := append(r.Env(), "KRB5CCNAME=FILE:"+cc)
	kerberosOK := func(url string) bool {
		st, _ := curlNegotiate(t, env, url)
		return strings.HasPrefix(st, "HTTP/1.1 200")
	}

	status, authz := curlNegotiate(t, env, urlA)
	if !strings.HasPrefix(status, "HTTP/1.1 200") || !strings.HasPrefix(authz, "Negotiate ") {
		t.Fatalf("curl to node A: %q, Authorization %q\n%s", status, authz, logsA)
	}
	if code := replayHeader(t, urlB, authz); code != http.StatusUnauthorized {
		t.Errorf("the captured header replayed to node B: %d, want 401", code)
	}
	if code := replayHeader(t, urlA, authz); code != http.StatusUnauthorized {
		t.Errorf("the captured header replayed to node A: %d, want 401", code)
	}
	for name, l := range map[string]interface{ String() string }{"A": logsA, "B": logsB} {
		if !strings.Contains(l.String(), "SEC_E_OUT_OF_SEQUENCE") {
			t.Errorf("node %s does not log the replay (SEC_E_OUT_OF_SEQUENCE):\n%s", name, l)
		}
	}
	// Node B takes a fresh logon: the refusal was the replay.
	if !kerberosOK(urlB) {
		t.Fatalf("fresh Kerberos logon on node B refused\n%s", logsB)
	}

	ntlmOK := func(url string) bool {
		h, _ := runCurl(t, os.Environ(), "--ntlm", "-u", `EXAMPLE\alice:Alice-Pw-1`, url)
		return strings.HasPrefix(lastResponse(h), "HTTP/1.1 200")
	}
	refused := func(what string) {
		t.Helper()
		for name, u := range map[string]string{"A": urlA, "B": urlB} {
			start := time.Now()
			if kerberosOK(u) {
				t.Errorf("%s: node %s accepted Kerberos without a replay cache", what, name)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s: node %s took %v to refuse (timeout %v)", what, name, d, timeout)
			}
			if !ntlmOK(u) {
				t.Errorf("%s: NTLM on node %s refused", what, name)
			}
		}
	}
	recovered := func(what string) {
		t.Helper()
		for _, u := range []string{urlA, urlB} {
			waitUntil(t, what, func() bool { return kerberosOK(u) })
		}
	}

	rs.Stop()
	refused("Redis stopped")
	for name, l := range map[string]interface{ String() string }{"A": logsA, "B": logsB} {
		if !strings.Contains(l.String(), "SEC_E_INTERNAL_ERROR") || !strings.Contains(l.String(), "replay cache cannot record") {
			t.Errorf("node %s does not log the refusal:\n%s", name, l)
		}
	}
	if err := rs.Restart(); err != nil {
		t.Fatal(err)
	}
	recovered("after Redis restarted")

	if err := rs.Pause(); err != nil {
		t.Fatal(err)
	}
	refused("Redis frozen (SIGSTOP)")
	if err := rs.Resume(); err != nil {
		t.Fatal(err)
	}
	recovered("after SIGCONT")
}

// TestServeReplayCacheFlag: -replay-cache memory is the default; a URL
// that cannot be parsed stops serve at start with exit 2; a Redis that
// does not answer at start is logged and serve starts.
func TestServeReplayCacheFlag(t *testing.T) {
	var o serveOptions
	if err := serveFlags(&o).Parse(nil); err != nil || o.replay.url != "memory" {
		t.Fatalf("default -replay-cache %q %v", o.replay.url, err)
	}
	for _, bad := range []string{"redis://h/1/2", "http://redis", "redis://h?nosuch=1"} {
		err := serve(t.Context(), &serveOptions{demo: true, schemes: "Negotiate,NTLM", bindings: "when-supported", replay: serveReplay{url: bad}}, nil)
		if code := exitCodeOf(err); code != exitUsage || !strings.Contains(err.Error(), "-replay-cache") {
			t.Errorf("-replay-cache %s: exit %d %v", bad, code, err)
		}
		if code := runServe([]string{"-demo", "-replay-cache", bad}); code != exitUsage {
			t.Errorf("gosspi serve -replay-cache %s: exit %d", bad, code)
		}
	}
	for _, v := range []string{"memory", "MEMORY", ""} {
		if rc, _, err := openReplayCache(&serveOptions{replay: serveReplay{url: v}}); rc != nil || err != nil {
			t.Errorf("-replay-cache %q: %v %v", v, rc, err)
		}
	}
	r := krbtest.NewRealm(t, krbtest.Options{})
	kt, err := r.AddService("HTTP/localhost")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5_CONFIG", r.Krb5Con)
	_, logs := startServe(t, serveOptions{keytab: kt, replay: serveReplay{url: "unix://" + filepath.Join(t.TempDir(), "none.sock"), timeout: 100 * time.Millisecond}})
	if !strings.Contains(logs.String(), "Redis replay cache does not answer") {
		t.Errorf("no warning for an unreachable Redis:\n%s", logs)
	}
	for in, want := range map[string]string{
		"redis://:pw@h:1/2":     "redis://:xxxxx@h:1/2",
		"rediss://u:pw@h":       "rediss://u:xxxxx@h",
		"unix://u:pw@/run/r.so": "unix://u:xxxxx@/run/r.so",
		"unix:///run/a@b":       "unix:///run/a@b",
		"redis://h:1":           "redis://h:1",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// waitUntil polls cond until it holds, failing the test after 20 seconds:
// a node reconnects to a restarted Redis on its next check.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("%s: Kerberos not accepted again within 20s", what)
		case <-tick.C:
		}
	}
}
