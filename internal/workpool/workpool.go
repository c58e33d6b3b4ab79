// Package workpool is the bounded executor behind the asynchronous SSPI
// calls: at most a fixed number of goroutines run tasks, and at most a
// fixed number of tasks wait, so no load can grow goroutines or memory
// without bound.
//
// Workers are not kept parked: Submit starts a goroutine when fewer than
// the limit are running, and a goroutine that finishes a task takes the
// next queued one or exits. A new goroutine starts on the submitting
// goroutine's processor, so a caller that submits and then waits hands the
// processor straight to the work instead of waking another thread.
package workpool

import "sync"

// Task is one unit of work.
type Task interface{ Run() }

// Pool runs Tasks on at most Workers goroutines.
type Pool struct {
	mu       sync.Mutex
	workers  int
	running  int
	maxQueue int
	q        []Task
	head     int
	closed   bool
	wg       sync.WaitGroup
}

// New returns a pool of at most workers goroutines and queue waiting tasks.
func New(workers, queue int) *Pool {
	if workers < 1 {
		workers = 1
	}
	if queue < 1 {
		queue = 1
	}
	return &Pool{workers: workers, maxQueue: queue}
}

// Submit runs or queues t without blocking. It reports false when the
// queue is full or the pool is closed.
func (p *Pool) Submit(t Task) bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	if p.running < p.workers {
		p.running++
		p.wg.Add(1)
		p.mu.Unlock()
		go p.loop(t)
		return true
	}
	if len(p.q)-p.head >= p.maxQueue {
		p.mu.Unlock()
		return false
	}
	p.q = append(p.q, t)
	p.mu.Unlock()
	return true
}

func (p *Pool) loop(t Task) {
	defer p.wg.Done()
	for {
		t.Run()
		p.mu.Lock()
		if p.head == len(p.q) {
			p.q, p.head = p.q[:0], 0
			p.running--
			p.mu.Unlock()
			return
		}
		t = p.q[p.head]
		p.q[p.head] = nil
		p.head++
		if p.head > 1024 && p.head*2 > len(p.q) {
			n := copy(p.q, p.q[p.head:])
			clear(p.q[n:])
			p.q, p.head = p.q[:n], 0
		}
		p.mu.Unlock()
	}
}

// Len returns the number of queued (not yet running) tasks.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.q) - p.head
}

// Close stops accepting tasks and waits until the running and queued ones
// have run.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
}
