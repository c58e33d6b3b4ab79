package main

import (
	"bytes"
	"encoding/base64"
	"os/exec"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/httpauth"
	"github.com/gosspi/gosspi/internal/krbtest"
)

// windows returns s and its overlapping parts of n characters.
func windows(s string, n int) []string {
	out := []string{s}
	for i := 0; i+n <= len(s); i += n / 2 {
		out = append(out, s[i:i+n])
	}
	return out
}

// TestAttackServeVerboseLogsHoldNoSecrets: `gosspi serve -v` logs every
// leg, and `gosspi get -v` every step of the client; neither may log a
// password or a token. The legs are curl's (NTLM, with the right and a
// wrong password; Negotiate with a Kerberos ticket), gosspi get's, and
// headers carrying secrets the server does not accept.
func TestAttackServeVerboseLogsHoldNoSecrets(t *testing.T) {
	r := krbtest.NewRealm(t, krbtest.Options{})
	const alicePW = "alice-Secret-1"
	kt, cc, err := r.UserAndService("alice", alicePW, "HTTP/localhost")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5_CONFIG", r.Krb5Con)
	t.Setenv("KRB5CCNAME", "FILE:"+cc)
	url, logs := startServe(t, serveOptions{keytab: kt, demo: true, verbose: true})
	url = strings.Replace(url, "127.0.0.1", "localhost", 1)
	const apiKey = "sk_live_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	secrets := append(windows(demoPassword, 10), windows(alicePW, 10)...)
	secrets = append(secrets, windows("Wrong-Secret-99", 10)...)
	secrets = append(secrets, windows(apiKey, 12)...)

	curlPath, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl not found: install the Debian package curl")
	}
	env := append(r.Env(), "KRB5CCNAME=FILE:"+cc)
	var trace bytes.Buffer
	for _, args := range [][]string{
		{"--ntlm", "-u", `GOSSPI\demo:` + demoPassword},
		{"--ntlm", "-u", `GOSSPI\demo:Wrong-Secret-99`},
		{"--negotiate", "-u", ":"},
		{"-H", "Authorization: " + apiKey},
		{"-H", "Authorization: Bearer " + apiKey},
		{"-H", "Authorization: Negotiate " + base64.StdEncoding.EncodeToString([]byte("\x60\x30"+apiKey))},
	} {
		cmd := exec.Command(curlPath, append([]string{"-sS", "-v", "--max-time", "20", "-o", "/dev/null"}, append(args, url+"/whoami?key="+apiKey)...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		trace.Write(out)
	}
	// The tokens curl sent and got, from its -v trace.
	for _, line := range strings.Split(trace.String(), "\n") {
		line = strings.TrimSpace(line)
		for _, p := range []string{"> Authorization: ", "< WWW-Authenticate: ", "< www-authenticate: "} {
			if v, ok := strings.CutPrefix(line, p); ok {
				if _, tok, err := httpauth.ParseAuthorization(v); err == nil && len(tok) >= 8 {
					secrets = append(secrets, windows(base64.StdEncoding.EncodeToString(tok), 16)...)
				}
			}
		}
	}
	var out, errb bytes.Buffer
	if code, err := get(t.Context(), &getOptions{user: `GOSSPI\demo:` + demoPassword, scheme: "NTLM", timeout: 10e9, verbose: true},
		url+"/whoami?key="+apiKey, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("get: %d %v\n%s", code, err, errb.String())
	}
	if !strings.Contains(logs.String(), "level=DEBUG") || !strings.Contains(logs.String(), "authenticated") || !strings.Contains(errb.String(), "sending token") {
		t.Fatalf("verbose logs did not run:\n%s\n%s", logs.String(), errb.String())
	}
	for what, text := range map[string]string{"gosspi serve -v": logs.String(), "gosspi get -v": errb.String()} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s logged a secret (%q):\n%s", what, s, text)
				break
			}
		}
	}
}
