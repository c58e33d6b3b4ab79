package lsarpc

import (
	"io"
	"sync"
)

// Writer writes frames to a connection from many goroutines, coalescing
// them: a frame queued while another goroutine is writing goes out with
// that goroutine's next write, so that under load one write system call
// carries many frames, and alone a frame costs one write and no handoff.
// Written bytes are wiped (frames carry tokens, passwords and ContextData).
type Writer struct {
	w io.Writer

	mu      sync.Mutex
	queue   []byte
	spare   []byte
	writing bool
	err     error
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// maxSpare is the largest buffer a Writer keeps between writes.
const maxSpare = 256 << 10

// Write queues the frame that appendFrame appends and writes the queue
// unless another goroutine is doing so. An error from appendFrame leaves
// the queue as it was; a write error is returned to the goroutine that
// wrote and to every later call.
func (w *Writer) Write(appendFrame func([]byte) ([]byte, error)) error {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	q, err := appendFrame(w.queue)
	if err != nil {
		w.mu.Unlock()
		return err
	}
	w.queue = q
	if w.writing {
		w.mu.Unlock()
		return nil
	}
	w.writing = true
	for len(w.queue) > 0 && w.err == nil {
		b := w.queue
		w.queue = w.spare[:0]
		w.spare = nil
		w.mu.Unlock()
		_, werr := w.w.Write(b)
		clear(b)
		w.mu.Lock()
		if werr != nil {
			w.err = werr
			clear(w.queue)
			w.queue = nil
		}
		if cap(b) <= maxSpare {
			w.spare = b[:0]
		}
	}
	w.writing = false
	err = w.err
	w.mu.Unlock()
	return err
}
