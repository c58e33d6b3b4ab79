package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/ntlmssp"

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
	h := ntlmssp.NTOWFv1("pw")
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

// TestAccountsManners: add and remove say what they did, list on a missing
// file says so (exit 1), and a password comes from a piped stdin.
func TestAccountsManners(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "accounts")
	if _, _, code := capture(t, "accounts", "-file", f, "list"); code != exitFailure {
		t.Fatalf("list of a missing file: exit %d", code)
	}
	if err := accountsList(ntlm.OpenHashFile(f)); err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "add") {
		t.Fatalf("list of a missing file: %v", err)
	}
	out, _, code := capture(t, "accounts", "-file", f, "add", "-hash", ntlmHex(ntlmssp.NTOWFv1("pw")), `EXAMPLE\bob`)
	if code != exitOK || !strings.Contains(out, `added EXAMPLE\bob to `+f) {
		t.Fatalf("add: exit %d %q", code, out)
	}
	out, _, code = capture(t, "accounts", "-file", f, "remove", `EXAMPLE\bob`)
	if code != exitOK || !strings.Contains(out, `removed EXAMPLE\bob from `+f) {
		t.Fatalf("remove: exit %d %q", code, out)
	}
	pw, err := readPassword(strings.NewReader("s3cret\nignored\n"), io.Discard, "password: ")
	if err != nil || pw != "s3cret" {
		t.Fatalf("piped password %q %v", pw, err)
	}
	if _, err := readPassword(strings.NewReader(""), io.Discard, "password: "); err == nil {
		t.Fatal("empty stdin gave a password")
	}
}
