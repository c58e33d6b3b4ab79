package handles

import (
	"sync"
	"testing"
	"time"
)

func TestInsertGetDelete(t *testing.T) {
	tb := New[string](10)
	h, err := tb.Insert(1, "a", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Lower == 0 || h.Upper == 0 {
		t.Fatalf("zero handle word: %+v", h)
	}
	if v, ok := tb.Get(h, 1); !ok || v != "a" {
		t.Fatalf("Get = %q, %v", v, ok)
	}
	if _, ok := tb.Get(h, 2); ok {
		t.Fatal("wrong kind accepted")
	}
	if _, ok := tb.Get(Handle{Lower: h.Lower + 1, Upper: h.Upper}, 1); ok {
		t.Fatal("unknown handle accepted")
	}
	other := New[string](10)
	if _, ok := other.Get(h, 1); ok {
		t.Fatal("handle from another table accepted")
	}
	if _, ok := tb.Delete(h, 2); ok {
		t.Fatal("delete with wrong kind succeeded")
	}
	if v, ok := tb.Delete(h, 1); !ok || v != "a" {
		t.Fatal("delete failed")
	}
	if _, ok := tb.Delete(h, 1); ok {
		t.Fatal("double delete succeeded")
	}
	if _, ok := tb.Get(h, 1); ok {
		t.Fatal("freed handle accepted")
	}
	if tb.Len() != 0 {
		t.Fatalf("Len = %d", tb.Len())
	}
}

func TestUniqueHandles(t *testing.T) {
	tb := New[int](1 << 16)
	seen := map[uint64]bool{}
	for i := 0; i < 50000; i++ {
		h, err := tb.Insert(1, i, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if seen[h.Lower] {
			t.Fatalf("duplicate handle after %d inserts", i)
		}
		seen[h.Lower] = true
	}
}

func TestCapAndReap(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := New[int](3)
	tb.SetClock(func() time.Time { return now })
	var reaped []int
	onReap := func(v int) { reaped = append(reaped, v) }
	a, _ := tb.Insert(1, 1, time.Minute, onReap)
	if _, err := tb.Insert(1, 2, time.Minute, onReap); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Insert(1, 3, 0, onReap); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Insert(1, 4, 0, onReap); err != ErrFull {
		t.Fatalf("insert into full table: %v", err)
	}
	tb.Settle(a, 1) // established: never reaped
	now = now.Add(2 * time.Minute)
	if _, err := tb.Insert(1, 5, 0, onReap); err != nil {
		t.Fatalf("insert after expiry: %v", err)
	}
	if len(reaped) != 1 || reaped[0] != 2 {
		t.Fatalf("reaped %v, want [2]", reaped)
	}
	if _, ok := tb.Get(a, 1); !ok {
		t.Fatal("settled entry reaped")
	}
	if tb.Len() != 3 {
		t.Fatalf("Len = %d", tb.Len())
	}
	if n := tb.Drain(nil); n != 3 || tb.Len() != 0 {
		t.Fatalf("Drain = %d, Len = %d", n, tb.Len())
	}
}

func TestConcurrent(t *testing.T) {
	tb := New[int](1 << 20)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				h, err := tb.Insert(1, i, time.Hour, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if v, ok := tb.Get(h, 1); !ok || v != i {
					t.Error("lost entry")
					return
				}
				if i%2 == 0 {
					tb.Delete(h, 1)
				}
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); tb.Reap(nil) }()
	wg.Wait()
	if tb.Len() != 8*1000 {
		t.Fatalf("Len = %d", tb.Len())
	}
}

func BenchmarkTableParallel(b *testing.B) {
	tb := New[int](1 << 22)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			h, err := tb.Insert(1, i, time.Minute, nil)
			if err != nil {
				b.Fatal(err)
			}
			tb.Get(h, 1)
			tb.Settle(h, 1)
			tb.Delete(h, 1)
			i++
		}
	})
}

func BenchmarkGetParallel(b *testing.B) {
	tb := New[int](1 << 16)
	hs := make([]Handle, 1024)
	for i := range hs {
		hs[i], _ = tb.Insert(1, i, 0, nil)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tb.Get(hs[i&1023], 1)
			i++
		}
	})
}
