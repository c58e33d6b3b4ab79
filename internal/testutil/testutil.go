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
