package sshauth_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"golang.org/x/crypto/ssh"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/sshauth"
)

// A Go SSH client logs in to OpenSSH's sshd (GSSAPIAuthentication yes)
// with the Kerberos ticket of KRB5CCNAME, as `ssh -K` does, and runs a
// command.
func ExampleClient() {
	host, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	gss := sshauth.NewClient(host)
	client, err := ssh.Dial("tcp", "server.example.com:22", &ssh.ClientConfig{
		User: "alice",
		// The service principal is host/server.example.com.
		Auth:            []ssh.AuthMethod{gss.AuthMethod("server.example.com")},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // check the host key in real code
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.Output("id -un")
	fmt.Printf("%s %v\n", out, err)
}

// An x/crypto/ssh server accepts `ssh -o GSSAPIAuthentication=yes` with
// the keys of host/HOSTNAME in the keytab of KRB5_KTNAME: one Acceptor for
// the server, one GSSAPIWithMICConfig (and Server) per connection.
func ExampleAcceptor() {
	host, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	acc, err := sshauth.NewAcceptor(context.Background(), host, "")
	if err != nil {
		log.Fatal(err)
	}
	defer acc.Close()
	base := &ssh.ServerConfig{}
	// base.AddHostKey(signer)
	ln, err := net.Listen("tcp", ":2222")
	if err != nil {
		log.Fatal(err)
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		cfg := *base
		cfg.GSSAPIWithMICConfig = acc.Config(func(conn ssh.ConnMetadata, peer gosspi.PeerIdentity) (*ssh.Permissions, error) {
			// alice@EXAMPLE.COM may log in as alice (krb5_kuserok's
			// default rule); peer.Groups holds the PAC's groups from AD.
			return sshauth.AllowLocalUser("EXAMPLE.COM")(conn, peer)
		})
		go func() {
			conn, chans, reqs, err := ssh.NewServerConn(nc, &cfg)
			if err != nil {
				nc.Close()
				return
			}
			log.Printf("%s logged in as %s", conn.Permissions.Extensions["gssapi-principal"], conn.User())
			go ssh.DiscardRequests(reqs)
			for ch := range chans {
				ch.Reject(ssh.Prohibited, "example")
			}
		}()
	}
}

// LocalUser maps a principal to the local account of the same name, in
// the default realm only.
func ExampleLocalUser() {
	fmt.Println(sshauth.LocalUser("alice@EXAMPLE.COM", "EXAMPLE.COM"))
	fmt.Println(sshauth.LocalUser("alice/admin@EXAMPLE.COM", "EXAMPLE.COM"))
	fmt.Println(sshauth.LocalUser("alice@OTHER.ORG", "EXAMPLE.COM"))
	// Output:
	// alice true
	//  false
	//  false
}
