package httpauth

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// curl runs curl (Debian package curl; the test fails without it) with the
// realm's environment and returns the headers of every response and the
// body of the last one.
func curl(t *testing.T, env []string, args ...string) (hdrs []http.Header, codes []int, body string) {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl not found: install the Debian package curl")
	}
	cmd := exec.Command(path, append([]string{"-sS", "--max-time", "20", "-D", "/dev/stderr"}, args...)...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, stderr.String())
	}
	r := textproto.NewReader(bufio.NewReader(strings.NewReader(stderr.String())))
	for {
		line, err := r.ReadLine()
		if err != nil {
			break
		}
		if !strings.HasPrefix(line, "HTTP/") {
			continue
		}
		f := strings.Fields(line)
		code := 0
		if len(f) > 1 {
			for _, c := range f[1] {
				code = code*10 + int(c-'0')
			}
		}
		h, _ := r.ReadMIMEHeader()
		hdrs = append(hdrs, http.Header(h))
		codes = append(codes, code)
	}
	return hdrs, codes, string(out)
}

func curlEnv() []string {
	env := realm.Env()
	for i, e := range env {
		if strings.HasPrefix(e, "KRB5CCNAME=") {
			env[i] = "KRB5CCNAME=FILE:" + realm.ccache
		}
	}
	return env
}

// curl --negotiate -u : with alice's MIT ticket: one leg, and the 200
// carries the AP-REP that proves the server's identity.
func TestCurlNegotiate(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	url := strings.Replace(s.URL, "127.0.0.1", "localhost", 1) + "/whoami"
	hdrs, codes, body := curl(t, curlEnv(), "--negotiate", "-u", ":", url)
	// curl sends its token at once when --negotiate is the only method.
	if len(codes) == 0 || codes[len(codes)-1] != 200 {
		t.Fatalf("status codes %v\n%s", codes, body)
	}
	checkMutualToken(t, hdrs[len(hdrs)-1].Get("WWW-Authenticate"))
	if *record {
		for i, l := range s.rec.legs {
			if l.Authorization != "" {
				writeSeed(t, "FuzzParseAuthorization", fmt.Sprintf("curl-negotiate-krb5-%d", i+1), l.Authorization)
			}
			for j, v := range l.WWWAuthenticate {
				writeSeed(t, "FuzzParseChallenges", fmt.Sprintf("gosspi-negotiate-krb5-%d-%d", i+1, j+1), v)
			}
		}
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil || m["principal"] != "alice@"+realm.Name || m["package"] != "Kerberos" {
		t.Errorf("whoami %q: %v", body, err)
	}
	wantLog(t, s.logs, "level=INFO", "authenticated", "scheme=Negotiate", "user=alice@"+realm.Name, "mutual_token=true")
}

// curl --ntlm -u user:pass against the account store: NEGOTIATE (sent at
// once), CHALLENGE in the 401, AUTHENTICATE, all on one connection.
func TestCurlNTLM(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	_, codes, body := curl(t, curlEnv(), "--ntlm", "-u", ntDomain+`\`+ntUser+":"+ntPW, s.URL+"/whoami")
	if len(codes) != 2 || codes[0] != 401 || codes[1] != 200 {
		t.Fatalf("status codes %v\n%s", codes, body)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil || m["principal"] != `GOSSPI\bob` || m["package"] != "NTLM" {
		t.Errorf("whoami %q: %v", body, err)
	}
	// The wrong password: 401, and a log line that says why.
	_, codes, _ = curl(t, curlEnv(), "--ntlm", "-u", ntDomain+`\`+ntUser+":nope", s.URL+"/whoami")
	if codes[len(codes)-1] != 401 {
		t.Errorf("wrong password: status codes %v", codes)
	}
	wantLog(t, s.logs, "level=WARN", "authentication failed", "scheme=NTLM", "status=SEC_E_LOGON_DENIED")
	if strings.Contains(s.logs.String(), ntPW) || strings.Contains(s.logs.String(), "nope") {
		t.Error("a password reached the log")
	}
}

// curl's NTLM over HTTPS sends no channel bindings: Extended Protection
// "when supported" lets it in, "required" keeps it out.
func TestCurlNTLMOverHTTPS(t *testing.T) {
	cert := selfSigned(t, "curl test")
	for _, policy := range []BindingPolicy{BindingsWhenSupported, BindingsRequired} {
		s := newServer(t, Config{}, policy, &cert)
		_, codes, body := curl(t, curlEnv(), "-k", "--ntlm", "-u", ntDomain+`\`+ntUser+":"+ntPW, s.URL+"/whoami")
		want := 200
		if policy == BindingsRequired {
			want = 401
			wantLog(t, s.logs, "level=WARN", "authentication failed", "status=SEC_E_BAD_BINDINGS")
		}
		// curl tries HTTP/2 first and goes back to HTTP/1.1 for NTLM.
		if codes[len(codes)-1] != want {
			t.Errorf("%v: status codes %v, want %d last\n%s", policy, codes, want, body)
		}
	}
}

// curl --negotiate over HTTPS, HTTP/2: one leg per stream, the AP-REP on
// the 200 (curl's GSS-API sends no channel bindings, which "when
// supported" allows).
func TestCurlNegotiateHTTP2(t *testing.T) {
	cert := selfSigned(t, "curl test")
	s := newServer(t, Config{}, BindingsWhenSupported, &cert)
	url := strings.Replace(s.URL, "127.0.0.1", "localhost", 1) + "/whoami"
	hdrs, codes, body := curl(t, curlEnv(), "-k", "--http2", "--negotiate", "-u", ":", url)
	if len(codes) == 0 || codes[len(codes)-1] != 200 {
		t.Fatalf("status codes %v\n%s", codes, body)
	}
	checkMutualToken(t, hdrs[len(hdrs)-1].Get("WWW-Authenticate"))
}

// curl --negotiate without a Kerberos ticket but with an NTLM credential
// file: MIT's SPNEGO runs NTLM through gss-ntlmssp, inside Negotiate,
// with mechListMIC, against our middleware.
func TestCurlNegotiateGSSNTLMSSP(t *testing.T) {
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	f := filepath.Join(t.TempDir(), "ntlm-users")
	if err := os.WriteFile(f, []byte(ntDomain+":"+ntUser+":"+ntPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(realm.Env(), "NTLM_USER_FILE="+f, "KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "no-ccache"))
	_, codes, body := curl(t, env, "--negotiate", "-u", ":", s.URL+"/whoami")
	if len(codes) == 0 || codes[len(codes)-1] != 200 {
		t.Fatalf("status codes %v\n%s\n%s", codes, body, s.logs.String())
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil || m["principal"] != `GOSSPI\bob` || m["package"] != "NTLM" {
		t.Errorf("whoami %q: %v", body, err)
	}
	wantLog(t, s.logs, "authenticated", "scheme=Negotiate", "package=NTLM")
}
