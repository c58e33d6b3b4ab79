package ldapsasl

import (
	"net"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/gosspi/gosspi/sasl"
)

type connState int

const (
	statePlain   connState = iota
	stateArmed             // a layer was negotiated; the BindResponse decides
	stateLayered           // the layer is on
)

// Conn is the net.Conn to give ldap.NewConn when GSSAPIClient binds over
// plain LDAP: it passes bytes through until a bind negotiates a security
// layer, reads the final BindResponse as it is, and when that is a
// success carries every later byte in the layer (a *sasl.Conn).
//
// It works because LDAP is request and response: after the client's last
// bind message the server sends nothing but the BindResponse until the
// client sends its next, wrapped, request.
type Conn struct {
	raw net.Conn

	mu      sync.Mutex
	state   connState
	sec     *sasl.Security
	layered *sasl.Conn

	rmu     sync.Mutex
	out     []byte // read, to be returned to the reader
	pending []byte // armed: the BindResponse read so far
	buf     []byte
}

// NewConn returns c ready for ldap.NewConn.
func NewConn(c net.Conn) *Conn { return &Conn{raw: c, buf: make([]byte, 4096)} }

// arm readies the switch to sec after the next BindResponse.
func (c *Conn) arm(sec *sasl.Security) {
	c.mu.Lock()
	c.state, c.sec = stateArmed, sec
	c.mu.Unlock()
}

// Security returns the layer on the connection, or nil.
func (c *Conn) Security() *sasl.Security {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateLayered {
		return c.sec
	}
	return nil
}

// Read reads plaintext.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.out) == 0 {
		c.mu.Lock()
		layered := c.layered
		c.mu.Unlock()
		if layered != nil {
			return layered.Read(p)
		}
		n, err := c.raw.Read(c.buf)
		if n > 0 {
			c.received(c.buf[:n])
		}
		if err != nil && len(c.out) == 0 {
			return 0, err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// received sorts bytes from the wire; the state is the one after the read
// returned, so a read that began before arm sees the BindResponse armed.
func (c *Conn) received(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateArmed {
		c.out = append(c.out, b...)
		return
	}
	c.pending = append(c.pending, b...)
	total, err := elementLength(c.pending)
	if err != nil {
		// Not LDAP: let go-ldap's reader fail on it.
		c.out, c.pending, c.state = append(c.out, c.pending...), nil, statePlain
		return
	}
	if total == 0 || len(c.pending) < total {
		return
	}
	msg, rest := c.pending[:total], c.pending[total:]
	c.out, c.pending = append(c.out, msg...), nil
	if r, err := parseResponse(msg); err == nil && r.op == ldap.ApplicationBindResponse && r.code == 0 {
		c.state = stateLayered
		c.layered = sasl.NewConnReadAhead(c.raw, rest, c.sec)
		return
	}
	// The bind failed: no layer.
	c.sec.Close()
	c.sec, c.state = nil, statePlain
	c.out = append(c.out, rest...)
}

// Write writes plaintext.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	layered := c.layered
	c.mu.Unlock()
	if layered != nil {
		return layered.Write(p)
	}
	return c.raw.Write(p)
}

// Close closes the connection and deletes the layer's context.
func (c *Conn) Close() error {
	c.mu.Lock()
	sec := c.sec
	c.mu.Unlock()
	err := c.raw.Close()
	if sec != nil {
		sec.Close()
	}
	return err
}

// The net.Conn methods that go to the connection itself.

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.raw.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }
