package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/httpauth"
)

func init() {
	registerDemo(40, "HTTP Negotiate and NTLM over loopback (httpauth)", demoHTTP)
}

// demoLegs counts what crossed the wire, from the server's side.
type demoLegs struct {
	mu    sync.Mutex
	lines []string
}

func (d *demoLegs) add(format string, args ...any) {
	d.mu.Lock()
	d.lines = append(d.lines, fmt.Sprintf(format, args...))
	d.mu.Unlock()
}

func (d *demoLegs) flush(w io.Writer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.lines {
		fmt.Fprintln(w, l)
	}
	d.lines = nil
}

// demoHTTP serves /whoami behind the httpauth middleware on 127.0.0.1 and
// fetches it with the httpauth client, first with NTLM, then with
// Negotiate (which, for an IP address, runs NTLM inside SPNEGO), then
// again on the same keep-alive connection, which the server remembers.
func demoHTTP(w io.Writer) error {
	srvHost, err := newHost(demoAccounts())
	if err != nil {
		return err
	}
	defer srvHost.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	auth, err := httpauth.New(httpauth.Config{Host: srvHost, Schemes: []string{httpauth.SchemeNegotiate, httpauth.SchemeNTLM},
		Persist: true, Logger: quiet})
	if err != nil {
		return err
	}
	defer auth.Close()
	legs := &demoLegs{}
	whoami := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.IdentityFromContext(r.Context())
		json.NewEncoder(rw).Encode(map[string]string{"principal": id.Principal, "package": id.Package})
	})
	inner := auth.Middleware(whoami)
	handler := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		in := "(none)"
		if v := r.Header.Get("Authorization"); v != "" {
			s, tok, _ := httpauth.ParseAuthorization(v)
			in = fmt.Sprintf("%s, %d-byte token", s, len(tok))
		}
		rec := &statusRecorder{ResponseWriter: rw, code: 200}
		inner.ServeHTTP(rec, r)
		out := strings.Join(rw.Header().Values("WWW-Authenticate"), " | ")
		if i := strings.IndexByte(out, ' '); i > 0 && len(out) > 40 {
			out = out[:i] + fmt.Sprintf(" <%d base64 chars>", len(out)-i-1)
		}
		legs.add("   %-21s -> server: Authorization %-26s <- %d %s", r.RemoteAddr, in, rec.code, out)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(quiet.Handler(), slog.LevelError)}
	auth.Install(srv)
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/whoami"

	cliHost, err := newHost(nil)
	if err != nil {
		return err
	}
	defer cliHost.Close()
	fmt.Fprintf(w, "   server %s: Negotiate + NTLM, persistent authentication, account %s\\%s (in memory)\n", url, demoDomain, demoUser)
	for _, scheme := range []string{httpauth.SchemeNTLM, httpauth.SchemeNegotiate} {
		tr := &httpauth.Transport{Host: cliHost, Identity: demoIdentity(), Schemes: []string{scheme}, Logger: quiet}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		fmt.Fprintf(w, "   client answering with %s:\n", scheme)
		for i := 0; i < 2; i++ {
			body, err := demoGet(c, url)
			legs.flush(w)
			if err != nil {
				tr.Close()
				return err
			}
			fmt.Fprintf(w, "   client got 200: %s\n", body)
		}
		tr.Close()
	}
	// Kerberos, when a KDC is configured (see the Kerberos section): the
	// ticket from the ccache, the AP-REP on the 200 verified.
	if target, missing := kerberosDemoSetup(); len(missing) > 0 {
		fmt.Fprintln(w, "   Kerberos over HTTP: skipped, no KDC configured (see the Kerberos section)")
	} else {
		fmt.Fprintf(w, "   client answering with Negotiate, Kerberos ticket for %s:\n", target)
		tr := &httpauth.Transport{Host: cliHost, Schemes: []string{httpauth.SchemeNegotiate}, Logger: quiet,
			SPN: func(string) string { return target }}
		body, err := demoGet(&http.Client{Transport: tr, Timeout: 10 * time.Second}, url)
		tr.Close()
		legs.flush(w)
		if err != nil {
			return fmt.Errorf("kerberos over HTTP: %w", err)
		}
		fmt.Fprintf(w, "   client got 200, server's AP-REP verified: %s\n", body)
	}
	// A wrong password is refused.
	bad := &gosspi.Identity{User: demoUser, Domain: demoDomain, Password: "not the password"}
	tr := &httpauth.Transport{Host: cliHost, Identity: bad, Schemes: []string{httpauth.SchemeNTLM}, Logger: quiet}
	defer tr.Close()
	_, err = demoGet(&http.Client{Transport: tr, Timeout: 10 * time.Second}, url)
	legs.flush(w)
	if err == nil || !strings.Contains(err.Error(), "401") {
		return fmt.Errorf("a wrong password was not refused: %v", err)
	}
	fmt.Fprintf(w, "   wrong password: %v\n", err)
	return nil
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(c int) { s.code = c; s.ResponseWriter.WriteHeader(c) }

func demoGet(c *http.Client, url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", errors.New(resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}
