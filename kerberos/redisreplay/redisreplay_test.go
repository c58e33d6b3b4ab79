package redisreplay_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gosspi/gosspi/internal/redistest"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/kerberos/redisreplay"
)

// client returns a client of the server's unix socket, closed when the
// test ends.
func client(t testing.TB, s *redistest.Server) redis.UniversalClient {
	t.Helper()
	opts, err := redisreplay.ParseURL(s.UnixURL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCheck(t *testing.T) {
	s := redistest.New(t, redistest.Options{})
	rc := client(t, s)
	clk := testutil.NewClock(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))
	for _, batch := range []int{0, 1} {
		t.Run(fmt.Sprint("MaxBatch=", batch), func(t *testing.T) {
			c := redisreplay.New(rc, redisreplay.Options{Now: clk.Now, Prefix: fmt.Sprintf("t%d:", batch), MaxBatch: batch})
			key := "alice@GOSSPI.TEST|HTTP/svc.localhost@GOSSPI.TEST|1900000000|123|abcdef"
			if err := c.Check(key, clk.Now().Add(90*time.Second)); err != nil {
				t.Fatalf("fresh key: %v", err)
			}
			if err := c.Check(key, clk.Now().Add(90*time.Second)); !errors.Is(err, kerberos.ErrReplay) {
				t.Fatalf("replay: %v", err)
			}
			// The time to live is the expiry on the configured clock
			// (whatever the date), and the key is hashed.
			keys, err := rc.Keys(context.Background(), fmt.Sprintf("t%d:*", batch)).Result()
			if err != nil || len(keys) != 1 {
				t.Fatalf("keys %v %v", keys, err)
			}
			if keys[0] != c.Key(key) || strings.Contains(keys[0], "alice") || len(keys[0]) != len(fmt.Sprintf("t%d:", batch))+43 {
				t.Errorf("Redis key %q: want the prefix and a base64url SHA-256", keys[0])
			}
			ttl, err := rc.PTTL(context.Background(), keys[0]).Result()
			if err != nil || ttl > 90*time.Second || ttl < 80*time.Second {
				t.Errorf("PTTL %v %v, want about 90s", ttl, err)
			}
			// Already past its window: nothing recorded.
			if err := c.Check("old", clk.Now().Add(-time.Second)); err != nil {
				t.Errorf("expired key: %v", err)
			}
			if n, _ := rc.Exists(context.Background(), c.Key("old")).Result(); n != 0 {
				t.Error("an expired key was recorded")
			}
			// Another cache with another prefix does not see it.
			other := redisreplay.New(rc, redisreplay.Options{Now: clk.Now, Prefix: fmt.Sprint("other", batch, ":")})
			if err := other.Check(key, clk.Now().Add(time.Minute)); err != nil {
				t.Errorf("other prefix: %v", err)
			}
			if st := c.Stats(); st.Checks != 3 || st.Replays != 1 || st.Failures != 0 || st.RoundTrips != 2 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestConcurrentChecks: 64 goroutines insert one key each and then all try
// one shared key: every own key is fresh, exactly one of them wins the
// shared one, and the batches take fewer round trips than there are Checks.
func TestConcurrentChecks(t *testing.T) {
	s := redistest.New(t, redistest.Options{})
	rc := client(t, s)
	clk := testutil.NewClock(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))
	c := redisreplay.New(rc, redisreplay.Options{Now: clk.Now})
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if err := c.Check(fmt.Sprint("own", i, "/", j), clk.Now().Add(time.Minute)); err != nil {
					errs[i] = err
				}
			}
			errs[n+i] = c.Check("shared", clk.Now().Add(time.Minute))
		}()
	}
	wg.Wait()
	fresh := 0
	for i, err := range errs {
		switch {
		case i < n && err != nil:
			t.Errorf("own key %d: %v", i, err)
		case i >= n && err == nil:
			fresh++
		case i >= n && !errors.Is(err, kerberos.ErrReplay):
			t.Errorf("shared key: %v", err)
		}
	}
	if fresh != 1 {
		t.Errorf("the shared key was fresh %d times, want once", fresh)
	}
	st := c.Stats()
	t.Logf("stats %+v", st)
	if st.Checks != n*51 || st.RoundTrips > st.Checks || st.Replays != n-1 {
		t.Errorf("stats %+v", st)
	}
}

// TestFailsClosed: a stopped Redis, a frozen one and one that answers
// with an error all make Check fail with an error that is not ErrReplay,
// within the timeout; Checks succeed again once Redis is back, on the
// same cache.
func TestFailsClosed(t *testing.T) {
	s := redistest.New(t, redistest.Options{})
	rc := client(t, s)
	clk := testutil.NewClock(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))
	const timeout = 300 * time.Millisecond
	for _, batch := range []int{0, 1} {
		t.Run(fmt.Sprint("MaxBatch=", batch), func(t *testing.T) {
			c := redisreplay.New(rc, redisreplay.Options{Now: clk.Now, Timeout: timeout, MaxBatch: batch, Prefix: fmt.Sprint("f", batch, ":")})
			var i atomic.Int64
			check := func() error {
				return c.Check(fmt.Sprint("k", i.Add(1)), clk.Now().Add(time.Minute))
			}
			mustFail := func(what string) {
				t.Helper()
				start := time.Now()
				var wg sync.WaitGroup
				errs := make([]error, 16)
				for j := range errs {
					wg.Add(1)
					go func() { defer wg.Done(); errs[j] = check() }()
				}
				wg.Wait()
				for _, err := range errs {
					if err == nil || errors.Is(err, kerberos.ErrReplay) || !errors.Is(err, redisreplay.ErrUnavailable) {
						t.Fatalf("%s: Check returned %v, want ErrUnavailable", what, err)
					}
				}
				if d := time.Since(start); d > timeout+time.Second {
					t.Errorf("%s: Checks took %v, timeout %v", what, d, timeout)
				}
				t.Logf("%s: %v", what, errs[0])
			}
			if err := check(); err != nil {
				t.Fatal(err)
			}
			s.Stop()
			mustFail("stopped")
			if err := s.Restart(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "recovery after restart", func() bool { return check() == nil })

			if err := s.Pause(); err != nil {
				t.Fatal(err)
			}
			mustFail("frozen")
			if err := s.Resume(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "recovery after SIGCONT", func() bool { return check() == nil })
		})
	}
	// An error reply: a Redis that wants a password.
	if err := rc.ConfigSet(context.Background(), "requirepass", "secret").Err(); err != nil {
		t.Fatal(err)
	}
	noauth := client(t, s)
	c := redisreplay.New(noauth, redisreplay.Options{Now: clk.Now, Timeout: timeout})
	err := c.Check("x", clk.Now().Add(time.Minute))
	if !errors.Is(err, redisreplay.ErrUnavailable) || errors.Is(err, kerberos.ErrReplay) || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("NOAUTH: %v", err)
	}
	if err := c.Ping(context.Background()); err == nil {
		t.Error("Ping without the password succeeded")
	}
}

// waitFor polls cond (for what a restarted server needs: a reconnect)
// until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-timeout.C:
			t.Fatalf("%s: not within 10s", what)
		case <-tick.C:
		}
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url, network, addr string
		db                 int
		tls                bool
	}{
		{"redis://127.0.0.1:6380/2", "tcp", "127.0.0.1:6380", 2, false},
		{"redis://:pw@redis.example.com", "tcp", "redis.example.com:6379", 0, false},
		{"rediss://redis.example.com:6390?dial_timeout=2s", "tcp", "redis.example.com:6390", 0, true},
		{"unix:///run/redis/redis.sock?db=3", "unix", "/run/redis/redis.sock", 3, false},
	} {
		o, err := redisreplay.ParseURL(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if o.Network != tc.network || o.Addr != tc.addr || o.DB != tc.db || (o.TLSConfig != nil) != tc.tls || !o.ContextTimeoutEnabled {
			t.Errorf("%s: %+v", tc.url, o)
		}
	}
	for _, bad := range []string{"", "memory", "http://x", "redis://h/x/y", "redis://h?bogus=1"} {
		if _, err := redisreplay.ParseURL(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
		if _, err := redisreplay.Open(bad, redisreplay.Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	s := redistest.New(t, redistest.Options{})
	for _, u := range []string{s.URL(), s.UnixURL()} {
		c, err := redisreplay.Open(u, redisreplay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(context.Background()); err != nil {
			t.Errorf("%s: %v", u, err)
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}
}

func newClient(t testing.TB, opts *redis.Options) redis.UniversalClient {
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkCheck is Check alone from 64 goroutines (the Redis cost an
// accept pays), batched and not.
func BenchmarkCheck(b *testing.B) {
	s := redistest.New(b, redistest.Options{})
	for _, tc := range []struct {
		name string
		o    redisreplay.Options
	}{{"batched", redisreplay.Options{}}, {"unbatched", redisreplay.Options{MaxBatch: 1}}} {
		b.Run(tc.name, func(b *testing.B) {
			opts, _ := redisreplay.ParseURL(s.UnixURL())
			opts.PoolSize = 128
			c := redisreplay.New(newClient(b, opts), tc.o)
			exp := time.Now().Add(time.Minute)
			var n atomic.Int64
			run := fmt.Sprint(tc.name, time.Now().UnixNano(), "/")
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.Check(run+strconv.FormatInt(n.Add(1), 10), exp); err != nil {
						b.Error(err)
						return
					}
				}
			})
			st := c.Stats()
			b.ReportMetric(float64(st.RoundTrips)/float64(st.Checks), "roundtrips/op")
		})
	}
}
