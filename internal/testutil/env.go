package testutil

import "strings"

// Env returns env (os.Environ's form) with the variables of kv
// ("NAME=value") set, replacing what env had for them: the environment of
// a peer started with a variable or two of its own.
func Env(env []string, kv ...string) []string {
	out := append([]string(nil), kv...)
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		keep := true
		for _, s := range kv {
			if n, _, _ := strings.Cut(s, "="); n == name {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, e)
		}
	}
	return out
}
