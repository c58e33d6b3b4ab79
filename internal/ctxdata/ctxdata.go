// Package ctxdata is the versioned, self-describing encoding of ContextData:
// what an LSA-mode context hands its user-mode half (keys, sequence numbers,
// flags, names, expiry), and what ExportSecurityContext returns.
//
// Layout: magic "GSCD", a format version byte, the package name (length
// prefixed), then tag-length-value fields, each a uint16 tag, a uint32
// length and the value. Readers skip tags they do not know, so a newer
// writer can add fields; a reader refuses a format version it does not know.
package ctxdata

import (
	"encoding/binary"
	"errors"
	"time"
)

// Version is the format version this package writes.
const Version = 1

const magic = "GSCD"

// MaxSize bounds a ContextData blob; anything larger is refused.
const MaxSize = 1 << 20

// ErrFormat reports a malformed or foreign blob.
var ErrFormat = errors.New("ctxdata: malformed context data")

// Writer builds a ContextData blob.
type Writer struct{ b []byte }

// NewWriter starts a blob for the named package.
func NewWriter(pkg string) *Writer {
	w := &Writer{b: make([]byte, 0, 256)}
	w.b = append(w.b, magic...)
	w.b = append(w.b, Version)
	w.b = binary.BigEndian.AppendUint16(w.b, uint16(len(pkg)))
	w.b = append(w.b, pkg...)
	return w
}

// Bytes appends a byte-string field.
func (w *Writer) Bytes(tag uint16, v []byte) *Writer {
	w.b = binary.BigEndian.AppendUint16(w.b, tag)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(v)))
	w.b = append(w.b, v...)
	return w
}

// String appends a string field.
func (w *Writer) String(tag uint16, v string) *Writer { return w.Bytes(tag, []byte(v)) }

// Uint64 appends an integer field.
func (w *Writer) Uint64(tag uint16, v uint64) *Writer {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return w.Bytes(tag, b[:])
}

// Bool appends a boolean field.
func (w *Writer) Bool(tag uint16, v bool) *Writer {
	if v {
		return w.Bytes(tag, []byte{1})
	}
	return w.Bytes(tag, []byte{0})
}

// Time appends a time field (Unix nanoseconds; the zero time stays zero).
func (w *Writer) Time(tag uint16, t time.Time) *Writer {
	if t.IsZero() {
		return w.Uint64(tag, 0)
	}
	return w.Uint64(tag, uint64(t.UnixNano()))
}

// Finish returns the blob.
func (w *Writer) Finish() []byte { return w.b }

// MaxFields bounds the number of fields in a blob.
const MaxFields = 256

type field struct {
	tag uint16
	val []byte
}

// Reader reads a ContextData blob.
type Reader struct {
	Package string
	fields  []field
}

func (r *Reader) get(tag uint16) ([]byte, bool) {
	for i := range r.fields {
		if r.fields[i].tag == tag {
			return r.fields[i].val, true
		}
	}
	return nil, false
}

// Parse checks the header and indexes the fields. Duplicate tags and
// truncated fields are errors.
func Parse(b []byte) (*Reader, error) {
	if len(b) > MaxSize || len(b) < len(magic)+3 || string(b[:4]) != magic {
		return nil, ErrFormat
	}
	if b[4] != Version {
		return nil, ErrFormat
	}
	n := int(binary.BigEndian.Uint16(b[5:7]))
	b = b[7:]
	if len(b) < n {
		return nil, ErrFormat
	}
	r := &Reader{Package: string(b[:n]), fields: make([]field, 0, 16)}
	b = b[n:]
	for len(b) > 0 {
		if len(b) < 6 {
			return nil, ErrFormat
		}
		tag := binary.BigEndian.Uint16(b)
		l := uint64(binary.BigEndian.Uint32(b[2:]))
		b = b[6:]
		if uint64(len(b)) < l {
			return nil, ErrFormat
		}
		if _, dup := r.get(tag); dup || len(r.fields) == MaxFields {
			return nil, ErrFormat
		}
		r.fields = append(r.fields, field{tag, b[:l:l]})
		b = b[l:]
	}
	return r, nil
}

// Has reports whether the tag is present.
func (r *Reader) Has(tag uint16) bool { _, ok := r.get(tag); return ok }

// Bytes returns a copy of a byte-string field, or nil.
func (r *Reader) Bytes(tag uint16) []byte {
	v, ok := r.get(tag)
	if !ok {
		return nil
	}
	return append([]byte{}, v...)
}

// String returns a string field, or "".
func (r *Reader) String(tag uint16) string { v, _ := r.get(tag); return string(v) }

// Uint64 returns an integer field; a missing field is 0 and a malformed
// one an error.
func (r *Reader) Uint64(tag uint16) (uint64, error) {
	v, ok := r.get(tag)
	if !ok {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, ErrFormat
	}
	return binary.BigEndian.Uint64(v), nil
}

// Bool returns a boolean field.
func (r *Reader) Bool(tag uint16) bool {
	v, _ := r.get(tag)
	return len(v) == 1 && v[0] == 1
}

// Time returns a time field.
func (r *Reader) Time(tag uint16) (time.Time, error) {
	n, err := r.Uint64(tag)
	if err != nil || n == 0 {
		return time.Time{}, err
	}
	return time.Unix(0, int64(n)), nil
}
