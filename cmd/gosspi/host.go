package main

import (
	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/ntlm"
)

// newHost returns the standard host (Negotiate, Kerberos, NTLM) with the
// NTLM account store given (nil: the store comes from the credential
// options or NTLM_USER_FILE).
func newHost(accounts ntlm.AccountStore) (*gosspi.Host, error) {
	return gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: accounts}})
}
