package gosspi

import (
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// HostConfig configures NewHost. The zero value gives every package with
// its defaults.
type HostConfig struct {
	// LSA configures the package host: table caps, handshake timeout,
	// logging.
	LSA lsa.Options
	// Async configures the asynchronous executor of the SSPI surface.
	AsyncWorkers, AsyncQueue int
	// NTLM configures the NTLM package (account store, policies).
	NTLM ntlm.Config
}

// Host is an in-process package host with the standard packages and the
// SSPI surface over it. Its FunctionTable is what NewClient and NewServer
// take, and what the faithful calls of package sspi are methods of.
type Host struct {
	*sspi.FunctionTable
	LSA *lsa.Host
}

// NewHost starts a host with the standard packages registered.
func NewHost(cfg HostConfig) (*Host, error) {
	n := ntlm.New(cfg.NTLM)
	l, err := lsa.New(cfg.LSA, n)
	if err != nil {
		return nil, err
	}
	t := sspi.New(l, sspi.Config{
		UserPackages: []sspi.UserModePackage{ntlm.UserMode()},
		AsyncWorkers: cfg.AsyncWorkers, AsyncQueue: cfg.AsyncQueue,
	})
	return &Host{FunctionTable: t, LSA: l}, nil
}

// Close stops the host, deleting every context and credential in it.
func (h *Host) Close() error {
	h.FunctionTable.Close()
	return h.LSA.Close()
}
