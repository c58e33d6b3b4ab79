package sasl

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
)

// initialFrame is the frame size read at once; a larger frame's buffer
// grows as its octets arrive.
const initialFrame = 1 << 16

// Conn is a net.Conn that carries a SASL security layer (RFC 4422 3.7):
// each Write is sent as one or more buffers of a 4-octet big-endian length
// and a wrapped token no larger than the peer's maximum buffer, and Read
// returns the plaintext of the buffers the peer sent, refusing any longer
// than this side's maximum with a *FrameError and any that does not
// verify with a *LayerError. After a read error every Read returns it: the
// stream cannot be resynchronized. Under LayerNone it passes bytes through.
//
// Read and Write may run in separate goroutines.
type Conn struct {
	net.Conn
	sec *Security

	rmu   sync.Mutex
	r     io.Reader // the underlying stream (Conn, or what was read ahead)
	plain []byte    // the unread rest of the last buffer
	rerr  error     // sticky read error
	rbuf  []byte    // the frame being read (Unwrap does not keep it)

	wmu  sync.Mutex
	wbuf []byte // the frame being written
}

// NewConn returns c with the security layer sec on it. Closing the Conn
// closes c and sec.
func NewConn(c net.Conn, sec *Security) *Conn {
	return &Conn{Conn: c, sec: sec, r: c}
}

// NewConnReadAhead is NewConn for a stream whose first octets were
// already read from c into ahead (a bufio.Reader's buffered data).
func NewConnReadAhead(c net.Conn, ahead []byte, sec *Security) *Conn {
	sc := NewConn(c, sec)
	if len(ahead) > 0 {
		sc.r = io.MultiReader(&onceReader{b: append([]byte(nil), ahead...)}, c)
	}
	return sc
}

type onceReader struct{ b []byte }

// Read returns the octets read ahead, then io.EOF.
func (o *onceReader) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, o.b)
	o.b = o.b[n:]
	return n, nil
}

// Security returns the layer the Conn carries.
func (c *Conn) Security() *Security { return c.sec }

// Read reads plaintext.
func (c *Conn) Read(p []byte) (int, error) {
	if c.sec.layer == LayerNone {
		return c.r.Read(p)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.plain) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if len(p) == 0 {
			return 0, nil
		}
		c.plain, c.rerr = c.readFrame()
	}
	n := copy(p, c.plain)
	c.plain = c.plain[n:]
	return n, nil
}

// readFrame reads one buffer into rbuf and unwraps it.
func (c *Conn) readFrame() ([]byte, error) {
	var err error
	c.rbuf, err = readFrameInto(c.r, c.sec, c.rbuf)
	if err != nil {
		return nil, err
	}
	return c.sec.Unwrap(c.rbuf)
}

// readFrame reads one buffer and unwraps it.
func readFrame(r io.Reader, sec *Security) ([]byte, error) {
	tok, err := readFrameInto(r, sec, nil)
	if err != nil {
		return nil, err
	}
	return sec.Unwrap(tok)
}

// readFrameInto reads one buffer's wrapped token into buf (grown as
// needed, within the maximum buffer).
func readFrameInto(r io.Reader, sec *Security, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > sec.maxRecv {
		return nil, &FrameError{Length: n, Max: sec.maxRecv}
	}
	if uint32(cap(buf)) >= n || n <= initialFrame {
		if uint32(cap(buf)) < n {
			buf = make([]byte, n)
		}
		tok := buf[:n]
		if _, err := io.ReadFull(r, tok); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return tok, nil
	}
	// A large frame: memory grows with what arrives, not with what the
	// header claims.
	var b bytes.Buffer
	b.Grow(initialFrame)
	if _, err := io.CopyN(&b, r, int64(n)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	tok := b.Bytes()
	return tok, nil
}

// Write wraps p in buffers within the peer's maximum and sends them.
func (c *Conn) Write(p []byte) (int, error) {
	if c.sec.layer == LayerNone {
		return c.Conn.Write(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	chunk := c.sec.maxPlain()
	written := 0
	for len(p) > 0 {
		n := min(len(p), chunk)
		tok, err := c.sec.Wrap(p[:n])
		if err != nil {
			return written, err
		}
		// One write per frame (one TLS record, one segment).
		c.wbuf = binary.BigEndian.AppendUint32(c.wbuf[:0], uint32(len(tok)))
		c.wbuf = append(c.wbuf, tok...)
		if _, err := c.Conn.Write(c.wbuf); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// Close closes the connection and deletes the security context.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.sec.Close()
	return err
}
