//go:build unix

package netlogon

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkSecretPerm refuses a secret file that others can read or write, or
// that a user other than this process's or root owns.
func checkSecretPerm(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("netlogon: permissions %04o for %s are too open: the machine account's secret must be readable by its owner only (chmod 600 %s)", perm, path, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := os.Geteuid(); st.Uid != 0 && int64(st.Uid) != int64(uid) {
			return fmt.Errorf("netlogon: %s is owned by uid %d, neither this process's uid %d nor root (chown %d %s)", path, st.Uid, uid, uid, path)
		}
	}
	return nil
}
