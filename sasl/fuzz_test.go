package sasl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/ntlm"
)

// FuzzNegotiation feeds the GSSAPI layer messages (the offer, the choice)
// to their parsers: a typed error or a message that marshals back to the
// same octets. Seeds: the plaintexts of a real exchange
// (testdata/fuzz/FuzzNegotiation, written by SASL_RECORD=1).
func FuzzNegotiation(f *testing.F) {
	f.Add([]byte{7, 0, 0x10, 0})
	f.Add([]byte{4, 0, 0x10, 0, 'u', ':', 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := parseOffer(b); err == nil {
			if !bytes.Equal(n.marshal(), b) {
				t.Fatalf("offer %x marshals to %x", b, n.marshal())
			}
		} else if ne := (*NegotiationError)(nil); !errors.As(err, &ne) {
			t.Fatalf("untyped error %v", err)
		}
		if n, err := parseChoice(b); err == nil {
			if !bytes.Equal(n.marshal(), b) {
				t.Fatalf("choice %x marshals to %x", b, n.marshal())
			}
		} else if ne := (*NegotiationError)(nil); !errors.As(err, &ne) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// fuzzPair is an established NTLM pair whose layer the frame fuzzer
// reads with: the frames it makes are valid, the mutations are not.
func fuzzPair(f *testing.F, layers Layer) *Security {
	c, s := ntlmPair(f, layers, AllLayers)
	_, ssec, _ := run(f, c, s)
	ssec.maxRecv = DefaultMaxBuffer
	return ssec
}

// FuzzReadFrame reads a stream of security-layer frames with a real
// (NTLM, sealing and signing) layer: every outcome is plaintext, a
// *FrameError, a *LayerError or a short read, never a panic, and memory
// stays within the maximum buffer. Seeds: frames of real sessions
// (testdata/fuzz/FuzzReadFrame).
func FuzzReadFrame(f *testing.F) {
	seal, sign := fuzzPair(f, AllLayers), fuzzPair(f, LayerIntegrity)
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, sec := range []*Security{seal, sign} {
			r := bytes.NewReader(b)
			for range 4 {
				p, err := readFrame(r, sec)
				if err == nil {
					if len(p) > int(sec.maxRecv) {
						t.Fatalf("plaintext of %d octets", len(p))
					}
					continue
				}
				var fe *FrameError
				var le *LayerError
				if !errors.As(err, &fe) && !errors.As(err, &le) && err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("untyped error %T %v", err, err)
				}
				break
			}
		}
	})
}

// FuzzServerNext feeds a GSS-SPNEGO server (NTLM) an arbitrary first
// and second response: an error or a challenge, never a panic. Seeds:
// the messages of real exchanges (testdata/fuzz/FuzzServerNext).
func FuzzServerNext(f *testing.F) {
	accounts := ntlm.NewMemoryStore()
	accounts.Add("CONTOSO", "alice", "correct horse")
	h, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: accounts}, HandshakeTimeout: time.Minute})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		s, err := NewServer(ctx, h, ServerConfig{Mechanism: GSSSPNEGO})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, done, err := s.Next(ctx, b); err == nil && !done {
			s.Next(ctx, b)
		}
	})
}

// TestConnBadFrames: a Conn refuses an empty frame, a frame above the
// maximum and a forged one, with typed errors, and stays failed.
func TestConnBadFrames(t *testing.T) {
	c, s := ntlmPair(t, AllLayers, AllLayers)
	_, ssec, _ := run(t, c, s)
	for _, tc := range []struct {
		name  string
		wire  []byte
		check func(error) bool
	}{
		{"empty", []byte{0, 0, 0, 0}, func(err error) bool { var fe *FrameError; return errors.As(err, &fe) && fe.Length == 0 }},
		{"too long", []byte{0x01, 0, 0, 0}, func(err error) bool { var fe *FrameError; return errors.As(err, &fe) && fe.Length == 1<<24 }},
		{"forged", append([]byte{0, 0, 0, 20}, make([]byte, 20)...), func(err error) bool {
			var le *LayerError
			return errors.As(err, &le) && errors.Is(err, gosspi.ErrMessageAltered)
		}},
		{"short signature", []byte{0, 0, 0, 3, 1, 2, 3}, func(err error) bool { var le *LayerError; return errors.As(err, &le) }},
		{"truncated", []byte{0, 0, 0, 40, 1}, func(err error) bool { return err == io.ErrUnexpectedEOF }},
		// 10 MiB claimed, within the GSS-SPNEGO maximum, 5 octets sent: the
		// buffer grows with what arrives.
		{"large and truncated", []byte{0, 0xa0, 0, 0, 1, 2, 3, 4, 5}, func(err error) bool { return err == io.ErrUnexpectedEOF }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			conn := NewConn(a, ssec)
			go func() { b.Write(tc.wire); b.Close() }()
			buf := make([]byte, 10)
			_, err := conn.Read(buf)
			if !tc.check(err) {
				t.Fatalf("Read: %T %v", err, err)
			}
			if _, err2 := conn.Read(buf); err2 != err {
				t.Fatalf("the second Read gives %v, not the first error", err2)
			}
			a.Close()
		})
	}
}
