package kerberos

import "github.com/gosspi/gosspi/sspi"

// seqWindow is how far back replay detection remembers (like MIT's
// g_seqstate, which keeps 64).
const seqWindow = 64

// seqState checks received sequence numbers against the negotiated
// replay and sequence detection (RFC 4121 section 4.2.6.2, RFC 2743
// section 1.2.3). With neither, every token is accepted. With replay
// detection, a number seen before (or too old to tell) is rejected. With
// sequence detection, any number but the next expected one is rejected.
// Both failures are SEC_E_OUT_OF_SEQUENCE; a token that is rejected does
// not move the window.
type seqState struct {
	replay, sequence bool
	mask             uint64 // 0xffffffff for 32-bit (RFC 1964) numbers, all ones for RFC 4121
	next             uint64 // the next expected number
	seen             uint64 // bit i set: next-1-i was received
}

func newSeqState(base uint64, replay, sequence, wide bool) seqState {
	m := uint64(0xffffffff)
	if wide {
		m = ^uint64(0)
	}
	return seqState{replay: replay, sequence: sequence, mask: m, next: base & m}
}

func (s *seqState) check(n uint64) error {
	n &= s.mask
	if !s.replay && !s.sequence {
		s.advance(n)
		return nil
	}
	ahead := (n - s.next) & s.mask
	if ahead < s.mask/2 { // n is next or later
		if ahead != 0 && s.sequence {
			return statusErr(sspi.SEC_E_OUT_OF_SEQUENCE, "gap in sequence numbers")
		}
		s.advance(n)
		return nil
	}
	// n is older than next
	back := (s.next - 1 - n) & s.mask
	if back >= seqWindow {
		return statusErr(sspi.SEC_E_OUT_OF_SEQUENCE, "token too old")
	}
	if s.seen&(1<<back) != 0 {
		return statusErr(sspi.SEC_E_OUT_OF_SEQUENCE, "replayed token")
	}
	if s.sequence {
		return statusErr(sspi.SEC_E_OUT_OF_SEQUENCE, "token out of order")
	}
	s.seen |= 1 << back
	return nil
}

func (s *seqState) advance(n uint64) {
	ahead := (n - s.next) & s.mask
	if ahead >= s.mask/2 {
		return // older token accepted without detection
	}
	shift := ahead + 1
	if shift >= 64 {
		s.seen = 0
	} else {
		s.seen <<= shift
	}
	s.seen |= 1
	s.next = (n + 1) & s.mask
}
