//go:build linux

package addc

import (
	"fmt"
	"path/filepath"
	"strings"
)

// The S4U and delegation part of the domain (MS-SFU): service accounts
// with SPNs and exported keytabs, and the delegation each may do.
//
//   - SvcFront is trusted for protocol transition
//     (TRUSTED_TO_AUTH_FOR_DELEGATION: its S4U2Self tickets are forwardable)
//     with classic constrained delegation (msDS-AllowedToDelegateTo) to
//     BackSPN.
//   - SvcKCD has constrained delegation to BackSPN but no protocol
//     transition ("Kerberos only"): its S4U2Self tickets are not
//     forwardable, so S4U2Proxy needs a real forwardable ticket.
//   - SvcNoDeleg may not delegate at all.
//   - SvcRBCDBack lets SvcRBCDFront act on behalf of users to it
//     (resource-based constrained delegation,
//     msDS-AllowedToActOnBehalfOfOtherIdentity); SvcRBCDFront has no
//     delegation rights of its own.
//   - SvcBack is TRUSTED_FOR_DELEGATION: the KDC sets ok-as-delegate on
//     tickets to BackSPN (Service, HTTP/web, has no such flag).
var (
	SvcFront     = Account{"svc-front", "Front-Pass-1!"}
	SvcBack      = Account{"svc-back", "Back-Pass-1!"}
	SvcKCD       = Account{"svc-kcd", "Kcd-Pass-1!"}
	SvcNoDeleg   = Account{"svc-nodeleg", "NoDeleg-Pass-1!"}
	SvcRBCDFront = Account{"svc-rbcd-front", "RbcdF-Pass-1!"}
	SvcRBCDBack  = Account{"svc-rbcd-back", "RbcdB-Pass-1!"}
)

// The SPNs of the S4U service accounts.
const (
	FrontSPN     = "HTTP/front.addc.gosspi.test"
	BackSPN      = "HTTP/back.addc.gosspi.test"
	KCDSPN       = "HTTP/kcd.addc.gosspi.test"
	NoDelegSPN   = "HTTP/nodeleg.addc.gosspi.test"
	RBCDFrontSPN = "HTTP/rbcd-front.addc.gosspi.test"
	RBCDBackSPN  = "HTTP/rbcd-back.addc.gosspi.test"
)

// s4uServices are the S4U accounts and their SPNs, in provisioning order.
var s4uServices = []struct {
	acct Account
	spn  string
}{
	{SvcFront, FrontSPN}, {SvcBack, BackSPN}, {SvcKCD, KCDSPN},
	{SvcNoDeleg, NoDelegSPN}, {SvcRBCDFront, RBCDFrontSPN}, {SvcRBCDBack, RBCDBackSPN},
}

// ServiceKeytab returns the keytab the harness exported for one of the S4U
// service accounts: the keys of its SPN and of its account name, all three
// enctypes.
func (d *DC) ServiceKeytab(a Account) string {
	return filepath.Join(d.Dir, "s4u-"+a.Name+".keytab")
}

// SPNOf returns the SPN of an S4U service account, or "".
func SPNOf(a Account) string {
	for _, s := range s4uServices {
		if s.acct.Name == a.Name {
			return s.spn
		}
	}
	return ""
}

// s4uSteps provision the S4U part: tool runs samba-tool with the provision's
// smb.conf.
func s4uSteps(dir string, tool func(args ...string) step) []step {
	var steps []step
	for _, s := range s4uServices {
		a := s.acct
		kt := filepath.Join(dir, "s4u-"+a.Name+".keytab")
		steps = append(steps,
			tool("user", "create", a.Name, a.Password, "--use-username-as-cn"),
			tool("spn", "add", s.spn, a.Name),
			step{ldif: fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: msDS-SupportedEncryptionTypes\nmsDS-SupportedEncryptionTypes: 28\n", userDN(a.Name))},
			tool("user", "setpassword", a.Name, "--newpassword="+a.Password),
			tool("domain", "exportkeytab", kt, "--principal="+s.spn),
			tool("domain", "exportkeytab", kt, "--principal="+a.Name),
		)
	}
	// msDS-AllowedToDelegateTo takes the SPN with and without the domain
	// (Windows writes both; the KDC compares the requested name).
	short := BackSPN[:strings.IndexByte(BackSPN, '.')]
	return append(steps,
		tool("delegation", "for-any-protocol", SvcFront.Name, "on"),
		tool("delegation", "add-service", SvcFront.Name, BackSPN),
		tool("delegation", "add-service", SvcFront.Name, short),
		tool("delegation", "add-service", SvcKCD.Name, BackSPN),
		tool("delegation", "add-principal", SvcRBCDBack.Name, SvcRBCDFront.Name),
		tool("delegation", "for-any-service", SvcBack.Name, "on"),
	)
}
