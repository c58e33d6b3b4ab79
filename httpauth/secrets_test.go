package httpauth

import (
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosspi/gosspi"
)

// secretScan collects what must never reach a log: passwords, and every
// authentication token that crossed the wire (base64 as sent, and hex of
// the bytes), checked by overlapping windows so that a part of one is
// found too.
type secretScan struct {
	secrets []string
}

// add adds secrets, and their 12-character parts.
func (s *secretScan) add(v ...string) {
	for _, sec := range v {
		s.secrets = append(s.secrets, sec)
		for i := 0; i+12 <= len(sec); i += 4 {
			s.secrets = append(s.secrets, sec[i:i+12])
		}
	}
}

// addHeader adds the token of an Authorization or WWW-Authenticate value.
func (s *secretScan) addHeader(v string) {
	_, tok, err := ParseAuthorization(v)
	if err != nil || len(tok) < 8 {
		return
	}
	b64 := base64.StdEncoding.EncodeToString(tok)
	h := hex.EncodeToString(tok)
	for _, w := range []struct {
		s    string
		size int
	}{{b64, 16}, {h, 24}} {
		for i := 0; i+w.size <= len(w.s); i += w.size / 2 {
			s.secrets = append(s.secrets, w.s[i:i+w.size])
		}
	}
}

func (s *secretScan) check(t *testing.T, what, logs string) {
	t.Helper()
	if len(s.secrets) == 0 {
		t.Fatal("nothing to look for")
	}
	for _, sec := range s.secrets {
		if i := strings.Index(logs, sec); i >= 0 {
			line := logs[strings.LastIndex(logs[:i], "\n")+1:]
			if j := strings.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			t.Errorf("%s: a secret (%q) in the log line:\n%s", what, sec, line)
			return
		}
	}
}

// TestAttackLogsHoldNoSecrets runs every path that logs, at debug level,
// on the server and in the Transport: NTLM and Kerberos logons, a wrong
// password, curl's NTLM and Negotiate, HTTPS with refused bindings, and
// headers an attacker or a confused client sends (an API key as the whole
// Authorization value, Basic credentials, a malformed token). No password
// and no token may appear in any log line.
func TestAttackLogsHoldNoSecrets(t *testing.T) {
	const apiKey = "sk_live_4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"
	const basicPW = "Basic-Secret-77"
	scan := &secretScan{}
	scan.add(ntPW, alicePW, "Wrong-Secret-99", apiKey, basicPW, base64.StdEncoding.EncodeToString([]byte("carol:"+basicPW)))
	clientLogs := &logBuf{}
	cert := selfSigned(t, "gosspi test")
	plain := newServer(t, Config{}, BindingsWhenSupported, nil)
	tlsSrv := newServer(t, Config{}, BindingsRequired, &cert)

	logon := func(url string, id *gosspi.Identity, schemes []string, base *http.Transport) {
		tr := &Transport{Host: clientHost(t), Identity: id, Schemes: schemes, Base: base, Logger: clientLogs.logger()}
		defer tr.Close()
		resp, err := (&http.Client{Transport: tr}).Get(url + "?access_token=" + apiKey)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	local := strings.Replace(plain.URL, "127.0.0.1", "localhost", 1)
	logon(plain.URL, ntlmIdentity(), []string{SchemeNTLM}, nil)
	logon(plain.URL, ntlmIdentity(), []string{SchemeNegotiate}, nil)
	logon(plain.URL, &gosspi.Identity{User: ntUser, Domain: ntDomain, Password: "Wrong-Secret-99"}, []string{SchemeNTLM}, nil)
	logon(local, kerberosIdentity(), nil, nil)
	logon(strings.Replace(local, "localhost", "user:"+basicPW+"@localhost", 1), kerberosIdentity(), nil, nil)
	// HTTPS under "required": curl (no bindings) is refused.
	curl(t, curlEnv(), "-k", "--http1.1", "--ntlm", "-u", ntDomain+`\`+ntUser+":"+ntPW, tlsSrv.URL+"/whoami")
	curl(t, curlEnv(), "--ntlm", "-u", ntDomain+`\`+ntUser+":Wrong-Secret-99", plain.URL+"/whoami")
	curl(t, curlEnv(), "--negotiate", "-u", ":", local+"/whoami")
	f := filepath.Join(t.TempDir(), "ntlm-users")
	os.WriteFile(f, []byte(ntDomain+":"+ntUser+":"+ntPW+"\n"), 0o600)
	curl(t, append(realm.Env(), "NTLM_USER_FILE="+f, "KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "none")), "--negotiate", "-u", ":", plain.URL+"/whoami")
	// What an attacker or a confused client sends.
	l := newLegClient(t, nil)
	for _, auth := range []string{
		apiKey,
		"Bearer " + apiKey,
		"Basic " + base64.StdEncoding.EncodeToString([]byte("carol:"+basicPW)),
		"Negotiate " + base64.StdEncoding.EncodeToString([]byte(apiKey)) + "!",
		"NTLM " + base64.StdEncoding.EncodeToString([]byte("NTLMSSP\x00\x03\x00\x00\x00"+apiKey)),
		"Negotiate " + base64.StdEncoding.EncodeToString([]byte("\x60\x10"+apiKey)),
	} {
		scan.addHeader(auth)
		l.send(plain.URL, auth)
	}
	for _, s := range []*testServer{plain, tlsSrv} {
		for _, leg := range s.rec.legs {
			scan.addHeader(leg.Authorization)
			for _, v := range leg.WWWAuthenticate {
				scan.addHeader(v)
			}
		}
	}
	if !strings.Contains(plain.logs.String(), "authenticated") || !strings.Contains(clientLogs.String(), "sending token") {
		t.Fatalf("the logs did not run:\n%s\n%s", plain.logs.String(), clientLogs.String())
	}
	scan.check(t, "server log", plain.logs.String())
	scan.check(t, "HTTPS server log", tlsSrv.logs.String())
	scan.check(t, "Transport log", clientLogs.String())
}
