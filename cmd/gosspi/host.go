package main

import (
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// newHost returns a host with the packages the command line offers, and
// the NTLM account store given (nil: the store comes from the credential
// options or NTLM_USER_FILE).
func newHost(accounts ntlm.AccountStore) (*lsa.Host, error) {
	return lsa.New(lsa.Options{}, ntlm.New(ntlm.Config{Accounts: accounts}))
}

// userPackages are the user-mode halves matching newHost.
func userPackages() []sspi.UserModePackage {
	return []sspi.UserModePackage{ntlm.UserMode()}
}
