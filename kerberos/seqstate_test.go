package kerberos

import (
	"testing"

	"github.com/gosspi/gosspi/sspi"
)

func TestSeqState(t *testing.T) {
	type step struct {
		n  uint64
		ok bool
	}
	cases := []struct {
		name             string
		replay, sequence bool
		steps            []step
	}{
		{"none", false, false, []step{{5, true}, {5, true}, {3, true}, {100, true}}},
		{"replay", true, false, []step{{5, true}, {7, true}, {6, true}, {6, false}, {5, false}, {8, true}, {7, false}}},
		{"sequence", true, true, []step{{5, true}, {6, true}, {8, false}, {7, true}, {7, false}, {6, false}, {8, true}}},
		{"wrap32", true, true, []step{{0xffffffff, true}, {0, true}, {1, true}}},
		{"too old", true, false, []step{{5, true}, {200, true}, {6, false}}},
	}
	for _, c := range cases {
		s := newSeqState(5, c.replay, c.sequence, false)
		if c.name == "wrap32" {
			s = newSeqState(0xffffffff, c.replay, c.sequence, false)
		}
		for i, st := range c.steps {
			err := s.check(st.n)
			if (err == nil) != st.ok {
				t.Fatalf("%s step %d (n=%d): err=%v, want ok=%v", c.name, i, st.n, err, st.ok)
			}
			if err != nil && sspi.StatusOf(err) != sspi.SEC_E_OUT_OF_SEQUENCE {
				t.Fatalf("%s: status %v", c.name, sspi.StatusOf(err))
			}
		}
	}
}
