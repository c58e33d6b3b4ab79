//go:build linux

package adtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/lsa/lsad"
	"github.com/gosspi/gosspi/sspi"
)

// TestLsadNetlogon: NETLOGON pass-through behind the daemon. lsad holds
// the machine account's secret (its config's netlogon section, a 0600
// file only it reads); an application whose host is the daemon
// (HostConfig.LSA) accepts a domain user's NTLM logon and gets the DC's
// identity (SID, groups) and working message keys, with no secret of its
// own. A wrong password is SEC_E_LOGON_DENIED.
func TestLsadNetlogon(t *testing.T) {
	dc := addc.Start(t)
	dir := t.TempDir()
	machine := filepath.Join(dir, "machine")
	text := fmt.Sprintf("account = %s\ndomain = %s\ndns_domain = %s\npassword = %s\n", addc.Machine.Name, addc.Domain, addc.DNSDomain, addc.Machine.Password)
	if err := os.WriteFile(machine, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "lsad.sock")
	f := &lsad.FileConfig{Socket: sock, Krb5Conf: dc.Krb5Conf,
		NETLOGON: &lsad.NetlogonConfig{DC: addc.Addr, Machine: machine},
		Services: []lsad.Service{{Name: "app", UIDs: []uint32{uint32(os.Getuid())}, Inbound: true, Packages: []string{"NTLM", "Negotiate"}}}}
	d, err := lsad.New(lsad.Config{File: f})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go d.Serve(ln)
	t.Cleanup(func() { d.Close() })

	app, err := gosspi.NewHost(gosspi.HostConfig{LSA: "unix:" + sock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	c, s, err := ntlmLogon(t, &gosspi.Identity{User: `addc\ALICE`, Password: addc.Alice.Password}, app)
	if err != nil {
		t.Fatalf("logon through lsad: %v\n%s", err, dc.Log())
	}
	id, err := s.Identity()
	if err != nil {
		t.Fatal(err)
	}
	sid, _ := dc.SID(addc.Alice.Name)
	gb, _ := dc.SID(addc.GroupB)
	if id.Principal != `ADDC\alice` || id.SID != sid || !slices.Contains(id.Groups, gb) {
		t.Errorf("identity %+v, want ADDC\\alice (%s) in %s", id, sid, gb)
	}
	roundTrip(t, c, s, "to the application")
	roundTrip(t, s, c, "from the application")

	_, _, err = ntlmLogon(t, &gosspi.Identity{User: `ADDC\alice`, Password: "wrong"}, app)
	if !errors.Is(err, sspi.SEC_E_LOGON_DENIED) {
		t.Fatalf("wrong password through lsad: %v, want SEC_E_LOGON_DENIED", err)
	}
}
