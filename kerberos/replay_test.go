package kerberos

import (
	"fmt"
	"testing"
	"time"
)

func TestMemoryReplayCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := NewMemoryReplayCache(100)
	c.now = func() time.Time { return now }
	if c.Check("a", now.Add(time.Minute)) {
		t.Fatal("fresh key reported as replay")
	}
	if !c.Check("a", now.Add(time.Minute)) {
		t.Fatal("replay not detected")
	}
	now = now.Add(2 * time.Minute) // "a" expired
	if c.Check("a", now.Add(time.Minute)) {
		t.Fatal("expired entry still remembered")
	}
	for i := 0; i < 1000; i++ {
		c.Check(fmt.Sprint(i), now.Add(time.Hour))
	}
	if n := c.Len(); n > 100 {
		t.Fatalf("cache grew to %d entries, bound is 100", n)
	}
	if !c.Check("999", now.Add(time.Hour)) {
		t.Fatal("newest entry forgotten")
	}
	if len(c.order)-c.head > 2*100+1024 {
		t.Fatalf("order queue not compacted: %d", len(c.order)-c.head)
	}
}
