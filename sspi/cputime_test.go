package sspi_test

import (
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"
)

// cpuTimer reports the process CPU time (user + system) per operation as
// "cpu-ns/op" next to ns/op. On a shared machine wall-clock ns/op includes
// the time other processes held the CPU; CPU time per op does not.
type cpuTimer struct{ start time.Duration }

func startCPU(b *testing.B) *cpuTimer {
	b.ResetTimer()
	return &cpuTimer{start: testutil.ProcessCPU()}
}

func (c *cpuTimer) report(b *testing.B) {
	b.ReportMetric(float64(testutil.ProcessCPU()-c.start)/float64(b.N), "cpu-ns/op")
}
