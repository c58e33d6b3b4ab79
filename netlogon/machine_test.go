package netlogon

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gosspi/gosspi/internal/ntlmssp"
)

func writeFile(t *testing.T, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadMachineAccountFile(t *testing.T) {
	want := ntlmssp.NTOWFv1("Machine-Pass-1!")
	for name, content := range map[string]string{
		"password": "# the machine account\naccount = WS1$\ndomain = ADDC\ndns_domain = ADDC.gosspi.test\npassword = Machine-Pass-1!\n",
		"hash":     "account=WS1$\ndomain=ADDC\ndns_domain=addc.gosspi.test\nnt_hash=" + strings.ToUpper(hex.EncodeToString(want[:])) + "\n",
	} {
		p := writeFile(t, "machine", []byte(content), 0o600)
		m, err := LoadMachineAccount(p, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.Account != "WS1$" || m.Domain != "ADDC" || m.DNSDomain != "addc.gosspi.test" || m.NTHash != want {
			t.Errorf("%s: %+v", name, m)
		}
		if _, err := LoadMachineAccount(p, "OTHER$"); err == nil {
			t.Errorf("%s: the file's account matched OTHER$", name)
		}
	}
	for name, content := range map[string]string{
		"no account":    "password = x\n",
		"no $":          "account = WS1\npassword = x\n",
		"no secret":     "account = WS1$\n",
		"both":          "account = WS1$\npassword = x\nnt_hash = " + strings.Repeat("00", 16) + "\n",
		"short hash":    "account = WS1$\nnt_hash = abcd\n",
		"unknown key":   "account = WS1$\npassword = x\ncolour = blue\n",
		"not a key=val": "account WS1$\n",
	} {
		p := writeFile(t, "machine", []byte(content), 0o600)
		if _, err := LoadMachineAccount(p, ""); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Readable by others: refused, with the fix in the message.
	p := writeFile(t, "machine", []byte("account = WS1$\npassword = x\n"), 0o644)
	if _, err := LoadMachineAccount(p, ""); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable secret: %v", err)
	}
	if _, err := LoadMachineAccount(filepath.Join(t.TempDir(), "missing"), ""); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestLoadMachineAccountKeytab(t *testing.T) {
	kt := keytab.New()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, e := range []struct {
		name string
		kvno uint8
		et   int32
		pw   string
	}{
		{"HTTP/web.addc.gosspi.test", 1, 23, "x"},
		{"WS1$", 1, 23, "old password"},
		{"WS1$", 2, 18, "Machine-Pass-1!"},
		{"WS1$", 2, 23, "Machine-Pass-1!"},
		{"OTHER$", 3, 23, "other"},
	} {
		if err := kt.AddEntry(e.name, "ADDC.GOSSPI.TEST", e.pw, at, e.kvno, e.et); err != nil {
			t.Fatal(err)
		}
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, "krb5.keytab", b, 0o600)
	m, err := LoadMachineAccount(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Account != "WS1$" || m.DNSDomain != "addc.gosspi.test" || m.NTHash != ntlmssp.NTOWFv1("Machine-Pass-1!") {
		t.Errorf("%+v", m)
	}
	if m, err = LoadMachineAccount(p, "other$"); err != nil || m.NTHash != ntlmssp.NTOWFv1("other") {
		t.Errorf("OTHER$: %+v %v", m, err)
	}
	if _, err := LoadMachineAccount(p, "NONE$"); err == nil || !strings.Contains(err.Error(), "arcfour-hmac") {
		t.Errorf("a missing principal: %v", err)
	}
}

// TestMachineAccountConfig: the client configuration of a machine account:
// "auto" is DNS discovery, overrides win, the NetBIOS domain defaults to
// the DNS domain's first label, and the account's copy of the hash is
// cleared.
func TestMachineAccountConfig(t *testing.T) {
	h := ntlmssp.NTOWFv1("Machine-Pass-1!")
	m := &MachineAccount{Account: "WS1$", DNSDomain: "addc.gosspi.test", NTHash: h}
	cfg := m.Config("auto", "", "")
	if cfg.DC != "" || cfg.Domain != "ADDC" || cfg.DNSDomain != "addc.gosspi.test" || cfg.Account != "WS1$" || cfg.NTHash != h {
		t.Errorf("auto: %+v", cfg)
	}
	if m.NTHash != ([16]byte{}) {
		t.Error("the account still holds the NT hash")
	}
	m = &MachineAccount{Account: "WS1$", Domain: "FILE", DNSDomain: "file.example", NTHash: h}
	cfg = m.Config("dc1:49152", "OVER", "Over.Example")
	if cfg.DC != "dc1:49152" || cfg.Domain != "OVER" || cfg.DNSDomain != "over.example" {
		t.Errorf("overrides: %+v", cfg)
	}
}
