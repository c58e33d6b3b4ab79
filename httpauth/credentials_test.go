package httpauth

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

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
	s := newServer(t, Config{Host: h, Schemes: []string{SchemeNTLM}, Persist: true}, BindingsWhenSupported, nil)
	tr := &Transport{Host: clientHost(t), Schemes: []string{SchemeNTLM}}
	defer tr.Close()
	c := &http.Client{Transport: tr}
	carol := &gosspi.Identity{User: "carol", Domain: ntDomain, Password: "Carol-Passw0rd!"}
	dave := &gosspi.Identity{User: "dave", Domain: ntDomain, Password: "Dave-Passw0rd!"}
	get := func(id *gosspi.Identity) (int, string) {
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
		id   *gosspi.Identity
		user string
	}{{carol, "carol"}, {dave, "dave"}, {carol, "carol"}, {dave, "dave"}} {
		code, who := get(want.id)
		if code != 200 || !strings.HasSuffix(strings.ToLower(who), `\`+want.user) {
			t.Fatalf("request %d as %s: %d %q", i, want.user, code, who)
		}
	}
	wrong := &gosspi.Identity{User: "dave", Domain: ntDomain, Password: "wrong"}
	if code, who := get(wrong); code == 200 {
		t.Fatalf("a wrong password was let through on another identity's connection: %q", who)
	}
}

// TestRefusalReason: a server whose clock is an hour ahead (and that asks
// for extended errors, ASC_REQ_EXTENDED_ERROR) refuses the
// client's AP-REQ with a KRB-ERROR (KRB_AP_ERR_SKEW) inside its 401; the
// Transport returns the 401 and Refusal says why, with the status. An NTLM
// wrong password, which the protocol answers with a bare 401, is
// SEC_E_LOGON_DENIED.
func TestRefusalReason(t *testing.T) {
	skewed := func() time.Time { return time.Now().Add(time.Hour) }
	cfg := gosspi.HostConfig{Now: skewed}
	cfg.Kerberos.Keytab = realm.keytab
	cfg.NTLM.Accounts = testAccounts()
	h, err := gosspi.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s := newServer(t, Config{Host: h, Now: skewed, Schemes: []string{SchemeNegotiate}, Flags: gosspi.DefaultFlags | gosspi.FlagExtendedError}, BindingsWhenSupported, nil)
	tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity(), Schemes: []string{SchemeNegotiate}}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(strings.Replace(s.URL, "127.0.0.1", "localhost", 1) + "/whoami")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	why := Refusal(resp)
	if resp.StatusCode != 401 || !errors.Is(why, sspi.SEC_E_TIME_SKEW) {
		t.Fatalf("skewed server: %d, Refusal = %v", resp.StatusCode, why)
	}
	if Refusal(&http.Response{Body: http.NoBody}) != nil {
		t.Fatal("Refusal of a plain response")
	}

	ok := newServer(t, Config{Schemes: []string{SchemeNTLM}}, BindingsWhenSupported, nil)
	nt := &Transport{Host: clientHost(t), Identity: &gosspi.Identity{User: ntUser, Domain: ntDomain, Password: "wrong"}, Schemes: []string{SchemeNTLM}}
	defer nt.Close()
	resp, err = (&http.Client{Transport: nt}).Get(ok.URL + "/whoami")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if why := Refusal(resp); resp.StatusCode != 401 || !errors.Is(why, sspi.SEC_E_LOGON_DENIED) {
		t.Fatalf("NTLM wrong password: %d, Refusal = %v", resp.StatusCode, why)
	}
}
