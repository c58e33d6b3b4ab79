package lsad

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/gosspi/gosspi/ntlm"
	"golang.org/x/sys/unix"
)

// noKeytab and noCCache name files that do not exist: what a package
// gets when the policy grants the caller no keytab or no ccache, so that
// it never falls back to one of the daemon's own.
const (
	noKeytab = "/nonexistent/lsad-policy-grants-no-keytab"
	noCCache = "FILE:/nonexistent/lsad-no-ccache"
)

// maxCredFile caps a caller's NTLM credential file.
const maxCredFile = 1 << 20

// openOwn opens a caller's file without following a symbolic link and
// checks that it is a regular file owned by uid: the daemon reads it for
// the caller, so it must be one the caller could have made.
func openOwn(path string, uid uint32) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot open: %w", err)
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, errors.New("not a regular file")
	}
	if st.Uid != uid {
		f.Close()
		return nil, fmt.Errorf("owned by uid %d, not by the caller (uid %d)", st.Uid, uid)
	}
	return f, nil
}

// openOwnCCache opens the caller's FILE ccache and returns a name for the
// open file (/proc/self/fd/N), so that the Kerberos package reads the
// file that was checked and not whatever the path names by then.
// Collections the daemon cannot open as the caller (KCM:, KEYRING:, DIR:)
// are refused.
func openOwnCCache(name string, uid uint32) (string, func(), error) {
	path := name
	if typ, rest, ok := strings.Cut(name, ":"); ok && !strings.HasPrefix(name, "/") {
		if typ != "FILE" {
			return "", func() {}, fmt.Errorf("ccache type %s: only FILE caches can be used through lsad", typ)
		}
		path = rest
	}
	if !strings.HasPrefix(path, "/") {
		return "", func() {}, errors.New("not an absolute path")
	}
	f, err := openOwn(path, uid)
	if err != nil {
		return "", func() {}, err
	}
	return "FILE:/proc/self/fd/" + strconv.Itoa(int(f.Fd())), func() { f.Close() }, nil
}

// ownAccount reads the caller's NTLM credential file (NTLM_USER_FILE or
// a gosspi account file) and returns the account for user (the first
// entry when user is empty).
func ownAccount(path string, uid uint32, user, domain string) (*ntlm.Account, error) {
	f, err := openOwn(path, uid)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCredFile+1))
	f.Close()
	defer clear(data)
	if err != nil {
		return nil, err
	}
	if len(data) > maxCredFile {
		return nil, errors.New("larger than 1 MiB")
	}
	var m *ntlm.MemoryStore
	if bytes.HasPrefix(data, []byte(ntlm.HashFileMagic)) {
		m, err = ntlm.ParseHashFile(data)
	} else {
		m, err = ntlm.ParseUserFile(data)
	}
	if err != nil {
		return nil, errors.New("malformed")
	}
	if domain == "" {
		user, domain = ntlm.SplitUserName(user)
	}
	if user != "" {
		a, err := m.LookupAccount(context.Background(), domain, user)
		if err != nil {
			return nil, errors.New("user not in the file")
		}
		return a, nil
	}
	l := m.List()
	if len(l) == 0 {
		return nil, errors.New("no entries")
	}
	return &l[0], nil
}
