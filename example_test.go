package gosspi_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/ntlm"
)

// A client and a server in one process authenticate with NTLM, then
// exchange sealed messages. In real use each side runs in its own program
// and the tokens travel over your protocol; here each has a host of its own
// (a host refuses to log its own NTLM client on to itself, which is what
// NTLM reflection looks like).
func Example() {
	accounts := ntlm.NewMemoryStore()
	accounts.Add("CONTOSO", "alice", "correct horse")
	host, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: accounts}})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	clientHost, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer clientHost.Close()
	ctx := context.Background()

	client, err := clientHost.NewClient(ctx, gosspi.ClientConfig{
		Package:  "NTLM",
		Target:   "HTTP/server.contoso.com",
		Identity: &gosspi.Identity{User: `CONTOSO\alice`, Password: "correct horse"},
		Flags:    gosspi.FlagConfidentiality | gosspi.FlagIntegrity | gosspi.FlagSequenceDetect,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	server, err := host.NewServer(ctx, gosspi.ServerConfig{Package: "NTLM"})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()

	// The handshake loop: each side's output is the other's input. A side
	// may finish with a last token that must still be sent.
	tok, _, err := client.Step(ctx, nil)
	for err == nil && !(client.Established() && server.Established()) {
		if tok, _, err = server.Step(ctx, tok); err != nil || len(tok) == 0 {
			break
		}
		tok, _, err = client.Step(ctx, tok)
	}
	if err != nil {
		log.Fatal(err)
	}
	id, _ := server.Identity()
	fmt.Println("server authenticated", id.Principal)

	sealed, _ := client.Wrap([]byte("hello, server"))
	plain, err := server.Unwrap(sealed)
	fmt.Printf("%s %v\n", plain, err)

	// Replaying a sealed message is detected.
	_, err = server.Unwrap(sealed)
	fmt.Println(errors.Is(err, gosspi.ErrOutOfSequence) || errors.Is(err, gosspi.ErrMessageAltered))
	// Output:
	// server authenticated CONTOSO\alice
	// hello, server <nil>
	// true
}

// A wrong password fails with SEC_E_LOGON_DENIED, which errors.Is finds.
func ExampleSecurityContext_Step_logonDenied() {
	accounts := ntlm.NewMemoryStore()
	accounts.Add("CONTOSO", "alice", "correct horse")
	host, _ := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: accounts}})
	defer host.Close()
	ctx := context.Background()
	client, _ := host.NewClient(ctx, gosspi.ClientConfig{
		Package: "NTLM", Target: "HTTP/server",
		Identity: &gosspi.Identity{User: "alice", Domain: "CONTOSO", Password: "guess"},
	})
	defer client.Close()
	server, _ := host.NewServer(ctx, gosspi.ServerConfig{Package: "NTLM"})
	defer server.Close()
	negotiate, _, _ := client.Step(ctx, nil)
	challenge, _, _ := server.Step(ctx, negotiate)
	authenticate, _, _ := client.Step(ctx, challenge)
	_, _, err := server.Step(ctx, authenticate)
	fmt.Println(errors.Is(err, gosspi.ErrLogonDenied))
	// Output: true
}
