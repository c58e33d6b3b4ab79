package redisreplay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestExpiredBatchFailsClosed: a batch whose deadline passed while it
// waited in the queue answers every Check with ErrUnavailable, never with
// the nil that would accept an authenticator nothing recorded.
func TestExpiredBatchFailsClosed(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	c := New(client, Options{})
	b := &batch{done: make(chan struct{}), keys: []string{"a", "b"}, ttls: []time.Duration{time.Second, time.Second}}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.cancel()
	c.send(b)
	<-b.done
	for i, err := range b.errs {
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("Check %d of an expired batch: %v, want ErrUnavailable", i, err)
		}
	}
	if n := c.roundTrips.Load(); n != 0 {
		t.Errorf("an expired batch was sent: %d round trips", n)
	}
}
