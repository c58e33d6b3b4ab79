//go:build !unix

package netlogon

import "io/fs"

// checkSecretPerm has no POSIX permissions to check here.
func checkSecretPerm(string, fs.FileInfo) error { return nil }
