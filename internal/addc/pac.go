//go:build linux

package addc

import (
	"fmt"
	"path/filepath"
)

// The accounts and groups of the PAC tests (internal/adtest/pac_test.go):
// what the KDC writes into the PAC of their tickets.
var (
	// Carol is a member of the twelve PACGroups directly, and of
	// PACUniversal through the last of them; her primary group is the
	// first of them, her UPN (userPrincipalName) PACUPN and her display
	// name (the PAC's FullName) "Carol Pac". Her service tickets carry a
	// full PAC: the benchmark's.
	Carol = Account{"carol", "Carol-Pass-1!"}
	// Dave has no userPrincipalName: his PAC's UPN_DNS_INFO is the one
	// the KDC makes up (the U flag).
	Dave = Account{"dave", "Dave-Pass-1!"}
)

const (
	// PACUPN is Carol's userPrincipalName, spelt unlike her account name.
	PACUPN = "Carol.Pac@addc.gosspi.test"
	// PACUniversal is a universal group with the last of PACGroups in it.
	PACUniversal = "gosspi-pac-universal"
	// PACLocal is a domain-local group with GroupB in it: Alice is in it
	// through GroupA, GroupB.
	PACLocal = "gosspi-pac-local"
	// KDCKeytab is the run directory's keytab with the krbtgt keys (a DC
	// holds them), for the acceptor's Config.KDCKeytab.
	KDCKeytab = "krbtgt.keytab"
)

// PACServices are service accounts with one enctype each, so that the KDC
// encrypts their tickets, and signs their PACs, with that enctype's key:
// HMAC-MD5 (RC4) and HMAC-SHA1-96-AES128 server signatures. Each has the
// SPN "HTTP/<Host>" and its keys in the run directory's <Name>.keytab.
var PACServices = []PACService{
	{Account{"svc-rc4", "Svc-Rc4-Pass-1!"}, "rc4.addc.gosspi.test", 4},
	{Account{"svc-aes128", "Svc-Aes128-Pass-1!"}, "aes128.addc.gosspi.test", 8},
}

// PACService is one of PACServices.
type PACService struct {
	Account
	Host     string
	Enctypes int // msDS-SupportedEncryptionTypes
}

// SPN is the service's principal name.
func (s PACService) SPN() string { return "HTTP/" + s.Host }

// Keytab is the file (in the run directory) with the service's keys.
func (s PACService) Keytab() string { return s.Name + ".keytab" }

// PACGroups are the twelve global groups Carol is a member of.
var PACGroups = func() []string {
	g := make([]string, 12)
	for i := range g {
		g[i] = fmt.Sprintf("gosspi-pac-%02d", i+1)
	}
	return g
}()

// pacSteps provision the PAC part's accounts and groups, and export the
// krbtgt keys into KDCKeytab.
func pacSteps(dir string, tool func(args ...string) step) []step {
	s := []step{
		tool("user", "create", Carol.Name, Carol.Password, "--use-username-as-cn", "--given-name=Carol", "--surname=Pac"),
		tool("user", "rename", Carol.Name, "--upn="+PACUPN, "--display-name=Carol Pac"),
		tool("user", "create", Dave.Name, Dave.Password, "--use-username-as-cn"),
		{ldif: fmt.Sprintf("dn: %s\nchangetype: modify\ndelete: userPrincipalName\n", userDN(Dave.Name))},
	}
	for _, g := range PACGroups {
		s = append(s, tool("group", "add", g), tool("group", "addmembers", g, Carol.Name))
	}
	s = append(s,
		tool("user", "setprimarygroup", Carol.Name, PACGroups[0]),
		tool("group", "add", PACUniversal, "--group-scope=Universal"),
		tool("group", "addmembers", PACUniversal, PACGroups[len(PACGroups)-1]),
		tool("group", "add", PACLocal, "--group-scope=Domain"),
		tool("group", "addmembers", PACLocal, GroupB),
		tool("domain", "exportkeytab", filepath.Join(dir, KDCKeytab), "--principal=krbtgt"),
	)
	for _, svc := range PACServices {
		s = append(s,
			tool("user", "create", svc.Name, svc.Password, "--use-username-as-cn"),
			tool("spn", "add", svc.SPN(), svc.Name),
			step{ldif: fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: msDS-SupportedEncryptionTypes\nmsDS-SupportedEncryptionTypes: %d\n", userDN(svc.Name), svc.Enctypes)},
			tool("user", "setpassword", svc.Name, "--newpassword="+svc.Password),
			tool("domain", "exportkeytab", filepath.Join(dir, svc.Keytab()), "--principal="+svc.SPN()),
		)
	}
	return s
}
