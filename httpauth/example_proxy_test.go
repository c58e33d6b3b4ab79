package httpauth_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/httpauth"
)

// An HTTPS request through a proxy that asks for Negotiate or NTLM (407):
// the ProxyDialer makes the CONNECT and answers the challenge with the
// ticket of KRB5CCNAME (for HTTP/proxy.example.com) or an NTLM identity,
// and the http.Transport runs TLS to the origin in the tunnel. The
// httpauth.Transport over it answers plain-HTTP requests' 407s and the
// origin's own 401s.
func ExampleProxyDialer() {
	host, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	proxy, _ := url.Parse("http://proxy.example.com:3128")
	d := &httpauth.ProxyDialer{
		Host:  host,
		Proxy: proxy,
		// Identity: &gosspi.Identity{User: `EXAMPLE\alice`, Password: "..."} for NTLM.
	}
	defer d.Close()
	base := &http.Transport{}
	d.ConfigureTransport(base)
	client := &http.Client{Transport: &httpauth.Transport{Host: host, Base: base}}
	resp, err := client.Get("https://www.example.com/")
	if err != nil {
		log.Fatal(err) // a refusal is an *httpauth.ProxyError with the 407
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, len(body))
}

// The raw tunnel, for a protocol other than HTTP.
func ExampleProxyDialer_DialContext() {
	host, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	proxy, _ := url.Parse("http://proxy.example.com:3128")
	d := &httpauth.ProxyDialer{Host: host, Proxy: proxy, Schemes: []string{httpauth.SchemeNegotiate}}
	defer d.Close()
	conn, err := d.DialContext(context.Background(), "tcp", "git.example.com:22")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	banner := make([]byte, 64)
	n, _ := conn.Read(banner)
	fmt.Printf("%q\n", banner[:n])
}
