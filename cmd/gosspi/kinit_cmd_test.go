package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/kcmtest"
	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/internal/testutil"
)

// klist runs MIT's klist with env and returns its output.
func klist(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("klist", args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("klist %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// gosspi kinit with a password (standard input) and with a keytab (-k
// -t), into FILE:, a DIR: collection and KCM: (sssd-kcm): MIT's klist
// lists what it wrote, -S service tickets included; a wrong password is
// exit status 4, a missing keytab 3.
func TestKinitCommand(t *testing.T) {
	r := krbtest.NewRealm(t, krbtest.Options{})
	if err := r.AddPrincipal("alice", "alice-Secret-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddService("HTTP/svc.localhost"); err != nil {
		t.Fatal(err)
	}
	if err := r.AddPrincipal("batch", "batch-Secret-1"); err != nil {
		t.Fatal(err)
	}
	kt, err := r.Keytab("batch")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5_CONFIG", r.Krb5Con)
	env := testutil.Env(r.Env())
	ctx := context.Background()
	run := func(o kinitOptions, principal, stdin string) (int, string, string) {
		t.Helper()
		if o.timeout == 0 {
			o.timeout = 30 * time.Second
		}
		var out, errb bytes.Buffer
		code, err := kinit(ctx, &o, principal, strings.NewReader(stdin), &out, &errb)
		if err != nil {
			errb.WriteString(err.Error())
		}
		return code, strings.TrimSpace(out.String()), errb.String()
	}

	file := "FILE:" + filepath.Join(t.TempDir(), "cc")
	code, name, errs := run(kinitOptions{ccache: file, spns: headerList{"HTTP/svc.localhost"}}, "alice", "alice-Secret-1\n")
	if code != exitOK || name != file {
		t.Fatalf("kinit -c FILE: exit %d, %q, %s", code, name, errs)
	}
	out := klist(t, env, "-c", file)
	for _, want := range []string{"Default principal: alice@" + r.Name, "krbtgt/" + r.Name, "HTTP/svc.localhost@" + r.Name} {
		if !strings.Contains(out, want) {
			t.Fatalf("klist does not show %s:\n%s", want, out)
		}
	}

	// -k -t into the default cache, a DIR: collection.
	dir := filepath.Join(t.TempDir(), "coll")
	t.Setenv("KRB5CCNAME", "DIR:"+dir)
	if code, name, errs := run(kinitOptions{useKeytab: true, keytab: kt}, "", ""); code != exitOK || name != "DIR::"+dir+"/tkt" {
		t.Fatalf("kinit -k -t: exit %d, %q, %s", code, name, errs)
	}
	if out := klist(t, testutil.Env(env, "KRB5CCNAME=DIR:"+dir)); !strings.Contains(out, "Default principal: batch@"+r.Name) {
		t.Fatalf("klist of the DIR collection:\n%s", out)
	}
	if code, name, _ := run(kinitOptions{}, "alice", "alice-Secret-1\n"); code != exitOK || !strings.HasPrefix(name, "DIR::"+dir+"/tkt") || name == "DIR::"+dir+"/tkt" {
		t.Fatalf("kinit of another principal into the collection: exit %d, %q", code, name)
	}
	if out := klist(t, testutil.Env(env, "KRB5CCNAME=DIR:"+dir), "-l"); !strings.Contains(out, "alice@") || !strings.Contains(out, "batch@") {
		t.Fatalf("klist -l:\n%s", out)
	}

	// KCM: through sssd-kcm.
	d := kcmtest.New(t)
	conf, err := d.Krb5Conf(r.Krb5Con)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5_CONFIG", conf)
	t.Setenv("KRB5CCNAME", "KCM:")
	if code, name, errs := run(kinitOptions{}, "alice", "alice-Secret-1\n"); code != exitOK || !strings.HasPrefix(name, "KCM:0") {
		t.Fatalf("kinit into KCM: exit %d, %q, %s", code, name, errs)
	}
	if out := klist(t, testutil.Env(env, "KRB5_CONFIG="+conf, "KRB5CCNAME=KCM:")); !strings.Contains(out, "Default principal: alice@"+r.Name) {
		t.Fatalf("klist of KCM:\n%s", out)
	}

	// Refusals.
	if code, _, _ := run(kinitOptions{ccache: file}, "alice", "wrong\n"); code != exitAuth {
		t.Fatalf("wrong password: exit %d, want %d", code, exitAuth)
	}
	if code, _, _ := run(kinitOptions{useKeytab: true, keytab: filepath.Join(t.TempDir(), "none")}, "", ""); code != exitConfig {
		t.Fatalf("missing keytab: exit %d, want %d", code, exitConfig)
	}
	if code, _, _ := run(kinitOptions{ccache: file}, "", ""); code != exitUsage {
		t.Fatalf("no principal: exit %d, want %d", code, exitUsage)
	}
	if _, err := os.Stat(strings.TrimPrefix(file, "FILE:")); err != nil {
		t.Fatal(err)
	}
}
