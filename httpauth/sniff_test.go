package httpauth

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// startsHandshakeBefore is startsHandshake as it was before it used
// secpkg.RecognizeToken, kept to show that the switch changed nothing.
func startsHandshakeBefore(scheme string, token []byte) bool {
	ntlmType := func() uint32 {
		if len(token) >= 12 && string(token[:8]) == "NTLMSSP\x00" {
			return uint32(token[8]) | uint32(token[9])<<8 | uint32(token[10])<<16 | uint32(token[11])<<24
		}
		return 0
	}
	switch scheme {
	case SchemeNTLM:
		return ntlmType() == 1
	default:
		if len(token) > 0 && (token[0] == 0x60 || scheme == SchemeKerberos && token[0] == 0x6e) {
			return true
		}
		return ntlmType() == 1
	}
}

// FuzzStartsHandshake: startsHandshake decides as its byte-sniffing
// predecessor did, for every scheme. Seeds are the recorded Authorization
// headers of testdata/fuzz/FuzzParseAuthorization.
func FuzzStartsHandshake(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzParseAuthorization/*")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			s, ok := strings.CutPrefix(line, "string(")
			if !ok {
				continue
			}
			v, err := strconv.Unquote(strings.TrimSuffix(s, ")"))
			if err != nil {
				f.Fatal(err)
			}
			if _, tok, err := ParseAuthorization(v); err == nil {
				f.Add(tok)
			}
		}
	}
	f.Add([]byte("NTLMSSP\x00\x03\x00\x00\x00"))
	f.Add([]byte{0x6e, 0x82})
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, tok []byte) {
		for _, scheme := range []string{SchemeNTLM, SchemeNegotiate, SchemeKerberos} {
			if got, want := startsHandshake(scheme, tok), startsHandshakeBefore(scheme, tok); got != want {
				t.Fatalf("%s % x: %v, was %v", scheme, tok[:min(len(tok), 16)], got, want)
			}
		}
	})
}
