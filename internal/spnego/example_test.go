package spnego_test

import (
	"fmt"

	"github.com/gosspi/gosspi/internal/spnego"
)

// ExampleParseToken decodes the NegTokenInit2 a Windows server sends
// before the client speaks.
func ExampleParseToken() {
	tok := []byte("\x60\x48\x06\x06\x2b\x06\x01\x05\x05\x02\xa0\x3e\x30\x3c\xa0\x0e\x30\x0c\x06\x0a\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a" +
		"\xa3\x2a\x30\x28\xa0\x26\x1b\x24not_defined_in_RFC4178@please_ignore")
	init, _, err := spnego.ParseToken(tok)
	if err != nil {
		panic(err)
	}
	fmt.Println(init.MechTypes[0], init.Init2, init.NegHints.HintName)
	// Output: 1.3.6.1.4.1.311.2.2.10 true not_defined_in_RFC4178@please_ignore
}
