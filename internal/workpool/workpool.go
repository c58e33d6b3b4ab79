// Package workpool is the bounded executor behind the asynchronous SSPI
// calls: a fixed number of worker goroutines and a fixed-size queue, so no
// load can grow goroutines or memory without bound.
package workpool

import (
	"sync"
)

// Task is one unit of work.
type Task interface{ Run() }

// Pool runs Tasks on a fixed set of workers.
type Pool struct {
	q      chan Task
	wg     sync.WaitGroup
	mu     sync.RWMutex
	closed bool
}

// New starts workers goroutines with a queue of queue tasks.
func New(workers, queue int) *Pool {
	if workers < 1 {
		workers = 1
	}
	if queue < 1 {
		queue = 1
	}
	p := &Pool{q: make(chan Task, queue)}
	p.wg.Add(workers)
	for i := 0; i < workers; i++ {
		go p.worker()
	}
	return p
}

func (p *Pool) worker() {
	defer p.wg.Done()
	for t := range p.q {
		t.Run()
	}
}

// Submit queues t without blocking. It reports false when the queue is full
// or the pool is closed.
func (p *Pool) Submit(t Task) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	select {
	case p.q <- t:
		return true
	default:
		return false
	}
}

// Len returns the number of queued tasks.
func (p *Pool) Len() int { return len(p.q) }

// Close stops accepting tasks, runs the queued ones and waits for the
// workers to exit.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.q)
	p.mu.Unlock()
	p.wg.Wait()
}
