package lsad

import (
	"fmt"
	"time"

	"github.com/gosspi/gosspi/netlogon"
)

// NetlogonConfig has the daemon's NTLM acceptors verify domain users at a
// domain controller (NETLOGON pass-through, package netlogon) with the
// machine account's secret, which only the daemon reads: accounts that
// are not in a caller's account file are passed to the DC, and the user's
// SID and groups come back from it. It applies to every inbound NTLM
// credential of the daemon, whatever the caller's section.
type NetlogonConfig struct {
	// DC is the domain controller, HOST[:PORT]; empty or "auto" finds one
	// by DNS (_ldap._tcp.dc._msdcs.DNSDomain).
	DC string `json:"dc"`
	// Machine is the machine account's secret: a key = value file
	// (account, domain, dns_domain, password or nt_hash) readable by its
	// owner only, or a keytab with the account's RC4 key.
	Machine string `json:"machine"`
	// Account, Domain and DNSDomain override the Machine file's (NAME$,
	// the NetBIOS domain, the DNS domain).
	Account   string `json:"account"`
	Domain    string `json:"domain"`
	DNSDomain string `json:"dns_domain"`
	// MaxConcurrent bounds the logons in flight at the DC
	// (MaxConcurrentApi; default netlogon.DefaultMaxConcurrent).
	MaxConcurrent int `json:"max_concurrent"`
	// Timeout is the time a logon may take at the DC, as a Go duration
	// (default netlogon.DefaultTimeout).
	Timeout string `json:"timeout"`
}

// client makes the NETLOGON client of the configuration. The machine
// secret is read here, once, by the daemon.
func (n *NetlogonConfig) client() (*netlogon.Client, error) {
	if n.Machine == "" {
		return nil, fmt.Errorf("lsad: config: netlogon needs machine (the machine account's secret)")
	}
	m, err := netlogon.LoadMachineAccount(n.Machine, n.Account)
	if err != nil {
		return nil, fmt.Errorf("lsad: config: netlogon: %w", err)
	}
	cfg := m.Config(n.DC, n.Domain, n.DNSDomain)
	defer clear(cfg.NTHash[:]) // New keeps its own copy
	cfg.MaxConcurrent = n.MaxConcurrent
	if cfg.Domain == "" {
		return nil, fmt.Errorf("lsad: config: netlogon: no NetBIOS domain: give domain, or domain = in the machine file")
	}
	if cfg.DC == "" && cfg.DNSDomain == "" {
		return nil, fmt.Errorf("lsad: config: netlogon: finding the DC by DNS needs dns_domain (here or in the machine file)")
	}
	if n.Timeout != "" {
		d, err := time.ParseDuration(n.Timeout)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("lsad: config: netlogon timeout %q: not a positive duration", n.Timeout)
		}
		cfg.Timeout = d
	}
	c, err := netlogon.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("lsad: config: netlogon: %w", err)
	}
	return c, nil
}
