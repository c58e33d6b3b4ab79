package kerberos

import (
	"context"
	"errors"
	"hash/maphash"
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
// Expired entries leave by the second of their expiry: each second's
// entries are listed together, and a min-heap orders the seconds (a few
// hundred for the usual five-minute skew), so each Check costs one map
// lookup, an append and, amortized, one map delete (at most purgeStep per
// Check), whatever the cache holds. An entry is forgotten at most a second after it expired (a replay
// of it is told apart by its exact expiry, kept in the map).
type MemoryReplayCache struct {
	mu      sync.Mutex
	max     int
	now     func() time.Time
	seed    [2]maphash.Seed
	seen    map[replayDigest]int64   // key digest -> expiry, unix nanoseconds
	buckets map[int64][]replayDigest // expiry second (rounded up) -> digests
	seconds secondHeap               // the buckets' seconds, earliest first
	drain   []replayDigest           // an ended second's digests, being dropped
	drainAt int64                    // that second's end, unix nanoseconds
	refused uint64
	replays uint64
}

// replayDigest is a key's 128-bit seeded digest. The cache holds digests,
// not the keys: the map and the heap then hold no pointers, so the garbage
// collector does not walk a million strings, and a lookup compares 16
// bytes in the table instead of following a pointer to the key. The seeds
// are the process's own hash seeds (hash/maphash, like the runtime's map
// seeds: not protocol randomness, so not from Config.Rand), so no one can
// aim two keys at one digest; a chance
// collision (about n/2^128 per insert) refuses a fresh authenticator as a
// replay, which fails closed.
type replayDigest [2]uint64

// ReplayCacheStats are a MemoryReplayCache's counters, for metrics.
type ReplayCacheStats struct {
	Entries  int    // live entries held
	Capacity int    // the cap
	Refused  uint64 // fresh authenticators refused because the cache was full
	Replays  uint64 // replays detected
}

// secondHeap is a min-heap of unix seconds (container/heap would box
// every push).
type secondHeap []int64

func (h *secondHeap) push(v int64) {
	*h = append(*h, v)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if a[p] <= a[i] {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *secondHeap) pop() int64 {
	a := *h
	v := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && a[l] < a[m] {
			m = l
		}
		if r := l + 1; r < n && a[r] < a[m] {
			m = r
		}
		if m == i {
			break
		}
		a[m], a[i] = a[i], a[m]
		i = m
	}
	*h = a
	return v
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
	return &MemoryReplayCache{max: max, now: sysenv.Clock(now), seed: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		seen: make(map[replayDigest]int64), buckets: make(map[int64][]replayDigest)}
}

// Len returns the number of entries held (after dropping those whose
// second has ended).
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.purge(c.now().UnixNano(), -1)
	return len(c.seen)
}

// Stats returns the cache's counters.
func (c *MemoryReplayCache) Stats() ReplayCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.purge(c.now().UnixNano(), -1)
	return ReplayCacheStats{Entries: len(c.seen), Capacity: c.max, Refused: c.refused, Replays: c.replays}
}

// Check implements ReplayCache.
func (c *MemoryReplayCache) Check(key string, expires time.Time) error {
	d := replayDigest{maphash.String(c.seed[0], key), maphash.String(c.seed[1], key)}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().UnixNano()
	c.purge(now, purgeStep)
	if e, ok := c.seen[d]; ok && e > now {
		c.replays++
		return ErrReplay
	}
	exp := expires.UnixNano()
	if exp <= now {
		// Already past its window: the acceptor's skew check refuses such
		// an authenticator; there is nothing to remember.
		return nil
	}
	if _, stale := c.seen[d]; !stale && len(c.seen) >= c.max {
		c.purge(now, -1)
		if len(c.seen) >= c.max {
			c.refused++
			return ErrReplayCacheFull
		}
	}
	c.seen[d] = exp
	sec := (exp + int64(time.Second) - 1) / int64(time.Second)
	b, ok := c.buckets[sec]
	if !ok {
		c.seconds.push(sec)
	}
	c.buckets[sec] = append(b, d)
	return nil
}

// purgeStep bounds the expired entries one Check drops, so that the end
// of a busy second is not one long pause; a full cache drops them all
// before it refuses.
const purgeStep = 8

// purge drops up to limit entries (no limit when negative) of the seconds
// that have ended by now. Each entry is listed once and dropped once, so
// the cost is amortized over the inserts. An entry whose digest was stored
// again after it expired (a later authenticator) keeps its newer expiry.
func (c *MemoryReplayCache) purge(now int64, limit int) {
	for limit != 0 {
		if len(c.drain) == 0 {
			c.drain = nil
			if len(c.seconds) == 0 || c.seconds[0]*int64(time.Second) > now {
				return
			}
			sec := c.seconds.pop()
			c.drain, c.drainAt = c.buckets[sec], sec*int64(time.Second)
			delete(c.buckets, sec)
			continue
		}
		d := c.drain[0]
		c.drain = c.drain[1:]
		if e, ok := c.seen[d]; ok && e <= c.drainAt {
			delete(c.seen, d)
		}
		if limit > 0 {
			limit--
		}
	}
}

// queued is the number of digests listed in the buckets (tests).
func (c *MemoryReplayCache) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.drain)
	for _, b := range c.buckets {
		n += len(b)
	}
	return n
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
