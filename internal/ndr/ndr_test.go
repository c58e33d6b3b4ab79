package ndr

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// TestRoundTrip encodes a structure with embedded pointers the way the
// NETLOGON calls do and reads it back: deferred referents, depth first.
func TestRoundTrip(t *testing.T) {
	var e Encoder
	e.UniqueString("WS1", true)
	e.Flush()
	e.Uint16(6)
	e.Pointer(true, func(e *Encoder) {
		e.Align(4)
		e.UnicodeString("ADDC")
		e.Uint32(0x820)
		e.UnicodeString("")
		e.CountedBytes([]byte{1, 2, 3})
	})
	e.Flush()
	e.Uint64(0x1122334455667788)
	b := e.Bytes()

	d := NewDecoder(b)
	var ws, dom, empty string
	var resp []byte
	d.Pointer(func(d *Decoder) { ws = d.String() })
	d.Flush()
	if v := d.Uint16(); v != 6 {
		t.Fatalf("level %d", v)
	}
	d.Pointer(func(d *Decoder) {
		d.Align(4)
		d.UnicodeString(&dom)
		if v := d.Uint32(); v != 0x820 {
			d.Fail("parameter control %x", v)
		}
		d.UnicodeString(&empty)
		d.Uint16()
		d.Uint16()
		d.Pointer(func(d *Decoder) {
			d.Uint32()
			d.Uint32()
			n := d.Count(1)
			resp = d.Raw(n)
		})
	})
	d.Flush()
	if v := d.Uint64(); v != 0x1122334455667788 {
		t.Fatalf("hyper %x", v)
	}
	if err := d.Err(); err != nil || d.Remaining() != 0 {
		t.Fatalf("%v, %d left", err, d.Remaining())
	}
	if ws != "WS1" || dom != "ADDC" || empty != "" || !bytes.Equal(resp, []byte{1, 2, 3}) {
		t.Fatalf("%q %q %q %x", ws, dom, empty, resp)
	}
}

// TestSID reads an RPC_SID as the DC sends the domain's.
func TestSID(t *testing.T) {
	b, _ := hex.DecodeString("04000000" + "0104000000000005" + "15000000" + "3b0c8751" + "d5b9cbe8" + "dae3b8b7")
	d := NewDecoder(b)
	if s := d.SID(); s != "S-1-5-21-1367804987-3905665493-3082347482" || d.Err() != nil {
		t.Fatalf("%q %v", s, d.Err())
	}
	b[0] = 5 // conformance that disagrees with SubAuthorityCount
	d = NewDecoder(b)
	if d.SID(); !errors.Is(d.Err(), ErrMalformed) {
		t.Fatalf("accepted: %v", d.Err())
	}
}

// TestBounds: counts larger than the data are errors before any
// allocation, and the first error sticks.
func TestBounds(t *testing.T) {
	for name, b := range map[string][]byte{
		"count":        {0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f},
		"offset":       {4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0},
		"actual > max": {1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 'a', 0, 'b', 0},
		"short":        {1, 0},
	} {
		d := NewDecoder(b)
		_ = d.String()
		if !errors.Is(d.Err(), ErrMalformed) {
			t.Errorf("%s: %v", name, d.Err())
		}
		if d.Uint32() != 0 {
			t.Errorf("%s: a read after the error returned data", name)
		}
	}
	// RPC_UNICODE_STRING whose buffer disagrees with its lengths.
	var e Encoder
	e.UnicodeString("abc")
	b := e.Bytes()
	b[0] = 4 // Length 4, the buffer carries 3 characters
	d := NewDecoder(b)
	var s string
	d.UnicodeString(&s)
	d.Flush()
	if !errors.Is(d.Err(), ErrMalformed) {
		t.Errorf("inconsistent RPC_UNICODE_STRING: %v %q", d.Err(), s)
	}
}

// TestNesting: referents nested past maxDepth are refused.
func TestNesting(t *testing.T) {
	var b []byte
	for i := 0; i < 2*maxDepth; i++ {
		b = append(b, 4, 0, 2, 0)
	}
	d := NewDecoder(b)
	var f func(*Decoder)
	f = func(d *Decoder) { d.Pointer(f) }
	d.Pointer(f)
	d.Flush()
	if !errors.Is(d.Err(), ErrMalformed) {
		t.Fatalf("deep nesting: %v", d.Err())
	}
}

func FuzzDecoder(f *testing.F) {
	var e Encoder
	e.UniqueString("WS1", true)
	e.Flush()
	e.UnicodeString("alice")
	e.Flush()
	f.Add(e.Bytes())
	b, _ := hex.DecodeString("04000000" + "0104000000000005" + "15000000" + "3b0c8751" + "d5b9cbe8" + "dae3b8b7")
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, read := range []func(*Decoder){
			func(d *Decoder) { _ = d.String() },
			func(d *Decoder) { d.SID() },
			func(d *Decoder) {
				var s string
				d.UnicodeString(&s)
				d.Flush()
			},
			func(d *Decoder) { d.Pointer(func(d *Decoder) { d.Raw(d.Count(1)) }); d.Flush() },
		} {
			d := NewDecoder(b)
			read(d)
			if d.Err() == nil && d.Offset() > len(b) {
				t.Fatal("read past the end")
			}
		}
	})
}
