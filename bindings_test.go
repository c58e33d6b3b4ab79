package gosspi_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/ntlm"
)

// TestChannelBindingPolicy runs NTLM handshakes under each host policy:
// the host default decides about a client that sends no bindings, a
// server context relaxes BindingsRequired with AllowMissingBindings, and
// bindings that differ fail unless the host ignores bindings.
func TestChannelBindingPolicy(t *testing.T) {
	srvCB := &gosspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:server")}
	relay := &gosspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:relay")}
	for _, tc := range []struct {
		name         string
		policy       gosspi.BindingPolicy
		cli, srv     *gosspi.ChannelBindings
		allowMissing bool
		want         error
	}{
		{"when-supported/match", gosspi.BindingsWhenSupported, srvCB, srvCB, false, nil},
		{"when-supported/missing", gosspi.BindingsWhenSupported, nil, srvCB, false, nil},
		{"when-supported/relay", gosspi.BindingsWhenSupported, relay, srvCB, false, gosspi.ErrBadBindings},
		{"required/match", gosspi.BindingsRequired, srvCB, srvCB, false, nil},
		{"required/missing", gosspi.BindingsRequired, nil, srvCB, false, gosspi.ErrBadBindings},
		{"required/missing-allowed", gosspi.BindingsRequired, nil, srvCB, true, nil},
		{"required/relay-allowed", gosspi.BindingsRequired, relay, srvCB, true, gosspi.ErrBadBindings},
		{"required/no-server-bindings", gosspi.BindingsRequired, srvCB, nil, false, gosspi.ErrBadBindings},
		{"off/relay", gosspi.BindingsOff, relay, srvCB, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			accounts := ntlm.NewMemoryStore()
			accounts.Add("D", "u", "p")
			srvHost, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: accounts}, ChannelBindings: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			defer srvHost.Close()
			if srvHost.ChannelBindings() != tc.policy {
				t.Fatalf("ChannelBindings() = %v", srvHost.ChannelBindings())
			}
			cliHost, err := gosspi.NewHost(gosspi.HostConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer cliHost.Close()
			ctx := context.Background()
			c, err := cliHost.NewClient(ctx, gosspi.ClientConfig{Package: "NTLM", Target: "HTTP/x",
				Identity: &gosspi.Identity{User: "u", Domain: "D", Password: "p"}, ChannelBindings: tc.cli})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := srvHost.NewServer(ctx, gosspi.ServerConfig{Package: "NTLM", ChannelBindings: tc.srv, AllowMissingBindings: tc.allowMissing})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tok, _, err := c.Step(ctx, nil)
			for err == nil && !s.Established() {
				if tok, _, err = s.Step(ctx, tok); err != nil || s.Established() {
					break
				}
				tok, _, err = c.Step(ctx, tok)
			}
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("handshake: %v, want %v", err, tc.want)
			}
		})
	}
}
