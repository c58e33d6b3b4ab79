package ntlmauth

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"
)

// transcript is a recorded helper session.
type transcript struct {
	Peer      string     `json:"peer"`
	Time      time.Time  `json:"time"` // the server's clock
	Seed      string     `json:"seed"` // the server's random source
	Exchanges []exchange `json:"exchanges"`
}

func writeTranscript(t *testing.T, path string, tr transcript) {
	b, err := json.MarshalIndent(tr, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// seededReader is a deterministic random source: SHA-256 in counter mode.
type seededReader struct {
	mu   sync.Mutex
	seed string
	n    uint64
	buf  []byte
}

func (r *seededReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.buf) < len(p) {
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], r.n)
		r.n++
		h := sha256.Sum256(append([]byte(r.seed), c[:]...))
		r.buf = append(r.buf, h[:]...)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
