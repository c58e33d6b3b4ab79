package preflight

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/testutil"
)

func wantAll(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one with %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}

func TestLoadKeytab(t *testing.T) {
	dir := t.TempDir()
	good := testutil.WriteKeytab(t, filepath.Join(dir, "http.keytab"), "HTTP/web.example.test@EXAMPLE.TEST", "host/web.example.test@EXAMPLE.TEST")
	k, err := LoadKeytab(good, "-keytab")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(k.Principals, " ") != "HTTP/web.example.test@EXAMPLE.TEST host/web.example.test@EXAMPLE.TEST" {
		t.Errorf("principals %v", k.Principals)
	}
	for _, p := range []string{"HTTP/web.example.test", "HTTP@web.example.test", "HTTP/web.example.test@example.test"} {
		if err := k.CheckPrincipal(p, "-principal"); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	wantAll(t, k.CheckPrincipal("HTTP/other.example.test", "-principal"), good, "(from -keytab)", "no key for HTTP/other.example.test (from -principal)",
		"HTTP/web.example.test@EXAMPLE.TEST", "ktadd -k "+good)
	if err := k.CheckPatterns([]string{"HTTP/*"}, "-accept-principals"); err != nil {
		t.Error(err)
	}
	wantAll(t, k.CheckPatterns([]string{"imap/*", "smtp/*@OTHER"}, "-accept-principals"), "no principal of keytab "+good, "imap/*,smtp/*@OTHER (from -accept-principals)")
	wantAll(t, k.CheckPatterns([]string{"[x"}, "-accept-principals"), `malformed principal pattern "[x"`)

	missing := filepath.Join(dir, "nope")
	_, err = LoadKeytab(missing, SourceEnv)
	wantAll(t, err, "keytab "+missing+" (from the environment, KRB5_KTNAME) does not exist")
	_, err = LoadKeytab(dir, "-keytab")
	wantAll(t, err, dir, "is a directory")
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("this is not a keytab\n"), 0o600)
	_, err = LoadKeytab(garbage, "-keytab")
	wantAll(t, err, garbage, "is not a keytab", "ktadd")
	// Right magic, damaged entries: no panic, no bytes quoted.
	damaged := filepath.Join(dir, "damaged")
	os.WriteFile(damaged, []byte{5, 2, 0, 0, 0, 0x40, 0, 1, 'S', 'E', 'C', 'R', 'E', 'T'}, 0o600)
	_, err = LoadKeytab(damaged, "-keytab")
	wantAll(t, err, damaged, "damaged")
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error quotes the file: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte{5, 2}, 0o600)
	_, err = LoadKeytab(empty, "-keytab")
	wantAll(t, err, empty)
	noKeys := filepath.Join(dir, "nokeys")
	os.WriteFile(noKeys, []byte{5, 2, 0, 0, 0, 0}, 0o600)
	_, err = LoadKeytab(noKeys, "-keytab")
	wantAll(t, err, noKeys, "holds no keys")
}

func TestKeytabPath(t *testing.T) {
	t.Setenv("KRB5_KTNAME", "FILE:/env/kt")
	if p, s := KeytabPath("WRFILE:/conf/kt", "-keytab"); p != "/conf/kt" || s != "-keytab" {
		t.Errorf("configured: %s %s", p, s)
	}
	if p, s := KeytabPath("", "-keytab"); p != "/env/kt" || s != SourceEnv {
		t.Errorf("env: %s %s", p, s)
	}
	os.Unsetenv("KRB5_KTNAME")
	if p, s := KeytabPath("", "-keytab"); p != DefaultKeytab || s != SourceDefault {
		t.Errorf("default: %s %s", p, s)
	}
}

// TestUnreadableKeytab: a keytab this process may not read. Root reads any
// file whatever its mode, so the check runs in a child process as nobody.
func TestUnreadableKeytab(t *testing.T) {
	if testutil.IsUnprivilegedChild() {
		_, err := LoadKeytab(os.Getenv("KEYTAB"), "-keytab")
		if err == nil {
			t.Fatal("no error")
		}
		t.Log("ERROR: " + err.Error())
		return
	}
	dir := testutil.SharedDir(t)
	kt := testutil.WriteKeytab(t, filepath.Join(dir, "root-only.keytab"), "HTTP/a@R")
	if err := os.Chmod(kt, 0o000); err != nil {
		t.Fatal(err)
	}
	out, err := testutil.RunUnprivileged(t, "TestUnreadableKeytab", "KEYTAB="+kt)
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, want := range []string{"ERROR: keytab " + kt + " (from -keytab): permission denied", "make it readable"} {
		if !strings.Contains(out, want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}
