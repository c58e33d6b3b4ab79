package gosspi_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// testTable is a host with the test package of internal/sspitest.
func testTable(t *testing.T) *gosspi.Host {
	host, err := gosspi.NewHost(gosspi.HostConfig{
		Packages:         []secpkg.LsaModePackage{sspitest.New(sspitest.Config{Accounts: map[string]string{"alice": "pw"}})},
		UserModePackages: []sspi.UserModePackage{sspitest.UserMode{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	return host
}

func pair(t *testing.T, tbl *gosspi.Host, pw string) (*gosspi.SecurityContext, *gosspi.SecurityContext, error) {
	ctx := context.Background()
	c, err := tbl.NewClient(ctx, gosspi.ClientConfig{Package: sspitest.Name, Target: "x", Identity: &gosspi.Identity{User: "alice", Password: pw}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := tbl.NewServer(ctx, gosspi.ServerConfig{Package: sspitest.Name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	tok, done, err := c.Step(ctx, nil)
	if done || err != nil || len(tok) == 0 {
		t.Fatalf("first step: %v %v", done, err)
	}
	for i := 0; i < 5; i++ {
		var sdone, cdone bool
		if tok, sdone, err = s.Step(ctx, tok); err != nil {
			return c, s, err
		}
		if len(tok) == 0 {
			if !sdone || !c.Established() {
				t.Fatalf("server produced no token but the handshake is not over")
			}
			return c, s, nil
		}
		if tok, cdone, err = c.Step(ctx, tok); err != nil {
			return c, s, err
		}
		if cdone && sdone && len(tok) == 0 {
			return c, s, nil
		}
	}
	t.Fatal("handshake did not finish")
	return nil, nil, nil
}

func TestStepWrapSignClose(t *testing.T) {
	tbl := testTable(t)
	c, s, err := pair(t, tbl, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Established() || !s.Established() {
		t.Fatal("not established")
	}
	if s.Package() != sspitest.Name {
		t.Errorf("Package = %q", s.Package())
	}
	if id, err := s.Identity(); err != nil || id.User != "alice" {
		t.Errorf("Identity = %+v %v", id, err)
	}
	ck, _ := c.SessionKey()
	sk, _ := s.SessionKey()
	if len(ck) == 0 || !bytes.Equal(ck, sk) {
		t.Error("session keys")
	}
	if c.Flags()&gosspi.FlagMutualAuth == 0 {
		t.Errorf("Flags = %v", c.Flags())
	}
	for _, m := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte("abc"), 5000)} {
		w, err := c.Wrap(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Unwrap(w)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("Unwrap: %v", err)
		}
		sig, err := s.Sign(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Verify(m, sig); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	w, _ := c.Wrap([]byte("tamper"))
	w[len(w)-1] ^= 0xff
	if _, err := s.Unwrap(w); !errors.Is(err, sspi.SEC_E_MESSAGE_ALTERED) {
		t.Errorf("tampered Unwrap = %v", err)
	}
	if _, err := c.WrapIntegrity([]byte("x")); !errors.Is(err, sspi.SEC_E_QOP_NOT_SUPPORTED) {
		t.Errorf("WrapIntegrity on a package without it = %v", err)
	}
	if out, done, err := c.Step(context.Background(), []byte("late")); out != nil || !done || err != nil {
		t.Errorf("Step after done = %v %v %v", out, done, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := c.Wrap([]byte("x")); !errors.Is(err, gosspi.ErrClosed) {
		t.Errorf("Wrap after Close = %v", err)
	}
}

func TestStepErrors(t *testing.T) {
	tbl := testTable(t)
	_, _, err := pair(t, tbl, "wrong")
	if !errors.Is(err, sspi.SEC_E_LOGON_DENIED) {
		t.Fatalf("err = %v", err)
	}
	var se *sspi.Error
	if !errors.As(err, &se) || se.Op != "AcceptSecurityContext" {
		t.Errorf("error = %#v", err)
	}
	c, err := tbl.NewClient(context.Background(), gosspi.ClientConfig{Package: "nope"})
	if !errors.Is(err, sspi.SEC_E_SECPKG_NOT_FOUND) || c != nil {
		t.Errorf("unknown package = %v", err)
	}
	cl, _ := tbl.NewClient(context.Background(), gosspi.ClientConfig{Package: sspitest.Name, Identity: &gosspi.Identity{User: "alice", Password: "pw"}})
	defer cl.Close()
	if _, err := cl.Wrap([]byte("x")); !errors.Is(err, sspi.SEC_E_INVALID_HANDLE) {
		t.Errorf("Wrap before the handshake = %v", err)
	}
}

// TestStepIncomplete: a token split across two reads is reassembled by
// Step (SEC_E_INCOMPLETE_MESSAGE, then the rest).
func TestStepIncomplete(t *testing.T) {
	tbl := testTable(t)
	ctx := context.Background()
	c, _ := tbl.NewClient(ctx, gosspi.ClientConfig{Package: sspitest.Name, Identity: &gosspi.Identity{User: "alice", Password: "pw"}})
	s, _ := tbl.NewServer(ctx, gosspi.ServerConfig{Package: sspitest.Name})
	defer c.Close()
	defer s.Close()
	hello, _, _ := c.Step(ctx, nil)
	if _, _, err := s.Step(ctx, hello[:7]); !errors.Is(err, sspi.SEC_E_INCOMPLETE_MESSAGE) {
		t.Fatalf("partial = %v", err)
	}
	chal, _, err := s.Step(ctx, hello[7:])
	if err != nil || len(chal) == 0 {
		t.Fatalf("rest = %v", err)
	}
}

// TestNegotiateFallsBackToNTLM: with no KDC and an IP-address target,
// Negotiate on both sides settles on NTLM through the standard host.
func TestNegotiateFallsBackToNTLM(t *testing.T) {
	t.Setenv("KRB5_CONFIG", t.TempDir()+"/none.conf")
	t.Setenv("KRB5CCNAME", "FILE:"+t.TempDir()+"/none")
	store := ntlm.NewMemoryStore()
	store.Add("CONTOSO", "alice", "pw")
	host, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: store}})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	pk, _ := host.SSPI().EnumerateSecurityPackages()
	if len(pk) != 3 || pk[0].Name != "Negotiate" {
		t.Fatalf("packages = %+v", pk)
	}
	ctx := context.Background()
	// The client on a host of its own: a host refuses to log its own NTLM
	// client on to itself (NTLM reflection).
	cliHost, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer cliHost.Close()
	c, err := cliHost.NewClient(ctx, gosspi.ClientConfig{Package: "Negotiate", Target: "HTTP/127.0.0.1",
		Identity: &gosspi.Identity{User: "alice", Domain: "CONTOSO", Password: "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := host.NewServer(ctx, gosspi.ServerConfig{Package: "Negotiate"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok, _, err := c.Step(ctx, nil)
	for i := 0; err == nil && !(c.Established() && s.Established()) && i < 6; i++ {
		if tok, _, err = s.Step(ctx, tok); err != nil || len(tok) == 0 {
			break
		}
		tok, _, err = c.Step(ctx, tok)
	}
	if err != nil || !c.Established() || !s.Established() {
		t.Fatalf("handshake: %v (client %v, server %v)", err, c.Established(), s.Established())
	}
	if c.Package() != "NTLM" || s.Package() != "NTLM" {
		t.Errorf("chosen package: client %q server %q", c.Package(), s.Package())
	}
	w, err := s.Wrap([]byte("over negotiate"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Unwrap(w); err != nil || string(got) != "over negotiate" {
		t.Fatalf("Unwrap: %q %v", got, err)
	}
}

// TestUnwrapLeavesTokenAlone: Unwrap decrypts a copy, never the caller's
// token, and Wrap's output is one token the peer reads whatever the
// package did with the padding buffer.
func TestUnwrapLeavesTokenAlone(t *testing.T) {
	store := ntlm.NewMemoryStore()
	store.Add("D", "u", "p")
	// One host logging on to itself: the reflection check is off for it.
	host, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: store}, AllowNTLMReflection: true})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	ctx := context.Background()
	for _, tbl := range []*gosspi.Host{testTable(t), host} {
		pkg, id := sspitest.Name, &gosspi.Identity{User: "alice", Password: "pw"}
		if tbl == host {
			pkg, id = "NTLM", &gosspi.Identity{User: "u", Domain: "D", Password: "p"}
		}
		c, _ := tbl.NewClient(ctx, gosspi.ClientConfig{Package: pkg, Target: "HTTP/x", Identity: id})
		s, _ := tbl.NewServer(ctx, gosspi.ServerConfig{Package: pkg})
		tok, _, err := c.Step(ctx, nil)
		for i := 0; err == nil && !(c.Established() && s.Established()) && i < 6; i++ {
			if tok, _, err = s.Step(ctx, tok); err != nil || len(tok) == 0 {
				break
			}
			tok, _, err = c.Step(ctx, tok)
		}
		if err != nil {
			t.Fatal(pkg, err)
		}
		w, err := c.Wrap([]byte("secret message"))
		if err != nil {
			t.Fatal(pkg, err)
		}
		orig := append([]byte(nil), w...)
		got, err := s.Unwrap(w)
		if err != nil || string(got) != "secret message" {
			t.Fatalf("%s: Unwrap = %q %v", pkg, got, err)
		}
		if !bytes.Equal(w, orig) {
			t.Errorf("%s: Unwrap modified the caller's token", pkg)
		}
		c.Close()
		s.Close()
	}
}
