// Package redisreplay is a kerberos.ReplayCache in Redis, shared by every
// acceptor of a service farm: an AP-REQ captured on the wire and replayed to
// another node behind the load balancer is refused there as a replay
// (KRB_AP_ERR_REPEAT, SEC_E_OUT_OF_SEQUENCE), as it is on the node that
// accepted it first.
//
// Each Check is one atomic insert-if-absent, SET key 1 NX PX ttl, whose
// time to live runs to the expiry the acceptor passes (the authenticator's
// time plus the allowed clock skew). Concurrent Checks are gathered into
// pipelines, so an accept adds at most one Redis round trip and a busy
// acceptor sends its inserts a batch at a time.
//
// The cache fails closed: when Redis cannot answer (down, too slow, an error
// reply), Check returns an error that is not kerberos.ErrReplay, within the
// per-call timeout, and the acceptor refuses the AP-REQ with
// SEC_E_INTERNAL_ERROR. Nothing is accepted unrecorded; accepts resume by
// themselves once Redis answers again.
//
// The client is a redis.UniversalClient from github.com/redis/go-redis/v9:
// a single node, a Sentinel-managed failover group or a Cluster. ParseURL
// and Open read the redis://, rediss:// and unix:// URL forms.
//
// Redis must keep what it was told for as long as the keys live (the clock
// skew, 5 minutes by default): a Redis that restarts empty, or a replica
// promoted before it received the latest writes, forgets the authenticators
// recorded just before, and a replay of one of them is accepted once. Run
// Redis with appendonly yes and appendfsync always, or make the farm's
// nodes wait a clock skew after a Redis failover, where that matters.
package redisreplay

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/kerberos"
)

// Defaults of Options.
const (
	DefaultPrefix   = "gosspi:krb5rc:"
	DefaultTimeout  = time.Second
	DefaultMaxBatch = 256
)

// ErrUnavailable is what Check wraps when Redis cannot decide: it did not
// answer within the timeout, the connection failed, or it answered with an
// error. errors.Is(err, kerberos.ErrReplay) is false for it; the acceptor
// refuses the AP-REQ.
var ErrUnavailable = errors.New("redisreplay: replay cache unavailable")

// Options configures a Cache. The zero value is the defaults.
type Options struct {
	// Prefix starts every key the cache writes; DefaultPrefix when empty.
	// Give each service (or each farm sharing one Redis) its own when
	// their authenticators must not be compared, though distinct services
	// never share an authenticator anyway. The rest of a key is the
	// unpadded base64url SHA-256 of the acceptor's replay key, so no
	// client-supplied data (names, times, ciphertext) becomes a Redis key
	// verbatim, and every key has the same short length.
	Prefix string
	// Timeout bounds each Check, from the call to the answer, whatever the
	// client's own timeouts; DefaultTimeout when zero. A Check that runs
	// out of time fails (closed). Clients made by ParseURL and Open also
	// honour it on the connection (ContextTimeoutEnabled); with another
	// client set ContextTimeoutEnabled too, or a stuck command holds its
	// connection until the client's ReadTimeout.
	Timeout time.Duration
	// MaxBatch is the largest number of inserts sent in one pipeline;
	// DefaultMaxBatch when zero. 1 turns batching off: each Check sends
	// its own command from its own goroutine.
	MaxBatch int
	// MaxInFlight is the number of pipelines that may be waiting on Redis
	// at once; 1 when zero. While they wait, new Checks queue up and leave
	// together in the next pipeline.
	MaxInFlight int
	// Now is the clock the times to live are measured on; the default
	// clock when nil. Give it the kerberos.Config's Now.
	Now func() time.Time
}

// Cache is a kerberos.ReplayCache in Redis. It is safe for concurrent use.
type Cache struct {
	client      redis.UniversalClient
	owned       bool // Close closes the client (Open made it)
	prefix      string
	timeout     time.Duration
	maxBatch    int
	maxInFlight int
	now         func() time.Time

	mu       sync.Mutex
	queue    []*batch // batches waiting to be sent, oldest first
	flushers int      // flush goroutines running, at most maxInFlight

	checks, replays, failures, roundTrips atomic.Uint64
}

var _ kerberos.ReplayCacheContext = (*Cache)(nil)

// batch is the inserts that leave in one pipeline. Checks join the newest
// batch of the queue until a flusher takes it or it is full; each waits for
// done, closed once errs holds every answer. A batch's deadline runs from
// its first Check, so every Check in it is bounded by the cache's timeout,
// and one timer serves the whole batch.
type batch struct {
	ctx    context.Context
	cancel context.CancelFunc
	keys   []string
	ttls   []time.Duration
	errs   []error
	done   chan struct{}
}

// New returns a cache on the client. The caller keeps the client and closes
// it after the cache's last use.
func New(client redis.UniversalClient, o Options) *Cache {
	c := &Cache{
		client:      client,
		prefix:      o.Prefix,
		timeout:     o.Timeout,
		maxBatch:    o.MaxBatch,
		maxInFlight: o.MaxInFlight,
		now:         sysenv.Clock(o.Now),
	}
	if c.prefix == "" {
		c.prefix = DefaultPrefix
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxBatch <= 0 {
		c.maxBatch = DefaultMaxBatch
	}
	if c.maxInFlight <= 0 {
		c.maxInFlight = 1
	}
	return c
}

// ParseURL parses a Redis URL into go-redis client options, through
// go-redis's ParseURL: redis://[user:password@]host[:port][/db][?options],
// rediss:// for TLS, or unix://[user:password@]/path/to/socket[?db=N]. The
// options are go-redis's (dial_timeout=1s, read_timeout=, pool_size=, ...,
// skip_verify=true). ContextTimeoutEnabled is set, so the cache's timeout
// bounds the wait on the connection. redis.NewClient(opts) makes the
// client.
func ParseURL(rawURL string) (*redis.Options, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisreplay: %w", err)
	}
	opts.ContextTimeoutEnabled = true
	return opts, nil
}

// Open makes a client from a Redis URL (ParseURL) and a cache on it; the
// cache's Close closes the client. It does not connect: the first Check
// (or Ping) does.
func Open(rawURL string, o Options) (*Cache, error) {
	opts, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := New(redis.NewClient(opts), o)
	c.owned = true
	return c, nil
}

// Close closes the client when Open made it; it does nothing otherwise.
func (c *Cache) Close() error {
	if c.owned {
		return c.client.Close()
	}
	return nil
}

// Timeout returns the bound of each Check.
func (c *Cache) Timeout() time.Duration { return c.timeout }

// Ping asks Redis for a PONG within the cache's timeout, for start checks
// and health probes.
func (c *Cache) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Key returns the Redis key of an acceptor's replay key: the prefix and
// the unpadded base64url SHA-256 of key.
func (c *Cache) Key(key string) string {
	h := sha256.Sum256([]byte(key))
	var enc [43]byte // base64.RawURLEncoding.EncodedLen(sha256.Size)
	base64.RawURLEncoding.Encode(enc[:], h[:])
	var sb strings.Builder
	sb.Grow(len(c.prefix) + len(enc))
	sb.WriteString(c.prefix)
	sb.Write(enc[:])
	return sb.String()
}

// Check implements kerberos.ReplayCache: nil when key was not recorded (it
// now is, until expires), kerberos.ErrReplay when it was, and an error
// wrapping ErrUnavailable when Redis cannot say within the timeout.
func (c *Cache) Check(key string, expires time.Time) error {
	return c.CheckContext(context.Background(), key, expires)
}

// CheckContext is Check bounded by ctx as well as by the timeout
// (kerberos.ReplayCacheContext: the acceptor passes the accept's context).
func (c *Cache) CheckContext(ctx context.Context, key string, expires time.Time) error {
	c.checks.Add(1)
	err := c.check(ctx, key, expires)
	switch {
	case err == nil:
	case errors.Is(err, kerberos.ErrReplay):
		c.replays.Add(1)
	default:
		c.failures.Add(1)
	}
	return err
}

func (c *Cache) check(ctx context.Context, key string, expires time.Time) error {
	ttl := expires.Sub(c.now())
	if ttl <= 0 {
		// Already past its window: the acceptor's skew check refuses such
		// an authenticator; there is nothing to remember (as in
		// kerberos.MemoryReplayCache).
		return nil
	}
	// Redis counts in milliseconds: round up, never down.
	ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	key = c.Key(key)
	if c.maxBatch == 1 {
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		c.roundTrips.Add(1)
		return c.outcome(c.client.SetNX(ctx, key, "1", ttl).Result())
	}
	c.mu.Lock()
	var b *batch
	if n := len(c.queue); n > 0 && len(c.queue[n-1].keys) < c.maxBatch {
		b = c.queue[n-1]
	} else {
		b = &batch{done: make(chan struct{})}
		b.ctx, b.cancel = context.WithTimeout(context.Background(), c.timeout)
		c.queue = append(c.queue, b)
	}
	i := len(b.keys)
	b.keys = append(b.keys, key)
	b.ttls = append(b.ttls, ttl)
	if c.flushers < c.maxInFlight {
		c.flushers++
		go c.flush()
	}
	c.mu.Unlock()
	select {
	case <-b.done:
		return b.errs[i]
	case <-b.ctx.Done():
		// send cancels the batch's context once it has answered: an
		// answer that is there wins over the end of the wait.
		select {
		case <-b.done:
			return b.errs[i]
		default:
		}
		return fmt.Errorf("%w: no answer: %w", ErrUnavailable, b.ctx.Err())
	case <-ctx.Done():
		return fmt.Errorf("%w: no answer: %w", ErrUnavailable, ctx.Err())
	}
}

// outcome maps the answer to SET NX to Check's result.
func (c *Cache) outcome(set bool, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case !set:
		return kerberos.ErrReplay
	}
	return nil
}

// flush sends the queued batches, one pipeline each, until the queue is
// empty; then the goroutine ends.
func (c *Cache) flush() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.flushers--
			c.mu.Unlock()
			return
		}
		b := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if len(c.queue) == 0 {
			c.queue = c.queue[:0:0] // let the old backing array go
		}
		c.mu.Unlock()
		c.send(b)
	}
}

// send runs a batch's pipeline within the batch's deadline and answers its
// Checks. A batch whose every Check gave up is still sent: the inserts
// record authenticators the acceptor refused anyway, which is safe.
func (c *Cache) send(b *batch) {
	defer b.cancel()
	b.errs = make([]error, len(b.keys))
	if err := b.ctx.Err(); err != nil {
		// Its deadline passed in the queue: its Checks fail closed.
		for i := range b.errs {
			b.errs[i] = fmt.Errorf("%w: no answer: %w", ErrUnavailable, err)
		}
		close(b.done)
		return
	}
	c.roundTrips.Add(1)
	if len(b.keys) == 1 {
		b.errs[0] = c.outcome(c.client.SetNX(b.ctx, b.keys[0], "1", b.ttls[0]).Result())
		close(b.done)
		return
	}
	pipe := c.client.Pipeline()
	cmds := make([]*redis.BoolCmd, len(b.keys))
	for i, k := range b.keys {
		cmds[i] = pipe.SetNX(b.ctx, k, "1", b.ttls[i])
	}
	pipe.Exec(b.ctx) // each command carries its own result or error
	for i, cmd := range cmds {
		b.errs[i] = c.outcome(cmd.Result())
	}
	close(b.done)
}

// Stats are a Cache's counters, for metrics.
type Stats struct {
	Checks     uint64 // Check calls
	Replays    uint64 // replays detected
	Failures   uint64 // Checks that failed closed (Redis did not answer, or answered an error)
	RoundTrips uint64 // commands or pipelines sent to Redis
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	return Stats{Checks: c.checks.Load(), Replays: c.replays.Load(), Failures: c.failures.Load(), RoundTrips: c.roundTrips.Load()}
}
