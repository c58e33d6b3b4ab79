package sspi

import "sync"

// ctxShards is the number of shards of a ctxMap (a power of two).
const ctxShards = 64

// ctxMap maps context handles to their user-mode contexts. It replaces a
// sync.Map, whose hash trie costs a chain of dependent cache misses per
// lookup once it holds a million contexts: a shard is one Go map behind a
// read-write lock, and handles are spread over the shards by their low
// bits, which the host draws at random. The zero value is ready to use.
type ctxMap struct {
	shards [ctxShards]struct {
		mu sync.RWMutex
		m  map[CtxtHandle]*userContext
		_  [40]byte // keep each shard's lock on its own cache line
	}
}

func (c *ctxMap) shard(h CtxtHandle) int {
	x := h.Lower ^ h.Upper
	x ^= x >> 29
	return int(x & (ctxShards - 1))
}

// Load returns the context of h.
func (c *ctxMap) Load(h CtxtHandle) (*userContext, bool) {
	s := &c.shards[c.shard(h)]
	s.mu.RLock()
	uc, ok := s.m[h]
	s.mu.RUnlock()
	return uc, ok
}

// Store sets the context of h.
func (c *ctxMap) Store(h CtxtHandle, uc *userContext) { c.Swap(h, uc) }

// Swap sets the context of h and returns the one it replaced.
func (c *ctxMap) Swap(h CtxtHandle, uc *userContext) (*userContext, bool) {
	s := &c.shards[c.shard(h)]
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[CtxtHandle]*userContext)
	}
	old, ok := s.m[h]
	s.m[h] = uc
	s.mu.Unlock()
	return old, ok
}

// LoadAndDelete removes h and returns its context.
func (c *ctxMap) LoadAndDelete(h CtxtHandle) (*userContext, bool) {
	s := &c.shards[c.shard(h)]
	s.mu.Lock()
	uc, ok := s.m[h]
	if ok {
		delete(s.m, h)
	}
	s.mu.Unlock()
	return uc, ok
}
