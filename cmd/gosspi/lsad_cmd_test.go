package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/ntlm"
)

// buildGosspi builds this command into a directory every user can read
// and returns the binary's path.
func buildGosspi(t *testing.T) (bin, dir string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "gosspi-lsad-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "gosspi")
	goTool := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin, dir
}

// startProc starts cmd and waits for a line of its standard error that
// matches re, returning the first submatch. The process is killed when
// the test ends.
func startProc(t *testing.T, cmd *exec.Cmd, re *regexp.Regexp) (string, *testutil.SyncBuffer) {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		pw.Close()
	})
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(pr)
		sent := false
		for s.Scan() {
			logs.Write(append(s.Bytes(), '\n'))
			if m := re.FindStringSubmatch(s.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
	}()
	select {
	case v := <-found:
		return v, logs
	case <-time.After(30 * time.Second):
		t.Fatalf("%v did not start:\n%s", cmd.Args, logs.String())
	}
	return "", nil
}

// TestServeUnprivilegedThroughLsad is the privilege separation: `gosspi
// lsad` runs as root with a keytab and an NTLM account file that only root
// can read; `gosspi serve -lsa` runs as nobody (setpriv), cannot read
// either file, and authenticates curl --negotiate (an MIT ticket) and
// curl --ntlm through the daemon. A caller the policy does not name is
// refused.
func TestServeUnprivilegedThroughLsad(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test needs root: the daemon runs as root and serve as nobody (setpriv)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv not found: install util-linux")
	}
	bin, dir := buildGosspi(t)
	r := krbtest.NewRealm(t, krbtest.Options{})
	kt, cc, err := r.UserAndService("alice", "alice-Secret-1", "HTTP/localhost")
	if err != nil {
		t.Fatal(err)
	}
	accounts := filepath.Join(t.TempDir(), "accounts")
	if err := ntlm.OpenHashFile(accounts).Add("EXAMPLE", "alice", "Alice-Pw-1"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{kt, accounts} {
		if err := os.Chmod(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "lsad.sock")
	cfg := map[string]any{
		"socket": sock, "socket_mode": "0666", "krb5_conf": r.Krb5Con, "log_level": "debug", "metrics": "127.0.0.1:0",
		"services": []map[string]any{{
			"name": "web", "uids": []int{65534}, "inbound": true,
			"keytab": kt, "ntlm_accounts": accounts, "principals": []string{"HTTP/*"},
		}},
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(t.TempDir(), "lsad.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	lsadCmd := exec.Command(bin, "lsad", "-config", cfgPath)
	metricsAddr, lsadLog := startProc(t, lsadCmd, regexp.MustCompile(`"msg":"lsad: metrics","addr":"([^"]+)"`))

	asNobody := func(args ...string) *exec.Cmd {
		return exec.Command(setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--"}, args...)...)
	}
	// nobody cannot read the secrets, so serve without the daemon fails.
	for _, f := range []string{kt, accounts} {
		if out, err := asNobody("cat", f).CombinedOutput(); err == nil {
			t.Fatalf("nobody can read %s: %s", f, out)
		}
	}
	if out, err := asNobody(bin, "serve", "-addr", "127.0.0.1:0", "-keytab", kt).CombinedOutput(); err == nil {
		t.Fatalf("serve as nobody read the keytab itself:\n%s", out)
	}

	serveCmd := asNobody(bin, "serve", "-lsa", "unix:"+sock, "-addr", "127.0.0.1:0", "-v")
	serveCmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	url, serveLog := startProc(t, serveCmd, regexp.MustCompile(`gosspi serve: listening" url=(\S+)`))
	url = strings.Replace(url, "127.0.0.1", "localhost", 1)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("lsad log:\n%s\nserve log:\n%s", lsadLog.String(), serveLog.String())
		}
	})

	check := func(name, wantPrincipal, wantPkg string, env []string, args ...string) {
		t.Helper()
		h, body := runCurl(t, env, append(args, url+"/whoami")...)
		if !strings.HasPrefix(lastResponse(h), "HTTP/1.1 200") {
			t.Fatalf("%s: headers:\n%s\nbody %s", name, h, body)
		}
		var v whoamiView
		if err := json.Unmarshal([]byte(body), &v); err != nil || v.Principal != wantPrincipal || v.Package != wantPkg {
			t.Errorf("%s: /whoami %q %v", name, body, err)
		}
	}
	check("curl --negotiate", "alice@"+r.Name, "Kerberos", append(r.Env(), "KRB5CCNAME=FILE:"+cc), "--negotiate", "-u", ":")
	check("curl --ntlm", `EXAMPLE\alice`, "NTLM", os.Environ(), "--ntlm", "-u", `EXAMPLE\alice:Alice-Pw-1`)
	h, _ := runCurl(t, os.Environ(), "--ntlm", "-u", `EXAMPLE\alice:wrong`, url+"/whoami")
	if !strings.HasPrefix(lastResponse(h), "HTTP/1.1 401") {
		t.Errorf("wrong password through lsad:\n%s", h)
	}
	// The daemon logged every call with the caller's uid and never a secret.
	logs := lsadLog.String()
	for _, want := range []string{`"uid":65534`, `"package":"NTLM"`, `"status":"SEC_E_LOGON_DENIED"`, `"service":"web"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("lsad log lacks %s", want)
		}
	}
	for _, secret := range []string{"Alice-Pw-1", "alice-Secret-1"} {
		if strings.Contains(logs, secret) || strings.Contains(serveLog.String(), secret) {
			t.Errorf("a log holds the password %q", secret)
		}
	}

	// The metrics listener counts the calls.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`gosspi_lsad_calls_total{call="AcceptSecurityContext",status="SEC_E_OK"}`, `gosspi_lsad_calls_total{call="AcceptSecurityContext",status="SEC_E_LOGON_DENIED"}`, "gosspi_lsad_call_duration_seconds_bucket", "gosspi_lsad_connections 1"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// A caller in no section of the policy is refused.
	get := func() (string, error) {
		out, err := exec.Command(setpriv, "--reuid=4242", "--regid=4242", "--clear-groups", "--", bin, "get", "-lsa", "unix:"+sock, "-u", `EXAMPLE\alice:Alice-Pw-1`, url+"/whoami").CombinedOutput()
		return string(out), err
	}
	if out, err := get(); err == nil || !strings.Contains(out, "not in the lsad policy") {
		t.Errorf("uid 4242 through lsad: %v\n%s", err, out)
	}
	// SIGHUP rereads the policy: uid 4242 may now initiate. (Its NTLM
	// logon to serve is then refused as reflection: the daemon's own NTLM
	// client answered the daemon's own challenge, MS08-068.)
	cfg["services"] = append(cfg["services"].([]map[string]any), map[string]any{"name": "client", "uids": []int{4242}, "outbound": true, "packages": []string{"NTLM", "Negotiate"}})
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := lsadCmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500 && !strings.Contains(lsadLog.String(), "lsad: policy reloaded"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if out, _ := get(); strings.Contains(out, "not in the lsad policy") {
		t.Errorf("uid 4242 still refused after the reload:\n%s", out)
	}
	if logs := lsadLog.String(); !strings.Contains(logs, `"uid":4242,`) || !strings.Contains(logs, `"service":"client"`) || !strings.Contains(logs, "reflected") && !strings.Contains(serveLog.String(), "reflected") {
		t.Errorf("no call of uid 4242 under the reloaded policy, or not refused as reflection")
	}
}
