// Package sysenv is the one place in gosspi's library code that reads the
// wall clock and the operating system's random source. Every package half
// takes its time and randomness from a configured clock and reader (as
// crypto/tls's Config.Time and Config.Rand) and falls back to the defaults
// here when none is configured; the guard test in this package fails when
// library code anywhere else calls time.Now, time.Since, time.Until or
// crypto/rand directly.
//
// Tests that replay recorded exchanges move the default clock far past the
// recording (SetDefaultClockForTest), so a half that forgot its configured
// clock fails the replay instead of passing by luck of the date.
package sysenv

import (
	"crypto/rand"
	"io"
	"sync/atomic"
	"time"
)

var override atomic.Pointer[func() time.Time]

// Now is the default clock: the wall clock, unless a test moved it.
func Now() time.Time {
	if f := override.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// Deadline returns the wall-clock time d from now, for network deadlines
// (net.Conn.SetDeadline), which the operating system measures against the
// real clock whatever clock the protocol logic runs on.
func Deadline(d time.Duration) time.Time { return time.Now().Add(d) }

// Rand is the default random source, crypto/rand.Reader.
var Rand io.Reader = rand.Reader

// Clock returns now, or Now when now is nil.
func Clock(now func() time.Time) func() time.Time {
	if now == nil {
		return Now
	}
	return now
}

// Reader returns r, or Rand when r is nil.
func Reader(r io.Reader) io.Reader {
	if r == nil {
		return Rand
	}
	return r
}

// Read fills b from r (Rand when r is nil).
func Read(r io.Reader, b []byte) error {
	_, err := io.ReadFull(Reader(r), b)
	return err
}

// SetDefaultClockForTest makes Now return now() until the returned function
// is called. It is for tests only: replays use it to prove that no code
// path falls back to the default clock.
func SetDefaultClockForTest(now func() time.Time) (restore func()) {
	prev := override.Swap(&now)
	return func() { override.Store(prev) }
}
