package krbtest

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestRealm(t *testing.T) {
	start := time.Now()
	r := NewRealm(t, Options{})
	t.Logf("realm up in %v on port %d", time.Since(start), r.Port)
	if err := r.AddPrincipal("alice", "pw-alice"); err != nil {
		t.Fatal(err)
	}
	if err := r.AddPrincipal("alice", "again"); err == nil {
		t.Fatal("adding a principal twice must fail")
	}
	kt, err := r.AddService("HTTP/svc.localhost", "arcfour-hmac")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(kt); err != nil || st.Size() == 0 {
		t.Fatalf("keytab %s: %v", kt, err)
	}
	cc, err := r.Kinit("alice", "pw-alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Kinit("alice", "wrong"); err == nil {
		t.Fatal("kinit with a wrong password must fail")
	}
	b, err := os.ReadFile(cc)
	if err != nil || len(b) < 100 || b[0] != 5 {
		t.Fatalf("ccache %s: %v", cc, err)
	}
	out, err := r.Kadmin("getprinc HTTP/svc.localhost")
	if err != nil || !strings.Contains(out, "arcfour-hmac") {
		t.Fatalf("getprinc: %v %s", err, out)
	}
}
