package httpauth

import (
	"context"
	"net"
	"os"
	"strings"

	"github.com/gosspi/gosspi"
)

// ServiceNames returns the service principal names an HTTP server is
// known by, for NTLM service binding (MS-NLMP 3.2.5.1.2: a client names
// the service it means in MsvAvTargetName, and a server that checks it
// refuses an AUTHENTICATE meant for another service, such as one relayed
// or reflected from it). listenHost is the host part of the server's
// listen address: a name gives HTTP/<name>; an IP address gives
// HTTP/<address>, plus HTTP/localhost for a loopback one; empty or an
// unspecified address (all interfaces) gives nothing. The machine's
// names follow: HTTP/<hostname> and HTTP/<its canonical DNS name>, as far
// as ctx lets the resolver look it up. Duplicates are left out, compared
// without case as the check compares them.
func ServiceNames(ctx context.Context, listenHost string) []string {
	var out []string
	add := func(host string) {
		host = strings.TrimSuffix(host, ".")
		if host == "" {
			return
		}
		spn := "HTTP/" + host
		for _, s := range out {
			if strings.EqualFold(s, spn) {
				return
			}
		}
		out = append(out, spn)
	}
	if ip := net.ParseIP(strings.Trim(listenHost, "[]")); ip != nil {
		if !ip.IsUnspecified() {
			add(ip.String())
			if ip.IsLoopback() {
				add("localhost")
			}
		}
	} else {
		add(listenHost)
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		add(name)
		if fqdn, err := net.DefaultResolver.LookupCNAME(ctx, name); err == nil {
			add(fqdn)
		}
	}
	return out
}

// ApplyServiceBinding sets the NTLM service binding of a host
// configuration: a client's MsvAvTargetName must be one of spns (see
// ServiceNames); a client that sends none passes unless the channel
// binding policy is required. Nil spns turns the check off.
func ApplyServiceBinding(cfg *gosspi.HostConfig, spns []string) {
	cfg.NTLM.ServicePrincipalNames = spns
}
