//go:build unix

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/ntlm"
)

// serveAtStart runs serve with o on a context that is already cancelled:
// a configuration it accepts returns at once (nil), one it refuses returns
// the error from its checks.
func serveAtStart(t *testing.T, o serveOptions) error {
	t.Helper()
	o.addr = "127.0.0.1:0"
	if o.logOut == nil {
		o.logOut = io.Discard
	}
	if o.schemes == "" {
		o.schemes = "Negotiate,NTLM"
	}
	if o.bindings == "" {
		o.bindings = "when-supported"
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return serve(ctx, &o, nil)
}

// TestServeFailsAtStart (issue 11): one case per misconfiguration. serve
// refuses to start, with the exit code of a configuration (or usage)
// error and a message that names the file or principal and says what to
// do.
func TestServeFailsAtStart(t *testing.T) {
	t.Setenv("KRB5_KTNAME", "")
	t.Setenv("GOSSPI_NTLM_ACCOUNTS", "")
	t.Setenv("NTLM_USER_FILE", "")
	if _, err := os.Stat("/etc/krb5.keytab"); err == nil {
		t.Skip("this machine has /etc/krb5.keytab: the cases without a keytab need it absent")
	}
	dir := t.TempDir()
	httpKT := testutil.WriteKeytab(t, filepath.Join(dir, "http.keytab"), "HTTP/web.example.test@EXAMPLE.TEST")
	hostKT := testutil.WriteKeytab(t, filepath.Join(dir, "host.keytab"), "host/web.example.test@EXAMPLE.TEST")
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("PK\x03\x04 not a keytab"), 0o600)
	missing := filepath.Join(dir, "wrong", "path")
	accounts := filepath.Join(dir, "accounts")
	if err := ntlm.OpenHashFile(accounts).Add("EXAMPLE", "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	malformed := filepath.Join(dir, "malformed")
	os.WriteFile(malformed, []byte(ntlm.HashFileMagic+"\nEXAMPLE:alice:pw:extra\n"), 0o600)
	userFile := filepath.Join(dir, "users")
	os.WriteFile(userFile, []byte("EXAMPLE:alice:pw\nthis line has no colon\n"), 0o600)
	certFile, keyFile := writeCert(t)
	_, otherKey := writeCert(t)

	for _, tc := range []struct {
		name string
		o    serveOptions
		env  []string
		code int
		want []string
	}{
		{name: "wrong keytab path", o: serveOptions{keytab: missing, demo: true}, code: exitConfig,
			want: []string{"keytab " + missing + " (from -keytab) does not exist"}},
		{name: "keytab is a directory", o: serveOptions{keytab: dir, demo: true}, code: exitConfig,
			want: []string{"keytab " + dir + " (from -keytab) is a directory"}},
		{name: "not a keytab", o: serveOptions{keytab: garbage, demo: true}, code: exitConfig,
			want: []string{"keytab " + garbage + " (from -keytab) is not a keytab", "ktadd"}},
		{name: "principal not in the keytab", o: serveOptions{keytab: httpKT, principal: "HTTP/other.example.test", demo: true}, code: exitConfig,
			want: []string{"keytab " + httpKT, "no key for HTTP/other.example.test (from -principal)", "it holds HTTP/web.example.test@EXAMPLE.TEST"}},
		{name: "no principal matches -accept-principals", o: serveOptions{keytab: hostKT, demo: true}, code: exitConfig,
			want: []string{"no principal of keytab " + hostKT, "matches HTTP/* (from -accept-principals, whose default is HTTP/*)", "host/web.example.test@EXAMPLE.TEST"}},
		{name: "KRB5_KTNAME names a missing keytab", env: []string{"KRB5_KTNAME", "FILE:" + missing}, o: serveOptions{demo: true}, code: exitConfig,
			want: []string{"keytab " + missing + " (from the environment, KRB5_KTNAME) does not exist"}},
		{name: "missing account file", o: serveOptions{accounts: missing}, code: exitConfig,
			want: []string{"NTLM account file (from -accounts)", "account file " + missing + " does not exist", "gosspi accounts -file " + missing + " add"}},
		{name: "account file is a directory", o: serveOptions{accounts: dir}, code: exitConfig,
			want: []string{"account file " + dir + " is a directory"}},
		{name: "malformed account file", o: serveOptions{accounts: malformed}, code: exitConfig,
			want: []string{"account file " + malformed, "line 2", "want DOMAIN:user:hash"}},
		{name: "malformed NTLM_USER_FILE", env: []string{"NTLM_USER_FILE", userFile}, code: exitConfig,
			want: []string{"(from the environment, NTLM_USER_FILE)", userFile, "line 2"}},
		{name: "missing GOSSPI_NTLM_ACCOUNTS", env: []string{"GOSSPI_NTLM_ACCOUNTS", missing}, code: exitConfig,
			want: []string{"(from the environment, GOSSPI_NTLM_ACCOUNTS)", missing + " does not exist"}},
		{name: "missing TLS key", o: serveOptions{demo: true, certFile: certFile, keyFile: missing}, code: exitConfig,
			want: []string{"TLS key " + missing + " (from -tls-key) does not exist"}},
		{name: "missing TLS certificate", o: serveOptions{demo: true, certFile: missing, keyFile: keyFile}, code: exitConfig,
			want: []string{"TLS certificate " + missing + " (from -tls-cert) does not exist"}},
		{name: "mismatched TLS pair", o: serveOptions{demo: true, certFile: certFile, keyFile: otherKey}, code: exitConfig,
			want: []string{"TLS key " + otherKey + " (from -tls-key) is not the key of certificate " + certFile}},
		{name: "TLS certificate is not PEM", o: serveOptions{demo: true, certFile: garbage, keyFile: keyFile}, code: exitConfig,
			want: []string{"TLS certificate " + garbage + " (from -tls-cert) holds no PEM certificate"}},
		{name: "-tls-cert without -tls-key", o: serveOptions{demo: true, certFile: certFile}, code: exitUsage,
			want: []string{"-tls-cert and -tls-key"}},
		{name: "unknown scheme", o: serveOptions{demo: true, schemes: "Negotiate,Basic"}, code: exitUsage,
			want: []string{`unknown scheme "Basic"`}},
		{name: "no credential at all", o: serveOptions{}, code: exitConfig,
			want: []string{"no scheme of Negotiate,NTLM can accept", "no keytab: /etc/krb5.keytab (the default) does not exist", "-keytab", "no account file"}},
		{name: "-schemes Negotiate,NTLM with no credential", o: serveOptions{schemes: "Negotiate,NTLM", schemesExplicit: true}, code: exitConfig,
			want: []string{"scheme Negotiate has no credential", "neither Kerberos nor NTLM can accept", "-keytab", "-accounts"}},
		{name: "-schemes Kerberos without a keytab", o: serveOptions{schemes: "Kerberos", schemesExplicit: true, demo: true}, code: exitConfig,
			want: []string{"keytab /etc/krb5.keytab (from the default) does not exist"}},
		{name: "-schemes NTLM without accounts", o: serveOptions{schemes: "NTLM", schemesExplicit: true, keytab: httpKT}, code: exitConfig,
			want: []string{"scheme NTLM has no credential: NTLM is off: no account file", "-accounts"}},
		{name: "-schemes Negotiate,NTLM with a keytab only", o: serveOptions{schemes: "Negotiate,NTLM", schemesExplicit: true, keytab: httpKT}, code: exitConfig,
			want: []string{"scheme NTLM has no credential"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < len(tc.env); i += 2 {
				t.Setenv(tc.env[i], tc.env[i+1])
			}
			err := serveAtStart(t, tc.o)
			if err == nil {
				t.Fatal("serve started")
			}
			if code := exitCodeOf(err); code != tc.code {
				t.Errorf("exit code %d, want %d: %v", code, tc.code, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}

	// What is fine starts: a keytab and accounts, each on its own.
	for _, o := range []serveOptions{
		{keytab: "FILE:" + httpKT, accounts: accounts, principal: "HTTP/web.example.test"},
		{keytab: httpKT, schemes: "Negotiate,Kerberos", schemesExplicit: true},
		{accounts: accounts},
		{accounts: userFile + ".ok"},
		{accounts: accounts, schemes: "NTLM", schemesExplicit: true, keytab: missing, principal: "HTTP/x"}, // no Kerberos asked for
	} {
		if o.accounts == userFile+".ok" {
			os.WriteFile(o.accounts, []byte("EXAMPLE:alice:pw\n"), 0o600)
		}
		if err := serveAtStart(t, o); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// TestServeLogsWhatItUses: with no keytab, serve says Kerberos is off and
// why, rather than logging a default keytab that does not exist; the
// schemes without a credential are left out with the reason.
func TestServeLogsWhatItUses(t *testing.T) {
	t.Setenv("KRB5_KTNAME", "")
	t.Setenv("GOSSPI_NTLM_ACCOUNTS", "")
	t.Setenv("NTLM_USER_FILE", "")
	if _, err := os.Stat("/etc/krb5.keytab"); err == nil {
		t.Skip("this machine has /etc/krb5.keytab")
	}
	var logs testutil.SyncBuffer
	if err := serveAtStart(t, serveOptions{demo: true, schemes: "Negotiate,NTLM,Kerberos", logOut: &logs}); err != nil {
		t.Fatal(err)
	}
	l := logs.String()
	for _, want := range []string{`keytab="off: no keytab: /etc/krb5.keytab (the default) does not exist; give the service's keytab with -keytab or KRB5_KTNAME"`, `ntlm_accounts="demo account"`,
		`msg="gosspi serve: scheme not offered" scheme=Kerberos`, `schemes=Negotiate,NTLM `} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	if strings.Contains(l, "keytab=/etc/krb5.keytab") {
		t.Errorf("log names a keytab that is not in use:\n%s", l)
	}

	kt := testutil.WriteKeytab(t, filepath.Join(t.TempDir(), "http.keytab"), "HTTP/web.example.test@EXAMPLE.TEST")
	t.Setenv("KRB5_KTNAME", "FILE:"+kt)
	logs = testutil.SyncBuffer{}
	if err := serveAtStart(t, serveOptions{demo: true, logOut: &logs}); err != nil {
		t.Fatal(err)
	}
	if want := `keytab="` + kt + ` (from the environment, KRB5_KTNAME)"`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
}

// TestServeUnreadableFiles: a keytab and an account file that the
// server's user may not read. Root reads any file, so serve runs in a
// child process as nobody (testutil.RunUnprivileged).
func TestServeUnreadableFiles(t *testing.T) {
	if testutil.IsUnprivilegedChild() {
		for _, o := range []serveOptions{{keytab: os.Getenv("KEYTAB"), demo: true}, {accounts: os.Getenv("ACCOUNTS")}} {
			err := serveAtStart(t, o)
			t.Logf("ERROR %d: %v", exitCodeOf(err), err)
		}
		return
	}
	dir := testutil.SharedDir(t)
	kt := testutil.WriteKeytab(t, filepath.Join(dir, "root-only.keytab"), "HTTP/web.example.test@EXAMPLE.TEST")
	accounts := filepath.Join(dir, "root-only-accounts")
	if err := ntlm.OpenHashFile(accounts).Add("EXAMPLE", "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	os.Chmod(kt, 0)
	os.Chmod(accounts, 0)
	out, err := testutil.RunUnprivileged(t, "TestServeUnreadableFiles", "KEYTAB="+kt, "ACCOUNTS="+accounts)
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, want := range []string{
		"ERROR 3: keytab " + kt + " (from -keytab): permission denied: make it readable",
		"ERROR 3: NTLM account file (from -accounts): ntlm: account file " + accounts + ": permission denied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

// TestCLIExitCodes: through the command line, a usage error exits 2 and a
// configuration error at start 3.
func TestCLIExitCodes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"serve", "-bogus"}, exitUsage},
		{[]string{"serve", "-schemes", "Basic"}, exitUsage},
		{[]string{"serve", "-tls-cert", missing}, exitUsage},
		{[]string{"serve", "-addr", "127.0.0.1:0", "-keytab", missing}, exitConfig},
		{[]string{"serve", "-addr", "127.0.0.1:0", "-accounts", missing}, exitConfig},
		{[]string{"ntlm-auth", "--helper-protocol=squid-2.5-ntlmssp", "-accounts", missing}, exitConfig},
		{[]string{"get", "-cacert", missing, "http://127.0.0.1:1/"}, exitConfig},
	} {
		if _, _, code := capture(t, c.args...); code != c.code {
			t.Errorf("%v: exit %d, want %d", c.args, code, c.code)
		}
	}
	out, _, _ := capture(t, "help")
	if !strings.Contains(out, "3 configuration error") || !strings.Contains(out, "4 authentication failed") {
		t.Errorf("help does not list the exit codes:\n%s", out)
	}
}

// TestGetAuthFailureExitCode: gosspi get exits 4 when authentication
// fails, whether the client could not take part (no Kerberos ticket: a
// SEC_E_NO_CREDENTIALS status) or the server refused it (401).
func TestGetAuthFailureExitCode(t *testing.T) {
	kt := testutil.WriteKeytab(t, filepath.Join(t.TempDir(), "http.keytab"), "HTTP/localhost@EXAMPLE.TEST")
	t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(t.TempDir(), "no-ccache"))
	t.Setenv("KRB5_CONFIG", "/nonexistent")
	url, _ := startServe(t, serveOptions{keytab: kt, demo: true, schemes: "Kerberos,NTLM", schemesExplicit: true})
	for _, o := range []getOptions{
		{timeout: 10e9, scheme: "Kerberos"},
		{timeout: 10e9, scheme: "NTLM", user: `GOSSPI\demo:wrong`},
	} {
		var out, errb bytes.Buffer
		code, err := get(t.Context(), &o, url+"/whoami", strings.NewReader(""), &out, &errb)
		if code != exitAuth || err == nil {
			t.Errorf("%s: exit %d (%v), want %d", o.scheme, code, err, exitAuth)
		}
	}
}
