//go:build linux

package adtest

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/httpauth"
	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
)

// Negotiate from a Samba client: python3-samba's GENSEC (Samba's own
// SPNEGO and Kerberos, which smbclient and the DC's tools run) gets a
// service ticket from the Samba KDC with a password and authenticates to
// gosspi with SPNEGO.

// sambaClientConf is a member-style smb.conf for GENSEC: the domain and
// realm, Kerberos required. The KDC comes from the DC's krb5.conf
// (KRB5_CONFIG of dc.Env).
func sambaClientConf(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smb.conf")
	conf := fmt.Sprintf("[global]\n\tworkgroup = %s\n\trealm = %s\n\tsecurity = ads\n\tclient use kerberos = required\n"+
		"\tlock directory = %[3]s\n\tstate directory = %[3]s\n\tcache directory = %[3]s\n\tprivate dir = %[3]s\n",
		addc.Domain, addc.Realm, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sambaClient is the GENSEC client script for acct, in mode with args.
func sambaClient(t *testing.T, dc *addc.DC, acct addc.Account, mode string, args ...string) *exec.Cmd {
	t.Helper()
	testutil.RequirePeer(t, "/usr/bin/python3")
	a := append([]string{"testdata/samba_negotiate.py", mode}, args...)
	a = append(a, acct.Name, acct.Password, addc.Domain, addc.Realm, addc.ServiceHost, sambaClientConf(t))
	cmd := exec.Command("/usr/bin/python3", a...)
	cmd.Env = append(dc.Env(), "KRB5CCNAME=MEMORY:samba-client")
	return cmd
}

// TestSambaNegotiateHTTP: GENSEC's SPNEGO token goes to gosspi's HTTP
// server (httpauth, Negotiate) as RFC 4559 says; the server answers 200
// with its final token, which GENSEC accepts (mutual authentication), and
// the identity the handler sees is the PAC's.
func TestSambaNegotiateHTTP(t *testing.T) {
	dc := addc.Start(t)
	srvHost := serverHost(t, dc)
	a, err := httpauth.New(httpauth.Config{Host: srvHost.Host, Schemes: []string{httpauth.SchemeNegotiate}, Principal: addc.SPN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	srv := &http.Server{Handler: a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.IdentityFromContext(r.Context())
		json.NewEncoder(w).Encode(id)
	}))}
	a.Install(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	for _, acct := range []addc.Account{addc.Alice, addc.Carol} {
		t.Run(acct.Name, func(t *testing.T) {
			cmd := sambaClient(t, dc, acct, "http", "http://"+ln.Addr().String()+"/whoami")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("Samba client: %v\n%s", err, stderrOf(err))
			}
			var res struct {
				Status      int    `json:"status"`
				Finished    bool   `json:"finished"`
				Legs        int    `json:"legs"`
				MutualToken int    `json:"mutual_token"`
				Body        string `json:"body"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("Samba client printed %q: %v", out, err)
			}
			t.Logf("Samba client: status %d, GENSEC finished %v after %d legs, server's final token %d bytes; body %s", res.Status, res.Finished, res.Legs, res.MutualToken, res.Body)
			if res.Status != http.StatusOK || !res.Finished || res.MutualToken == 0 {
				t.Fatalf("Samba's Negotiate to gosspi: %+v", res)
			}
			var id sspi.Identity
			if err := json.Unmarshal([]byte(res.Body), &id); err != nil {
				t.Fatal(err)
			}
			if id.Package != "Kerberos" || id.User != acct.Name || id.LogonName != addc.Domain+`\`+acct.Name || id.SID != sidOf(t, dc, acct.Name) {
				t.Errorf("identity %+v", id)
			}
			if acct == addc.Carol && !slices.Contains(id.Groups, sidOf(t, dc, addc.PACUniversal)) {
				t.Errorf("groups %v lack %s", id.Groups, addc.PACUniversal)
			}
		})
	}
}

// TestSambaNegotiateWrap: the same GENSEC client talks to a gosspi
// Negotiate server context over a pipe, then seals a message that gosspi
// unwraps and unwraps gosspi's answer: Samba's per-message protection
// against ours on the session the SPNEGO exchange set up.
func TestSambaNegotiateWrap(t *testing.T) {
	dc := addc.Start(t)
	cmd := sambaClient(t, dc, addc.Alice, "pipe")
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(outp)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	next := func() string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("Samba client ended: %s", stderr.String())
		}
		return lines.Text()
	}
	s := newServerOf(t, serverHost(t, dc).Host, "Negotiate")
	legs := 0
	for {
		line := next()
		if line == "complete" {
			break
		}
		tok, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			t.Fatalf("Samba client printed %q", line)
		}
		legs++
		out, _, err := step(s, tok)
		if err != nil {
			t.Fatalf("gosspi accepting Samba's leg %d: %v (%s)", legs, err, stderr.String())
		}
		if len(out) > 0 {
			fmt.Fprintln(in, base64.StdEncoding.EncodeToString(out))
		}
	}
	if s.Package() != "Kerberos" {
		t.Errorf("Negotiate chose %q", s.Package())
	}
	w, _ := base64.StdEncoding.DecodeString(next())
	msg, err := s.Unwrap(w)
	if err != nil || string(msg) != "hello from Samba" {
		t.Fatalf("Unwrap of Samba's message = %q, %v", msg, err)
	}
	back, err := s.Wrap([]byte("hello from gosspi"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(in, base64.StdEncoding.EncodeToString(back))
	if got := next(); got != "hello from gosspi" {
		t.Fatalf("Samba unwrapped %q", got)
	}
	id := identity(t, s)
	t.Logf("after %d SPNEGO legs from Samba: %+v", legs, id)
	if id.LogonName != addc.Domain+`\`+addc.Alice.Name || id.SID != sidOf(t, dc, addc.Alice.Name) {
		t.Errorf("identity %+v", id)
	}
}

// stderrOf is the standard error of a failed exec.
func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}
