//go:build linux

package adtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/kerberos"
)

// TestKDCDiscoverySRV: with a krb5.conf that names no KDC for the AD realm
// and dns_lookup_kdc on, the initiator finds the KDC through the
// _kerberos._tcp/_udp SRV records the DC's own DNS server publishes, logs
// on and gets a service ticket. A realm without SRV records is
// SEC_E_NO_AUTHENTICATING_AUTHORITY, as Windows reports a domain no DC
// answers for.
func TestKDCDiscoverySRV(t *testing.T) {
	dc := addc.Start(t)
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	text := fmt.Sprintf("[libdefaults]\n\tdefault_realm = %s\n\tdns_lookup_kdc = true\n\tdns_lookup_realm = false\n\trdns = false\n\tdns_canonicalize_hostname = false\n\n"+
		"[domain_realm]\n\t.%s = %s\n", addc.Realm, addc.DNSDomain, addc.Realm)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// Only the DC's DNS server answers (in the test's namespace, on the
	// DC's address).
	var d net.Dialer
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, net.JoinHostPort(addc.Addr, "53"))
	}}
	if _, srvs, err := resolver.LookupSRV(context.Background(), "kerberos", "tcp", addc.Realm); err != nil || len(srvs) == 0 {
		t.Fatalf("the DC's DNS has no _kerberos._tcp.%s: %v\n%s", addc.Realm, err, dc.Log())
	}
	t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(t.TempDir(), "none"))
	t.Setenv("KRB5_CLIENT_KTNAME", "FILE:"+filepath.Join(t.TempDir(), "none.keytab"))
	cli := &hostT{newHost(t, kerberos.Config{Krb5Conf: conf, Resolver: resolver})}
	logon(t, dc, cli, password(addc.Alice.Name, addc.Alice.Password), addc.Alice.Name)

	// A realm the DNS knows no KDC of.
	_, err := newClient(t, cli.Host, &gosspi.Identity{User: addc.Alice.Name, Domain: "NOSRV.GOSSPI.TEST", Password: addc.Alice.Password}, addc.SPN)
	if !errors.Is(err, gosspi.ErrNoAuthority) {
		t.Fatalf("a realm without SRV records: %v, want SEC_E_NO_AUTHENTICATING_AUTHORITY", err)
	}
}
