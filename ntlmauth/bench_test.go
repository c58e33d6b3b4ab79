package ntlmauth

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/ntlm"
)

// BenchmarkSquidNTLMSSP is a full squid-2.5-ntlmssp exchange (YR, KK)
// through our server helper, with the client side played by our
// ntlmssp-client-1 helper in process and by Samba's ntlm_auth
// --helper-protocol=ntlmssp-client-1 over pipes, as Squid would drive
// them. Samba's figure includes two pipe round trips per exchange.
func BenchmarkSquidNTLMSSP(b *testing.B) {
	srv := benchServer(b)
	ctx := context.Background()
	run := func(b *testing.B, ask func(string) string) {
		b.ReportAllocs()
		for b.Loop() {
			neg := ask("YR")
			chal := srv.Handle(ctx, "YR "+arg(neg, 1))
			auth := ask("TT " + arg(chal, 1))
			if res := srv.Handle(ctx, "KK "+arg(auth, 1)); !strings.HasPrefix(res, "AF ") {
				b.Fatalf("%q", res)
			}
		}
	}
	b.Run("gosspi-client", func(b *testing.B) {
		host, err := gosspi.NewHost(gosspi.HostConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer host.Close()
		cli, err := New(Config{Protocol: NTLMSSPClient1, Host: host, Identity: &gosspi.Identity{User: user, Domain: domain, Password: password}})
		if err != nil {
			b.Fatal(err)
		}
		defer cli.Close()
		run(b, func(l string) string { return cli.Handle(ctx, l) })
	})
	b.Run("samba-client", func(b *testing.B) {
		cli := samba(b, "--helper-protocol=ntlmssp-client-1", "--username="+user, "--domain="+domain, "--password="+password)
		run(b, cli.ask)
	})
}

func benchServer(b *testing.B) *Helper {
	b.Helper()
	store := ntlm.NewMemoryStore()
	store.Add(domain, user, password)
	h, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: store}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	srv, err := New(Config{Protocol: Squid25NTLMSSP, Host: h, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv
}
