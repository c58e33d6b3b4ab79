//go:build linux

package adtest

// FreeRADIUS (Debian's freeradius and freeradius-utils) with its mschap
// module calling `gosspi ntlm-auth --request-nt-key ...` instead of
// Samba's ntlm_auth: the 802.1X/VPN path to Active Directory without
// winbind.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/internal/testutil"
)

// startFreeRADIUS runs freeradius -X from a private copy of
// /etc/freeradius/3.0 whose mschap module runs ntlmAuth, and waits until
// it is ready.
func startFreeRADIUS(t *testing.T, ntlmAuth string) {
	t.Helper()
	testutil.RequirePeer(t, "freeradius", "radtest")
	dir := filepath.Join(t.TempDir(), "raddb")
	if out, err := exec.Command("cp", "-a", "/etc/freeradius/3.0", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy the FreeRADIUS configuration: %v: %s", err, out)
	}
	conf := filepath.Join(dir, "radiusd.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	// Stay root: the private copy is not readable by freerad.
	s := regexp.MustCompile(`(?m)^(\s*)(user|group) = freerad`).ReplaceAllString(string(b), "$1#$2 = freerad")
	if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	mschap := fmt.Sprintf("mschap {\n\tuse_mppe = yes\n\trequire_encryption = no\n\trequire_strong = no\n\twith_ntdomain_hack = yes\n"+
		"\tntlm_auth = \"%s\"\n\tntlm_auth_timeout = 10\n}\n", ntlmAuth)
	os.Remove(filepath.Join(dir, "mods-enabled", "mschap"))
	if err := os.WriteFile(filepath.Join(dir, "mods-enabled", "mschap"), []byte(mschap), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("freeradius", "-X", "-d", dir)
	log := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("freeradius log:\n%s", log.String())
		}
	})
	for i := 0; i < 400; i++ {
		if strings.Contains(log.String(), "Ready to process requests") {
			return
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling a child's log for readiness
	}
	t.Fatalf("freeradius is not ready:\n%s", log.String())
}

// radtest runs `radtest -t mschap` and reports whether it got an
// Access-Accept.
func radtest(t *testing.T, user, password string) (bool, string) {
	t.Helper()
	out, _ := exec.Command("radtest", "-t", "mschap", user, password, "127.0.0.1", "0", "testing123").CombinedOutput()
	s := string(out)
	switch {
	case strings.Contains(s, "Received Access-Accept"):
		return true, s
	case strings.Contains(s, "Received Access-Reject"):
		return false, s
	}
	t.Fatalf("radtest got no answer:\n%s", s)
	return false, s
}

// TestFreeRADIUSMSCHAP: radtest -t mschap for a domain user gets
// Access-Accept through FreeRADIUS, its mschap module and gosspi ntlm-auth
// at the DC; a wrong password and a disabled account Access-Reject.
func TestFreeRADIUSMSCHAP(t *testing.T) {
	addc.Start(t)
	helper := fmt.Sprintf("%s ntlm-auth --request-nt-key --allow-mschapv2 --username=%%{mschap:User-Name} --domain=%s "+
		"--challenge=%%{%%{mschap:Challenge}:-00} --nt-response=%%{%%{mschap:NT-Response}:-00} -dc %s -machine %s",
		gosspiBinary(t), addc.Domain, addc.Addr, machineFile(t, addc.Machine.Password))
	startFreeRADIUS(t, helper)
	if ok, out := radtest(t, addc.Alice.Name, addc.Alice.Password); !ok {
		t.Fatalf("alice: no Access-Accept:\n%s", out)
	}
	if ok, out := radtest(t, addc.Alice.Name, "wrong"); ok {
		t.Errorf("alice with a wrong password: Access-Accept:\n%s", out)
	}
	if ok, out := radtest(t, addc.Disabled.Name, addc.Disabled.Password); ok {
		t.Errorf("a disabled account: Access-Accept:\n%s", out)
	}
}
