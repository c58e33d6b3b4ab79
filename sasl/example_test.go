package sasl_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sasl"
)

// A GSS-SPNEGO client and server in one process (NTLM, so that it needs
// no KDC): the messages the protocol would carry, then sealed traffic
// over a connection with the negotiated layer on both ends.
func Example() {
	accounts := ntlm.NewMemoryStore()
	accounts.Add("CONTOSO", "alice", "correct horse")
	serverHost, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: accounts}})
	if err != nil {
		log.Fatal(err)
	}
	defer serverHost.Close()
	clientHost, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer clientHost.Close()
	ctx := context.Background()

	client, err := sasl.NewClient(ctx, clientHost, sasl.ClientConfig{Mechanism: sasl.GSSSPNEGO, Context: gosspi.ClientConfig{
		Target: "ldap/server.contoso.com", Identity: &gosspi.Identity{User: `CONTOSO\alice`, Password: "correct horse"}}})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	server, err := sasl.NewServer(ctx, serverHost, sasl.ServerConfig{Mechanism: sasl.GSSSPNEGO,
		Layers: sasl.LayerIntegrity | sasl.LayerConfidentiality}) // no unprotected sessions
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()

	// The exchange: responses to the server, challenges back, until the
	// server reports success (with additional data for the client).
	resp, err := client.Start(ctx)
	var clientSec *sasl.Security
	for err == nil && clientSec == nil {
		var chal []byte
		var done bool
		if chal, done, err = server.Next(ctx, resp); err != nil {
			break
		}
		if done {
			clientSec, err = client.Finish(ctx, chal)
		} else {
			resp, err = client.Next(ctx, chal)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("client layer:", clientSec.Layer(), "server layer:", server.Security().Layer())

	a, b := net.Pipe()
	cconn, sconn := sasl.NewConn(a, clientSec), sasl.NewConn(b, server.Security())
	defer cconn.Close()
	defer sconn.Close()
	go cconn.Write([]byte("hello, server"))
	buf := make([]byte, 13)
	if _, err := io.ReadFull(sconn, buf); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", buf)
	// Output:
	// client layer: confidentiality server layer: confidentiality
	// hello, server
}

// A GSSAPI (Kerberos) client for a protocol of your own: the layer is
// negotiated after the context, inside the last two messages.
func ExampleNewClient() {
	ctx := context.Background()
	host, err := gosspi.NewHost(gosspi.HostConfig{}) // KRB5_CONFIG, KRB5CCNAME
	if err != nil {
		log.Fatal(err)
	}
	client, err := sasl.NewClient(ctx, host, sasl.ClientConfig{
		Mechanism: sasl.GSSAPI,
		Layers:    sasl.LayerConfidentiality, // seal, or fail
		Context:   gosspi.ClientConfig{Target: "imap/mail.example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	_ = client.Mechanism() // "GSSAPI", for AUTHENTICATE
	// resp, err := client.Start(ctx); send it, then client.Next(ctx,
	// challenge) per challenge, client.Finish(ctx, data) on success, and
	// sasl.NewConn(conn, security) for what follows.
}
