// Package testutil holds small helpers shared by the tests of several
// packages: a goroutine-safe log sink, deterministic random sources, and
// the check that a real interop peer is installed.
package testutil

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/sysenv"
)

// SyncBuffer is a bytes.Buffer safe for concurrent Write and String, for
// collecting log lines from servers under test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// SeededReader is a deterministic random source: SHA-256 of the seed and a
// counter. It is safe for concurrent use.
type SeededReader struct {
	mu   sync.Mutex
	Seed string
	n    uint64
	buf  []byte
}

// Read implements io.Reader.
func (r *SeededReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.buf) < len(p) {
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], r.n)
		r.n++
		h := sha256.Sum256(append([]byte(r.Seed), c[:]...))
		r.buf = append(r.buf, h[:]...)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// LockedReader makes a reader (such as a math/rand/v2 ChaCha8) safe for
// concurrent use.
type LockedReader struct {
	mu sync.Mutex
	R  io.Reader
}

// Read implements io.Reader.
func (l *LockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.R.Read(p)
}

// RequirePeer fails the test (never skips it) when an interop peer is not
// installed: `make test` installs them, and a missing peer must not pass
// silently. It returns the path of the first one.
func RequirePeer(t testing.TB, bins ...string) string {
	t.Helper()
	first := ""
	for _, b := range bins {
		p, err := exec.LookPath(b)
		if err != nil {
			t.Fatalf("interop peer %s is not installed (run `make test`, which installs .ci/apt-packages): %v", b, err)
		}
		if first == "" {
			first = p
		}
	}
	return first
}

// farFuture is how far past a recording PinClock moves the default clock:
// beyond every lifetime a context, ticket or timestamp window can have.
const farFuture = 50 * 365 * 24 * time.Hour

// PinClock returns a clock stopped at at, the time a transcript was
// recorded, and for the rest of the test moves the library's default clock
// (internal/sysenv.Now) 50 years past it. A replay then passes only if every
// package half, LSA mode and user mode alike, runs on the clock it was
// given: one that falls back to the default sees its context long expired.
// Tests that call it must not run in parallel with others.
func PinClock(t testing.TB, at time.Time) func() time.Time {
	t.Helper()
	restore := sysenv.SetDefaultClockForTest(func() time.Time { return at.Add(farFuture) })
	t.Cleanup(restore)
	return func() time.Time { return at }
}

// ReplayReader is a random source that returns recorded bytes, then zeros
// (for draws the recording did not need to keep, such as confounders).
// Reset starts it over. It is safe for concurrent use.
type ReplayReader struct {
	mu  sync.Mutex
	b   []byte
	off int
}

// NewReplayReader returns a ReplayReader over b.
func NewReplayReader(b []byte) *ReplayReader { return &ReplayReader{b: b} }

// Read implements io.Reader.
func (r *ReplayReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := copy(p, r.b[min(r.off, len(r.b)):])
	clear(p[n:])
	r.off += len(p)
	return len(p), nil
}

// Reset replays the recorded bytes again from the start.
func (r *ReplayReader) Reset() {
	r.mu.Lock()
	r.off = 0
	r.mu.Unlock()
}

// TeeReader is a random source that reads r and keeps a copy of what it
// returned, for recording. It is safe for concurrent use.
type TeeReader struct {
	mu  sync.Mutex
	R   io.Reader
	Got []byte
}

// Read implements io.Reader.
func (r *TeeReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.R.Read(p)
	r.Got = append(r.Got, p[:n]...)
	return n, err
}

// Clock is a controllable clock for tests: Now returns the time it was set
// to until Advance moves it. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
