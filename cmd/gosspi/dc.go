package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/gosspi/gosspi/netlogon"
)

// dcOptions are the flags of NETLOGON pass-through (serve, ntlm-auth):
// NTLM logons of domain users verified by a domain controller over the
// machine account's secure channel.
type dcOptions struct {
	dc, machine, account, domain, dnsDomain string
	maxConcurrent                           int
	timeout                                 time.Duration
}

// dcUsage documents the flags in the usage texts.
const dcUsage = `Domain users (NETLOGON pass-through): -dc HOST[:PORT] (or -dc auto, which
finds a DC by DNS, _ldap._tcp.dc._msdcs.DOMAIN) has a domain controller
verify the NTLM logons of domain users over the secure channel of a machine
account, as a Windows member server does; the user's SID and groups come
from the DC. -machine names the account's secret, readable by its owner
only (chmod 600): a keytab with its RC4 (arcfour-hmac) key, or a file of
  account = WS1$
  domain = CONTOSO
  dns_domain = contoso.com
  password = ...        (or nt_hash = 32 hex digits)
The CHALLENGE then advertises the machine account's names. A DC that cannot
be reached, or refuses the machine account, is SEC_E_NO_AUTHENTICATING_AUTHORITY
(NT_STATUS_NO_LOGON_SERVERS); a wrong password SEC_E_LOGON_DENIED.`

func dcFlags(fs *flag.FlagSet, o *dcOptions) {
	fs.StringVar(&o.dc, "dc", "", "domain controller for NTLM pass-through: HOST[:PORT], or auto (DNS SRV)")
	fs.StringVar(&o.machine, "machine", "", "with -dc: the machine account's secret (a 0600 key = value file or a keytab)")
	fs.StringVar(&o.account, "machine-account", "", "with -dc: the machine account, NAME$ (default: the -machine file's)")
	fs.StringVar(&o.domain, "dc-domain", "", "with -dc: the NetBIOS domain (default: the -machine file's, else the DNS domain's first label)")
	fs.StringVar(&o.dnsDomain, "dc-dns-domain", "", "with -dc: the DNS domain (default: the -machine file's or the keytab's realm)")
	fs.IntVar(&o.maxConcurrent, "dc-max-concurrent", netlogon.DefaultMaxConcurrent, "with -dc: logons in flight at the DC at most (MaxConcurrentApi)")
	fs.DurationVar(&o.timeout, "dc-timeout", netlogon.DefaultTimeout, "with -dc: time a logon may take at the DC, the wait for a slot included")
}

// client returns the NETLOGON client of the options, or nil without -dc.
// Its errors are usage or configuration errors that say what to fix.
func (o *dcOptions) client() (*netlogon.Client, error) {
	if o.dc == "" {
		if o.machine != "" {
			return nil, &usageError{"-machine needs -dc (the domain controller, or -dc auto)"}
		}
		return nil, nil
	}
	if o.machine == "" {
		return nil, &usageError{"-dc needs -machine: the machine account's secret (a 0600 file or a keytab)"}
	}
	m, err := netlogon.LoadMachineAccount(o.machine, o.account)
	if err != nil {
		return nil, &configError{err}
	}
	cfg := m.Config(o.dc, o.domain, o.dnsDomain)
	cfg.MaxConcurrent, cfg.Timeout = o.maxConcurrent, o.timeout
	if cfg.Domain == "" {
		return nil, &usageError{"-dc: no NetBIOS domain: give -dc-domain, or domain = in the -machine file"}
	}
	if cfg.DC == "" && cfg.DNSDomain == "" {
		return nil, &usageError{"-dc auto needs the DNS domain: -dc-dns-domain, or dns_domain = in the -machine file"}
	}
	c, err := netlogon.New(cfg)
	if err != nil {
		return nil, &configError{err}
	}
	return c, nil
}

// checkDC sets up the secure channel at start and logs the outcome: a DC
// that is down now may be up for the first logon, so it does not stop the
// server, but a refused machine account is worth saying at once.
func checkDC(ctx context.Context, c *netlogon.Client, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, n, _, _ := c.TargetNames()
	if err := c.Check(ctx); err != nil {
		logger.Warn("gosspi: the domain controller's secure channel is not up; NTLM logons of domain users fail until it is",
			"domain", d, "computer", n, "error", err)
		return
	}
	logger.Info("gosspi: secure channel to the domain controller set up", "domain", d, "computer", n)
}
