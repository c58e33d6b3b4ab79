//go:build linux

package addc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// samba's master process leaves its children (prefork workers, smbd,
// winbindd, samba-dcerpcd and its rpcd_* helpers) to end on their own; a
// worker can go on serving a connection it holds for a while after the
// master exits, so a stopped DC would still answer on it. killLeftovers
// kills every Samba server process of this namespace (there is one DC per
// namespace) and waits until each has gone or become a zombie, so that a
// stopped DC is down.
func killLeftovers() {
	var left []int
	for _, p := range sambaProcesses() {
		if syscall.Kill(p, syscall.SIGKILL) == nil {
			left = append(left, p)
		}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for len(left) > 0 {
		select {
		case <-tick.C:
		case <-deadline.C:
			return
		}
		left = stillAlive(left)
	}
}

// sambaProcesses lists the live processes whose executable is one of
// Samba's servers.
func sambaProcesses() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !alive(pid) {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		exe = strings.TrimSuffix(exe, " (deleted)")
		switch {
		case strings.HasPrefix(exe, "/usr/libexec/samba/"),
			exe == "/usr/sbin/samba", exe == "/usr/sbin/smbd", exe == "/usr/sbin/winbindd", exe == "/usr/sbin/nmbd":
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

func stillAlive(pids []int) []int {
	out := pids[:0]
	for _, p := range pids {
		if alive(p) {
			out = append(out, p)
		}
	}
	return out
}
