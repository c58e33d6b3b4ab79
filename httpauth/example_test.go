package httpauth_test

import (
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/httpauth"
	"github.com/gosspi/gosspi/ntlm"
)

// A server protected by Negotiate and NTLM, and a client that
// authenticates to it with NTLM, over loopback.
func Example() {
	// The server: an account store of NT hashes (here in memory), the
	// middleware, and its connection hooks.
	accounts := ntlm.NewMemoryStore()
	accounts.Add("EXAMPLE", "alice", "Passw0rd!")
	srvHost, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: accounts}})
	if err != nil {
		log.Fatal(err)
	}
	defer srvHost.Close()
	auth, err := httpauth.New(httpauth.Config{
		Host:    srvHost,
		Schemes: []string{httpauth.SchemeNegotiate, httpauth.SchemeNTLM},
		Persist: true,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()
	srv := &http.Server{Handler: auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.IdentityFromContext(r.Context())
		fmt.Fprintf(w, "hello %s (%s)", id.Principal, id.Package)
	}))}
	auth.Install(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	// The client.
	cliHost, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer cliHost.Close()
	tr := &httpauth.Transport{
		Host:     cliHost,
		Identity: &gosspi.Identity{User: "alice", Domain: "EXAMPLE", Password: "Passw0rd!"},
	}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(b))
	// Output: 200 OK hello EXAMPLE\alice (NTLM)
}

// ParseAuthorization splits a header into its scheme and token.
func ExampleParseAuthorization() {
	scheme, token, err := httpauth.ParseAuthorization("NTLM TlRMTVNTUAABAAAABoIIAAAAAAAAAAAAAAAAAAAAAAA=")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %q\n", scheme, token[:8])
	// Output: NTLM "NTLMSSP\x00"
}
