package ctxdata

import (
	"bytes"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	now := time.Unix(1700000000, 123)
	b := NewWriter("NTLM").Bytes(1, []byte{1, 2, 3}).String(2, "DOM\\user").Uint64(3, 42).Bool(4, true).Time(5, now).Time(6, time.Time{}).Finish()
	r, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Package != "NTLM" || !bytes.Equal(r.Bytes(1), []byte{1, 2, 3}) || r.String(2) != "DOM\\user" || !r.Bool(4) {
		t.Fatalf("bad fields: %+v", r)
	}
	if v, _ := r.Uint64(3); v != 42 {
		t.Fatalf("uint64 = %d", v)
	}
	if ts, _ := r.Time(5); !ts.Equal(now) {
		t.Fatalf("time = %v", ts)
	}
	if ts, _ := r.Time(6); !ts.IsZero() {
		t.Fatalf("zero time = %v", ts)
	}
	if r.Has(99) || r.Bytes(99) != nil {
		t.Fatal("unknown tag present")
	}
}

func TestRejects(t *testing.T) {
	good := NewWriter("X").Uint64(1, 1).Finish()
	bad := [][]byte{nil, []byte("GSCD"), append([]byte("XXXX"), good[4:]...),
		append(append([]byte{}, good[:4]...), append([]byte{9}, good[5:]...)...), good[:len(good)-1],
		append(append([]byte{}, good...), good[7+1:]...)} // duplicate tag
	for i, b := range bad {
		if _, err := Parse(b); err == nil {
			t.Errorf("case %d: accepted", i)
		}
	}
	r, _ := Parse(NewWriter("X").Bytes(1, []byte{1}).Finish())
	if _, err := r.Uint64(1); err == nil {
		t.Error("short uint64 accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(NewWriter("NTLM").Bytes(1, []byte{1, 2}).Uint64(2, 7).Finish())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		for tag := uint16(0); tag < 8; tag++ {
			r.Bytes(tag)
			r.Uint64(tag)
			r.Time(tag)
		}
	})
}

func TestTooManyFields(t *testing.T) {
	w := NewWriter("X")
	for i := 0; i <= MaxFields; i++ {
		w.Uint64(uint16(i), 1)
	}
	if _, err := Parse(w.Finish()); err == nil {
		t.Fatal("more than MaxFields accepted")
	}
}
