package kerberos

import (
	"sync"
	"time"

	"github.com/gosspi/gosspi/internal/sysenv"
)

// ReplayCache remembers authenticators so that an acceptor rejects an
// AP-REQ it has seen (RFC 4120 section 3.2.3). A farm of servers can share
// one by implementing this interface over a shared store.
type ReplayCache interface {
	// Check records key until expires and reports whether it was already
	// recorded (a replay). It must be safe for concurrent use.
	Check(key string, expires time.Time) (replay bool)
}

// DefaultReplayCacheSize bounds the default in-memory replay cache.
const DefaultReplayCacheSize = 100000

// MemoryReplayCache is a bounded, expiring in-memory ReplayCache. When it
// is full of live entries, it forgets the oldest.
type MemoryReplayCache struct {
	mu    sync.Mutex
	max   int
	now   func() time.Time
	seen  map[string]time.Time
	order []replayEntry // insertion order, from head on
	head  int
}

type replayEntry struct {
	key     string
	expires time.Time
}

// NewMemoryReplayCache returns a cache holding at most max entries.
func NewMemoryReplayCache(max int) *MemoryReplayCache {
	if max <= 0 {
		max = DefaultReplayCacheSize
	}
	return &MemoryReplayCache{max: max, now: sysenv.Now, seen: make(map[string]time.Time)}
}

// Len returns the number of entries held.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// Check implements ReplayCache.
func (c *MemoryReplayCache) Check(key string, expires time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if exp, ok := c.seen[key]; ok && now.Before(exp) {
		return true
	}
	// Drop expired entries from the front, then the oldest if full.
	for c.head < len(c.order) && (len(c.seen) >= c.max || !now.Before(c.order[c.head].expires)) {
		e := c.order[c.head]
		if exp, ok := c.seen[e.key]; ok && exp.Equal(e.expires) {
			delete(c.seen, e.key)
		}
		c.order[c.head] = replayEntry{}
		c.head++
	}
	if c.head > 1024 && c.head > len(c.order)/2 {
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
	c.seen[key] = expires
	c.order = append(c.order, replayEntry{key, expires})
	return false
}
