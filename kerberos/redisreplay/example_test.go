package redisreplay_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/kerberos/redisreplay"
)

// Every node of the farm opens the same Redis and gives the cache to its
// Kerberos package. The acceptor calls Check once per AP-REQ; here the
// calls are made by hand to show the answers. (The test binary points
// REDIS_URL at a throwaway redis-server.)
func Example() {
	cache, err := redisreplay.Open(os.Getenv("REDIS_URL"), redisreplay.Options{
		Prefix:  "web-farm:krb5rc:",
		Timeout: 500 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	pkg := kerberos.New(kerberos.Config{ReplayCache: cache})
	_ = pkg // gosspi.HostConfig{Kerberos: kerberos.Config{ReplayCache: cache}} for a host

	expires := time.Now().Add(5 * time.Minute) // the authenticator's time + the clock skew
	fmt.Println("first:", cache.Check("an authenticator", expires))
	err = cache.Check("an authenticator", expires)
	fmt.Println("again is a replay:", errors.Is(err, kerberos.ErrReplay))
	// Output:
	// first: <nil>
	// again is a replay: true
}

// A Sentinel-managed Redis, or a Cluster (give its seed nodes as Addrs
// and no MasterName): any redis.UniversalClient. Set ContextTimeoutEnabled
// so that the cache's timeout also bounds the wait on the connection.
func ExampleNew() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		MasterName:            "krb5rc",
		Addrs:                 []string{"sentinel1:26379", "sentinel2:26379", "sentinel3:26379"},
		ContextTimeoutEnabled: true,
	})
	defer client.Close()
	cache := redisreplay.New(client, redisreplay.Options{Timeout: 300 * time.Millisecond})
	_ = kerberos.Config{ReplayCache: cache}
}
