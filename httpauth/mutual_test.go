package httpauth

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/jcmturner/goidentity/v6"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	krbspnego "github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// authLog records the Authorization header of each request a server gets.
type authLog struct {
	mu      sync.Mutex
	headers []string
}

func (l *authLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.headers = append(l.headers, r.Header.Get("Authorization"))
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *authLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.headers...)
}

// gokrb5Server is gokrb5's own SPNEGO HTTP handler over the realm's
// HTTP/localhost keytab: a real peer that sends no AP-REP (its final
// WWW-Authenticate is an accept-completed without a mechanism token).
func gokrb5Server(t *testing.T) (string, *authLog) {
	t.Helper()
	kt, err := keytab.Load(realm.keytab)
	if err != nil {
		t.Fatal(err)
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := goidentity.FromHTTPRequestContext(r)
		if id == nil {
			http.Error(w, "no identity", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, id.UserName()+"@"+id.Domain())
	})
	l := &authLog{}
	url := httptestServer(t, l.wrap(krbspnego.SPNEGOKRB5Authenticate(inner, kt, service.DecodePAC(false))))
	return strings.Replace(url, "127.0.0.1", "localhost", 1), l
}

// mutualRequested reports whether the Negotiate header's AP-REQ asks for
// mutual authentication.
func mutualRequested(t *testing.T, header string) bool {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(header, "Negotiate "))
	if err != nil {
		t.Fatal(err)
	}
	init, _, err := spnego.ParseToken(b)
	if err != nil || init == nil || init.MechToken == nil {
		t.Fatalf("not a NegTokenInit with a mechanism token: %v", err)
	}
	var k krbspnego.KRB5Token
	if err := k.Unmarshal(init.MechToken); err != nil {
		t.Fatal(err)
	}
	return types.IsFlagSet(&k.APReq.APOptions, flags.APOptionMutualRequired)
}

func getBody(t *testing.T, tr *Transport, url string) (string, error) {
	t.Helper()
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}

// TestMutualAuthModesGokrb5: gokrb5's SPNEGO handler proves nothing.
// OPTIONAL and DISABLED accept it; REQUIRED (the default) refuses it with
// ErrMutualAuth and says why.
func TestMutualAuthModesGokrb5(t *testing.T) {
	url, l := gokrb5Server(t)
	for _, tc := range []struct {
		mode       MutualAuthMode
		ok, mutual bool
	}{
		{MutualAuthOptional, true, true},
		{MutualAuthDisabled, true, false},
		{MutualAuthRequired, false, true},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity(), Schemes: []string{SchemeNegotiate}, MutualAuth: tc.mode}
			defer tr.Close()
			n := len(l.get())
			body, err := getBody(t, tr, url+"/")
			h := l.get()[n:]
			if len(h) != 2 || h[0] != "" || !strings.HasPrefix(h[1], "Negotiate ") {
				t.Fatalf("requests: %q", h)
			}
			if got := mutualRequested(t, h[1]); got != tc.mutual {
				t.Errorf("AP-REQ mutual-required = %v, want %v", got, tc.mutual)
			}
			if !tc.ok {
				if !errors.Is(err, ErrMutualAuth) || !strings.Contains(err.Error(), "without the server's AP-REP") || !strings.Contains(err.Error(), "MutualAuthOptional") {
					t.Fatalf("err = %v, want ErrMutualAuth saying why", err)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if body != "alice@"+realm.Name {
				t.Fatalf("body %q", body)
			}
		})
	}
	// The default is REQUIRED.
	tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity()}
	defer tr.Close()
	if _, err := getBody(t, tr, url+"/"); !errors.Is(err, ErrMutualAuth) {
		t.Fatalf("default mode: err = %v", err)
	}
}

// TestMutualAuthModesGosspi: our middleware sends the AP-REP; every mode
// succeeds, and OPTIONAL still refuses a final token that does not verify.
func TestMutualAuthModesGosspi(t *testing.T) {
	l := &authLog{}
	s := newServerWith(t, Config{}, l.wrap)
	url := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	for _, mode := range []MutualAuthMode{MutualAuthRequired, MutualAuthOptional, MutualAuthDisabled} {
		t.Run(mode.String(), func(t *testing.T) {
			tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity(), MutualAuth: mode}
			defer tr.Close()
			n := len(l.get())
			resp, err := (&http.Client{Transport: tr}).Get(url + "/")
			if err != nil {
				t.Fatal(err)
			}
			if m := decodeWhoami(t, resp); !strings.HasPrefix(m["principal"], "alice@") {
				t.Fatalf("whoami %v", m)
			}
			h := l.get()[n:]
			if got := mutualRequested(t, h[len(h)-1]); got != (mode != MutualAuthDisabled) {
				t.Errorf("AP-REQ mutual-required = %v", got)
			}
		})
	}
	// A proxy that spoils the AP-REP of the final response.
	backend := &http.Transport{}
	defer backend.CloseIdleConnections()
	proxy := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequest(r.Method, s.URL+r.URL.Path, nil)
		req.Header = r.Header.Clone()
		resp, err := backend.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		if h := resp.Header.Get("WWW-Authenticate"); resp.StatusCode == 200 && strings.HasPrefix(h, "Negotiate ") {
			b, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Negotiate "))
			b[len(b)-3] ^= 0x01
			w.Header().Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(b))
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	for _, mode := range []MutualAuthMode{MutualAuthRequired, MutualAuthOptional} {
		tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity(), MutualAuth: mode}
		_, err := (&http.Client{Transport: tr}).Get(strings.Replace(proxy, "127.0.0.1", "localhost", 1))
		tr.Close()
		if !errors.Is(err, ErrMutualAuth) || !strings.Contains(err.Error(), "does not verify") {
			t.Fatalf("%v with a spoiled AP-REP: err = %v", mode, err)
		}
	}
}

// TestOpportunisticAuth: with Opportunistic, the first request already
// carries the Negotiate token, and a server that takes it answers at once.
func TestOpportunisticAuth(t *testing.T) {
	l := &authLog{}
	s := newServerWith(t, Config{}, l.wrap)
	url := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity(), Opportunistic: true}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	if m := decodeWhoami(t, resp); !strings.HasPrefix(m["principal"], "alice@") {
		t.Fatalf("whoami %v", m)
	}
	if h := l.get(); len(h) != 1 || !strings.HasPrefix(h[0], "Negotiate ") {
		t.Fatalf("requests: %q, want one, with a Negotiate token", h)
	}
	// Without it, the first request goes bare and gets the 401.
	tr2 := &Transport{Host: tr.Host, Identity: kerberosIdentity()}
	defer tr2.Close()
	n := len(l.get())
	resp, err = (&http.Client{Transport: tr2}).Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	decodeWhoami(t, resp)
	if h := l.get()[n:]; len(h) != 2 || h[0] != "" {
		t.Fatalf("requests: %q", h)
	}
	// gokrb5's handler takes the opportunistic token too.
	gurl, gl := gokrb5Server(t)
	tr3 := &Transport{Host: tr.Host, Identity: kerberosIdentity(), Opportunistic: true, MutualAuth: MutualAuthOptional}
	defer tr3.Close()
	if body, err := getBody(t, tr3, gurl+"/"); err != nil || body != "alice@"+realm.Name {
		t.Fatalf("%q %v", body, err)
	}
	if h := gl.get(); len(h) != 1 || !strings.HasPrefix(h[0], "Negotiate ") {
		t.Fatalf("gokrb5 requests: %q", h)
	}
	// NTLM opportunistically: the NEGOTIATE goes first, the handshake
	// continues on the 401 with the CHALLENGE.
	tr4 := &Transport{Host: tr.Host, Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM}, Opportunistic: true}
	defer tr4.Close()
	n = len(l.get())
	resp, err = (&http.Client{Transport: tr4}).Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	decodeWhoami(t, resp)
	if h := l.get()[n:]; len(h) != 2 || !strings.HasPrefix(h[0], "NTLM ") || !strings.HasPrefix(h[1], "NTLM ") {
		t.Fatalf("NTLM requests: %q", h)
	}
}
