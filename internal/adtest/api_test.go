//go:build linux

package adtest

// The one place these tests use gosspi's public API, as an application
// would: a Host with a Kerberos configuration, a client and a server
// context, Step until done. The main line is renaming parts of that API;
// adapt this file and the tests stay as they are.

import (
	"context"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/sspi"
)

// newHost starts a gosspi host with this Kerberos configuration and closes
// it when the test ends.
func newHost(t testing.TB, cfg kerberos.Config) *gosspi.Host {
	t.Helper()
	h, err := gosspi.NewHost(gosspi.HostConfig{Kerberos: cfg})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// newClient makes a Kerberos client context for target with a password
// or keytab identity; the error is the credential's (the AS exchange).
func newClient(t testing.TB, h *gosspi.Host, id *gosspi.Identity, target string) (*gosspi.SecurityContext, error) {
	t.Helper()
	return newClientOf(t, h, "Kerberos", id, target)
}

// newClientOf is newClient for another package (Negotiate).
func newClientOf(t testing.TB, h *gosspi.Host, pkg string, id *gosspi.Identity, target string) (*gosspi.SecurityContext, error) {
	t.Helper()
	c, err := h.NewClient(context.Background(), gosspi.ClientConfig{Package: pkg, Target: target, Identity: id})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// newServer makes a Kerberos server context for the host's keytab.
func newServer(t testing.TB, h *gosspi.Host) *gosspi.SecurityContext {
	t.Helper()
	return newServerOf(t, h, "Kerberos")
}

// newServerOf is newServer for another package (Negotiate).
func newServerOf(t testing.TB, h *gosspi.Host, pkg string) *gosspi.SecurityContext {
	t.Helper()
	s, err := h.NewServer(context.Background(), gosspi.ServerConfig{Package: pkg})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// step is one Step of a context.
func step(c *gosspi.SecurityContext, in []byte) ([]byte, bool, error) {
	return c.Step(context.Background(), in)
}

// exchange runs client against server to the end and returns the tokens:
// the AP-REQ the client sent and the AP-REP the server answered.
func exchange(t testing.TB, client, server *gosspi.SecurityContext) (apReq, apRep []byte) {
	t.Helper()
	tok, cdone, err := step(client, nil)
	if err != nil {
		t.Fatalf("client Step 1: %v", err)
	}
	apReq = tok
	for i := 0; i < 4; i++ {
		out, sdone, err := step(server, tok)
		if err != nil {
			t.Fatalf("server Step: %v", err)
		}
		if apRep == nil {
			apRep = out
		}
		if sdone && cdone {
			return apReq, apRep
		}
		if cdone {
			if len(out) != 0 {
				t.Fatalf("server sent a token after the client finished")
			}
			return apReq, apRep
		}
		tok, cdone, err = step(client, out)
		if err != nil {
			t.Fatalf("client Step: %v", err)
		}
		if cdone && sdone && len(tok) == 0 {
			return apReq, apRep
		}
	}
	t.Fatal("handshake did not finish")
	return nil, nil
}

// identity is what the server context says of its client.
func identity(t testing.TB, server *gosspi.SecurityContext) sspi.Identity {
	t.Helper()
	id, err := server.Identity()
	if err != nil {
		t.Fatalf("Identity: %v", err)
	}
	return id
}

// mutual reports whether the client context has mutual authentication.
func mutual(c *gosspi.SecurityContext) bool { return c.Flags()&gosspi.FlagMutualAuth != 0 }

// roundTrip wraps a message on one side and unwraps it on the other.
func roundTrip(t testing.TB, from, to *gosspi.SecurityContext, msg string) {
	t.Helper()
	w, err := from.Wrap([]byte(msg))
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	got, err := to.Unwrap(w)
	if err != nil || string(got) != msg {
		t.Fatalf("Unwrap = %q, %v", got, err)
	}
}

func password(user, pw string) *gosspi.Identity {
	return &gosspi.Identity{User: user, Password: pw}
}

func clientKeytab(user, path string) *gosspi.Identity {
	return &gosspi.Identity{User: user, Options: map[string]string{"client_keytab": path}}
}

// hostT is a gosspi host; idT an identity for a client credential.
type (
	hostT struct{ *gosspi.Host }
	idT   = *gosspi.Identity
)

// ccacheID is the identity of an MIT credential cache (FILE:).
func ccacheID(path string) idT {
	return &gosspi.Identity{Options: map[string]string{"ccache": "FILE:" + path}}
}

// clientName is SECPKG_ATTR_NAMES of a server context: the client's name
// as Windows applications read it.
func clientName(t testing.TB, host *gosspi.Host, server *gosspi.SecurityContext) string {
	t.Helper()
	var n sspi.SecPkgContextNames
	h := server.Handle()
	if st := host.SSPI().QueryContextAttributes(&h, sspi.SECPKG_ATTR_NAMES, &n); st.Failed() {
		t.Fatalf("SECPKG_ATTR_NAMES: %v", st)
	}
	return n.UserName
}
