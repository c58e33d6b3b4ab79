package ntlm

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime reports the process's CPU time per operation as "cpu-ns/op"
// beside the wall-clock ns/op. On a shared, loaded machine the wall clock
// includes time spent waiting for a core; CPU time does not.
type cpuTime struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() *cpuTime { return &cpuTime{start: processCPU()} }

func (c *cpuTime) report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
	}
}
