//go:build !linux

package kerberos

import "errors"

// resolveKeyring: the kernel keyring is Linux's.
func (e ccEnv) resolveKeyring(string) (ccStore, ccCollection, error) {
	return nil, nil, errors.New("kerberos: KEYRING: the kernel keyring credential cache exists on Linux only")
}
