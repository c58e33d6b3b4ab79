// Package ndr is the part of NDR 1.0 (C706 chapter 14, the Network Data
// Representation of DCE RPC, little-endian, 32-bit) that the NETLOGON client
// needs: primitive types with their alignment, conformant and conformant
// varying arrays and strings, unique and full pointers whose referents are
// deferred after the construct that holds them, and the RPC_UNICODE_STRING
// and RPC_SID of MS-DTYP.
//
// An Encoder appends to a buffer and never fails. A Decoder reads with
// bounds checks: every count is checked against the bytes that remain
// before anything is allocated, and the first error sticks (later reads
// return zero values), so that a parser reads a whole structure and checks
// Err once.
package ndr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("ndr: malformed data")

// maxDepth bounds the nesting of deferred referents a Decoder follows.
const maxDepth = 32

// Encoder builds an NDR stream. Offsets for alignment count from the start
// of the stream (the stub data of a request).
type Encoder struct {
	b       []byte
	refID   uint32
	pending []func(*Encoder)
}

// Bytes returns the encoded stream, after writing any deferred referents.
func (e *Encoder) Bytes() []byte {
	e.Flush()
	return e.b
}

// Align pads with zeros to a multiple of n (1, 2, 4 or 8).
func (e *Encoder) Align(n int) {
	for len(e.b)%n != 0 {
		e.b = append(e.b, 0)
	}
}

// Uint8 writes a byte.
func (e *Encoder) Uint8(v uint8) { e.b = append(e.b, v) }

// Uint16 writes an aligned unsigned short (also an NDR enum).
func (e *Encoder) Uint16(v uint16) {
	e.Align(2)
	e.b = binary.LittleEndian.AppendUint16(e.b, v)
}

// Uint32 writes an aligned unsigned long.
func (e *Encoder) Uint32(v uint32) {
	e.Align(4)
	e.b = binary.LittleEndian.AppendUint32(e.b, v)
}

// Uint64 writes an aligned hyper.
func (e *Encoder) Uint64(v uint64) {
	e.Align(8)
	e.b = binary.LittleEndian.AppendUint64(e.b, v)
}

// Raw writes bytes without alignment: a fixed array of bytes.
func (e *Encoder) Raw(b []byte) { e.b = append(e.b, b...) }

// Pointer writes a unique (or full) pointer: 0 for nil, else a new
// referent ID, with the referent written by referent once the enclosing
// construct is complete (Flush). C706 14.3.12.3.
func (e *Encoder) Pointer(present bool, referent func(*Encoder)) {
	if !present {
		e.Uint32(0)
		return
	}
	e.refID += 4
	e.Uint32(0x00020000 + e.refID)
	e.pending = append(e.pending, referent)
}

// Flush writes the deferred referents, depth first: each referent is
// followed by the referents of its own embedded pointers, before the next
// one. Call it after each top-level parameter.
func (e *Encoder) Flush() {
	for len(e.pending) > 0 {
		p := e.pending
		e.pending = nil
		for _, f := range p {
			f(e)
			e.Flush()
		}
	}
}

// String writes a conformant varying string of wchar_t ([string] wchar_t*):
// maximum count, offset 0, actual count, the UTF-16 code units and the
// terminating NUL.
func (e *Encoder) String(s string) {
	u := utf16.Encode([]rune(s))
	n := uint32(len(u) + 1)
	e.Uint32(n)
	e.Uint32(0)
	e.Uint32(n)
	for _, c := range u {
		e.b = binary.LittleEndian.AppendUint16(e.b, c)
	}
	e.b = append(e.b, 0, 0)
}

// UniqueString writes a [unique, string] wchar_t*: nil for "".
func (e *Encoder) UniqueString(s string, present bool) {
	e.Pointer(present, func(e *Encoder) { e.String(s) })
}

// UnicodeString writes an RPC_UNICODE_STRING (MS-DTYP 2.3.10): Length and
// MaximumLength in bytes, and a unique pointer to a varying array of
// Length/2 code units (no NUL), deferred.
func (e *Encoder) UnicodeString(s string) {
	u := utf16.Encode([]rune(s))
	n := uint16(2 * len(u))
	e.Uint16(n)
	e.Uint16(n)
	e.Pointer(len(u) > 0, func(e *Encoder) {
		e.Uint32(uint32(len(u)))
		e.Uint32(0)
		e.Uint32(uint32(len(u)))
		for _, c := range u {
			e.b = binary.LittleEndian.AppendUint16(e.b, c)
		}
	})
}

// CountedBytes writes an MS-DTYP STRING (Length, MaximumLength, and a
// unique pointer to a varying array of bytes), as NETLOGON_NETWORK_INFO
// carries the challenge responses.
func (e *Encoder) CountedBytes(b []byte) {
	n := uint16(len(b))
	e.Uint16(n)
	e.Uint16(n)
	e.Pointer(len(b) > 0, func(e *Encoder) {
		e.Uint32(uint32(len(b)))
		e.Uint32(0)
		e.Uint32(uint32(len(b)))
		e.Raw(b)
	})
}

// Decoder reads an NDR stream.
type Decoder struct {
	b       []byte
	off     int
	err     error
	pending []func(*Decoder)
	depth   int
}

// NewDecoder returns a Decoder for b; offsets for alignment count from its
// start.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err returns the first error.
func (d *Decoder) Err() error { return d.err }

// Offset returns the read position.
func (d *Decoder) Offset() int { return d.off }

// Remaining returns the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.b) - d.off }

// Fail records err (wrapped with ErrMalformed) unless an error is already
// recorded.
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.Fail("need %d bytes at offset %d, %d left", n, d.off, len(d.b)-d.off)
		return nil
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s
}

// Align skips padding to a multiple of n.
func (d *Decoder) Align(n int) {
	if r := d.off % n; r != 0 {
		d.take(n - r)
	}
}

// Uint8 reads a byte.
func (d *Decoder) Uint8() uint8 {
	b := d.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Uint16 reads an aligned unsigned short.
func (d *Decoder) Uint16() uint16 {
	d.Align(2)
	b := d.take(2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

// Uint32 reads an aligned unsigned long.
func (d *Decoder) Uint32() uint32 {
	d.Align(4)
	b := d.take(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// Uint64 reads an aligned hyper.
func (d *Decoder) Uint64() uint64 {
	d.Align(8)
	b := d.take(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// Raw reads n bytes (a fixed array), copied.
func (d *Decoder) Raw(n int) []byte {
	b := d.take(n)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// RawInto fills dst from the stream.
func (d *Decoder) RawInto(dst []byte) {
	copy(dst, d.take(len(dst)))
}

// Pointer reads a unique or full pointer; for a non-null one, referent
// reads the referent once the enclosing construct is read (Flush). It
// reports whether the pointer is non-null.
func (d *Decoder) Pointer(referent func(*Decoder)) bool {
	id := d.Uint32()
	if d.err != nil || id == 0 {
		return false
	}
	d.pending = append(d.pending, referent)
	return true
}

// Flush reads the deferred referents, depth first (see Encoder.Flush).
func (d *Decoder) Flush() {
	if d.depth > maxDepth {
		d.Fail("referents nested too deeply")
		return
	}
	d.depth++
	defer func() { d.depth-- }()
	for len(d.pending) > 0 && d.err == nil {
		p := d.pending
		d.pending = nil
		for _, f := range p {
			if d.err != nil {
				return
			}
			f(d)
			d.Flush()
		}
	}
	d.pending = nil
}

// Count reads a conformance or variance count of elements of size bytes
// each and checks that so many can still follow.
func (d *Decoder) Count(size int) int {
	n := d.Uint32()
	if d.err != nil {
		return 0
	}
	if size > 0 && uint64(n)*uint64(size) > uint64(d.Remaining()) {
		d.Fail("count %d of %d-byte elements exceeds the %d bytes left", n, size, d.Remaining())
		return 0
	}
	return int(n)
}

// varying reads the maximum count, offset and actual count of a
// conformant varying array of size-byte elements and returns the actual
// count, checking offset+actual <= maximum.
func (d *Decoder) varying(size int) int {
	maxCount := d.Uint32()
	offset := d.Uint32()
	actual := d.Count(size)
	if d.err != nil {
		return 0
	}
	if uint64(offset)+uint64(actual) > uint64(maxCount) {
		d.Fail("varying array: offset %d + actual %d > maximum %d", offset, actual, maxCount)
		return 0
	}
	if offset != 0 {
		d.Fail("varying array with offset %d", offset)
		return 0
	}
	return actual
}

func (d *Decoder) utf16(n int) string {
	b := d.take(2 * n)
	if b == nil {
		return ""
	}
	u := make([]uint16, n)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// String reads a conformant varying string of wchar_t and drops the
// terminating NUL, when there is one.
func (d *Decoder) String() string {
	n := d.varying(2)
	s := d.utf16(n)
	if len(s) > 0 && s[len(s)-1] == 0 {
		s = s[:len(s)-1]
	}
	return s
}

// UnicodeString reads an RPC_UNICODE_STRING into *dst, whose buffer is
// read when the enclosing construct is flushed. Length must not exceed
// MaximumLength, and the buffer must carry Length/2 code units.
func (d *Decoder) UnicodeString(dst *string) {
	length := d.Uint16()
	maxLength := d.Uint16()
	if d.err != nil {
		return
	}
	if length > maxLength || length%2 != 0 {
		d.Fail("RPC_UNICODE_STRING Length %d, MaximumLength %d", length, maxLength)
		return
	}
	d.Pointer(func(d *Decoder) {
		maxCount := d.Uint32()
		offset := d.Uint32()
		actual := d.Count(2)
		if d.err != nil {
			return
		}
		if maxCount != uint32(maxLength/2) || offset != 0 || actual != int(length/2) {
			d.Fail("RPC_UNICODE_STRING buffer counts %d/%d/%d for Length %d, MaximumLength %d", maxCount, offset, actual, length, maxLength)
			return
		}
		*dst = d.utf16(actual)
	})
}

// SID reads an RPC_SID (MS-DTYP 2.4.2.3), a conformant structure whose
// conformance count comes first, and returns it as "S-1-5-21-...".
func (d *Decoder) SID() string {
	n := d.Count(4)
	rev := d.Uint8()
	count := d.Uint8()
	auth := d.take(6)
	if d.err != nil {
		return ""
	}
	if int(count) != n || rev != 1 || count > 15 {
		d.Fail("RPC_SID revision %d, %d sub-authorities, conformance %d", rev, count, n)
		return ""
	}
	var a uint64
	for _, c := range auth {
		a = a<<8 | uint64(c)
	}
	s := fmt.Sprintf("S-1-%d", a)
	for i := 0; i < n; i++ {
		s += fmt.Sprintf("-%d", d.Uint32())
	}
	if d.err != nil {
		return ""
	}
	return s
}
