package spn

import "testing"

func TestMatchesAndAccepts(t *testing.T) {
	if !Matches("HTTP/web", "HTTP/web", "R") || !Matches("HTTP/web@r", "HTTP/web", "R") || Matches("HTTP/web@S", "HTTP/web", "R") || Matches("http/web", "HTTP/web", "R") {
		t.Fatal("Matches")
	}
	for _, c := range []struct {
		pats []string
		name string
		want bool
	}{
		{nil, "host/x", true},
		{[]string{"HTTP/*"}, "HTTP/x", true},
		{[]string{"HTTP/*"}, "host/x", false},
		{[]string{" http/X "}, "HTTP/x", true},
		{[]string{"HTTP/*@r"}, "HTTP/x", true},
		{[]string{"HTTP/*@S"}, "HTTP/x", false},
		{[]string{"["}, "HTTP/x", false},
	} {
		if got := Accepts(c.pats, c.name, "R"); got != c.want {
			t.Errorf("Accepts(%q, %q) = %v", c.pats, c.name, got)
		}
	}
	if CheckPatterns([]string{"HTTP/*", "["}) == nil || CheckPatterns([]string{"HTTP/*"}) != nil {
		t.Fatal("CheckPatterns")
	}
}
