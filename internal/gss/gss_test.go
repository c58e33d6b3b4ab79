package gss

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"testing"
)

func TestFrameParseRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 100, 127, 128, 255, 256, 70000} {
		for _, mech := range []asn1.ObjectIdentifier{OIDKerberos, OIDSPNEGO, OIDNTLM} {
			inner := bytes.Repeat([]byte{0xab}, n)
			f := Frame(mech, inner)
			if got := HeaderLen(mech, n); got != len(f)-n {
				t.Fatalf("HeaderLen=%d, want %d", got, len(f)-n)
			}
			tok, used, err := Parse(append(f, 1, 2, 3))
			if err != nil {
				t.Fatalf("n=%d: %v", n, err)
			}
			if used != len(f) || !tok.Mech.Equal(mech) || !bytes.Equal(tok.Inner, inner) {
				t.Fatalf("n=%d: round trip mismatch", n)
			}
			if n > 0 {
				_, _, err := Parse(f[:len(f)-1])
				var inc *IncompleteError
				if !errors.As(err, &inc) || inc.Missing != 1 {
					t.Fatalf("truncated: %v", err)
				}
			}
		}
	}
}

// A real MIT AP-REQ starts with this framing (from kerberos/testdata).
func TestParseKnownHeader(t *testing.T) {
	hdr := []byte{0x60, 0x82, 0x02, 0x10, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	b := append(hdr, make([]byte, 0x210-11)...)
	tok, n, err := Parse(b)
	if err != nil || n != len(b) || !tok.Mech.Equal(OIDKerberos) || len(tok.Inner) != 0x210-11 {
		t.Fatalf("Parse: %v %d %v", err, n, tok.Mech)
	}
}

func TestParseMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{0x30, 0x03, 0x06, 0x01, 0x01},
		{0x60, 0x80},
		{0x60, 0x81, 0x05},                      // non-minimal length
		{0x60, 0x85, 1, 1, 1, 1, 1},             // length too long
		{0x60, 0x03, 0x04, 0x01, 0x01},          // not an OID
		{0x60, 0x03, 0x06, 0x05, 0x01},          // OID overruns
		{0x60, 0x84, 0x7f, 0xff, 0xff, 0xff, 6}, // over MaxTokenSize
		{0x60, 0x84, 0xff, 0xff, 0xff, 0xf0, 6}, // negative as a 32-bit int
		{0x60, 0x84, 0x80, 0x00, 0x00, 0x00, 6},
	} {
		if _, _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(% x) = %v, want ErrMalformed", b, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Frame(OIDKerberos, []byte{1, 0, 0x6e, 0x00}))
	f.Add(Frame(OIDSPNEGO, bytes.Repeat([]byte{0xa0}, 300)))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, n, err := Parse(b)
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatal("used more than the input")
		}
		again := Frame(tok.Mech, tok.Inner)
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-framing differs: % x vs % x", again, b[:n])
		}
	})
}

func TestLength(t *testing.T) {
	for _, n := range []int{0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffff, 0x1000000} {
		b := AppendLength(nil, n)
		if len(b) != LengthSize(n) {
			t.Errorf("n=%#x: AppendLength wrote %d bytes, LengthSize says %d", n, len(b), LengthSize(n))
		}
		if n >= 0x80 && (b[0]&0x80 == 0 || int(b[0]&0x7f) != len(b)-1 || b[1] == 0) {
			t.Errorf("n=%#x: not minimal long form: % x", n, b)
		}
	}
	for _, oid := range []asn1.ObjectIdentifier{OIDKerberos, OIDSPNEGO, {1, 2, 3, 4}} {
		for _, n := range []int{0, 100, 200, 70000} {
			if got := len(AppendHeader(nil, oid, n)); got != HeaderLen(oid, n) {
				t.Errorf("%v/%d: AppendHeader %d bytes, HeaderLen %d", oid, n, got, HeaderLen(oid, n))
			}
		}
	}
}
