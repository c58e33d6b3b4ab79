//go:build linux

package adtest

import (
	"testing"

	"github.com/gosspi/gosspi/internal/addc"
)

// TestS4UDelegationSettings shows the delegation settings the harness
// provisioned, as samba-tool reads them back.
func TestS4UDelegationSettings(t *testing.T) {
	dc := addc.Start(t)
	for _, a := range []addc.Account{addc.SvcFront, addc.SvcKCD, addc.SvcRBCDBack, addc.SvcBack, addc.SvcNoDeleg} {
		out, err := dc.SambaTool("delegation", "show", a.Name)
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		t.Logf("%s:\n%s", a.Name, out)
	}
}
