package sasl

import (
	"errors"
	"strconv"
)

// NegotiationError is a failure of the exchange itself: a malformed or
// unacceptable security-layer message, a layer the other side did not
// offer, a context without the protection the layer needs, a message out
// of turn.
type NegotiationError struct {
	Reason string
}

// Error returns the reason.
func (e *NegotiationError) Error() string { return "sasl: " + e.Reason }

// FrameError is a security-layer frame that cannot be read: a length of
// zero or above the negotiated maximum buffer (RFC 4752 3.3).
type FrameError struct {
	Length uint32 // the frame's declared length
	Max    uint32 // the largest this side accepts
}

// Error describes the frame.
func (e *FrameError) Error() string {
	if e.Length == 0 {
		return "sasl: empty security-layer frame"
	}
	return "sasl: security-layer frame of " + strconv.FormatUint(uint64(e.Length), 10) +
		" octets exceeds the maximum buffer of " + strconv.FormatUint(uint64(e.Max), 10)
}

// LayerError is a buffer that the security context refused to wrap or
// unwrap; Err is the context's error (errors.Is(err,
// gosspi.ErrMessageAltered), gosspi.ErrOutOfSequence...).
type LayerError struct {
	Op  string // "wrap" or "unwrap"
	Err error
}

// Error returns the operation and the context's error.
func (e *LayerError) Error() string { return "sasl: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the context's error.
func (e *LayerError) Unwrap() error { return e.Err }

// ErrDone is returned by a Client or Server called after its exchange
// ended (successfully or not).
var ErrDone = errors.New("sasl: the exchange is over")
