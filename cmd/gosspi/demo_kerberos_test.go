package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/krbtest"
)

// The Kerberos demo leg against a throwaway MIT realm, and its advice when
// no KDC is configured.
func TestDemoKerberos(t *testing.T) {
	t.Setenv("KRB5_CONFIG", "/nonexistent/krb5.conf")
	t.Setenv("KRB5CCNAME", "FILE:/nonexistent/cc")
	t.Setenv("KRB5_KTNAME", "/nonexistent/keytab")
	var out bytes.Buffer
	if err := demoKerberos(&out); err != nil || !strings.Contains(out.String(), "To enable") {
		t.Fatalf("without a KDC: %v\n%s", err, out.String())
	}

	r := krbtest.NewRealm(t, krbtest.Options{})
	if err := r.AddPrincipal("demo", "Demo-Passw0rd!"); err != nil {
		t.Fatal(err)
	}
	kt, err := r.AddService("HTTP/demo.localhost")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := r.Kinit("demo", "Demo-Passw0rd!")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5_CONFIG", r.Krb5Con)
	t.Setenv("KRB5CCNAME", "FILE:"+cc)
	t.Setenv("KRB5_KTNAME", "FILE:"+kt)
	out.Reset()
	if err := demoKerberos(&out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"SEC_I_CONTINUE_NEEDED", "server authenticated demo@" + r.Name, `"a sealed hello over Kerberos"`} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
