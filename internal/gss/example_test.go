package gss_test

import (
	"fmt"

	"github.com/gosspi/gosspi/internal/gss"
)

// Frame a Kerberos AP-REQ (TOK_ID 01 00, then the message) as an RFC 2743
// InitialContextToken, and parse it back.
func ExampleFrame() {
	inner := []byte{0x01, 0x00, 0x6e, 0x00}
	tok := gss.Frame(gss.OIDKerberos, inner)
	fmt.Printf("% x\n", tok)
	t, n, err := gss.Parse(append(tok, 0xff))
	fmt.Println(t.Mech, n, err)
	// Output:
	// 60 0f 06 09 2a 86 48 86 f7 12 01 02 02 01 00 6e 00
	// 1.2.840.113554.1.2.2 17 <nil>
}
