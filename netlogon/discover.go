package netlogon

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// discoverDCs finds the domain controllers of a DNS domain by the SRV
// records _ldap._tcp.dc._msdcs.DOMAIN (MS-ADTS 6.3.2.3; what DsGetDcName
// asks), in the order of their priority and weight.
func discoverDCs(ctx context.Context, r *net.Resolver, domain string) ([]string, error) {
	_, srvs, err := r.LookupSRV(ctx, "ldap", "tcp", "dc._msdcs."+domain)
	if err != nil {
		return nil, fmt.Errorf("netlogon: no domain controller found for %s: %w", domain, err)
	}
	var hosts []string
	for _, s := range srvs {
		if h := strings.TrimSuffix(s.Target, "."); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("netlogon: the SRV records of _ldap._tcp.dc._msdcs.%s name no host", domain)
	}
	return hosts, nil
}
