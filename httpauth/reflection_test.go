package httpauth

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gosspi/gosspi"
)

// TestNTLMReflection is the MS08-068 class of attack through the real
// client and server: a service serves NTLM (the middleware) and makes
// outbound NTLM calls (an httpauth.Transport) from one gosspi host, as its
// own account. It fetches a URL the attacker chose. The attacker's server
// asks that Transport for NTLM, relays the service's own NEGOTIATE to the
// service, hands the service's CHALLENGE back to the Transport, and logs on
// to the service with the Transport's AUTHENTICATE: as the service's
// account. The host must recognise that its own client answered the
// challenge and refuse the logon (401), where it used to let the attacker
// in (200).
func TestNTLMReflection(t *testing.T) {
	cfg := gosspi.HostConfig{}
	cfg.NTLM.Accounts = testAccounts() // the service's own account is GOSSPI\bob
	host, err := gosspi.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })

	// The service's outbound client: its own account, NTLM.
	out := &Transport{Host: host, Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}}
	t.Cleanup(func() { out.Close() })
	// The service: /fetch?url= fetches a URL for anyone; the rest needs an
	// NTLM logon (the whoami handler answers who logged on).
	svc := newServerWith(t, Config{Host: host, Schemes: []string{SchemeNTLM}}, func(protected http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/", protected)
		mux.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
			resp, err := (&http.Client{Transport: out}).Get(r.URL.Query().Get("url"))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
		})
		return mux
	})

	// The attacker's server relays the service's legs to the service, on
	// one kept-alive connection (NTLM binds to it), and keeps the answer to
	// the last one.
	var (
		mu        sync.Mutex
		final     int
		finalBody string
		legs      int
	)
	relay := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	attacker := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "NTLM ") {
			w.Header().Set("WWW-Authenticate", "NTLM")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		legs++
		req, _ := http.NewRequest(http.MethodGet, svc.URL+"/", nil)
		req.Header.Set("Authorization", auth)
		resp, err := relay.Do(req)
		if err != nil {
			t.Errorf("relay to the service: %v", err)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode == http.StatusUnauthorized && strings.HasPrefix(ch, "NTLM ") {
			// The service's CHALLENGE, handed to the service's own client.
			w.Header().Set("WWW-Authenticate", ch)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// The service's answer to its own client's AUTHENTICATE.
		final, finalBody = resp.StatusCode, string(body)
		w.WriteHeader(http.StatusOK)
	}))

	// The attacker has the service fetch its URL.
	resp, err := http.Get(svc.URL + "/fetch?url=" + url.QueryEscape(attacker+"/steal"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if legs != 2 {
		t.Fatalf("the attack did not run: %d relayed legs, fetch status %d", legs, resp.StatusCode)
	}
	if final != http.StatusUnauthorized {
		t.Fatalf("reflected logon: the service answered %d %q, want 401", final, strings.TrimSpace(finalBody))
	}
	wantLog(t, svc.logs, "SEC_E_LOGON_DENIED")
}
