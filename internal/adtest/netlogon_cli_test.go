//go:build linux

package adtest

// `gosspi serve -dc` and `gosspi ntlm-auth -dc`, run as an administrator
// would (the gosspi binary, built once per test binary), with NTLM clients
// of every kind: curl, Samba's ntlm_auth, impacket and gss-ntlmssp.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/internal/testutil"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// gosspiBinary builds cmd/gosspi once for the test binary.
func gosspiBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gosspi-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "gosspi")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/gosspi")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/gosspi: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// machineFile writes the harness's machine account as a 0600 file.
func machineFile(t testing.TB, password string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "machine")
	content := fmt.Sprintf("account = %s\ndomain = %s\ndns_domain = %s\npassword = %s\n", addc.Machine.Name, addc.Domain, addc.DNSDomain, password)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startServe runs `gosspi serve -dc` on a free port and returns its base
// URL; the log is in the returned buffer.
func startServe(t testing.TB, args ...string) (string, *testutil.SyncBuffer) {
	t.Helper()
	addc.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a := append([]string{"serve", "-addr", addr, "-spn", "any", "-dc", addc.Addr, "-machine", machineFile(t, addc.Machine.Password)}, args...)
	cmd := exec.Command(gosspiBinary(t), a...)
	log := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("gosspi serve log:\n%s", log.String())
		}
	})
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr, log
		}
		time.Sleep(50 * time.Millisecond) // polling a child process's port, not ordering events
	}
	t.Fatalf("gosspi serve did not listen:\n%s", log.String())
	return "", nil
}

// whoami is /whoami's JSON.
type whoami struct {
	User, Domain, Principal, Package, SID string
	Groups                                []string
}

// checkWhoami checks the body of /whoami for Alice as the DC knows her.
func checkWhoami(t testing.TB, body string) {
	t.Helper()
	dc := addc.Start(t)
	var w whoami
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		t.Fatalf("/whoami: %v: %s", err, body)
	}
	sid, _ := dc.SID(addc.Alice.Name)
	ga, _ := dc.SID(addc.GroupA)
	gb, _ := dc.SID(addc.GroupB)
	if w.User != "alice" || w.Domain != addc.Domain || w.Principal != `ADDC\alice` || w.Package != "NTLM" || w.SID != sid {
		t.Errorf("/whoami %+v, want ADDC\\alice %s", w, sid)
	}
	for _, g := range []string{ga, gb, sid[:strings.LastIndexByte(sid, '-')] + "-513"} {
		if !slices.Contains(w.Groups, g) {
			t.Errorf("/whoami groups %v lack %s", w.Groups, g)
		}
	}
}

// TestServeDCCurl: curl --ntlm as a domain user gets 200 and the DC's
// identity; a wrong password and an unknown user get 401.
func TestServeDCCurl(t *testing.T) {
	url, _ := startServe(t)
	curl := func(user, password string) (int, string) {
		out, err := exec.Command("curl", "-s", "--ntlm", "-u", user+":"+password, "-w", "\n%{http_code}", url+"/whoami").Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		s := strings.TrimSpace(string(out))
		i := strings.LastIndexByte(s, '\n')
		var code int
		fmt.Sscan(s[i+1:], &code)
		return code, s[:max(i, 0)]
	}
	code, body := curl(`ADDC\alice`, addc.Alice.Password)
	if code != 200 {
		t.Fatalf("curl as alice: %d %s", code, body)
	}
	checkWhoami(t, body)
	for _, u := range [][2]string{{`ADDC\alice`, "wrong"}, {`ADDC\nosuchuser`, "wrong"}} {
		if code, _ := curl(u[0], u[1]); code != 401 {
			t.Errorf("curl as %s with a wrong password: %d", u[0], code)
		}
	}
}

// TestServeDCPython: impacket's and gss-ntlmssp's NTLM clients.
func TestServeDCPython(t *testing.T) {
	url, _ := startServe(t)
	hostport := strings.TrimPrefix(url, "http://")
	host, port, _ := net.SplitHostPort(hostport)
	for _, kind := range []string{"impacket", "gssapi"} {
		run := func(user, password string) (int, string) {
			cmd := exec.Command("/usr/bin/python3", "testdata/ntlm_http_client.py", kind, host, port, "/whoami", addc.Domain, user, password)
			cmd.Env = append(os.Environ(), "NTLM_USER_FILE=/nonexistent")
			out, err := cmd.Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("%s client: %v\n%s%s", kind, err, out, stderr)
			}
			var r struct {
				Status int
				Body   string
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("%s client: %v: %s", kind, err, out)
			}
			return r.Status, r.Body
		}
		code, body := run(addc.Alice.Name, addc.Alice.Password)
		if code != 200 {
			t.Fatalf("%s as alice: %d %s", kind, code, body)
		}
		checkWhoami(t, body)
		if code, _ := run(addc.Alice.Name, "wrong"); code != 401 {
			t.Errorf("%s with a wrong password: %d", kind, code)
		}
	}
}

// TestServeDCSambaClient: Samba's own NTLMSSP client (ntlm_auth
// --helper-protocol=ntlmssp-client-1) against gosspi serve -dc, over one
// HTTP connection.
func TestServeDCSambaClient(t *testing.T) {
	url, _ := startServe(t)
	samba := func(password string) int {
		cmd := exec.Command("ntlm_auth", "--helper-protocol=ntlmssp-client-1", "--username="+addc.Alice.Name,
			"--domain="+addc.Domain, "--password="+password)
		in, _ := cmd.StdinPipe()
		outp, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("ntlm_auth: %v", err)
		}
		defer func() { in.Close(); cmd.Wait() }()
		r := bufio.NewReader(outp)
		ask := func(line string) string {
			fmt.Fprintln(in, line)
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("ntlm_auth: %v: %s", err, stderr.String())
			}
			return strings.TrimSpace(l)
		}
		neg := ask("YR")
		if !strings.HasPrefix(neg, "YR ") {
			t.Fatalf("ntlm_auth YR: %q", neg)
		}
		conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		get := func(tok string) *http.Response {
			fmt.Fprintf(conn, "GET /whoami HTTP/1.1\r\nHost: x\r\nAuthorization: NTLM %s\r\n\r\n", tok)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		resp := get(neg[3:])
		io.Copy(io.Discard, resp.Body)
		chal := strings.TrimPrefix(resp.Header.Get("WWW-Authenticate"), "NTLM ")
		auth := ask("TT " + chal)
		if !strings.HasPrefix(auth, "AF ") && !strings.HasPrefix(auth, "KK ") {
			t.Fatalf("ntlm_auth TT: %q", auth)
		}
		resp = get(auth[3:])
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 200 {
			checkWhoami(t, string(body))
		}
		return resp.StatusCode
	}
	if code := samba(addc.Alice.Password); code != 200 {
		t.Fatalf("Samba's client as alice: %d", code)
	}
	if code := samba("wrong"); code != 401 {
		t.Errorf("Samba's client with a wrong password: %d", code)
	}
}

// TestSquidHelperDC: the squid-2.5-ntlmssp helper with -dc answers AF
// with the DC's spelling of the domain and user, whatever the client typed.
func TestSquidHelperDC(t *testing.T) {
	addc.Start(t)
	cmd := exec.Command(gosspiBinary(t), "ntlm-auth", "--helper-protocol=squid-2.5-ntlmssp", "-spn", "any",
		"-dc", addc.Addr, "-machine", machineFile(t, addc.Machine.Password))
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	r := bufio.NewReader(outp)
	ask := func(line string) string {
		fmt.Fprintln(in, line)
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("helper: %v\n%s", err, stderr.String())
		}
		return strings.TrimSpace(l)
	}
	for _, tc := range []struct{ user, password, want string }{
		{`addc\ALICE`, addc.Alice.Password, `AF ADDC\alice`},
		{`ADDC\alice`, "wrong", "NA NT_STATUS_LOGON_FAILURE"},
		{`ADDC\` + addc.Disabled.Name, addc.Disabled.Password, "NA NT_STATUS_ACCOUNT_DISABLED"},
	} {
		client := ntlmClient(t, &gosspi.Identity{User: tc.user, Password: tc.password})
		ctx := context.Background()
		neg, _, err := client.Step(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		tt := ask("YR " + base64.StdEncoding.EncodeToString(neg))
		if !strings.HasPrefix(tt, "TT ") {
			t.Fatalf("YR: %q\n%s", tt, stderr.String())
		}
		chal, _ := base64.StdEncoding.DecodeString(tt[3:])
		auth, _, err := client.Step(ctx, chal)
		if err != nil {
			t.Fatal(err)
		}
		if got := ask("KK " + base64.StdEncoding.EncodeToString(auth)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.user, got, tc.want)
		}
	}
}

// ntlmClient is a gosspi NTLM client context for id.
func ntlmClient(t testing.TB, id *gosspi.Identity) *gosspi.SecurityContext {
	t.Helper()
	h, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	c, err := h.NewClient(context.Background(), gosspi.ClientConfig{Package: "NTLM", Target: "HTTP/proxy." + addc.DNSDomain, Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// mschapv1 is the MS-CHAP (v1) NT response of password to a challenge:
// DESL of the NT hash (RFC 2433), an NTLMv1 response without NTLM2
// session security.
func mschapv1(password string, chal [8]byte) []byte {
	_, nt, _ := ntlmssp.NTLMv1Response(ntlmssp.NTOWFv1(password), [16]byte{}, chal, [8]byte{}, false)
	return nt
}

// TestNTLMAuthRequestNTKey: the command-line form FreeRADIUS runs prints
// NT_KEY (MD4 of the NT hash, what MS-CHAP's MPPE keys come from) for a
// domain user, and the NT status for a refusal, exiting 1 as Samba's.
func TestNTLMAuthRequestNTKey(t *testing.T) {
	addc.Start(t)
	machine := machineFile(t, addc.Machine.Password)
	chal := [8]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}
	run := func(user, password string) (string, int) {
		cmd := exec.Command(gosspiBinary(t), "ntlm-auth", "--request-nt-key", "--allow-mschapv2", "--username="+user, "--domain="+addc.Domain,
			"--challenge="+hex.EncodeToString(chal[:]), "--nt-response="+hex.EncodeToString(mschapv1(password, chal)),
			"-dc", addc.Addr, "-machine", machine)
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out)), code
	}
	// The user session key of an NTLMv1 response: MD4 of the NT hash.
	_, _, key := ntlmssp.NTLMv1Response(ntlmssp.NTOWFv1(addc.Alice.Password), [16]byte{}, chal, [8]byte{}, false)
	out, code := run(addc.Alice.Name, addc.Alice.Password)
	if want := "NT_KEY: " + strings.ToUpper(hex.EncodeToString(key[:])); code != 0 || out != want {
		t.Errorf("alice: exit %d %q, want %q", code, out, want)
	}
	out, code = run(addc.Alice.Name, "wrong")
	if code != 1 || !strings.HasPrefix(out, "NT_STATUS_LOGON_FAILURE: ") || !strings.HasSuffix(out, "(0xc000006d)") {
		t.Errorf("wrong password: exit %d %q", code, out)
	}
	out, code = run(addc.Expired.Name, addc.Expired.Password)
	if code != 1 || !strings.HasPrefix(out, "NT_STATUS_PASSWORD_EXPIRED: ") || !strings.HasSuffix(out, "(0xc0000071)") {
		t.Errorf("expired password: exit %d %q", code, out)
	}
}

// TestNTLMServer1: the ntlm-server-1 helper protocol at the DC.
func TestNTLMServer1(t *testing.T) {
	addc.Start(t)
	cmd := exec.Command(gosspiBinary(t), "ntlm-auth", "--helper-protocol=ntlm-server-1", "-dc", addc.Addr, "-machine", machineFile(t, addc.Machine.Password))
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	r := bufio.NewReader(outp)
	ask := func(lines ...string) []string {
		for _, l := range lines {
			fmt.Fprintln(in, l)
		}
		fmt.Fprintln(in, ".")
		var out []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, stderr.String())
			}
			if l = strings.TrimSpace(l); l == "." {
				return out
			}
			out = append(out, l)
		}
	}
	chal := [8]byte{9, 9, 9, 9, 1, 1, 1, 1}
	req := func(user, password string) []string {
		return ask("Username: "+user, "NT-Domain: "+addc.Domain, "LANMAN-Challenge: "+hex.EncodeToString(chal[:]),
			"NT-Response: "+hex.EncodeToString(mschapv1(password, chal)), "Request-User-Session-Key: Yes")
	}
	got := req(addc.Alice.Name, addc.Alice.Password)
	if len(got) != 2 || got[0] != "Authenticated: Yes" || !strings.HasPrefix(got[1], "User-Session-Key: ") {
		t.Errorf("alice: %q", got)
	}
	got = req(addc.Alice.Name, "wrong")
	if len(got) != 2 || got[0] != "Authenticated: No" || !strings.Contains(got[1], "NT_STATUS_LOGON_FAILURE") {
		t.Errorf("wrong password: %q", got)
	}
	if got = ask("Username: alice"); len(got) != 1 || !strings.HasPrefix(got[0], "Error: ") {
		t.Errorf("no challenge: %q", got)
	}
}

// TestServeDCKeytab: the machine account's secret from a keytab that
// samba-tool exported (its RC4 key is the NT hash).
func TestServeDCKeytab(t *testing.T) {
	dc := addc.Start(t)
	kt := filepath.Join(t.TempDir(), "machine.keytab")
	if out, err := dc.SambaTool("domain", "exportkeytab", kt, "--principal="+addc.Machine.Name); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	os.Chmod(kt, 0o600)
	url, _ := startServe(t, "-machine", kt)
	out, err := exec.Command("curl", "-s", "--ntlm", "-u", `ADDC\alice:`+addc.Alice.Password, url+"/whoami").Output()
	if err != nil {
		t.Fatal(err)
	}
	checkWhoami(t, string(out))
}
