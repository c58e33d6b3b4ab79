// Package handles is the bounded, sharded handle table behind the host's
// credential and context handles.
//
// A handle is an opaque pair of words: Lower is a 64-bit value drawn from a
// bijective mix of a counter and a per-table random key, so handles never
// repeat within a table, are not guessable from one another and are never
// pointers; Upper carries the table's magic and the entry kind, so a handle
// of the wrong kind, or from another table, is refused.
//
// The table is safe for concurrent use. It has a cap: Insert fails when the
// table is full, after it has tried to reap expired entries. Entries may
// carry a deadline ("half-built" contexts); Reap removes those past it and
// hands them to a callback, so a peer that starts handshakes and never
// finishes cannot grow memory without bound. Each shard keeps its entries
// with a deadline in a min-heap on the deadline, and publishes the earliest
// one, so Reap costs O(shards + expired × log n): an Insert refused by a
// full table of live entries visits none of them.
package handles

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosspi/gosspi/internal/sysenv"
)

// Kind distinguishes the kinds of entries one table may hold.
type Kind uint8

// Handle is a table handle.
type Handle struct {
	Lower, Upper uint64
}

// ErrFull is returned by Insert when the table holds its cap of entries.
var ErrFull = errors.New("handles: table full")

const shardCount = 64

type entry[T any] struct {
	val      T
	deadline int64  // unix nanoseconds; 0 = none
	lower    uint64 // the handle's Lower, its key in the shard
	idx      int    // position in the shard's deadline heap; -1 = not there
}

type shard[T any] struct {
	mu sync.RWMutex
	m  map[uint64]*entry[T]
	// dl holds the entries that have a deadline, earliest first; next is
	// the earliest deadline (math.MaxInt64 when none), read by Reap
	// without the lock to pass over shards with nothing expired.
	dl   deadlineHeap[T]
	next atomic.Int64
}

// deadlineHeap is a min-heap of entries on their deadline (container/heap),
// keeping each entry's idx.
type deadlineHeap[T any] []*entry[T]

func (h deadlineHeap[T]) Len() int           { return len(h) }
func (h deadlineHeap[T]) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h deadlineHeap[T]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *deadlineHeap[T]) Push(x any) {
	e := x.(*entry[T])
	e.idx = len(*h)
	*h = append(*h, e)
}
func (h *deadlineHeap[T]) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.idx = -1
	return e
}

// setDeadline gives e (in s, locked) the deadline d, 0 for none, and keeps
// the heap and s.next in step.
func (s *shard[T]) setDeadline(e *entry[T], d int64) {
	e.deadline = d
	switch {
	case d == 0 && e.idx >= 0:
		heap.Remove(&s.dl, e.idx)
	case d != 0 && e.idx >= 0:
		heap.Fix(&s.dl, e.idx)
	case d != 0:
		heap.Push(&s.dl, e)
	}
	s.publish()
}

// remove takes e out of s (locked).
func (s *shard[T]) remove(e *entry[T]) {
	delete(s.m, e.lower)
	if e.idx >= 0 {
		heap.Remove(&s.dl, e.idx)
		s.publish()
	}
}

func (s *shard[T]) publish() {
	if len(s.dl) == 0 {
		s.next.Store(math.MaxInt64)
		return
	}
	s.next.Store(s.dl[0].deadline)
}

// Table is a bounded handle table of values of type T.
type Table[T any] struct {
	magic  uint64 // upper 48 bits of Upper
	key    uint64
	next   atomic.Uint64
	count  atomic.Int64
	cap    int64
	shards [shardCount]shard[T]
	now    func() time.Time

	visited atomic.Int64 // entries Reap examined (tests)
}

// New returns a table holding at most max entries (max <= 0 means 1<<20),
// keyed from the default random source and on the default clock.
func New[T any](max int) *Table[T] { return NewWith[T](max, nil, nil) }

// NewWith is New with the clock for deadlines and the random source for the
// table's key (nil for the defaults).
func NewWith[T any](max int, now func() time.Time, random io.Reader) *Table[T] {
	if max <= 0 {
		max = 1 << 20
	}
	var seed [16]byte
	if err := sysenv.Read(random, seed[:]); err != nil {
		panic("handles: no randomness: " + err.Error())
	}
	t := &Table[T]{
		magic: binary.LittleEndian.Uint64(seed[:8]) &^ 0xFFFF,
		key:   binary.LittleEndian.Uint64(seed[8:]),
		cap:   int64(max),
		now:   sysenv.Clock(now),
	}
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]*entry[T])
		t.shards[i].next.Store(math.MaxInt64)
	}
	return t
}

// SetClock replaces the clock used for deadlines (tests).
func (t *Table[T]) SetClock(now func() time.Time) { t.now = now }

// mix is the splitmix64 finalizer, a bijection on uint64.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func (t *Table[T]) shardOf(lower uint64) *shard[T] { return &t.shards[lower%shardCount] }

func (t *Table[T]) upper(k Kind) uint64 { return t.magic | uint64(k) }

// Len returns the number of entries.
func (t *Table[T]) Len() int { return int(t.count.Load()) }

// Cap returns the table's cap.
func (t *Table[T]) Cap() int { return int(t.cap) }

// Insert adds v under a new handle of kind k. A non-zero ttl gives the entry
// a deadline after which Reap removes it unless Settle clears it first.
// When the table is full, Insert reaps expired entries (passing them to
// onReap, which may be nil) and fails with ErrFull if that frees nothing.
func (t *Table[T]) Insert(k Kind, v T, ttl time.Duration, onReap func(T)) (Handle, error) {
	if t.count.Add(1) > t.cap {
		t.count.Add(-1)
		if t.Reap(onReap) == 0 {
			return Handle{}, ErrFull
		}
		if t.count.Add(1) > t.cap {
			t.count.Add(-1)
			return Handle{}, ErrFull
		}
	}
	var deadline int64
	if ttl > 0 {
		deadline = t.now().Add(ttl).UnixNano()
	}
	lower := mix(t.next.Add(1) ^ t.key)
	if lower == 0 { // keep the zero handle invalid
		lower = mix(t.next.Add(1) ^ t.key)
	}
	e := &entry[T]{val: v, lower: lower, idx: -1}
	s := t.shardOf(lower)
	s.mu.Lock()
	s.m[lower] = e
	if deadline != 0 {
		s.setDeadline(e, deadline)
	}
	s.mu.Unlock()
	return Handle{Lower: lower, Upper: t.upper(k)}, nil
}

// Get returns the value under h if h is a live handle of kind k.
func (t *Table[T]) Get(h Handle, k Kind) (T, bool) {
	var zero T
	if h.Upper != t.upper(k) {
		return zero, false
	}
	s := t.shardOf(h.Lower)
	s.mu.RLock()
	e, ok := s.m[h.Lower]
	s.mu.RUnlock()
	if !ok {
		return zero, false
	}
	return e.val, true
}

// Settle clears h's deadline (the context is established) and reports
// whether h is live.
func (t *Table[T]) Settle(h Handle, k Kind) bool {
	return t.setDeadline(h, k, 0)
}

// Extend gives h a new deadline ttl from now.
func (t *Table[T]) Extend(h Handle, k Kind, ttl time.Duration) bool {
	return t.setDeadline(h, k, t.now().Add(ttl).UnixNano())
}

func (t *Table[T]) setDeadline(h Handle, k Kind, d int64) bool {
	if h.Upper != t.upper(k) {
		return false
	}
	s := t.shardOf(h.Lower)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[h.Lower]
	if ok {
		s.setDeadline(e, d)
	}
	return ok
}

// Delete removes h and returns its value. Deleting a handle that is not
// there (already deleted, unknown, wrong kind) returns false and changes
// nothing.
func (t *Table[T]) Delete(h Handle, k Kind) (T, bool) {
	var zero T
	if h.Upper != t.upper(k) {
		return zero, false
	}
	s := t.shardOf(h.Lower)
	s.mu.Lock()
	e, ok := s.m[h.Lower]
	if ok {
		s.remove(e)
	}
	s.mu.Unlock()
	if !ok {
		return zero, false
	}
	t.count.Add(-1)
	return e.val, true
}

// Reap removes every entry whose deadline has passed, calls onReap (if not
// nil) with each outside the table's locks, and returns how many it removed.
// It visits only the expired entries: a shard whose earliest deadline is in
// the future costs one atomic load.
func (t *Table[T]) Reap(onReap func(T)) int {
	now := t.now().UnixNano()
	var reaped []T
	for i := range t.shards {
		s := &t.shards[i]
		if s.next.Load() > now {
			continue
		}
		s.mu.Lock()
		for len(s.dl) > 0 && s.dl[0].deadline <= now {
			t.visited.Add(1)
			e := heap.Pop(&s.dl).(*entry[T])
			delete(s.m, e.lower)
			reaped = append(reaped, e.val)
		}
		s.publish()
		s.mu.Unlock()
	}
	t.count.Add(-int64(len(reaped)))
	if onReap != nil {
		for _, v := range reaped {
			onReap(v)
		}
	}
	return len(reaped)
}

// Drain removes every entry and calls onRemove (if not nil) with each.
func (t *Table[T]) Drain(onRemove func(T)) int {
	var all []T
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			delete(s.m, k)
			all = append(all, e.val)
		}
		clear(s.dl)
		s.dl = s.dl[:0]
		s.publish()
		s.mu.Unlock()
	}
	t.count.Add(-int64(len(all)))
	if onRemove != nil {
		for _, v := range all {
			onRemove(v)
		}
	}
	return len(all)
}
