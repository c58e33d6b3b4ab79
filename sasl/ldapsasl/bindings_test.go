package ldapsasl

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/sasl"
)

// selfSigned makes a certificate for localhost.
func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestChannelBindings: over LDAPS to a sasl.Server whose host requires
// channel bindings, a GSSAPI bind with the tls-server-end-point of the
// server's certificate passes; one with another certificate's, or none,
// is refused with SEC_E_BAD_BINDINGS (what a Windows DC with LDAP channel
// binding required does; Samba 4.17 checks none).
func TestChannelBindings(t *testing.T) {
	r := krbtest.NewRealm(t, krbtest.Options{})
	kt, cc, err := r.UserAndService("alice", "alice-Secret-1", "ldap/localhost")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := gosspi.NewHost(gosspi.HostConfig{Kerberos: kerberos.Config{Krb5Conf: r.Krb5Con, Keytab: kt}, ChannelBindings: gosspi.BindingsRequired})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	ch, err := gosspi.NewHost(gosspi.HostConfig{Kerberos: kerberos.Config{Krb5Conf: r.Krb5Con}})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	cert, other := selfSigned(t), selfSigned(t)
	serverCB, err := gosspi.TLSServerEndPoint(cert.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	otherCB, _ := gosspi.TLSServerEndPoint(other.Leaf)
	for _, tc := range []struct {
		name string
		cb   func(tls.ConnectionState) *gosspi.ChannelBindings
		ok   bool
	}{
		{"the server's certificate", func(cs tls.ConnectionState) *gosspi.ChannelBindings { b, _ := ChannelBindings(cs); return b }, true},
		{"another certificate", func(tls.ConnectionState) *gosspi.ChannelBindings { return otherCB }, false},
		{"none", func(tls.ConnectionState) *gosspi.ChannelBindings { return nil }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			m := &miniServer{h: sh, mech: sasl.GSSAPI, layers: sasl.LayerNone, cb: serverCB}
			done := make(chan struct{})
			go func() {
				defer close(done)
				if c, err := l.Accept(); err == nil {
					m.serve(c)
				}
			}()
			pool := x509.NewCertPool()
			pool.AddCert(cert.Leaf)
			conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
			if err != nil {
				t.Fatal(err)
			}
			c, err := sasl.NewClient(context.Background(), ch, sasl.ClientConfig{Layers: sasl.LayerNone, Context: gosspi.ClientConfig{
				Target: "ldap/localhost", ChannelBindings: tc.cb(conn.ConnectionState()),
				Identity: &gosspi.Identity{Options: map[string]string{"ccache": "FILE:" + cc}}}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			lc, _, err := Bind(context.Background(), conn, c)
			if !tc.ok {
				<-done
				if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) || !errors.Is(m.err, gosspi.ErrBadBindings) {
					t.Fatalf("bind: %v; server: %v; want invalidCredentials from SEC_E_BAD_BINDINGS", err, m.err)
				}
				conn.Close()
				return
			}
			if err != nil {
				t.Fatalf("bind: %v (server: %v)", err, m.err)
			}
			lconn := ldap.NewConn(lc, true)
			lconn.Start()
			who, err := lconn.WhoAmI(nil)
			if err != nil || who.AuthzID != "u:alice@"+r.Name {
				t.Fatalf("whoami: %v %v", who, err)
			}
			lconn.Close()
			<-done
		})
	}
}

var _ net.Conn = (*Conn)(nil)
