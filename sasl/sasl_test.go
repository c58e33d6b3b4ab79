package sasl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/ntlm"
)

// transcript is what one exchange sent, kept as fuzz seeds.
type transcript struct {
	messages [][]byte // challenges and responses, in order
	offer    []byte   // the GSSAPI offer's plaintext
	choice   []byte   // the GSSAPI choice's plaintext
}

// run drives c against s to the end, as a protocol would carry the
// messages, and returns both layers.
func run(t testing.TB, c *Client, s *Server) (*Security, *Security, *transcript) {
	t.Helper()
	ctx := context.Background()
	tr := &transcript{}
	resp, err := c.Start(ctx)
	if err != nil {
		t.Fatalf("client Start: %v", err)
	}
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("the exchange does not end")
		}
		tr.messages = append(tr.messages, resp)
		chal, done, err := s.Next(ctx, resp)
		if err != nil {
			t.Fatalf("server Next %d: %v", i, err)
		}
		tr.messages = append(tr.messages, chal)
		if done {
			if c.mech == GSSAPI {
				tr.offer = s.offer.marshal()
				tr.choice = negotiation{layers: c.layer, maxBuffer: c.maxRecv, authzID: c.authzID}.marshal()
			}
			csec, err := c.Finish(ctx, chal)
			if err != nil {
				t.Fatalf("client Finish: %v", err)
			}
			return csec, s.Security(), tr
		}
		if resp, err = c.Next(ctx, chal); err != nil {
			t.Fatalf("client Next %d: %v", i, err)
		}
	}
}

// realm is an MIT realm with alice and ldap/localhost, shared by the
// tests of this file.
type realm struct {
	r              *krbtest.Realm
	keytab, ccache string
}

var (
	realmOnce sync.Once
	theRealm  *realm
	realmErr  error
)

func mitRealm(t testing.TB) *realm {
	t.Helper()
	realmOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sasl-realm-")
		if err != nil {
			realmErr = err
			return
		}
		r, err := krbtest.Start(krbtest.Options{Dir: dir})
		if err != nil {
			realmErr = err
			return
		}
		kt, cc, err := r.UserAndService("alice", "alice-Secret-1", "ldap/localhost")
		theRealm, realmErr = &realm{r: r, keytab: kt, ccache: cc}, err
	})
	if realmErr != nil {
		t.Fatalf("MIT realm: %v", realmErr)
	}
	return theRealm
}

func TestMain(m *testing.M) {
	code := m.Run()
	if theRealm != nil {
		theRealm.r.Close()
		os.RemoveAll(theRealm.r.Dir)
	}
	os.Exit(code)
}

func newHost(t testing.TB, cfg gosspi.HostConfig) *gosspi.Host {
	t.Helper()
	h, err := gosspi.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// kerberosPair returns a GSSAPI client (alice's ticket) and server
// (ldap/localhost's keytab) on the MIT realm.
func kerberosPair(t testing.TB, mech string, clientLayers, serverLayers Layer) (*Client, *Server) {
	t.Helper()
	r := mitRealm(t)
	ch := newHost(t, gosspi.HostConfig{Kerberos: kerberos.Config{Krb5Conf: r.r.Krb5Con}})
	sh := newHost(t, gosspi.HostConfig{Kerberos: kerberos.Config{Krb5Conf: r.r.Krb5Con, Keytab: r.keytab}})
	ctx := context.Background()
	pkg := "Kerberos"
	if mech == GSSSPNEGO {
		pkg = "Negotiate"
	}
	c, err := NewClient(ctx, ch, ClientConfig{Mechanism: mech, Layers: clientLayers, Context: gosspi.ClientConfig{
		Package: pkg, Target: "ldap/localhost", Identity: &gosspi.Identity{Options: map[string]string{"ccache": "FILE:" + r.ccache}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := NewServer(ctx, sh, ServerConfig{Mechanism: mech, Layers: serverLayers, Context: gosspi.ServerConfig{Package: pkg}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c, s
}

// ntlmPair returns a GSS-SPNEGO client and server that negotiate NTLM.
func ntlmPair(t testing.TB, clientLayers, serverLayers Layer) (*Client, *Server) {
	t.Helper()
	accounts := ntlm.NewMemoryStore()
	accounts.Add("CONTOSO", "alice", "correct horse")
	sh := newHost(t, gosspi.HostConfig{NTLM: ntlm.Config{Accounts: accounts}})
	ch := newHost(t, gosspi.HostConfig{})
	ctx := context.Background()
	c, err := NewClient(ctx, ch, ClientConfig{Mechanism: GSSSPNEGO, Layers: clientLayers, Context: gosspi.ClientConfig{
		Package: "NTLM", Target: "ldap/server.contoso.com", Identity: &gosspi.Identity{User: `CONTOSO\alice`, Password: "correct horse"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := NewServer(ctx, sh, ServerConfig{Mechanism: GSSSPNEGO, Layers: serverLayers, Context: gosspi.ServerConfig{Package: "NTLM"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c, s
}

// talk sends messages both ways over a pipe carrying the two layers,
// including one larger than the peer's maximum buffer.
func talk(t testing.TB, csec, ssec *Security) (frames [][]byte) {
	t.Helper()
	a, b := net.Pipe()
	ca, cb := NewConn(a, csec), NewConn(b, ssec)
	defer ca.Close()
	defer cb.Close()
	big := bytes.Repeat([]byte("0123456789abcdef"), int(csec.MaxSend())/8+100)
	for _, msg := range [][]byte{[]byte("hello, server"), big} {
		errc := make(chan error, 1)
		go func() { _, err := ca.Write(msg); errc <- err }()
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(cb, got); err != nil {
			t.Fatalf("server read: %v", err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("client write: %v", err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("server read %d bytes, not what the client wrote", len(got))
		}
		go func() { _, err := cb.Write(msg); errc <- err }()
		if _, err := io.ReadFull(ca, got); err != nil {
			t.Fatalf("client read: %v", err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("server write: %v", err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatal("the client did not read what the server wrote")
		}
	}
	// One frame as it goes on the wire, for the fuzz seeds.
	tok, err := csec.Wrap([]byte("seed"))
	if err != nil {
		t.Fatal(err)
	}
	frame := append([]byte{0, 0, 0, 0}, tok...)
	frame[0], frame[1], frame[2], frame[3] = byte(len(tok)>>24), byte(len(tok)>>16), byte(len(tok)>>8), byte(len(tok))
	return [][]byte{frame}
}

func TestGSSAPIKerberos(t *testing.T) {
	cases := []struct {
		name           string
		client, server Layer
		want           Layer
	}{
		{"confidentiality", AllLayers, AllLayers, LayerConfidentiality},
		{"integrity", LayerIntegrity | LayerNone, AllLayers, LayerIntegrity},
		{"none", LayerNone, AllLayers, LayerNone},
		{"server requires integrity", AllLayers, LayerIntegrity, LayerIntegrity},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s := kerberosPair(t, GSSAPI, tc.client, tc.server)
			csec, ssec, tr := run(t, c, s)
			if csec.Layer() != tc.want || ssec.Layer() != tc.want {
				t.Fatalf("layers: client %v, server %v, want %v", csec.Layer(), ssec.Layer(), tc.want)
			}
			if tc.want != LayerNone && (csec.MaxSend() != DefaultMaxBuffer || ssec.MaxSend() != DefaultMaxBuffer) {
				t.Fatalf("max buffers: client sends %d, server sends %d", csec.MaxSend(), ssec.MaxSend())
			}
			id, err := ssec.Context().Identity()
			if err != nil || id.Principal != "alice@GOSSPI.TEST" {
				t.Fatalf("server sees %q, %v", id.Principal, err)
			}
			frames := talk(t, csec, ssec)
			if tc.name == "confidentiality" {
				record(t, "gssapi-kerberos", tr, frames)
			}
		})
	}
}

func TestGSSSPNEGO(t *testing.T) {
	cases := []struct {
		name           string
		kerberos       bool
		client, server Layer
		want           Layer
	}{
		{"NTLM sealing", false, AllLayers, AllLayers, LayerConfidentiality},
		// Integrity asked with GSS-SPNEGO is sealing got, for NTLM as an
		// AD DC runs it (flagsFor): the client negotiates SEAL.
		{"NTLM signing", false, LayerIntegrity, AllLayers, LayerConfidentiality},
		{"Kerberos sealing", true, AllLayers, AllLayers, LayerConfidentiality},
		// The acceptor decides, and gosspi's Kerberos initiator always
		// offers confidentiality (as MIT's does): integrity asked is
		// confidentiality got.
		{"Kerberos signing", true, LayerIntegrity | LayerConfidentiality, AllLayers, LayerConfidentiality},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c *Client
			var s *Server
			if tc.kerberos {
				c, s = kerberosPair(t, GSSSPNEGO, tc.client, tc.server)
			} else {
				c, s = ntlmPair(t, tc.client, tc.server)
			}
			csec, ssec, tr := run(t, c, s)
			if csec.Layer() != tc.want || ssec.Layer() != tc.want {
				t.Fatalf("layers: client %v, server %v, want %v", csec.Layer(), ssec.Layer(), tc.want)
			}
			frames := talk(t, csec, ssec)
			if tc.name == "NTLM sealing" {
				record(t, "gss-spnego-"+map[Layer]string{LayerConfidentiality: "ntlm-seal", LayerIntegrity: "ntlm-sign"}[tc.want], tr, frames)
			}
		})
	}
}

// TestRefusals: the refusals of the negotiation, each with its typed
// error.
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("no common layer", func(t *testing.T) {
		c, s := kerberosPair(t, GSSAPI, LayerNone, LayerIntegrity|LayerConfidentiality)
		resp, _ := c.Start(ctx)
		var err error
		for i := 0; i < 4 && err == nil; i++ {
			var chal []byte
			if chal, _, err = s.Next(ctx, resp); err != nil {
				t.Fatalf("server: %v", err)
			}
			resp, err = c.Next(ctx, chal)
		}
		var ne *NegotiationError
		if !errors.As(err, &ne) {
			t.Fatalf("client error %v, want a *NegotiationError", err)
		}
	})
	t.Run("server requires signing, SPNEGO client offers none", func(t *testing.T) {
		c, s := ntlmPair(t, LayerNone, LayerIntegrity|LayerConfidentiality)
		resp, _ := c.Start(ctx)
		var err error
		for i := 0; i < 4 && err == nil; i++ {
			var chal []byte
			var done bool
			if chal, done, err = s.Next(ctx, resp); err != nil || done {
				break
			}
			resp, err = c.Next(ctx, chal)
		}
		var ne *NegotiationError
		if !errors.As(err, &ne) {
			t.Fatalf("error %v, want a *NegotiationError from the server", err)
		}
	})
	for _, tc := range []struct {
		name     string
		kerberos bool
	}{{"NTLM", false}, {"Kerberos", true}} {
		// The context always signs: a client that accepts no layer (it
		// would over TLS) refuses it rather than desynchronize.
		t.Run("SPNEGO "+tc.name+" client wants no layer", func(t *testing.T) {
			var c *Client
			if tc.kerberos {
				c, _ = kerberosPair(t, GSSSPNEGO, LayerNone, AllLayers)
			} else {
				c, _ = ntlmPair(t, LayerNone, AllLayers)
			}
			_, s := ntlmPair(t, AllLayers, AllLayers)
			if tc.kerberos {
				_, s = kerberosPair(t, GSSSPNEGO, AllLayers, AllLayers)
			}
			resp, err := c.Start(ctx)
			for i := 0; i < 4 && err == nil; i++ {
				var chal []byte
				var done bool
				if chal, done, err = s.Next(ctx, resp); err != nil {
					t.Fatalf("server: %v", err)
				}
				if done {
					_, err = c.Finish(ctx, chal)
					break
				}
				resp, err = c.Next(ctx, chal)
			}
			var ne *NegotiationError
			if !errors.As(err, &ne) {
				t.Fatalf("error %v, want a *NegotiationError", err)
			}
		})
	}
	t.Run("a maximum buffer out of range", func(t *testing.T) {
		h := newHost(t, gosspi.HostConfig{})
		for _, mb := range []uint32{1, 255, 1 << 24} {
			var ne *NegotiationError
			if _, err := NewClient(ctx, h, ClientConfig{MaxBuffer: mb}); !errors.As(err, &ne) {
				t.Errorf("MaxBuffer %d: %v", mb, err)
			}
			if _, err := NewServer(ctx, h, ServerConfig{MaxBuffer: mb}); !errors.As(err, &ne) {
				t.Errorf("server MaxBuffer %d: %v", mb, err)
			}
		}
	})
	t.Run("success before the end", func(t *testing.T) {
		c, _ := kerberosPair(t, GSSAPI, AllLayers, AllLayers)
		if _, err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		var ne *NegotiationError
		if _, err := c.Finish(ctx, nil); !errors.As(err, &ne) {
			t.Fatalf("Finish before the end: %v", err)
		}
	})
	t.Run("a choice that was not offered", func(t *testing.T) {
		c, s := kerberosPair(t, GSSAPI, AllLayers, LayerIntegrity)
		resp, _ := c.Start(ctx)
		chal, _, err := s.Next(ctx, resp)
		for err == nil && s.state != serverChoice {
			if resp, err = c.Next(ctx, chal); err == nil {
				chal, _, err = s.Next(ctx, resp)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		// The client's context wraps a choice of confidentiality.
		tok, err := c.sc.WrapIntegrity(negotiation{layers: LayerConfidentiality, maxBuffer: 1000}.marshal())
		if err != nil {
			t.Fatal(err)
		}
		var ne *NegotiationError
		if _, _, err := s.Next(ctx, tok); !errors.As(err, &ne) {
			t.Fatalf("server accepted an unoffered layer: %v", err)
		}
	})
}

// record writes the exchange's messages and frames under testdata, the
// seeds of the fuzz targets, when SASL_RECORD is set.
func record(t testing.TB, name string, tr *transcript, frames [][]byte) {
	if os.Getenv("SASL_RECORD") == "" {
		return
	}
	for i, m := range tr.messages {
		writeSeed(t, "FuzzServerNext", name, i, m)
	}
	for i, f := range frames {
		writeSeed(t, "FuzzReadFrame", name, i, f)
	}
	if tr.offer != nil {
		writeSeed(t, "FuzzNegotiation", name+"-offer", 0, tr.offer)
		writeSeed(t, "FuzzNegotiation", name+"-choice", 0, tr.choice)
	}
}

func writeSeed(t testing.TB, target, name string, i int, b []byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
	if err := os.WriteFile(filepath.Join(dir, name+"-"+strconv.Itoa(i)), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAuthzID: the GSSAPI choice carries the authorization identity to
// the server's Authorize, which may refuse it; without Authorize only the
// client's own identity ("") passes.
func TestAuthzID(t *testing.T) {
	ctx := context.Background()
	r := mitRealm(t)
	ch := newHost(t, gosspi.HostConfig{Kerberos: kerberos.Config{Krb5Conf: r.r.Krb5Con}})
	sh := newHost(t, gosspi.HostConfig{Kerberos: kerberos.Config{Krb5Conf: r.r.Krb5Con, Keytab: r.keytab}})
	for _, tc := range []struct {
		name      string
		authz     string
		authorize func(gosspi.PeerIdentity, string) error
		ok        bool
	}{
		{"allowed", "u:bob", func(p gosspi.PeerIdentity, id string) error {
			if p.Principal == "alice@GOSSPI.TEST" && id == "u:bob" {
				return nil
			}
			return errors.New("no")
		}, true},
		{"refused", "u:bob", func(gosspi.PeerIdentity, string) error { return errors.New("alice may not act as bob") }, false},
		{"no Authorize", "u:bob", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(ctx, ch, ClientConfig{AuthzID: tc.authz, Context: gosspi.ClientConfig{Target: "ldap/localhost",
				Identity: &gosspi.Identity{Options: map[string]string{"ccache": "FILE:" + r.ccache}}}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := NewServer(ctx, sh, ServerConfig{Authorize: tc.authorize})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			resp, err := c.Start(ctx)
			var done bool
			for i := 0; err == nil && !done && i < 6; i++ {
				var chal []byte
				if chal, done, err = s.Next(ctx, resp); err == nil && !done {
					resp, err = c.Next(ctx, chal)
				}
			}
			if tc.ok != (err == nil && done) {
				t.Fatalf("done %v, err %v", done, err)
			}
			if tc.ok && s.AuthzID() != tc.authz {
				t.Fatalf("AuthzID %q", s.AuthzID())
			}
		})
	}
}
