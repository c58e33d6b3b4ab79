package lsad

import (
	"fmt"
	"strings"
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
	cfg := netlogon.Config{DC: n.DC, Domain: m.Domain, DNSDomain: m.DNSDomain, Account: m.Account, NTHash: m.NTHash,
		MaxConcurrent: n.MaxConcurrent}
	clear(m.NTHash[:])
	if strings.EqualFold(cfg.DC, "auto") {
		cfg.DC = ""
	}
	if n.Domain != "" {
		cfg.Domain = n.Domain
	}
	if n.DNSDomain != "" {
		cfg.DNSDomain = strings.ToLower(n.DNSDomain)
	}
	if cfg.Domain == "" {
		first, _, _ := strings.Cut(cfg.DNSDomain, ".")
		cfg.Domain = strings.ToUpper(first)
	}
	if n.Timeout != "" {
		d, err := time.ParseDuration(n.Timeout)
		if err != nil || d <= 0 {
			clear(cfg.NTHash[:])
			return nil, fmt.Errorf("lsad: config: netlogon timeout %q: not a positive duration", n.Timeout)
		}
		cfg.Timeout = d
	}
	c, err := netlogon.New(cfg)
	clear(cfg.NTHash[:])
	if err != nil {
		return nil, fmt.Errorf("lsad: config: netlogon: %w", err)
	}
	return c, nil
}
