package lsarpc

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecodeRequest fuzzes the daemon's request decoder, its privilege
// boundary, from the requests recorded by lsa/lsad's TestRecordRequests
// (testdata/fuzz/FuzzDecodeRequest): it must never panic, a request it
// accepts must encode back to one that decodes to the same value, and
// decoding must allocate in proportion to the input.
func FuzzDecodeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := DecodeRequest(p)
		if err != nil {
			return
		}
		b, err := AppendRequest(nil, r)
		if err != nil {
			t.Fatalf("a decoded request does not encode: %v", err)
		}
		r2, err := DecodeRequest(b[4:])
		if err != nil {
			t.Fatalf("a re-encoded request does not decode: %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", r, r2)
		}
	})
}

// FuzzDecodeReply fuzzes the application side's reply decoder from the
// daemon's recorded replies.
func FuzzDecodeReply(f *testing.F) {
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := DecodeReply(p)
		if err != nil {
			return
		}
		b, err := AppendReply(nil, r)
		if err != nil {
			t.Fatalf("a decoded reply does not encode: %v", err)
		}
		if _, err := DecodeReply(b[4:]); err != nil {
			t.Fatalf("a re-encoded reply does not decode: %v", err)
		}
	})
}

// FuzzDecodeHello fuzzes both hellos, seeded with the ones the client and
// the daemon send.
func FuzzDecodeHello(f *testing.F) {
	f.Add(AppendHello(nil, Hello{Version: Version, MaxFrame: DefaultMaxFrame})[4:])
	f.Add(AppendHelloReply(nil, HelloReply{Version: Version, MaxFrame: DefaultMaxFrame, UID: 33, GID: 33, PID: 1234, Service: "web"})[4:])
	f.Add(AppendHelloReply(nil, HelloReply{Version: Version, Status: 0x80090310, Detail: "uid 1 gid 1 is not in the lsad policy"})[4:])
	f.Fuzz(func(t *testing.T, p []byte) {
		if h, err := DecodeHello(p); err == nil {
			if !bytes.Equal(AppendHello(nil, h)[4:], p) {
				t.Fatal("hello round trip differs")
			}
		}
		if h, err := DecodeHelloReply(p); err == nil {
			if !bytes.Equal(AppendHelloReply(nil, h)[4:], p) {
				t.Fatal("hello reply round trip differs")
			}
		}
	})
}
