package kerberos

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestSecondHeapOrder: the typed heap pops seconds in ascending order,
// with pushes and pops interleaved.
func TestSecondHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h secondHeap
	var want []int64
	for round := 0; round < 50; round++ {
		for range r.IntN(40) {
			v := r.Int64N(1000)
			h.push(v)
			want = append(want, v)
		}
		slices.Sort(want)
		for range r.IntN(len(want) + 1) {
			if v := h.pop(); v != want[0] {
				t.Fatalf("popped %d, want %d", v, want[0])
			}
			want = want[1:]
		}
		if len(h) != len(want) {
			t.Fatalf("heap %d entries, want %d", len(h), len(want))
		}
	}
}

// TestReplayCacheSubSecond: an entry's exact expiry decides whether a
// repeat is a replay, though its memory is reclaimed by the second; a key
// stored again after it expired keeps its new expiry when the old second
// is purged.
func TestReplayCacheSubSecond(t *testing.T) {
	now := time.Unix(1000, 0)
	c := NewMemoryReplayCacheWithClock(10, func() time.Time { return now })
	if err := c.Check("k", now.Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(200 * time.Millisecond)
	if err := c.Check("k", now.Add(time.Second)); err != ErrReplay {
		t.Fatalf("live entry: %v", err)
	}
	now = now.Add(200 * time.Millisecond) // 1000.4: expired, its second (1001) not over
	if err := c.Check("k", now.Add(2*time.Second)); err != nil {
		t.Fatalf("expired entry: %v", err)
	}
	if c.Len() != 1 {
		t.Fatalf("Len %d", c.Len())
	}
	now = time.Unix(1001, 500_000_000) // second 1001 purged; "k" now expires at 1002.4
	if err := c.Check("k", now.Add(time.Second)); err != ErrReplay {
		t.Fatalf("re-stored entry lost with its old second: %v", err)
	}
	now = time.Unix(1003, 0)
	if err := c.Check("other", now.Add(time.Second)); err != nil || c.Len() != 1 || c.queued() != 1 {
		t.Fatalf("after expiry: %v, Len %d, listed %d", err, c.Len(), c.queued())
	}
}
