package lsad

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Peer is the caller at the other end of a connection, as the kernel
// reports it (SO_PEERCRED): never taken from a request.
type Peer struct {
	UID, GID, PID uint32
	Groups        []uint32 // supplementary groups at connect time (SO_PEERGROUPS)
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
	var groups []uint32
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		groups, gerr = peerGroups(int(fd))
	}); err != nil {
		return Peer{}, err
	}
	if serr != nil {
		return Peer{}, fmt.Errorf("lsad: SO_PEERCRED: %w", serr)
	}
	if gerr != nil {
		return Peer{}, fmt.Errorf("lsad: SO_PEERGROUPS: %w", gerr)
	}
	return Peer{UID: cred.Uid, GID: cred.Gid, PID: uint32(cred.Pid), Groups: groups}, nil
}

// peerGroups reads the supplementary groups the peer had when it
// connected, from the socket itself (SO_PEERGROUPS, Linux 4.13): the kernel
// records them with the connection, as it does SO_PEERCRED. Reading them
// from /proc/PID/status instead would be a race: the caller could exit and
// its pid go to a process of other groups before the daemon looks.
func peerGroups(fd int) ([]uint32, error) {
	buf := make([]uint32, 64)
	for {
		n := uint32(len(buf) * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		switch {
		case errno == unix.ERANGE && n/4 > uint32(len(buf)) && n/4 <= 1<<16:
			buf = make([]uint32, n/4)
			continue
		case errno != 0:
			return nil, errno
		}
		return buf[:n/4], nil
	}
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
