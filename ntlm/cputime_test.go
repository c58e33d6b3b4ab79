package ntlm

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime reports the process's CPU time per operation as "cpu-ns/op"
// beside the wall-clock ns/op. On a shared, loaded machine the wall clock
// includes time spent waiting for a core; CPU time does not.
type cpuTime struct {
	start, total time.Duration
	paused       bool
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() *cpuTime { return &cpuTime{start: processCPU()} }

// pause and resume leave set-up work out, like b.StopTimer.
func (c *cpuTime) pause() {
	if !c.paused {
		c.total += processCPU() - c.start
		c.paused = true
	}
}

func (c *cpuTime) resume() {
	if c.paused {
		c.start = processCPU()
		c.paused = false
	}
}

func (c *cpuTime) report(b *testing.B) {
	c.pause()
	if b.N > 0 {
		b.ReportMetric(float64(c.total)/float64(b.N), "cpu-ns/op")
	}
}
