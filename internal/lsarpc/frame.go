package lsarpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the protocol version this package speaks.
const Version = 1

// DefaultMaxFrame is the default cap on one frame's payload: larger than
// any token (Kerberos tickets with a big PAC stay under 64 KiB) with room
// for the buffers of one call.
const DefaultMaxFrame = 1 << 20

// MaxFrameLimit is the largest cap either side accepts in a Hello.
const MaxFrameLimit = 16 << 20

// magic opens a Hello and a HelloReply.
var magic = [8]byte{'G', 'O', 'S', 'S', 'P', 'I', 'L', 'A'}

// ErrFrameTooLarge is returned for a frame longer than the cap.
var ErrFrameTooLarge = errors.New("lsarpc: frame exceeds the size cap")

// ReadFrame reads one frame (a 32-bit big-endian length, then the
// payload) into buf, growing it as needed up to max bytes, and returns the
// payload. A length over max is ErrFrameTooLarge and nothing more is read.
func ReadFrame(r io.Reader, max int, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w (%d > %d bytes)", ErrFrameTooLarge, n, max)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// frame writes the length of the frame that starts at b[start:]: the
// Append encoders leave four bytes there for it.
func frame(b []byte, start int) []byte {
	binary.BigEndian.PutUint32(b[start:start+4], uint32(len(b)-start-4))
	return b
}

// Hello is the client's first frame.
type Hello struct {
	Version  uint16
	MaxFrame uint32 // the largest frame the client accepts
}

// HelloReply is the daemon's answer to Hello. Status is SEC_E_OK when the
// caller may go on; the daemon closes the connection after any other.
type HelloReply struct {
	Version       uint16
	MaxFrame      uint32
	Status        uint32 // an sspi.Status
	Detail        string
	UID, GID, PID uint32 // the caller, as SO_PEERCRED gave it
	Service       string // the policy section that matched
}

// AppendHello returns the framed Hello.
func AppendHello(b []byte, h Hello) []byte {
	start := len(b)
	e := enc{b: append(b, 0, 0, 0, 0)}
	e.b = append(e.b, magic[:]...)
	e.u16(h.Version)
	e.u32(h.MaxFrame)
	return frame(e.b, start)
}

// DecodeHello decodes a Hello payload.
func DecodeHello(p []byte) (Hello, error) {
	d := dec{b: p}
	if m := d.take(len(magic)); d.err != nil || [8]byte(m) != magic {
		return Hello{}, fmt.Errorf("%w: not a gosspi lsad hello", ErrMalformed)
	}
	h := Hello{Version: d.u16(), MaxFrame: d.u32()}
	return h, d.done()
}

// AppendHelloReply returns the framed HelloReply.
func AppendHelloReply(b []byte, h HelloReply) []byte {
	start := len(b)
	e := enc{b: append(b, 0, 0, 0, 0)}
	e.b = append(e.b, magic[:]...)
	e.u16(h.Version)
	e.u32(h.MaxFrame)
	e.u32(h.Status)
	e.str(h.Detail)
	e.u32(h.UID)
	e.u32(h.GID)
	e.u32(h.PID)
	e.str(h.Service)
	return frame(e.b, start)
}

// DecodeHelloReply decodes a HelloReply payload.
func DecodeHelloReply(p []byte) (HelloReply, error) {
	d := dec{b: p}
	if m := d.take(len(magic)); d.err != nil || [8]byte(m) != magic {
		return HelloReply{}, fmt.Errorf("%w: not a gosspi lsad hello reply", ErrMalformed)
	}
	h := HelloReply{Version: d.u16(), MaxFrame: d.u32(), Status: d.u32(), Detail: d.str(),
		UID: d.u32(), GID: d.u32(), PID: d.u32(), Service: d.str()}
	return h, d.done()
}
