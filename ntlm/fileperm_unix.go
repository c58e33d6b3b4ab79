//go:build unix

package ntlm

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkFileSecurity refuses an account or credential file that another
// local user could change, as OpenSSH refuses such keys: group- or
// world-writable, or owned by a user that is neither this process's nor
// root.
func checkFileSecurity(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &fileError{msg: fmt.Sprintf("ntlm: permissions %04o for '%s' are too open (group- or world-writable); run chmod 600 %s", perm, path, path)}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); st.Uid != 0 && int64(st.Uid) != int64(uid) {
		return &fileError{msg: fmt.Sprintf("ntlm: '%s' is owned by uid %d, neither this process's uid %d nor root; run chown %d %s", path, st.Uid, uid, uid, path)}
	}
	return nil
}
