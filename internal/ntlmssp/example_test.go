package ntlmssp_test

import (
	"fmt"

	"github.com/gosspi/gosspi/internal/ntlmssp"
)

// NTOWFv2 of MS-NLMP section 4.2.4.1.1.
func ExampleNTOWFv2() {
	k := ntlmssp.NTOWFv2(ntlmssp.NTOWFv1("Password"), "User", "Domain")
	fmt.Printf("%x\n", k)
	// Output: 0c868a403bfd7a93a3001ef22ef02e3f
}
