package httpauth

import (
	"os"
	"slices"
	"testing"
)

func TestServiceNames(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		listen string
		first  []string
	}{
		{"web.example.com", []string{"HTTP/web.example.com"}},
		{"127.0.0.1", []string{"HTTP/127.0.0.1", "HTTP/localhost"}},
		{"[::1]", []string{"HTTP/::1", "HTTP/localhost"}},
		{"192.0.2.7", []string{"HTTP/192.0.2.7"}},
		{"", nil},
		{"0.0.0.0", nil},
		{"::", nil},
	} {
		got := ServiceNames(t.Context(), tc.listen)
		if len(got) < len(tc.first)+1 || !slices.Equal(got[:len(tc.first)], tc.first) || got[len(tc.first)] != "HTTP/"+host {
			t.Errorf("ServiceNames(%q) = %q, want %q then HTTP/%s", tc.listen, got, tc.first, host)
		}
		for i, a := range got {
			for _, b := range got[i+1:] {
				if a == b {
					t.Errorf("ServiceNames(%q) = %q: %s twice", tc.listen, got, a)
				}
			}
		}
	}
}
