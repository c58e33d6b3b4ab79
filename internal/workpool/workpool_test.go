package workpool

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fn func()

func (f fn) Run() { f() }

func TestBoundedWorkersAndQueue(t *testing.T) {
	p := New(2, 3)
	gate := make(chan struct{})
	var running, peak, done atomic.Int32
	task := fn(func() {
		n := running.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		<-gate
		running.Add(-1)
		done.Add(1)
	})
	for i := 0; i < 5; i++ {
		if !p.Submit(task) {
			t.Fatalf("submit %d refused", i)
		}
		if i == 1 { // let both workers take their task off the queue
			for running.Load() < 2 {
				runtime.Gosched()
			}
		}
	}
	if p.Submit(task) {
		t.Fatal("submit beyond workers+queue accepted")
	}
	if p.Len() != 3 || p.Workers() != 2 {
		t.Fatalf("Len = %d, Workers = %d", p.Len(), p.Workers())
	}
	close(gate)
	p.Close()
	if done.Load() != 5 || peak.Load() > 2 {
		t.Fatalf("done %d, peak %d", done.Load(), peak.Load())
	}
	if p.Submit(task) {
		t.Fatal("submit after Close accepted")
	}
}

func TestGoroutinesBounded(t *testing.T) {
	before := runtime.NumGoroutine()
	p := New(8, 100)
	var wg sync.WaitGroup
	for i := 0; i < 500; i++ {
		wg.Add(1)
		for !p.Submit(fn(wg.Done)) {
			runtime.Gosched()
		}
	}
	wg.Wait()
	if n := runtime.NumGoroutine(); n > before+8 || p.Workers() > 8 {
		t.Fatalf("goroutines: %d before, %d with the pool (%d workers)", before, n, p.Workers())
	}
	p.Close()
	// A worker has called wg.Done when Close returns but may not have
	// exited yet: give it a moment.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("goroutines: %d before, %d after Close", before, n)
	}
}

func BenchmarkSubmitWait(b *testing.B) {
	p := New(4, 1024)
	done := make(chan struct{}, 1)
	task := fn(func() { done <- struct{}{} })
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.Submit(task)
		<-done
	}
}
