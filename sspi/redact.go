package sspi

import (
	"fmt"
	"log/slog"
)

// Secrets print redacted: an AuthIdentity or a session key that reaches a
// log line or an error through %v, %+v, %#v, %s or slog shows which fields
// are set, never their values.

const redacted = "[REDACTED]"

func mark(b bool) string {
	if b {
		return redacted
	}
	return ""
}

// String implements fmt.Stringer without the password or NT hash.
func (a AuthIdentity) String() string {
	return fmt.Sprintf("{User:%q Domain:%q Password:%s NTHash:%s PackageList:%q Options:%d}",
		a.User, a.Domain, mark(a.Password != ""), mark(len(a.NTHash) > 0), a.PackageList, len(a.Options))
}

// GoString implements fmt.GoStringer (%#v) without the secrets.
func (a AuthIdentity) GoString() string { return "sspi.AuthIdentity" + a.String() }

// LogValue implements slog.LogValuer without the secrets.
func (a AuthIdentity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", a.User), slog.String("domain", a.Domain),
		slog.Bool("password", a.Password != ""), slog.Bool("nthash", len(a.NTHash) > 0))
}

// String implements fmt.Stringer without the key.
func (k SecPkgContextSessionKey) String() string {
	return fmt.Sprintf("{SessionKey:%s (%d bytes)}", redacted, len(k.SessionKey))
}

// GoString implements fmt.GoStringer (%#v) without the key.
func (k SecPkgContextSessionKey) GoString() string {
	return "sspi.SecPkgContextSessionKey" + k.String()
}

// LogValue implements slog.LogValuer without the key.
func (k SecPkgContextSessionKey) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("session_key_bytes", len(k.SessionKey)))
}
