package main

import (
	"bufio"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/httpauth"
)

// ntlmStatus logs the demo user on to url with NTLM through
// httpauth.Transport, naming the service spn (MsvAvTargetName; empty:
// HTTP/<url host>), and returns the final status.
func ntlmStatus(t *testing.T, url, spn string) int {
	t.Helper()
	h, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tr := &httpauth.Transport{Host: h, Identity: demoIdentity(), Schemes: []string{"NTLM"}}
	if spn != "" {
		tr.SPN = func(string) string { return spn }
	}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(url + "/whoami")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAttackServeNTLMServiceBinding is issue 10, item 3 in serve: an NTLM
// AUTHENTICATE meant for another service (a reflected or relayed one,
// whose MsvAvTargetName names the service the victim meant) used to be
// accepted, since serve had no way to know its own names. Now it derives
// them (or takes -spn) and refuses the others; curl, which sends no target
// name, still logs on.
func TestAttackServeNTLMServiceBinding(t *testing.T) {
	host, _ := os.Hostname()
	url, logs := startServe(t, serveOptions{demo: true})
	for _, tc := range []struct {
		spn  string
		want int
	}{
		{"HTTP/evil.example.com", 401},
		{"", 200}, // HTTP/127.0.0.1, the listen address
		{"HTTP/localhost", 200},
		{"HTTP/" + strings.ToUpper(host), 200},
	} {
		if got := ntlmStatus(t, url, tc.spn); got != tc.want {
			t.Errorf("default names, client targets %q: %d, want %d\n%s", tc.spn, got, tc.want, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "status=SEC_E_BAD_BINDINGS") || !strings.Contains(logs.String(), "ntlm_service_names=HTTP/127.0.0.1,HTTP/localhost,HTTP/"+host) {
		t.Errorf("log:\n%s", logs.String())
	}
	h, _ := runCurl(t, os.Environ(), "--ntlm", "-u", demoDomain+`\`+demoUser+":"+demoPassword, url+"/whoami")
	if !strings.HasPrefix(lastResponse(h), "HTTP/1.1 200") {
		t.Errorf("curl --ntlm (no target name):\n%s", h)
	}

	// -spn names the service; the listen address is then not one of its names.
	url, _ = startServe(t, serveOptions{demo: true, spns: []string{"HTTP/web.example.com"}})
	for _, tc := range []struct {
		spn  string
		want int
	}{{"HTTP/web.example.com", 200}, {"HTTP/WEB.example.COM", 200}, {"", 401}, {"HTTP/evil.example.com", 401}} {
		if got := ntlmStatus(t, url, tc.spn); got != tc.want {
			t.Errorf("-spn HTTP/web.example.com, client targets %q: %d, want %d", tc.spn, got, tc.want)
		}
	}
	// -spn any: the legacy behaviour, no check.
	url, _ = startServe(t, serveOptions{demo: true, spns: []string{"any"}})
	if got := ntlmStatus(t, url, "HTTP/evil.example.com"); got != 200 {
		t.Errorf("-spn any: %d", got)
	}
}

// helperPipes runs `gosspi ntlm-auth` in process on pipes and returns a
// function that sends it a line and returns its answer.
func helperPipes(t *testing.T, args ...string) func(string) string {
	t.Helper()
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	oldIn, oldOut := os.Stdin, os.Stdout
	os.Stdin, os.Stdout = inR, outW
	done := make(chan int, 1)
	go func() { done <- runNTLMAuth(args) }()
	t.Cleanup(func() {
		inW.Close()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("gosspi ntlm-auth %v: exit %d", args, code)
			}
		case <-time.After(5 * time.Second):
			t.Error("gosspi ntlm-auth did not exit at end of input")
		}
		os.Stdin, os.Stdout = oldIn, oldOut
		inR.Close()
		outW.Close()
		outR.Close()
	})
	r := bufio.NewReader(outR)
	return func(l string) string {
		io.WriteString(inW, l+"\n")
		s, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(s)
	}
}

// TestAttackNTLMAuthServiceBinding: the helper takes the same -spn flag
// (and derives the same defaults): an AUTHENTICATE that names another
// service is refused.
func TestAttackNTLMAuthServiceBinding(t *testing.T) {
	h, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	logon := func(ask func(string) string, target string) string {
		c, err := h.NewClient(t.Context(), gosspi.ClientConfig{Package: "NTLM", Target: target, Identity: demoIdentity()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		neg, _, _ := c.Step(t.Context(), nil)
		chal := ask("YR " + base64.StdEncoding.EncodeToString(neg))
		tok, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(chal, "TT "))
		if err != nil {
			t.Fatalf("YR -> %q", chal)
		}
		auth, _, err := c.Step(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		return ask("KK " + base64.StdEncoding.EncodeToString(auth))
	}
	host, _ := os.Hostname()
	ask := helperPipes(t, "--helper-protocol=squid-2.5-ntlmssp", "-demo", "-spn", "HTTP/proxy.example.com")
	if got := logon(ask, "HTTP/proxy.example.com"); got != `AF GOSSPI\demo` {
		t.Errorf("right service: %q", got)
	}
	if got := logon(ask, "HTTP/evil.example.com"); !strings.HasPrefix(got, "NA ") {
		t.Errorf("another service: %q, want NA", got)
	}
	t.Run("defaults", func(t *testing.T) {
		ask := helperPipes(t, "--helper-protocol=squid-2.5-ntlmssp", "-demo")
		if got := logon(ask, "HTTP/"+host); got != `AF GOSSPI\demo` {
			t.Errorf("HTTP/<hostname>: %q", got)
		}
		if got := logon(ask, "HTTP/evil.example.com"); !strings.HasPrefix(got, "NA ") {
			t.Errorf("another service: %q, want NA", got)
		}
	})
}
