//go:build unix

package testutil

import (
	"syscall"
	"time"
)

// ProcessCPU is this process's user and system CPU time so far
// (getrusage), for benchmarks that report CPU time beside the wall clock:
// on a shared machine the wall clock includes the time other processes
// held the CPU, CPU time does not.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
