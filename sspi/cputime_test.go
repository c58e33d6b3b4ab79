package sspi_test

import (
	"syscall"
	"testing"
	"time"
)

// cpuTimer reports the process CPU time (user + system) per operation as
// "cpu-ns/op" next to ns/op. On a shared machine wall-clock ns/op includes
// the time other processes held the CPU; CPU time per op does not.
type cpuTimer struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) *cpuTimer {
	b.ResetTimer()
	return &cpuTimer{start: cpuNow()}
}

func (c *cpuTimer) report(b *testing.B) {
	b.ReportMetric(float64(cpuNow()-c.start)/float64(b.N), "cpu-ns/op")
}
