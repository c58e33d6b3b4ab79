package ntlmauth

import (
	"encoding/json"
	"os"
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
