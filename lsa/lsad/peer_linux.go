package lsad

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Peer is the caller at the other end of a connection, as the kernel
// reports it (SO_PEERCRED): never taken from a request.
type Peer struct {
	UID, GID, PID uint32
	Groups        []uint32 // supplementary groups, from /proc/PID/status
}

// peerOf reads SO_PEERCRED of a Unix socket connection.
func peerOf(c net.Conn) (Peer, error) {
	uc, ok := c.(syscall.Conn)
	if _, unix := c.LocalAddr().(*net.UnixAddr); !ok || !unix {
		return Peer{}, errors.New("lsad: not a Unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, err
	}
	if serr != nil {
		return Peer{}, fmt.Errorf("lsad: SO_PEERCRED: %w", serr)
	}
	p := Peer{UID: cred.Uid, GID: cred.Gid, PID: uint32(cred.Pid)}
	p.Groups = procGroups(cred.Pid)
	return p, nil
}

// procGroups reads the supplementary groups of a process. The process may
// be gone (or in another PID namespace); then it has none here, and only
// its uid and primary gid count.
func procGroups(pid int32) []uint32 {
	f, err := os.Open("/proc/" + strconv.Itoa(int(pid)) + "/status")
	if err != nil {
		return nil
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), "Groups:")
		if !ok {
			continue
		}
		var out []uint32
		for _, g := range strings.Fields(rest) {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				out = append(out, uint32(n))
			}
		}
		return out
	}
	return nil
}

// Listeners returns the sockets systemd passed (socket activation:
// LISTEN_PID, LISTEN_FDS, file descriptors from 3), or nil when there are
// none for this process. It unsets the variables, as sd_listen_fds does.
func Listeners() ([]net.Listener, error) {
	pid, fds := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	if fds == "" || pid != strconv.Itoa(os.Getpid()) {
		return nil, nil
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n <= 0 || n > 64 {
		return nil, fmt.Errorf("lsad: bad LISTEN_FDS %q", fds)
	}
	var out []net.Listener
	for fd := 3; fd < 3+n; fd++ {
		unix.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "LISTEN_FD_"+strconv.Itoa(fd))
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("lsad: socket-activation fd %d: %w", fd, err)
		}
		if _, ok := ln.(*net.UnixListener); !ok {
			ln.Close()
			return nil, fmt.Errorf("lsad: socket-activation fd %d is not a Unix stream socket", fd)
		}
		out = append(out, ln)
	}
	return out, nil
}
