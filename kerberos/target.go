package kerberos

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"github.com/gosspi/gosspi/sspi"
)

// Host names in targets, as MIT krb5 treats them (krb5.conf [libdefaults]
// dns_canonicalize_hostname and rdns, krb5_sname_to_principal):
//
//   - true (MIT's default; gosspi's only when krb5.conf says so): the host of a "service/host" target is looked
//     up forward (its CNAME chain) and, with rdns (MIT's default too), the
//     first address of that name is looked up in reverse; the result,
//     lowercased, names the service. A lookup that fails leaves the name
//     as it was.
//   - fallback (MIT 1.18 and later): the name as given is asked for first;
//     only when the KDC does not know it (KDC_ERR_S_PRINCIPAL_UNKNOWN) is
//     it canonicalized as above and asked for again.
//   - false (gosspi's default when krb5.conf sets nothing): the name is
//     used as given, so no DNS traffic precedes a handshake and an
//     IP-address target fails clearly.
//
// A target with an explicit realm ("HTTP/host@REALM") names a principal
// and is used as given. A host that is an IP address cannot be asked for
// (no KDC has a principal for it without special SPNs): it is turned into
// a name by reverse DNS when canonicalization and rdns are on, and
// otherwise refused with SEC_E_TARGET_UNKNOWN before any KDC traffic.

// canonMode is dns_canonicalize_hostname.
type canonMode int

const (
	canonTrue canonMode = iota
	canonFalse
	canonFallback
)

// hostPolicy is the host-name canonicalization of a credential.
type hostPolicy struct {
	mode canonMode
	rdns bool
}

func hostPolicyOf(ld libdefaults) hostPolicy {
	// Off unless krb5.conf asks: MIT's defaults (true, rdns true) make a
	// DNS query per Step and turn an IP-address target into whatever its
	// reverse record says; a name is used as the caller spelled it, and an
	// IP address is a clear error (MIT's modern deployments set
	// dns_canonicalize_hostname = fallback and rdns = false too).
	hp := hostPolicy{mode: canonFalse, rdns: false}
	if ld.dnsCanon != nil {
		switch v := strings.ToLower(*ld.dnsCanon); {
		case v == "fallback":
			hp.mode = canonFallback
		case parseMITBool(v):
			hp.mode = canonTrue
		default:
			hp.mode = canonFalse
		}
	}
	if ld.rdns != nil {
		hp.rdns = *ld.rdns
	}
	return hp
}

// targetHost splits a host-based SPN ("svc/host", "svc/host:port") into
// its service, host and port suffix; ok is false for other names.
func targetHost(spn string) (svc, host, port string, ok bool) {
	svc, host, ok = strings.Cut(spn, "/")
	if !ok || svc == "" || host == "" || strings.Contains(host, "/") {
		return "", "", "", false
	}
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return svc, host[1:i], host[i+1:], true
		}
		return svc, host, "", true
	}
	if i := strings.LastIndexByte(host, ':'); i > 0 && strings.Count(host, ":") == 1 {
		return svc, host[:i], host[i:], true
	}
	return svc, host, "", true
}

// isIPHost reports whether a target's host is an IP address.
func isIPHost(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// resolveTarget applies the host-name policy to a target before its
// ticket is asked for. It returns the SPN to ask for first.
func (p *Package) resolveTarget(ctx context.Context, hp hostPolicy, spn, realm string) (string, error) {
	svc, host, port, ok := targetHost(spn)
	if !ok || realm != "" {
		return spn, nil
	}
	if isIPHost(host) {
		if hp.mode == canonFalse || !hp.rdns {
			return "", statusErr(sspi.SEC_E_TARGET_UNKNOWN, "target "+spn+" is an IP address; Kerberos needs a host name "+
				"(use the server's DNS name, or name the principal with its realm, "+spn+"@REALM, when the KDC has one for the address)")
		}
		name := p.reverseName(ctx, host)
		if name == "" {
			if err := ctx.Err(); err != nil {
				return "", &sspi.Error{Status: sspi.SEC_E_TARGET_UNKNOWN, Detail: "reverse DNS of target " + spn, Err: err}
			}
			return "", statusErr(sspi.SEC_E_TARGET_UNKNOWN, "target "+spn+" is an IP address; Kerberos needs a host name, and reverse DNS gives none for "+host)
		}
		return svc + "/" + name + port, nil
	}
	if hp.mode != canonTrue {
		return spn, nil
	}
	return svc + "/" + p.canonicalHost(ctx, hp, host) + port, nil
}

// fallbackTarget is the second try of dns_canonicalize_hostname =
// fallback: the canonical name, or "" when it is the name already tried.
func (p *Package) fallbackTarget(ctx context.Context, hp hostPolicy, spn, realm string) string {
	svc, host, port, ok := targetHost(spn)
	if hp.mode != canonFallback || !ok || realm != "" || isIPHost(host) {
		return ""
	}
	c := svc + "/" + p.canonicalHost(ctx, hp, host) + port
	if c == spn {
		return ""
	}
	return c
}

// canonicalHost is the forward (CNAME) name of host and, with rdns, the
// reverse name of its first address, lowercased; host itself when the
// lookups give nothing.
func (p *Package) canonicalHost(ctx context.Context, hp hostPolicy, host string) string {
	r := p.resolver()
	name := host
	if c, err := r.LookupCNAME(ctx, host); err == nil && c != "" && c != "." {
		name = strings.TrimSuffix(c, ".")
	}
	if hp.rdns {
		if addrs, err := r.LookupIPAddr(ctx, name); err == nil && len(addrs) > 0 {
			if n := p.reverseName(ctx, addrs[0].IP.String()); n != "" {
				name = n
			}
		}
	}
	return strings.ToLower(name)
}

// reverseName is the first PTR name of an address, lowercased, or "".
func (p *Package) reverseName(ctx context.Context, addr string) string {
	names, err := p.resolver().LookupAddr(ctx, addr)
	if err != nil || len(names) == 0 {
		return ""
	}
	n := strings.ToLower(strings.TrimSuffix(names[0], "."))
	if n == "" || net.ParseIP(n) != nil {
		return ""
	}
	return n
}
