package ldapsasl_test

import (
	"context"
	"crypto/tls"
	"log"
	"net"

	"github.com/go-ldap/ldap/v3"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/sasl"
	"github.com/gosspi/gosspi/sasl/ldapsasl"
)

// go-ldap's own GSSAPIBind with gosspi's Kerberos, sealing the session
// after the bind, as an Active Directory DC requires on plain LDAP.
func ExampleGSSAPIClient() {
	ctx := context.Background()
	host, err := gosspi.NewHost(gosspi.HostConfig{}) // KRB5_CONFIG, KRB5CCNAME
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	raw, err := net.Dial("tcp", "dc1.example.com:389")
	if err != nil {
		log.Fatal(err)
	}
	conn := ldapsasl.NewConn(raw) // carries the layer after the bind
	l := ldap.NewConn(conn, false)
	l.Start()
	defer l.Close()
	client, err := ldapsasl.NewGSSAPIClient(ctx, host, conn, sasl.ClientConfig{Layers: sasl.LayerConfidentiality})
	if err != nil {
		log.Fatal(err)
	}
	if err := l.GSSAPIBind(client, "ldap/dc1.example.com", ""); err != nil {
		log.Fatal(err)
	}
	// Every request from here on is sealed.
	_, err = l.Search(ldap.NewSearchRequest("DC=example,DC=com", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(sAMAccountName=alice)", []string{"memberOf"}, nil))
	if err != nil {
		log.Fatal(err)
	}
}

// A GSS-SPNEGO bind (Negotiate: Kerberos, or NTLM with a password), which
// go-ldap cannot send itself: bind on the raw connection, then hand the
// sealed connection to go-ldap.
func ExampleBind() {
	ctx := context.Background()
	host, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	raw, err := net.Dial("tcp", "dc1.example.com:389")
	if err != nil {
		log.Fatal(err)
	}
	client, err := sasl.NewClient(ctx, host, sasl.ClientConfig{Mechanism: sasl.GSSSPNEGO, Context: gosspi.ClientConfig{
		Target:   "ldap/dc1.example.com",
		Identity: &gosspi.Identity{User: "alice", Domain: "EXAMPLE", Password: "correct horse"},
	}})
	if err != nil {
		log.Fatal(err)
	}
	conn, _, err := ldapsasl.Bind(ctx, raw, client)
	if err != nil {
		log.Fatal(err) // ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials)...
	}
	l := ldap.NewConn(conn, false)
	l.Start()
	defer l.Close()
}

// LDAPS with channel bindings (LDAP channel binding, required by Windows
// Server 2025's defaults): the tls-server-end-point of the DC's
// certificate goes into the Kerberos authenticator; no SASL layer over
// TLS.
func ExampleChannelBindings() {
	ctx := context.Background()
	host, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	tc, err := tls.Dial("tcp", "dc1.example.com:636", &tls.Config{ServerName: "dc1.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	cb, err := ldapsasl.ChannelBindings(tc.ConnectionState())
	if err != nil {
		log.Fatal(err)
	}
	client, err := sasl.NewClient(ctx, host, sasl.ClientConfig{Layers: sasl.LayerNone,
		Context: gosspi.ClientConfig{Target: "ldap/dc1.example.com", ChannelBindings: cb}})
	if err != nil {
		log.Fatal(err)
	}
	conn, _, err := ldapsasl.Bind(ctx, tc, client)
	if err != nil {
		log.Fatal(err)
	}
	l := ldap.NewConn(conn, true)
	l.Start()
	defer l.Close()
}
