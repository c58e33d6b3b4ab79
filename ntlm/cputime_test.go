package ntlm

import (
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"
)

// cpuTime reports the process's CPU time per operation as "cpu-ns/op"
// beside the wall-clock ns/op. On a shared, loaded machine the wall clock
// includes time spent waiting for a core; CPU time does not.
type cpuTime struct {
	start, total time.Duration
	paused       bool
}

func startCPU() *cpuTime { return &cpuTime{start: testutil.ProcessCPU()} }

// pause and resume leave set-up work out, like b.StopTimer.
func (c *cpuTime) pause() {
	if !c.paused {
		c.total += testutil.ProcessCPU() - c.start
		c.paused = true
	}
}

func (c *cpuTime) resume() {
	if c.paused {
		c.start = testutil.ProcessCPU()
		c.paused = false
	}
}

func (c *cpuTime) report(b *testing.B) {
	c.pause()
	if b.N > 0 {
		b.ReportMetric(float64(c.total)/float64(b.N), "cpu-ns/op")
	}
}
