package krbtest_test

import (
	"fmt"

	"github.com/gosspi/gosspi/internal/krbtest"
)

// Start a realm (from TestMain, or krbtest.NewRealm(t, ...) in a test),
// make a user and a service with a keytab, get the user a TGT with kinit,
// and hand Env() to MIT tools or to the code under test.
func ExampleStart() {
	r, err := krbtest.Start(krbtest.Options{Realm: "EXAMPLE.TEST"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	if err := r.AddPrincipal("alice", "alice-Secret-1"); err != nil {
		fmt.Println(err)
		return
	}
	keytab, err := r.AddService("HTTP/web.localhost", "aes256-cts-hmac-sha1-96")
	if err != nil {
		fmt.Println(err)
		return
	}
	ccache, err := r.Kinit("alice", "alice-Secret-1", "-f")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Principal("alice"), keytab != "", ccache != "", len(r.Env()) > 4)
	// Output: alice@EXAMPLE.TEST true true true
}
