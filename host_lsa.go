package gosspi

import (
	"fmt"
	"os"
	"time"

	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/lsa/remote"
	"github.com/gosspi/gosspi/negotiate"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// lsaAddr returns the daemon address of HostConfig.LSA, else GOSSPI_LSA.
func lsaAddr(cfg string) string {
	if cfg != "" {
		return cfg
	}
	return os.Getenv(remote.EnvVar)
}

// newRemoteHost is NewHost over gosspi lsad: the LSA-mode halves run in
// the daemon, the user-mode halves here.
func newRemoteHost(cfg HostConfig, addr string) (*Host, error) {
	r, err := remote.Dial(addr, remote.Config{})
	if err != nil {
		return nil, fmt.Errorf("gosspi: LSA %s: %w", addr, err)
	}
	env := func(now func() time.Time) sspi.Env {
		if now == nil {
			now = cfg.Now
		}
		return sspi.Env{Now: now, Rand: cfg.Rand}
	}
	user := []sspi.UserModePackage{
		kerberos.NewUserMode(env(cfg.Kerberos.Now)),
		ntlm.NewUserMode(env(cfg.NTLM.Now)),
	}
	t := sspi.New(r, sspi.Config{
		UserPackages: append(append([]sspi.UserModePackage{negotiate.NewUserMode(user...)}, user...), cfg.UserModePackages...),
		AsyncWorkers: cfg.AsyncWorkers, AsyncQueue: cfg.AsyncQueue,
		Env: sspi.Env{Now: cfg.Now, Rand: cfg.Rand},
	})
	return &Host{t: t, remote: r, bindings: cfg.ChannelBindings}, nil
}

// remoteStats counts nothing: the daemon's tables are its own (its
// metrics listener reports them).
func (h *Host) remoteStats() Stats { return Stats{} }
