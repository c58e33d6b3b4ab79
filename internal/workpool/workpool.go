// Package workpool is the bounded executor behind the asynchronous SSPI
// calls: at most a fixed number of worker goroutines, started on demand and
// kept until Close, and a fixed-size queue, so no load can grow goroutines
// or memory without bound.
//
// Workers are long-lived so that their stacks, once grown by a handshake,
// stay grown. A parked worker woken by Submit is made runnable on the
// submitting goroutine's processor, so a caller that submits and then waits
// hands the processor straight to the work.
package workpool

import (
	"sync"
	"sync/atomic"
)

// Task is one unit of work.
type Task interface{ Run() }

// Pool runs Tasks on at most a fixed number of goroutines.
type Pool struct {
	q       chan Task
	max     int32
	started atomic.Int32
	idle    atomic.Int32

	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

// New returns a pool of at most workers goroutines and queue waiting tasks.
func New(workers, queue int) *Pool {
	if workers < 1 {
		workers = 1
	}
	if queue < 1 {
		queue = 1
	}
	return &Pool{q: make(chan Task, queue), max: int32(workers)}
}

// Submit queues t without blocking, starting a worker when the queued
// tasks outnumber the idle workers and fewer than the limit run. It
// reports false when the queue is full or the pool is closed.
func (p *Pool) Submit(t Task) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	select {
	case p.q <- t:
	default:
		return false
	}
	// A worker that counts as idle may not have taken an earlier task off
	// the queue yet: compare with what is queued, not with zero, or a task
	// waits behind a busy worker while a worker slot is free.
	if int(p.idle.Load()) < len(p.q) && p.started.Load() < p.max {
		if p.started.Add(1) <= p.max {
			p.wg.Add(1)
			go p.worker()
		} else {
			p.started.Add(-1)
		}
	}
	return true
}

func (p *Pool) worker() {
	defer p.wg.Done()
	for {
		p.idle.Add(1)
		t, ok := <-p.q
		p.idle.Add(-1)
		if !ok {
			return
		}
		t.Run()
	}
}

// Len returns the number of queued (not yet running) tasks.
func (p *Pool) Len() int { return len(p.q) }

// Workers returns the number of worker goroutines started.
func (p *Pool) Workers() int { return int(p.started.Load()) }

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
