package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// capture runs the command line with stdout redirected.
func capture(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	var errb bytes.Buffer
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	code := run(args, w, &errb)
	w.Close()
	os.Stdout = old
	return <-done, errb.String(), code
}

func TestUsage(t *testing.T) {
	if _, _, code := capture(t); code != exitUsage {
		t.Errorf("no args: exit %d", code)
	}
	if _, errs, code := capture(t, "frobnicate"); code != exitUsage || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: exit %d %q", code, errs)
	}
	out, _, code := capture(t, "help")
	if code != exitOK || !strings.Contains(out, "demo") || !strings.Contains(out, "packages") {
		t.Errorf("help: exit %d %q", code, out)
	}
	for name := range commands {
		if out, _, code := capture(t, "help", name); code != exitOK || !strings.Contains(out, "usage: gosspi "+name) {
			t.Errorf("help %s: exit %d %q", name, code, out)
		}
	}
}

func TestPackagesAndVersion(t *testing.T) {
	out, _, code := capture(t, "packages")
	if code != exitOK || !strings.Contains(out, "NTLM") || !strings.Contains(out, "1.3.6.1.4.1.311.2.2.10") {
		t.Errorf("packages: exit %d\n%s", code, out)
	}
	out, _, code = capture(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "gosspi ") {
		t.Errorf("version: exit %d %q", code, out)
	}
}

func TestDemoHostSection(t *testing.T) {
	out, _, code := capture(t, "demo", "-only", "package host")
	if code != exitOK {
		t.Fatalf("demo: exit %d\n%s", code, out)
	}
	for _, want := range []string{"SEC_I_CONTINUE_NEEDED", "SEC_E_OK", `GOSSPI\demo`, "server unsealed", "all sections passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
