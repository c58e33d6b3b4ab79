package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/kerberos/redisreplay"
)

// serveReplay is the -replay-cache choice of serve.
type serveReplay struct {
	url     string        // -replay-cache: "memory" or a Redis URL
	timeout time.Duration // -replay-cache-timeout
}

// replayCacheUsage is the part of serve's usage text about the replay cache.
const replayCacheUsage = `Replay cache (-replay-cache): Kerberos refuses an authenticator it has seen
(RFC 4120 section 3.2.3). The default, memory, remembers them in this
process only. Nodes of a farm behind a load balancer, sharing one keytab,
must share one cache, or an AP-REQ captured on the way to one node is
accepted by another: give the same redis://host:port[/db], rediss://... or
unix:///path/to/redis.sock URL to every node. A URL that cannot be parsed
stops serve at start (exit 2). A Redis that does not answer at start is
logged and serve starts anyway: Kerberos logons are refused (fail closed,
SEC_E_INTERNAL_ERROR) while Redis cannot record them, NTLM is unaffected,
and Kerberos comes back by itself once Redis answers, without a restart.
Each check waits at most -replay-cache-timeout.
`

func replayCacheFlags(fs *flag.FlagSet, o *serveOptions) {
	fs.StringVar(&o.replay.url, "replay-cache", "memory",
		"Kerberos replay cache: memory, or a Redis URL shared by the farm (redis://, rediss://, unix://)")
	fs.DurationVar(&o.replay.timeout, "replay-cache-timeout", redisreplay.DefaultTimeout,
		"time a Redis replay cache has to answer, per logon; past it the logon is refused")
}

// openReplayCache returns the replay cache of -replay-cache: nil for the
// package's default memory cache, or a Redis cache (the close function
// closes its client). A URL that cannot be parsed is a usageError.
func openReplayCache(o *serveOptions) (kerberos.ReplayCache, func(), error) {
	v := strings.TrimSpace(o.replay.url)
	if v == "" || strings.EqualFold(v, "memory") {
		return nil, func() {}, nil
	}
	if o.replay.timeout < 0 {
		return nil, nil, &usageError{"-replay-cache-timeout must not be negative"}
	}
	c, err := redisreplay.Open(v, redisreplay.Options{Timeout: o.replay.timeout})
	if err != nil {
		return nil, nil, &usageError{"-replay-cache: " + err.Error() +
			" (give memory, or a Redis URL: redis://host:port[/db], rediss://host:port, unix:///path/to/redis.sock)"}
	}
	return c, func() { c.Close() }, nil
}

// checkReplayCache pings a Redis replay cache at start. Failure does not
// stop serve: a node of a farm starts and refuses Kerberos until Redis is
// back, rather than fail its health check for good; the log says so.
func checkReplayCache(ctx context.Context, rc kerberos.ReplayCache, o *serveOptions, logger *slog.Logger) {
	c, ok := rc.(*redisreplay.Cache)
	if !ok {
		logger.Info("gosspi serve: Kerberos replay cache", "cache", "memory")
		return
	}
	// go-redis's own messages (a dial that failed, once per attempt) go to
	// serve's log at debug level: the Kerberos package already warns, once
	// a minute, while the cache refuses.
	redis.SetLogger(redisLog{logger})
	if err := c.Ping(ctx); err != nil {
		logger.Warn("gosspi serve: the Redis replay cache does not answer; Kerberos logons are refused until it does",
			"replay_cache", redactURL(o.replay.url), "error", err.Error())
		return
	}
	logger.Info("gosspi serve: Kerberos replay cache", "cache", "redis", "replay_cache", redactURL(o.replay.url),
		"timeout", c.Timeout().String())
}

// redisLog is go-redis's logger on serve's.
type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// redactURL drops the password of a Redis URL, for the log.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	at := strings.LastIndex(rest, "@")
	if slash := strings.Index(rest, "/"); at < 0 || slash >= 0 && slash < at {
		return u
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}
