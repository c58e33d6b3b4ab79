package ntlmauth_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/ntlmauth"
)

// A squid-2.5-ntlmssp server helper and an ntlmssp-client-1 client
// helper, relayed the way Squid relays between a browser and its helper.
func Example() {
	accounts := ntlm.NewMemoryStore()
	accounts.Add("EXAMPLE", "alice", "Passw0rd!")
	host, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: accounts}})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	server, err := ntlmauth.New(ntlmauth.Config{Protocol: ntlmauth.Squid25NTLMSSP, Host: host, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	// The client side runs on a host of its own (a host does not log its
	// own NTLM client on to itself: that is NTLM reflection).
	clientHost, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer clientHost.Close()
	client, err := ntlmauth.New(ntlmauth.Config{Protocol: ntlmauth.NTLMSSPClient1, Host: clientHost, Logger: quiet,
		Identity: &gosspi.Identity{User: "alice", Domain: "EXAMPLE", Password: "Passw0rd!"}})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	token := func(reply string) string { return reply[strings.IndexByte(reply, ' ')+1:] }

	neg := client.Handle(ctx, "YR")                 // YR <NEGOTIATE>
	chal := server.Handle(ctx, "YR "+token(neg))    // TT <CHALLENGE>
	auth := client.Handle(ctx, "TT "+token(chal))   // AF <AUTHENTICATE>
	result := server.Handle(ctx, "KK "+token(auth)) // AF EXAMPLE\alice
	fmt.Println(neg[:2], chal[:2], auth[:2])
	fmt.Println(result)
	// Output:
	// YR TT AF
	// AF EXAMPLE\alice
}
