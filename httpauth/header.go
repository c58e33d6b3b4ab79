package httpauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Scheme names of RFC 4559 (Negotiate) and of the Windows variants HTTP
// clients and servers also speak. They compare case-insensitively.
const (
	SchemeNegotiate = "Negotiate"
	SchemeNTLM      = "NTLM"
	SchemeKerberos  = "Kerberos"
)

// ErrMalformed is the error (possibly wrapped) of a header that does not
// parse.
var ErrMalformed = errors.New("httpauth: malformed authentication header")

// Challenge is one challenge of a WWW-Authenticate or Proxy-Authenticate
// header (RFC 9110 11.3): a scheme with either a token68 or auth-params.
type Challenge struct {
	Scheme string            // as sent; compare with strings.EqualFold
	Token  []byte            // the decoded token68, nil when absent
	Params map[string]string // auth-params (lower-case names), nil when none
}

// ParseAuthorization splits an Authorization (or Proxy-Authorization)
// header value into its scheme and its decoded token68 (RFC 9110 11.4,
// RFC 4559 4.2). A value with no token returns a nil token and no error;
// the caller decides whether the scheme needs one. The token must be
// standard base64; missing padding is tolerated, other characters are
// not. Errors wrap ErrMalformed and say what is wrong without echoing the
// token.
func ParseAuthorization(v string) (scheme string, token []byte, err error) {
	v = strings.Trim(v, " \t")
	if v == "" {
		return "", nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	scheme, rest, _ := strings.Cut(v, " ")
	if !isToken(scheme) {
		return "", nil, fmt.Errorf("%w: bad scheme name", ErrMalformed)
	}
	rest = strings.Trim(rest, " \t")
	if rest == "" {
		return scheme, nil, nil
	}
	token, err = decodeToken68(rest)
	if err != nil {
		return scheme, nil, err
	}
	return scheme, token, nil
}

// decodeToken68 decodes base64 with or without padding.
func decodeToken68(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return nil, fmt.Errorf("%w: character 0x%02x at offset %d is not base64", ErrMalformed, c, i)
		}
	}
	trimmed := strings.TrimRight(s, "=")
	if len(s)-len(trimmed) > 2 {
		return nil, fmt.Errorf("%w: bad base64 padding", ErrMalformed)
	}
	b, err := base64.RawStdEncoding.DecodeString(trimmed)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64 length", ErrMalformed)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty token", ErrMalformed)
	}
	return b, nil
}

// FormatAuthorization returns "scheme base64(token)", or the bare scheme
// when the token is empty.
func FormatAuthorization(scheme string, token []byte) string {
	if len(token) == 0 {
		return scheme
	}
	return scheme + " " + base64.StdEncoding.EncodeToString(token)
}

// ParseChallenges parses the values of WWW-Authenticate (or
// Proxy-Authenticate) headers. A value may hold several challenges
// separated by commas ("Negotiate, NTLM" or `Basic realm="x", Negotiate
// YII...`). Challenges it cannot parse are skipped; a token68 that is not
// base64 is an error, since the handshake cannot go on without it.
func ParseChallenges(values []string) ([]Challenge, error) {
	var out []Challenge
	for _, v := range values {
		for _, el := range splitList(v) {
			el = strings.Trim(el, " \t")
			if el == "" {
				continue
			}
			name, rest, hasSpace := strings.Cut(el, " ")
			if !hasSpace && strings.Contains(name, "=") && len(out) > 0 && !strings.HasSuffix(name, "=") {
				// An auth-param continuing the previous challenge.
				addParam(&out[len(out)-1], el)
				continue
			}
			if !isToken(name) {
				continue
			}
			c := Challenge{Scheme: name}
			rest = strings.Trim(rest, " \t")
			switch {
			case rest == "":
			case isParam(rest):
				addParam(&c, rest)
			default:
				tok, err := decodeToken68(rest)
				if err != nil {
					return nil, fmt.Errorf("%s challenge: %w", name, err)
				}
				c.Token = tok
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// isParam reports whether s looks like name=value (not token68 padding).
func isParam(s string) bool {
	i := strings.IndexByte(s, '=')
	if i <= 0 {
		return false
	}
	if strings.TrimRight(s, "=") != s && strings.IndexByte(strings.TrimRight(s, "="), '=') < 0 {
		return false // "abc==": token68 with padding
	}
	return isToken(strings.TrimRight(s[:i], " \t"))
}

func addParam(c *Challenge, s string) {
	name, val, _ := strings.Cut(s, "=")
	name = strings.ToLower(strings.Trim(name, " \t"))
	val = strings.Trim(val, " \t")
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
		val = strings.ReplaceAll(val[1:len(val)-1], `\"`, `"`)
	}
	if c.Params == nil {
		c.Params = map[string]string{}
	}
	c.Params[name] = val
}

// splitList splits a header value on commas outside quoted strings.
func splitList(v string) []string {
	var out []string
	quoted, esc, start := false, false, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case esc:
			esc = false
		case c == '\\' && quoted:
			esc = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			continue
		}
		if strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return true
}
