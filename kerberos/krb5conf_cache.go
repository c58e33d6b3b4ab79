package kerberos

import (
	"crypto/sha256"
	"sync"

	"github.com/jcmturner/gokrb5/v8/config"
)

// gokrb5 compiles regular expressions for every line of krb5.conf it
// parses, which made parsing the file most of the cost of acquiring a
// credential from a ccache (about 300 µs of 380 µs; BENCHMARKS.md,
// Credential caches). Parses are kept by the file's content, so an edited
// file is parsed again; callers get a shallow copy whose LibDefaults they
// may set (krb5Config sets the enctype lists), the rest being read only.

var krb5ConfParsed struct {
	sync.Mutex
	m map[[32]byte]*config.Config
}

// parseKrb5ConfCached is config.NewFromString, remembered by content.
func parseKrb5ConfCached(s string) (*config.Config, error) {
	key := sha256.Sum256([]byte(s))
	krb5ConfParsed.Lock()
	c := krb5ConfParsed.m[key]
	krb5ConfParsed.Unlock()
	if c == nil {
		var err error
		if c, err = config.NewFromString(s); err != nil {
			return nil, err
		}
		krb5ConfParsed.Lock()
		if krb5ConfParsed.m == nil || len(krb5ConfParsed.m) >= 16 {
			krb5ConfParsed.m = make(map[[32]byte]*config.Config)
		}
		krb5ConfParsed.m[key] = c
		krb5ConfParsed.Unlock()
	}
	cp := *c
	return &cp, nil
}
