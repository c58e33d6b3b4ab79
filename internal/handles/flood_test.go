package handles

import (
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"
)

// defaultContexts is lsa.Config.MaxContexts' default.
const defaultContexts = 262144

// fullTable returns a table of cap n full of live half-built entries.
func fullTable(tb testing.TB, n int, clk *testutil.Clock) *Table[int] {
	tb.Helper()
	t := NewWith[int](n, clk.Now, nil)
	for i := 0; i < n; i++ {
		if _, err := t.Insert(1, i, time.Minute, nil); err != nil {
			tb.Fatal(err)
		}
	}
	return t
}

// TestRefusedInsertFloodIsCheap is issue 10 item 7 as an attacker runs it:
// the context table is full of live half-built handshakes, and a flood of
// new handshakes is refused. Each refusal used to reap by visiting every
// entry of the table (75 ms at 262,144 entries): CPU exhaustion. A refusal
// must cost next to nothing while nothing has expired, and reaping must
// visit only what expired.
func TestRefusedInsertFloodIsCheap(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	tb := fullTable(t, defaultContexts, clk)
	const flood = 1000
	before := tb.visited.Load()
	for i := 0; i < flood; i++ {
		if _, err := tb.Insert(1, -1, time.Minute, nil); err != ErrFull {
			t.Fatalf("insert %d into a full table: %v", i, err)
		}
	}
	// At most a handful of entries per refusal (the head of each shard's
	// deadline order), never the table.
	if v := tb.visited.Load() - before; v > flood*shardCount {
		t.Fatalf("%d refused inserts visited %d entries (%.0f each); the table holds %d", flood, v, float64(v)/flood, defaultContexts)
	}
	// A full table of expired entries still admits a new insert, and that
	// reap visits what expired, not what is live.
	clk.Advance(2 * time.Minute)
	before = tb.visited.Load()
	if _, err := tb.Insert(1, -2, time.Minute, nil); err != nil {
		t.Fatalf("insert into a full table of expired entries: %v", err)
	}
	if tb.Len() != 1 {
		t.Fatalf("Len = %d after reaping", tb.Len())
	}
	if v := tb.visited.Load() - before; v > defaultContexts+shardCount {
		t.Fatalf("reaping %d expired entries visited %d", defaultContexts, v)
	}
}

// BenchmarkRefusedInsert is one Insert refused by a full table of 262,144
// live entries (lsa's default MaxContexts).
func BenchmarkRefusedInsert(b *testing.B) {
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	tb := fullTable(b, defaultContexts, clk)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tb.Insert(1, i, time.Minute, nil); err != ErrFull {
			b.Fatal(err)
		}
	}
}

// TestReapMatchesDeadlines checks the deadline heaps against a model under
// a random mix of inserts, settles, extends, deletes and reaps.
func TestReapMatchesDeadlines(t *testing.T) {
	clk := testutil.NewClock(time.Unix(1_700_000_000, 0))
	tb := NewWith[int](1<<16, clk.Now, nil)
	rng := uint64(1)
	rnd := func(n int) int { rng = mix(rng + 0x9e3779b97f4a7c15); return int(rng % uint64(n)) }
	type live struct {
		h        Handle
		deadline time.Time // zero: none
	}
	model := map[int]*live{}
	for i := 0; i < 20000; i++ {
		switch op := rnd(10); {
		case op < 4:
			ttl := time.Duration(rnd(4)) * time.Second
			h, err := tb.Insert(1, i, ttl, nil)
			if err != nil {
				t.Fatal(err)
			}
			l := &live{h: h}
			if ttl > 0 {
				l.deadline = clk.Now().Add(ttl)
			}
			model[i] = l
		case op < 8 && len(model) > 0:
			for k, l := range model { // an arbitrary one
				switch op {
				case 4:
					tb.Settle(l.h, 1)
					l.deadline = time.Time{}
				case 5, 6:
					ttl := time.Duration(1+rnd(3)) * time.Second
					tb.Extend(l.h, 1, ttl)
					l.deadline = clk.Now().Add(ttl)
				case 7:
					if v, ok := tb.Delete(l.h, 1); !ok || v != k {
						t.Fatalf("delete %d: %v %v", k, v, ok)
					}
					delete(model, k)
				}
				break
			}
		case op == 8:
			clk.Advance(time.Duration(rnd(1500)) * time.Millisecond)
		default:
			got := map[int]bool{}
			tb.Reap(func(v int) { got[v] = true })
			for k, l := range model {
				expired := !l.deadline.IsZero() && !l.deadline.After(clk.Now())
				if expired != got[k] {
					t.Fatalf("op %d: entry %d deadline %v now %v: reaped %v", i, k, l.deadline, clk.Now(), got[k])
				}
				if expired {
					delete(model, k)
				}
			}
			if len(got) > 0 && tb.Len() != len(model) {
				t.Fatalf("Len %d, model %d", tb.Len(), len(model))
			}
		}
	}
	if tb.Len() != len(model) {
		t.Fatalf("Len %d, model %d", tb.Len(), len(model))
	}
}
