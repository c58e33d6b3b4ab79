package ntlm

import (
	"sync"
	"time"
)

// NTLM reflection (the MS08-068 class): a host that runs both directions
// can be made to answer its own server's CHALLENGE with its client, for
// instance when a service fetches a URL an attacker chose and the attacker
// relays the service's CHALLENGE to it; the attacker then logs on to the
// service as the service's own account. Windows refuses this by
// recognising challenges its own client answered (the "loopback check").
// A Package does the same: its client records the ServerChallenge of every
// CHALLENGE it answers, and its server refuses an AUTHENTICATE for a
// CHALLENGE it issued that is among them.
//
// The record is bounded. An entry lives as long as the server still accepts
// an answer to that challenge (Config.MaxClockSkew after it was issued; the
// server refuses older ones), and at most maxAnswered entries are kept. A
// flood of outbound handshakes past the cap forgets the oldest entries
// early, and the check then fails closed: every server handshake whose
// CHALLENGE was issued before the newest forgotten answer is refused, so a
// reflected challenge can never slip through; honest handshakes in flight
// during the flood are refused once and retried by their clients.

// maxAnswered bounds the challenges a Package remembers answering.
const maxAnswered = 1 << 16

type answered struct {
	chal [8]byte
	at   time.Time
}

type reflectionGuard struct {
	mu    sync.Mutex
	seen  map[[8]byte]time.Time // challenge -> newest answer
	queue []answered            // oldest first
	head  int
	lost  time.Time // newest answer forgotten while it was live
}

// expire drops the entries older than window. Callers hold mu.
func (g *reflectionGuard) expire(now time.Time, window time.Duration) {
	for g.head < len(g.queue) && now.Sub(g.queue[g.head].at) > window {
		g.drop()
	}
	if g.head > 0 && g.head >= len(g.queue)/2 {
		n := copy(g.queue, g.queue[g.head:])
		clear(g.queue[n:])
		g.queue, g.head = g.queue[:n], 0
	}
}

// drop forgets the oldest entry. Callers hold mu.
func (g *reflectionGuard) drop() {
	e := g.queue[g.head]
	g.queue[g.head] = answered{}
	g.head++
	if at, ok := g.seen[e.chal]; ok && at.Equal(e.at) {
		delete(g.seen, e.chal)
	}
}

// answer records that our client answered chal at now.
func (g *reflectionGuard) answer(chal [8]byte, now time.Time, window time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expire(now, window)
	if len(g.queue)-g.head >= maxAnswered {
		if at := g.queue[g.head].at; at.After(g.lost) {
			g.lost = at
		}
		g.drop()
	}
	if g.seen == nil {
		g.seen = make(map[[8]byte]time.Time)
	}
	g.seen[chal] = now
	g.queue = append(g.queue, answered{chal, now})
}

// reflected reports whether a CHALLENGE our server issued at issued may
// have been answered by our own client: it is among the recorded answers,
// or it predates an answer that was forgotten early (fail closed).
func (g *reflectionGuard) reflected(chal [8]byte, issued, now time.Time, window time.Duration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expire(now, window)
	if _, ok := g.seen[chal]; ok {
		return true
	}
	return !g.lost.IsZero() && !issued.After(g.lost)
}
