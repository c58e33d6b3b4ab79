package ldapsasl

import "net"

// Recorder keeps what is read from a connection (for the external tests'
// fuzz seeds).
type Recorder = recorder

// NewRecorder returns a Recorder reading from c.
func NewRecorder(c net.Conn) *Recorder { return &recorder{Conn: c} }

// Recorded returns what was read so far.
func (r *recorder) Recorded() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.buf.Bytes()...)
}

// RecordSeeds is recordSeeds.
var RecordSeeds = recordSeeds

// RecordMessages is recordMessages.
var RecordMessages = recordMessages
