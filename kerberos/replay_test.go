package kerberos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

func TestMemoryReplayCache(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1000, 0))
	c := NewMemoryReplayCacheWithClock(100, clk.Now)
	if err := c.Check("a", clk.Now().Add(time.Minute)); err != nil {
		t.Fatalf("fresh key: %v", err)
	}
	if err := c.Check("a", clk.Now().Add(time.Minute)); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	clk.Advance(2 * time.Minute) // "a" expired
	if err := c.Check("a", clk.Now().Add(time.Minute)); err != nil {
		t.Fatalf("expired entry still remembered: %v", err)
	}
	if err := c.Check("past", clk.Now().Add(-time.Second)); err != nil || c.Len() != 1 {
		t.Fatalf("an already expired key: %v, Len %d", err, c.Len())
	}
	// Full of live entries: refuse, never forget one.
	for i := 0; i < 1000; i++ {
		err := c.Check(fmt.Sprint(i), clk.Now().Add(time.Hour+time.Duration(i)*time.Second))
		if (i < 99) != (err == nil) || err != nil && !errors.Is(err, ErrReplayCacheFull) {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	if n := c.Len(); n != 100 {
		t.Fatalf("cache holds %d entries, bound is 100", n)
	}
	for _, k := range []string{"a", "0", "98"} {
		if err := c.Check(k, clk.Now().Add(time.Hour)); !errors.Is(err, ErrReplay) {
			t.Fatalf("live entry %q forgotten: %v", k, err)
		}
	}
	if s := c.Stats(); s.Entries != 100 || s.Capacity != 100 || s.Refused != 901 || s.Replays != 4 {
		t.Fatalf("stats %+v", s)
	}
	// "a" expires first and makes room for one; the rest a second apart.
	clk.Advance(time.Minute)
	if err := c.Check("new1", clk.Now().Add(time.Hour)); err != nil {
		t.Fatalf("after the first expiry: %v", err)
	}
	if err := c.Check("new2", clk.Now().Add(time.Hour)); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("still full: %v", err)
	}
	clk.Advance(time.Hour + 10*time.Second) // "0" .. "9" expired
	for i := 0; i < 10; i++ {
		if err := c.Check(fmt.Sprint("later", i), clk.Now().Add(time.Hour)); err != nil {
			t.Fatalf("after expiry, insert %d: %v", i, err)
		}
	}
	if c.queued() != c.Len() {
		t.Fatalf("expiry lists %d entries, map %d", c.queued(), c.Len())
	}
	clk.Advance(3 * time.Hour)
	if err := c.Check("last", clk.Now().Add(time.Minute)); err != nil || c.Len() != 1 || c.queued() != 1 {
		t.Fatalf("after everything expired: %v, Len %d, listed %d", err, c.Len(), c.queued())
	}
}

// TestReplayCacheFullFailsClosed: a full replay cache refuses fresh
// AP-REQs with SEC_E_INSUFFICIENT_MEMORY and says so in the log (once, not
// once per AP-REQ) and in its counters; the captured AP-REQ stays a replay;
// when the flood's entries expire the acceptor takes fresh AP-REQs again.
func TestReplayCacheFullFailsClosed(t *testing.T) {
	for _, size := range []int{1000, DefaultReplayCacheSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			tr := loadTranscript(t, "aes256")
			other := loadTranscript(t, "aes256-sha384") // another client's fresh AP-REQ
			testutil.PinClock(t, tr.recorded())
			clk := testutil.NewClock(tr.recorded())
			var logs bytes.Buffer
			cache := NewMemoryReplayCacheWithClock(size, clk.Now)
			p := New(Config{Now: clk.Now, Rand: testutil.NewReplayReader(tr.AcceptorRandom), ReplayCache: cache,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			cred := serverCred(t, p, tr.keytabFile(t), tr.Service)
			otherCred := serverCred(t, p, other.keytabFile(t), other.Service)
			accept := func(cred secpkg.LsaCredential, tr *transcript) error {
				_, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil,
					&secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, &sspi.ChannelBindings{ApplicationData: tr.CB})})
				return err
			}
			if err := accept(cred, tr); err != nil {
				t.Fatal(err)
			}
			// Flood entries that expire in 10 s (authenticators stamped
			// near the edge of the skew window).
			refused := 0
			for i := 0; i < size+10; i++ {
				if err := cache.Check(fmt.Sprint("flood", i), clk.Now().Add(10*time.Second)); err != nil {
					if !errors.Is(err, ErrReplayCacheFull) {
						t.Fatal(err)
					}
					refused++
				}
			}
			if refused != 11 {
				t.Fatalf("flood refused %d, want 11", refused)
			}
			wantStatus(t, accept(cred, tr), sspi.SEC_E_OUT_OF_SEQUENCE)
			for i := 0; i < 3; i++ {
				err := accept(otherCred, other)
				wantStatus(t, err, sspi.SEC_E_INSUFFICIENT_MEMORY)
				if !strings.Contains(err.Error(), "replay cache full") {
					t.Fatalf("detail: %v", err)
				}
			}
			if s := cache.Stats(); s.Refused != 14 || s.Entries != size {
				t.Fatalf("stats %+v", s)
			}
			if n := strings.Count(logs.String(), "replay cache cannot record"); n != 1 || !strings.Contains(logs.String(), "refused_total=12") {
				t.Fatalf("want one log line for three refusals:\n%s", logs.String())
			}
			clk.Advance(11 * time.Second) // the flood expired
			wantStatus(t, accept(cred, tr), sspi.SEC_E_OUT_OF_SEQUENCE)
			if err := accept(otherCred, other); err != nil {
				t.Fatalf("after the flood expired: %v", err)
			}
			wantStatus(t, accept(otherCred, other), sspi.SEC_E_OUT_OF_SEQUENCE)
		})
	}
}

// failingCache is a shared cache that cannot be reached.
type failingCache struct{}

func (failingCache) Check(string, time.Time) error { return errors.New("store unreachable") }

func TestReplayCacheUnavailableFailsClosed(t *testing.T) {
	tr := loadTranscript(t, "aes256")
	now := testutil.PinClock(t, tr.recorded())
	p := New(Config{Now: now, Rand: testutil.NewReplayReader(tr.AcceptorRandom), ReplayCache: failingCache{}})
	cred := serverCred(t, p, tr.keytabFile(t), tr.Service)
	_, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil,
		&secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, &sspi.ChannelBindings{ApplicationData: tr.CB})})
	wantStatus(t, err, sspi.SEC_E_INTERNAL_ERROR)
}

// ctxCache records the context its CheckContext got, and refuses when the
// context is done, as a remote cache would.
type ctxCache struct{ got context.Context }

func (c *ctxCache) Check(string, time.Time) error {
	return errors.New("Check called instead of CheckContext")
}
func (c *ctxCache) CheckContext(ctx context.Context, _ string, _ time.Time) error {
	c.got = ctx
	return ctx.Err()
}

// The acceptor hands a ReplayCacheContext the context of the accept: a
// cancelled accept ends the cache's wait and refuses the AP-REQ.
func TestReplayCacheContext(t *testing.T) {
	tr := loadTranscript(t, "aes256")
	now := testutil.PinClock(t, tr.recorded())
	type key struct{}
	for _, cancelled := range []bool{false, true} {
		cache := &ctxCache{}
		p := New(Config{Now: now, Rand: testutil.NewReplayReader(tr.AcceptorRandom), ReplayCache: cache})
		cred := serverCred(t, p, tr.keytabFile(t), tr.Service)
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "accept"))
		if cancelled {
			cancel()
		}
		_, _, err := p.AcceptLsaModeContext(ctx, cred, nil,
			&secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, &sspi.ChannelBindings{ApplicationData: tr.CB})})
		cancel()
		if cache.got == nil || cache.got.Value(key{}) != "accept" {
			t.Fatalf("CheckContext did not get the accept's context")
		}
		if cancelled {
			wantStatus(t, err, sspi.SEC_E_INTERNAL_ERROR)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled accept: %v does not carry context.Canceled", err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkMemoryReplayCacheFull is a fresh authenticator refused by a
// full default-size cache, and one admitted as another expires.
func BenchmarkMemoryReplayCacheFull(b *testing.B) {
	clk := testutil.NewClock(time.Unix(1000, 0))
	c := NewMemoryReplayCacheWithClock(DefaultReplayCacheSize, clk.Now)
	for i := 0; i < DefaultReplayCacheSize; i++ {
		c.Check(fmt.Sprint("k", i), clk.Now().Add(time.Minute+time.Duration(i)*time.Millisecond))
	}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("fresh", i)
	}
	b.Run("refused", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := c.Check(keys[i%len(keys)], clk.Now().Add(time.Minute)); !errors.Is(err, ErrReplayCacheFull) {
				b.Fatal(err)
			}
		}
	})
}
