//go:build linux

package addc_test

import (
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/addc"
)

func TestMain(m *testing.M) { addc.Main(m) }

// TestDC starts the DC and checks the accounts the harness made: MIT's
// kinit for the users and the machine, the groups' nesting, the keytab.
func TestDC(t *testing.T) {
	dc := addc.Start(t)
	t.Logf("%s: provision %v (0 = cached), copy %v, start %v", dc.Version, dc.ProvisionTime, dc.CopyTime, dc.StartTime)
	for _, a := range []addc.Account{addc.Alice, addc.Bob, addc.RC4Only, addc.Service, addc.Machine} {
		if _, err := dc.Kinit(t.TempDir(), dc.Principal(a.Name), a.Password); err != nil {
			t.Errorf("kinit %s: %v", a.Name, err)
		}
	}
	out, err := dc.SambaTool("group", "listmembers", addc.GroupB)
	if err != nil || !strings.Contains(out, addc.GroupA) {
		t.Errorf("%s members: %v: %s", addc.GroupB, err, out)
	}
	out, err = dc.Run(nil, "klist", "-k", "-e", dc.Keytab)
	if err != nil {
		t.Fatalf("klist -k: %v: %s", err, out)
	}
	for _, want := range []string{addc.SPN + "@" + addc.Realm, addc.Service.Name + "@" + addc.Realm, "aes256-cts", "aes128-cts", "arcfour-hmac"} {
		if !strings.Contains(out, want) {
			t.Errorf("service keytab lacks %s:\n%s", want, out)
		}
	}
}

// TestRefusedAccounts checks that kinit refuses the accounts that must
// not log on.
func TestRefusedAccounts(t *testing.T) {
	dc := addc.Start(t)
	for _, a := range []addc.Account{addc.Disabled, addc.Expired, addc.MustChange, addc.AccountExpired} {
		_, err := dc.Kinit(t.TempDir(), dc.Principal(a.Name), a.Password)
		if err == nil {
			t.Errorf("kinit %s succeeded", a.Name)
			continue
		}
		t.Logf("%s: %v", a.Name, err)
	}
}
