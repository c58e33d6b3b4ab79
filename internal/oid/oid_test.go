package oid

import (
	"encoding/asn1"
	"testing"
)

// TestTable checks every entry's contents octets against encoding/asn1's
// DER encoding of its dotted form (X.690 8.19), and that names and values
// are unique.
func TestTable(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Table {
		full, err := asn1.Marshal(Arcs(m.Dotted))
		if err != nil {
			t.Fatal(err)
		}
		if full[0] != 0x06 || int(full[1]) != len(full)-2 || string(full[2:]) != m.DER {
			t.Errorf("%s: DER % x, table % x", m.Dotted, full[2:], m.DER)
		}
		for _, k := range []string{m.Name, m.Dotted, m.DER} {
			if seen[k] {
				t.Errorf("%q twice", k)
			}
			seen[k] = true
		}
		if got, ok := ByDER([]byte(m.DER)); !ok || got != m {
			t.Errorf("ByDER(%s) = %v %v", m.Dotted, got, ok)
		}
		if got, ok := ByDotted(m.Dotted); !ok || got != m {
			t.Errorf("ByDotted(%s) = %v %v", m.Dotted, got, ok)
		}
	}
	if _, ok := ByDER([]byte("\x2a")); ok {
		t.Error("ByDER found an unknown OID")
	}
	if !IsKerberosDER([]byte(KerberosDER)) || !IsKerberosDER([]byte(MSKerberosDER)) || IsKerberosDER([]byte(NTLMDER)) {
		t.Error("IsKerberosDER")
	}
}

func TestArcsPanics(t *testing.T) {
	for _, s := range []string{"", "1", "1.x", "1.-2"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Arcs(%q) did not panic", s)
				}
			}()
			Arcs(s)
		}()
	}
}
