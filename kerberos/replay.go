package kerberos

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/sspi"
)

// ReplayCache remembers authenticators so that an acceptor rejects an
// AP-REQ it has seen (RFC 4120 section 3.2.3). A farm of servers can share
// one by implementing this interface over a shared store.
type ReplayCache interface {
	// Check records key until expires. It returns nil when key is fresh
	// (it is now recorded), an error that wraps ErrReplay when key is
	// already recorded and has not expired, and any other error when it
	// cannot decide (full, unreachable): the acceptor then refuses the
	// AP-REQ, since a cache that cannot record an authenticator cannot
	// catch its replay. It must be safe for concurrent use.
	Check(key string, expires time.Time) error
}

// ReplayCacheContext is a ReplayCache whose check can be cancelled: the
// acceptor calls CheckContext with the context of AcceptSecurityContext
// (httpauth's request context, for one), so that a client that goes away
// or a deadline ends a wait on a remote cache. The result has the meaning
// of Check's; a cancelled check is an error that is not ErrReplay, so the
// AP-REQ is refused.
type ReplayCacheContext interface {
	ReplayCache
	CheckContext(ctx context.Context, key string, expires time.Time) error
}

// checkReplay asks rc, through CheckContext when it has it.
func checkReplay(ctx context.Context, rc ReplayCache, key string, expires time.Time) error {
	if c, ok := rc.(ReplayCacheContext); ok && ctx != nil {
		return c.CheckContext(ctx, key, expires)
	}
	return rc.Check(key, expires)
}

// ErrReplay is what ReplayCache.Check returns (or wraps) for a replay
// (KRB_AP_ERR_REPEAT). The acceptor answers SEC_E_OUT_OF_SEQUENCE.
var ErrReplay = errors.New("kerberos: replayed authenticator")

// ErrReplayCacheFull is what a MemoryReplayCache returns when it holds its
// cap of live entries. The acceptor answers SEC_E_INSUFFICIENT_MEMORY
// until entries expire; it never forgets a live one to make room.
var ErrReplayCacheFull = errors.New("kerberos: replay cache full")

// DefaultReplayCacheSize bounds the default in-memory replay cache.
const DefaultReplayCacheSize = 100000

// MemoryReplayCache is a bounded, expiring in-memory ReplayCache. Entries
// are kept until they expire, never less: when the cache is full of live
// entries it refuses new ones (ErrReplayCacheFull) rather than forget one,
// since RFC 4120 section 3.2.3 requires a server that loses track of
// authenticators to reject all requests until the clock skew has passed.
// Expired entries leave through a min-heap on their expiry, so each Check
// costs O(log n) amortized, whatever the cache holds.
type MemoryReplayCache struct {
	mu      sync.Mutex
	max     int
	now     func() time.Time
	seen    map[string]int64 // key -> expiry, unix nanoseconds
	byExp   expiryHeap
	refused uint64
	replays uint64
}

// ReplayCacheStats are a MemoryReplayCache's counters, for metrics.
type ReplayCacheStats struct {
	Entries  int    // live entries held
	Capacity int    // the cap
	Refused  uint64 // fresh authenticators refused because the cache was full
	Replays  uint64 // replays detected
}

type expiryEntry struct {
	expires int64
	key     string
}

// expiryHeap is a min-heap of entries by expiry (container/heap).
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiryEntry{}
	*h = old[:len(old)-1]
	return e
}

// NewMemoryReplayCache returns a cache holding at most max entries (max <=
// 0 means DefaultReplayCacheSize), on the default clock.
func NewMemoryReplayCache(max int) *MemoryReplayCache {
	return NewMemoryReplayCacheWithClock(max, nil)
}

// NewMemoryReplayCacheWithClock is NewMemoryReplayCache on the clock now
// (nil for the default). Give it the package's Config.Now.
func NewMemoryReplayCacheWithClock(max int, now func() time.Time) *MemoryReplayCache {
	if max <= 0 {
		max = DefaultReplayCacheSize
	}
	return &MemoryReplayCache{max: max, now: sysenv.Clock(now), seen: make(map[string]int64)}
}

// Len returns the number of entries held.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// Stats returns the cache's counters.
func (c *MemoryReplayCache) Stats() ReplayCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ReplayCacheStats{Entries: len(c.seen), Capacity: c.max, Refused: c.refused, Replays: c.replays}
}

// Check implements ReplayCache.
func (c *MemoryReplayCache) Check(key string, expires time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().UnixNano()
	c.purge(now)
	if _, ok := c.seen[key]; ok {
		c.replays++
		return ErrReplay
	}
	exp := expires.UnixNano()
	if exp <= now {
		// Already past its window: the acceptor's skew check refuses such
		// an authenticator; there is nothing to remember.
		return nil
	}
	if len(c.seen) >= c.max {
		c.refused++
		return ErrReplayCacheFull
	}
	c.seen[key] = exp
	heap.Push(&c.byExp, expiryEntry{expires: exp, key: key})
	return nil
}

// purge drops the entries that expired by now. Each entry is pushed once
// and popped once, so the cost is amortized over the inserts.
func (c *MemoryReplayCache) purge(now int64) {
	for len(c.byExp) > 0 && c.byExp[0].expires <= now {
		e := heap.Pop(&c.byExp).(expiryEntry)
		delete(c.seen, e.key)
	}
}

// replayLogInterval spaces the log lines of a refusing replay cache, so
// that a flood of AP-REQs does not also flood the log.
const replayLogInterval = time.Minute

// replayRefusal maps a ReplayCache error to the acceptor's status: a replay
// is KRB_AP_ERR_REPEAT, SEC_E_OUT_OF_SEQUENCE as on Windows; a full memory
// cache SEC_E_INSUFFICIENT_MEMORY, the status the host gives for its own
// full tables (a bounded resource at its cap, transient: it clears as
// entries expire); a cache that cannot answer SEC_E_INTERNAL_ERROR, with
// the cache's error as the cause (sspi.Error.Err). Both
// refusals fail closed (RFC 4120 section 3.2.3) and are logged, at most
// once a replayLogInterval.
func (p *Package) replayRefusal(err error) error {
	if errors.Is(err, ErrReplay) {
		return statusErr(sspi.SEC_E_OUT_OF_SEQUENCE, "replayed authenticator (KRB_AP_ERR_REPEAT)")
	}
	st, detail := sspi.SEC_E_INTERNAL_ERROR, "replay cache unavailable: AP-REQ refused (RFC 4120 section 3.2.3)"
	if errors.Is(err, ErrReplayCacheFull) {
		st, detail = sspi.SEC_E_INSUFFICIENT_MEMORY, "replay cache full: AP-REQ refused until entries expire (RFC 4120 section 3.2.3)"
	}
	if p.cfg.Logger != nil {
		now := p.now()
		p.logMu.Lock()
		p.refusals++
		n := p.refusals
		due := p.lastRefusalLog.IsZero() || now.Sub(p.lastRefusalLog) >= replayLogInterval
		if due {
			p.lastRefusalLog = now
			p.refusals = 0
		}
		p.logMu.Unlock()
		if due {
			attrs := []any{"status", st.String(), "error", err.Error(), "refused_since_last_line", n}
			if m, ok := p.replay.(*MemoryReplayCache); ok {
				s := m.Stats()
				attrs = append(attrs, "entries", s.Entries, "capacity", s.Capacity, "refused_total", s.Refused)
			}
			p.cfg.Logger.Warn("kerberos: replay cache cannot record the authenticator; refusing AP-REQs until it can", attrs...)
		}
	}
	if st == sspi.SEC_E_INTERNAL_ERROR {
		// The cause (a Redis cache's timeout or connection error) goes
		// with the status, for the caller's log.
		return &sspi.Error{Status: st, Detail: detail, Err: err}
	}
	return statusErr(st, detail)
}
