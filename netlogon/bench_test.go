//go:build linux

package netlogon

import (
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/internal/testutil"
)

// BenchmarkSamLogon is one pass-through logon after another against the
// DC, and, in the same run, as many by Samba's own client (python3-samba,
// one sealed connection). It reports the latency of both, this process's
// CPU time per logon (what gosspi adds: the DC runs in other processes)
// and that time as a share of the rest of the logon's time (the DC's and
// the network's).
func BenchmarkSamLogon(b *testing.B) {
	dc := addc.Start(b)
	c := dcClient(b, nil)
	r, _ := ntlmv2(addc.Alice.Name, addc.Domain, addc.Alice.Password, [8]byte{8})
	ctx := testCtx(b)
	if _, err := c.VerifyResponse(ctx, r); err != nil { // the secure channel
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0, t0 := testutil.ProcessCPU(), time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := c.VerifyResponse(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	wall, cpu := time.Since(t0), testutil.ProcessCPU()-cpu0
	b.StopTimer()
	per, cpuPer := wall/time.Duration(b.N), cpu/time.Duration(b.N)
	b.ReportMetric(float64(cpuPer.Nanoseconds())/1e3, "gosspi-cpu-µs/logon")
	b.ReportMetric(100*float64(cpuPer)/float64(per-cpuPer), "gosspi-%-of-dc")
	samba := func(n int) (time.Duration, time.Duration) {
		var before syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &before)
		out, err := exec.Command("/usr/bin/python3", "testdata/samba_samlogon.py", dc.SMBConf, addc.Machine.Name, addc.Machine.Password,
			addc.Domain, addc.Realm, r.User, r.Domain, hex.EncodeToString(r.ServerChallenge[:]),
			hex.EncodeToString(r.NTResponse), hex.EncodeToString(r.LMResponse), strconv.Itoa(n)).CombinedOutput()
		if err != nil {
			b.Fatalf("Samba's client: %v\n%s", err, out)
		}
		var after syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &after)
		var s struct {
			ElapsedNS int64 `json:"elapsed_ns"`
		}
		if err := json.Unmarshal(out, &s); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
		return time.Duration(s.ElapsedNS), cpu
	}
	// Samba's client's CPU per logon: that of N logons less that of one
	// (the interpreter's start-up and the secure channel's set-up).
	_, cpu1 := samba(1)
	sw, cpuN := samba(b.N + 1)
	sper := sw / time.Duration(b.N+1)
	b.ReportMetric(float64(sper.Nanoseconds())/1e3, "samba-µs/logon")
	b.ReportMetric(float64((cpuN-cpu1).Nanoseconds())/1e3/float64(b.N), "samba-cpu-µs/logon")
	b.ReportMetric(float64(per)/float64(sper), "gosspi/samba")
}

// BenchmarkSamLogonParallel runs logons from many goroutines through one
// client with the default bound (10 in flight): the DC's full rate.
func BenchmarkSamLogonParallel(b *testing.B) {
	c := dcClient(b, nil)
	r, _ := ntlmv2(addc.Alice.Name, addc.Domain, addc.Alice.Password, [8]byte{9})
	ctx := testCtx(b)
	if _, err := c.VerifyResponse(ctx, r); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(16)
	b.ResetTimer()
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.VerifyResponse(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "logons/s")
}
