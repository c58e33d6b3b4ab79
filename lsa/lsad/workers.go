package lsad

import (
	"sync"
	"time"
)

// workers runs the daemon's calls on goroutines that outlive one call: a
// Kerberos leg needs a deep stack, and a new goroutine per call would grow
// (copy) its stack every time. A call goes to an idle worker when there is
// one, else to a new one; a worker idle for workerIdle exits.
type workers struct {
	tasks chan func()
	quit  chan struct{}
	wg    sync.WaitGroup
}

const workerIdle = 30 * time.Second

func newWorkers() *workers { return &workers{tasks: make(chan func()), quit: make(chan struct{})} }

// stop ends the idle workers once the running calls are done.
func (w *workers) stop() {
	close(w.quit)
	w.wg.Wait()
}

func (w *workers) run(f func()) {
	select {
	case w.tasks <- f:
	default:
		w.wg.Add(1)
		go w.loop(f)
	}
}

func (w *workers) loop(f func()) {
	defer w.wg.Done()
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		t.Reset(workerIdle)
		select {
		case f = <-w.tasks:
		case <-t.C:
			return
		case <-w.quit:
			return
		}
	}
}
