package sspi

import (
	"io"
	"time"

	"github.com/gosspi/gosspi/internal/sysenv"
)

// Env is the clock and the random source of a package half. A host hands
// the same Env to the LSA-mode and the user-mode half of every package, so
// a context rebuilt from ContextData (SpInitUserModeContext) runs on the
// clock of the half that made it, as crypto/tls's Config.Time and
// Config.Rand do for a connection. The zero value is the wall clock and
// crypto/rand.Reader.
type Env struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Rand is the random source (confounders, nonces, keys); nil means
	// crypto/rand.Reader. It must be safe for concurrent use.
	Rand io.Reader
}

// Time returns the current time on e's clock.
func (e Env) Time() time.Time { return sysenv.Clock(e.Now)() }

// Clock returns e's clock (never nil).
func (e Env) Clock() func() time.Time { return sysenv.Clock(e.Now) }

// Reader returns e's random source (never nil).
func (e Env) Reader() io.Reader { return sysenv.Reader(e.Rand) }
