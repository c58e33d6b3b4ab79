//go:build unix

package netlogon

import (
	"errors"
	"net"
	"syscall"
)

// alive reports whether an idle connection is still open: a peek that
// does not block finds no end of stream, error or unsolicited data (a DC
// that restarted has closed it).
func alive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var rerr error
	var buf [1]byte
	if err := raw.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}); err != nil {
		return false
	}
	// No error is 0 bytes (the end of the stream) or unsolicited data.
	return errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK)
}
