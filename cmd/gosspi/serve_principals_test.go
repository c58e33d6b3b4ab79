package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/krbtest"
)

// TestServeAcceptsOnlyHTTPPrincipals is the "any principal in the keytab
// is accepted" default of issue 10 as an attack: serve's keytab also holds
// the host's host/ key (a machine keytab), and a client presents a ticket
// for host/localhost, which serve used to accept. By default serve takes
// only the keytab's HTTP/ principals; -accept-principals any restores the
// old behaviour.
func TestServeAcceptsOnlyHTTPPrincipals(t *testing.T) {
	r := krbtest.NewRealm(t, krbtest.Options{})
	if _, _, err := r.UserAndService("alice", "alice-Secret-1", "HTTP/localhost"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddService("host/localhost"); err != nil {
		t.Fatal(err)
	}
	kt, err := r.Keytab("HTTP/localhost", "host/localhost")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := r.Kinit("alice", "alice-Secret-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5_CONFIG", r.Krb5Con)
	t.Setenv("KRB5CCNAME", "FILE:"+cc)
	fetch := func(url, spn string) (int, string) {
		var out, errb bytes.Buffer
		code, _ := get(t.Context(), &getOptions{timeout: 10e9, spn: spn}, url+"/whoami", strings.NewReader(""), &out, &errb)
		return code, out.String() + errb.String()
	}

	url, logs := startServe(t, serveOptions{keytab: kt, schemes: "Negotiate", verbose: true})
	url = strings.Replace(url, "127.0.0.1", "localhost", 1)
	if code, out := fetch(url, "HTTP/localhost"); code != exitOK || !strings.Contains(out, `"principal": "alice@`+r.Name+`"`) {
		t.Fatalf("HTTP/localhost ticket: %d\n%s\n%s", code, out, logs.String())
	}
	if code, out := fetch(url, "host/localhost"); code == exitOK || strings.Contains(out, `"principal"`) {
		t.Fatalf("a host/localhost ticket logged on to serve: %d\n%s", code, out)
	}
	if !strings.Contains(logs.String(), "SEC_E_WRONG_PRINCIPAL") {
		t.Errorf("the refusal is not logged as SEC_E_WRONG_PRINCIPAL:\n%s", logs.String())
	}

	url, _ = startServe(t, serveOptions{keytab: kt, schemes: "Negotiate", acceptPrincipals: "any"})
	url = strings.Replace(url, "127.0.0.1", "localhost", 1)
	if code, out := fetch(url, "host/localhost"); code != exitOK {
		t.Fatalf("-accept-principals any: %d\n%s", code, out)
	}
}

func TestAcceptorPrincipalsFlag(t *testing.T) {
	for _, c := range []struct {
		flag, principal string
		want            []string
	}{
		{"", "", []string{"HTTP/*"}},
		{"HTTP/*", "", []string{"HTTP/*"}},
		{"any", "", nil},
		{"HTTP/web.example.com, host/*@EXAMPLE.COM", "", []string{"HTTP/web.example.com", "host/*@EXAMPLE.COM"}},
		{"HTTP/*", "host/web", nil}, // -principal is the restriction
		{"ldap/*", "host/web", []string{"ldap/*"}},
	} {
		o := serveOptions{acceptPrincipals: c.flag, principal: c.principal}
		if got := acceptorPrincipals(&o); strings.Join(got, "|") != strings.Join(c.want, "|") || (got == nil) != (c.want == nil) {
			t.Errorf("%q %q: %q, want %q", c.flag, c.principal, got, c.want)
		}
	}
	var o serveOptions
	if err := serveFlags(&o).Parse(nil); err != nil || o.acceptPrincipals != "HTTP/*" {
		t.Fatalf("flag default %q %v", o.acceptPrincipals, err)
	}
}
