//go:build linux

package adtest

// NTLM for domain users through NETLOGON pass-through (package netlogon):
// a gosspi NTLM server whose ntlm.Config.Verifier is a netlogon.Client
// with the harness's machine account, and clients of every kind.

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/netlogon"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// netlogonClient is a NETLOGON client for the harness's machine account.
func netlogonClient(t testing.TB, mod func(*netlogon.Config)) *netlogon.Client {
	t.Helper()
	addc.Start(t)
	cfg := netlogon.Config{DC: addc.Addr, Domain: addc.Domain, DNSDomain: addc.DNSDomain,
		Account: addc.Machine.Name, NTHash: ntlmssp.NTOWFv1(addc.Machine.Password)}
	if mod != nil {
		mod(&cfg)
	}
	c, err := netlogon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// passThroughHost is a host whose NTLM verifies domain users at the DC.
func passThroughHost(t testing.TB, v ntlm.Verifier) *gosspi.Host {
	t.Helper()
	h, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Verifier: v}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// ntlmLogon runs a gosspi NTLM client for id against server to the end.
func ntlmLogon(t testing.TB, id *gosspi.Identity, server *gosspi.Host) (client, srv *gosspi.SecurityContext, err error) {
	t.Helper()
	ch, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ch.NewClient(ctx, gosspi.ClientConfig{Package: "NTLM", Target: "HTTP/ws1." + addc.DNSDomain, Identity: id,
		Flags: gosspi.FlagConfidentiality | gosspi.FlagIntegrity | gosspi.FlagSequenceDetect})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := server.NewServer(ctx, gosspi.ServerConfig{Package: "NTLM"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tok, _, err := c.Step(ctx, nil)
	for err == nil && !(c.Established() && s.Established()) {
		if tok, _, err = s.Step(ctx, tok); err != nil || len(tok) == 0 {
			break
		}
		tok, _, err = c.Step(ctx, tok)
	}
	return c, s, err
}

// TestNTLMPassThrough: a domain user logs on to a gosspi NTLM server that
// asks the DC; the identity, SID and groups are the DC's, and the keys
// derived from the DC's session key seal messages both ways (the MIC was
// checked with them).
func TestNTLMPassThrough(t *testing.T) {
	dc := addc.Start(t)
	host := passThroughHost(t, netlogonClient(t, nil))
	c, s, err := ntlmLogon(t, &gosspi.Identity{User: `addc\ALICE`, Password: addc.Alice.Password}, host)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Identity()
	if err != nil {
		t.Fatal(err)
	}
	sid, _ := dc.SID(addc.Alice.Name)
	ga, _ := dc.SID(addc.GroupA)
	gb, _ := dc.SID(addc.GroupB)
	if id.Principal != `ADDC\alice` || id.User != "alice" || id.Domain != addc.Domain || id.SID != sid {
		t.Errorf("identity %+v, want ADDC\\alice with SID %s", id, sid)
	}
	for _, g := range []string{ga, gb} {
		if !slices.Contains(id.Groups, g) {
			t.Errorf("groups %v lack %s", id.Groups, g)
		}
	}
	roundTrip(t, c, s, "to the server")
	roundTrip(t, s, c, "to the client")
}

// TestNTLMPassThroughRefused: a wrong password and an unknown user get the
// same SEC_E_LOGON_DENIED; a disabled account its status.
func TestNTLMPassThroughRefused(t *testing.T) {
	host := passThroughHost(t, netlogonClient(t, nil))
	for _, tc := range []struct {
		user, password string
		want           sspi.Status
	}{
		{`ADDC\alice`, "wrong", sspi.SEC_E_LOGON_DENIED},
		{`ADDC\nobody`, "wrong", sspi.SEC_E_LOGON_DENIED},
		{`ADDC\` + addc.Disabled.Name, addc.Disabled.Password, sspi.STATUS_ACCOUNT_DISABLED},
	} {
		_, _, err := ntlmLogon(t, &gosspi.Identity{User: tc.user, Password: tc.password}, host)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.user, err, tc.want)
		}
	}
}

// TestNTLMPassThroughDiscovery: with no DC address in the configuration,
// the NETLOGON client finds the DC by the _ldap._tcp.dc._msdcs SRV records
// of the DC's own DNS server (as DsGetDcName does) and passes a logon
// through; a domain the DNS knows no DC of is
// SEC_E_NO_AUTHENTICATING_AUTHORITY, never SEC_E_LOGON_DENIED.
func TestNTLMPassThroughDiscovery(t *testing.T) {
	dc := addc.Start(t)
	var d net.Dialer
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, net.JoinHostPort(addc.Addr, "53"))
	}}
	c := netlogonClient(t, func(cfg *netlogon.Config) { cfg.DC, cfg.Resolver = "", resolver })
	_, s, err := ntlmLogon(t, &gosspi.Identity{User: `ADDC\alice`, Password: addc.Alice.Password}, passThroughHost(t, c))
	if err != nil {
		t.Fatalf("logon through the DC found by SRV: %v\n%s", err, dc.Log())
	}
	if id, err := s.Identity(); err != nil || id.Principal != `ADDC\alice` {
		t.Fatalf("identity %+v, %v", id, err)
	}

	none := netlogonClient(t, func(cfg *netlogon.Config) {
		cfg.DC, cfg.Resolver, cfg.DNSDomain = "", resolver, "nodc.gosspi.test"
	})
	_, _, err = ntlmLogon(t, &gosspi.Identity{User: `ADDC\alice`, Password: addc.Alice.Password}, passThroughHost(t, none))
	if !errors.Is(err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY) {
		t.Fatalf("a domain without SRV records: %v, want SEC_E_NO_AUTHENTICATING_AUTHORITY", err)
	}
}
