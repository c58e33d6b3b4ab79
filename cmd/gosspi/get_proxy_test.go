package main

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/internal/squidtest"
)

// gosspi get -proxy through Squid (its helper `gosspi ntlm-auth`) to an
// HTTPS origin on loopback, with NTLM (-proxy-user) and with Kerberos
// (the ticket of KRB5CCNAME); a wrong password exits 4 with the 407.
func TestGetThroughSquid(t *testing.T) {
	r := krbtest.NewRealm(t, krbtest.Options{})
	kt, cc, err := r.UserAndService("alice", "alice-Secret-1", "HTTP/localhost")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5_CONFIG", r.Krb5Con)
	t.Setenv("KRB5CCNAME", "FILE:"+cc)
	t.Setenv("NTLM_USER_FILE", "")
	s := squidtest.Start(t, squidtest.Options{
		Accounts: map[string]string{`PROXY\bob`: "Bob-Passw0rd!"},
		Keytab:   kt, Krb5Conf: r.Krb5Con,
	})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin %s tls=%v\n", r.URL.Path, r.TLS != nil)
	}))
	srv.StartTLS()
	defer srv.Close()
	plain := httptest.NewServer(srv.Config.Handler)
	defer plain.Close()
	cafile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(cafile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.TLS.Certificates[0].Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url, proxyUser, scheme, want string
		code                               int
	}{
		{"NTLM", srv.URL + "/ntlm", `PROXY\bob:Bob-Passw0rd!`, "NTLM", "origin /ntlm tls=true\n", exitOK},
		{"Negotiate-NTLM", srv.URL + "/spnego-ntlm", `PROXY\bob:Bob-Passw0rd!`, "Negotiate", "origin /spnego-ntlm tls=true\n", exitOK},
		{"Kerberos", srv.URL + "/krb", "", "Negotiate", "origin /krb tls=true\n", exitOK},
		{"plain-HTTP-NTLM", plain.URL + "/plain", `PROXY\bob:Bob-Passw0rd!`, "NTLM", "origin /plain tls=false\n", exitOK},
		{"plain-HTTP-Kerberos", plain.URL + "/plain-krb", "", "Negotiate", "origin /plain-krb tls=false\n", exitOK},
		{"wrong-password", srv.URL + "/bad", `PROXY\bob:wrong`, "NTLM", "", exitAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			o := &getOptions{proxy: s.URL, proxyUser: tc.proxyUser, scheme: tc.scheme, cacert: cafile, timeout: 20 * time.Second}
			code, err := get(t.Context(), o, tc.url, strings.NewReader(""), &out, &errb)
			if code != tc.code || out.String() != tc.want {
				t.Fatalf("exit %d (want %d), err %v, out %q\n%s", code, tc.code, err, out.String(), errb.String())
			}
			if tc.code == exitAuth && (err == nil || !strings.Contains(err.Error(), "407")) {
				t.Fatalf("err %v, want the proxy's 407", err)
			}
		})
	}
	if log := s.AccessLog(); !strings.Contains(log, "alice@"+r.Name) || !strings.Contains(log, `PROXY\\bob`) {
		t.Errorf("Squid's access log names neither user:\n%s", log)
	}
}

// A -proxy that is not an http:// or https:// URL is a usage error.
func TestGetProxyUsage(t *testing.T) {
	for _, p := range []string{"ftp://proxy:21", "proxy:3128", "http://"} {
		var out, errb bytes.Buffer
		code, err := get(t.Context(), &getOptions{proxy: p, timeout: time.Second}, "https://127.0.0.1:1/", strings.NewReader(""), &out, &errb)
		if code != exitUsage || err == nil || !strings.Contains(err.Error(), "-proxy") {
			t.Errorf("-proxy %q: exit %d, err %v", p, code, err)
		}
	}
}
