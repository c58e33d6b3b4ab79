package httpauth

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// TestPerRequestCredentials: one Transport acts for two users, each
// request with its own credentials (WithCredentials). The server persists
// NTLM logons on keep-alive connections, so a connection authenticated as
// one user must never carry a request of the other: each request is seen
// as its own user, and a request with a wrong password is refused even
// though a good connection of another user is idle.
func TestPerRequestCredentials(t *testing.T) {
	store := ntlm.NewMemoryStore()
	store.Add(ntDomain, "carol", "Carol-Passw0rd!")
	store.Add(ntDomain, "dave", "Dave-Passw0rd!")
	h, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: store}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s := newServer(t, Config{Table: h.FunctionTable, Schemes: []string{SchemeNTLM}, Persist: true}, BindingsWhenSupported, nil)
	tr := &Transport{Table: clientHost(t).FunctionTable, Schemes: []string{SchemeNTLM}}
	defer tr.Close()
	c := &http.Client{Transport: tr}
	carol := &sspi.AuthIdentity{User: "carol", Domain: ntDomain, Password: "Carol-Passw0rd!"}
	dave := &sspi.AuthIdentity{User: "dave", Domain: ntDomain, Password: "Dave-Passw0rd!"}
	get := func(id *sspi.AuthIdentity) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(WithCredentials(t.Context(), id), "GET", s.URL+"/whoami", nil)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return resp.StatusCode, ""
		}
		return 200, decodeWhoami(t, resp)["principal"]
	}
	for i, want := range []struct {
		id   *sspi.AuthIdentity
		user string
	}{{carol, "carol"}, {dave, "dave"}, {carol, "carol"}, {dave, "dave"}} {
		code, who := get(want.id)
		if code != 200 || !strings.HasSuffix(strings.ToLower(who), `\`+want.user) {
			t.Fatalf("request %d as %s: %d %q", i, want.user, code, who)
		}
	}
	wrong := &sspi.AuthIdentity{User: "dave", Domain: ntDomain, Password: "wrong"}
	if code, who := get(wrong); code == 200 {
		t.Fatalf("a wrong password was let through on another identity's connection: %q", who)
	}
}
