// Package lsarpc is the wire protocol between the SSPI surface in an
// application and the privilege-separated package host, gosspi lsad: the
// sspi.Host calls as length-framed binary messages over a Unix stream
// socket.
//
// A connection starts with a Hello from the client and a HelloReply from
// the daemon (the protocol version, the frame cap, and the caller's
// credentials as the daemon saw them through SO_PEERCRED). Every later
// frame carries a request ID, so that many calls are in flight on one
// connection and replies come back in any order; a Cancel frame names the
// request to abandon. Every value has an explicit encoding (no gob, no
// reflection): integers are big-endian, strings and byte strings carry a
// 32-bit length, times are Unix seconds and nanoseconds, and attribute
// values carry a tag naming their type.
//
// The decoder is the daemon's privilege boundary: it never panics, never
// allocates more than the frame it was given justifies, and caps the
// number of buffers, options and list items.
package lsarpc

import (
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// Limits of the decoder: the counts a well-formed message never exceeds.
const (
	maxBuffers = 16   // SecBuffers in one SecBufferDesc
	maxOptions = 64   // AuthIdentity options
	maxList    = 4096 // items of any other list (packages, groups, claims)
)

// ErrMalformed is returned for a message that does not decode.
var ErrMalformed = errors.New("lsarpc: malformed message")

// enc appends the wire encoding of values to a byte slice.
type enc struct{ b []byte }

func (e *enc) u8(v uint8)   { e.b = append(e.b, v) }
func (e *enc) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *enc) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *enc) i64(v int64)  { e.u64(uint64(v)) }
func (e *enc) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *enc) bytes(v []byte) {
	e.u32(uint32(len(v)))
	e.b = append(e.b, v...)
}
func (e *enc) str(v string) {
	e.u32(uint32(len(v)))
	e.b = append(e.b, v...)
}

// nbytes encodes a byte string that may be nil (a SecBuffer that carries
// only a count): a presence byte, then the bytes.
func (e *enc) nbytes(v []byte) {
	e.bool(v != nil)
	if v != nil {
		e.bytes(v)
	}
}

// time encodes t as a presence byte, Unix seconds and nanoseconds; the
// zero time is "absent" (SSPI's "never").
func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.u8(0)
		return
	}
	e.u8(1)
	e.i64(t.Unix())
	e.u32(uint32(t.Nanosecond()))
}

func (e *enc) strs(v []string) {
	e.u32(uint32(len(v)))
	for _, s := range v {
		e.str(s)
	}
}

// dec reads values from a message; the first error sticks and every later
// read returns a zero value.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = ErrMalformed
	}
	d.b = nil
}

func (d *dec) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}
func (d *dec) u16() uint16 {
	if v := d.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}
func (d *dec) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}
func (d *dec) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}
func (d *dec) i64() int64 { return int64(d.u64()) }

func (d *dec) bool() bool {
	switch d.u8() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail()
	return false
}

// length reads a 32-bit length and checks that at least min*n bytes
// remain, so that no count makes the decoder allocate more than the
// message holds.
func (d *dec) length(min, limit int) int {
	n := d.u32()
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64(limit) || (min > 0 && uint64(n)*uint64(min) > uint64(len(d.b))) {
		d.fail()
		return 0
	}
	return int(n)
}

// bytes returns a copy: decoded values never alias the frame, which the
// reader reuses.
func (d *dec) bytes() []byte {
	n := d.length(1, math.MaxInt32)
	v := d.take(n)
	if d.err != nil {
		return nil
	}
	return append(make([]byte, 0, n), v...)
}

func (d *dec) str() string {
	n := d.length(1, math.MaxInt32)
	return string(d.take(n))
}

func (d *dec) nbytes() []byte {
	if !d.bool() {
		return nil
	}
	return d.bytes()
}

func (d *dec) time() time.Time {
	switch d.u8() {
	case 0:
		return time.Time{}
	case 1:
		sec, ns := d.i64(), d.u32()
		if ns >= 1e9 {
			d.fail()
			return time.Time{}
		}
		return time.Unix(sec, int64(ns))
	}
	d.fail()
	return time.Time{}
}

func (d *dec) strs() []string {
	n := d.length(4, maxList)
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.str())
	}
	return out
}

// int reads a non-negative count (Extra, Missing) kept in 32 bits.
func (d *dec) int() int {
	v := d.u32()
	if v > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int(v)
}

// done checks that the whole message was consumed.
func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	return d.err
}
