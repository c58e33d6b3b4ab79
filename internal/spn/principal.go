// Package spn matches Kerberos service principal names the one way
// gosspi matches them, for the acceptor (package kerberos) and for the
// checks servers make at start (internal/preflight).
package spn

import (
	"fmt"
	"path"
	"strings"
)

// Matches reports whether want, a configured "svc/host" or
// "svc/host@REALM", names the principal name ("svc/host") in realm: the
// name exactly, the realm without regard to case.
func Matches(want, name, realm string) bool {
	if i := strings.LastIndexByte(want, '@'); i >= 0 {
		return want[:i] == name && strings.EqualFold(want[i+1:], realm)
	}
	return want == name
}

// CheckPatterns returns an error for the first malformed pattern.
func CheckPatterns(patterns []string) error {
	for _, pat := range patterns {
		if _, err := path.Match(normalize(pat), ""); err != nil {
			return fmt.Errorf("malformed principal pattern %q: %v", pat, err)
		}
	}
	return nil
}

// Accepts reports whether one of patterns accepts the principal name
// ("svc/host") in realm: path.Match globs, without regard to case, against
// "svc/host", or "svc/host@realm" for a pattern with '@'. No patterns
// accept every principal; a malformed pattern accepts none.
func Accepts(patterns []string, name, realm string) bool {
	if len(patterns) == 0 {
		return true
	}
	name = strings.ToLower(name)
	full := name + "@" + strings.ToLower(realm)
	for _, pat := range patterns {
		pat = normalize(pat)
		subject := name
		if strings.Contains(pat, "@") {
			subject = full
		}
		if ok, err := path.Match(pat, subject); ok && err == nil {
			return true
		}
	}
	return false
}

func normalize(pat string) string { return strings.ToLower(strings.TrimSpace(pat)) }
