package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/ntlm"
)

func TestDemoNTLM(t *testing.T) {
	var b bytes.Buffer
	if err := demoNTLM(&b); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	out := b.String()
	for _, want := range []string{
		"client InitializeSecurityContext ->            SEC_I_CONTINUE_NEEDED",
		"server AcceptSecurityContext     <-   40 bytes -> SEC_I_CONTINUE_NEEDED",
		"server AcceptSecurityContext", "SEC_E_OK",
		`server authenticated GOSSPI\demo`,
		`server DecryptMessage: "a sealed hello from the client"`,
		`client DecryptMessage: "hello GOSSPI\\demo, sealed by the server"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestAccountsCommand(t *testing.T) {
	f := filepath.Join(t.TempDir(), "accounts")
	h := ntlm.NTOWFv1("pw")
	if rc := runAccounts([]string{"-file", f, "add", "-hash", ntlmHex(h), `EXAMPLE\bob`}); rc != exitOK {
		t.Fatalf("add: %d", rc)
	}
	a, err := ntlm.OpenHashFile(f).LookupAccount(t.Context(), "example", "BOB")
	if err != nil || a.NTHash != h {
		t.Fatalf("lookup: %v %v", a, err)
	}
	if rc := runAccounts([]string{"-file", f, "remove", `EXAMPLE\bob`}); rc != exitOK {
		t.Fatalf("remove: %d", rc)
	}
	if rc := runAccounts([]string{"-file", f, "remove", `EXAMPLE\bob`}); rc != exitFailure {
		t.Fatalf("second remove: %d", rc)
	}
	if rc := runAccounts([]string{"-file", f, "bogus"}); rc != exitUsage {
		t.Fatalf("bogus: %d", rc)
	}
	b, _ := os.ReadFile(f)
	if !strings.HasPrefix(string(b), ntlm.HashFileMagic) {
		t.Fatalf("file: %q", b)
	}
}

func ntlmHex(h [16]byte) string {
	const d = "0123456789abcdef"
	var s []byte
	for _, c := range h {
		s = append(s, d[c>>4], d[c&15])
	}
	return string(s)
}
