package ntlm

import (
	"context"
	"crypto/subtle"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
)

// domainVerifier checks responses the way a DC does, for one account, so
// that the Verifier contract is tested without one (the tests against
// Samba's DC are in package netlogon and internal/adtest). It counts the
// calls: what the server refuses locally must never reach it.
type domainVerifier struct {
	calls atomic.Int32
	err   error // returned instead of checking, when set
	last  VerifyRequest
}

var dcGroups = []string{"S-1-5-21-1-2-3-513", "S-1-5-21-1-2-3-1111"}

func (v *domainVerifier) VerifyResponse(ctx context.Context, r *VerifyRequest) (*VerifiedLogon, error) {
	v.calls.Add(1)
	v.last = *r
	if v.err != nil {
		return nil, v.err
	}
	hash := ntlmssp.NTOWFv1(testPassword)
	nt := r.NTResponse
	var key [16]byte
	switch {
	case len(nt) == 24:
		_, want, sbk := ntlmssp.NTLMv1Response(hash, [16]byte{}, r.ServerChallenge, [8]byte{}, false)
		if subtle.ConstantTimeCompare(want, nt) != 1 {
			return nil, &sspi.Error{Status: sspi.SEC_E_LOGON_DENIED}
		}
		key = sbk
	case len(nt) > 48:
		rk := ntlmssp.NTOWFv2(hash, r.User, r.Domain)
		proof := ntlmssp.HMACMD5(rk[:], r.ServerChallenge[:], nt[16:])
		if subtle.ConstantTimeCompare(proof[:], nt[:16]) != 1 {
			return nil, &sspi.Error{Status: sspi.SEC_E_LOGON_DENIED, Detail: "wrong password"}
		}
		key = ntlmssp.HMACMD5(rk[:], proof[:])
	default:
		return nil, &sspi.Error{Status: sspi.SEC_E_INVALID_TOKEN}
	}
	return &VerifiedLogon{User: "Alice", Domain: "EXAMPLE", SID: "S-1-5-21-1-2-3-1103", Groups: dcGroups, SessionKey: key}, nil
}

type namedVerifier struct{ domainVerifier }

func (*namedVerifier) TargetNames() (string, string, string, string) {
	return "EXAMPLE", "WS1", "example.com", "ws1.example.com"
}

// TestVerifierLogon: an account the server does not hold is verified by
// the Verifier; the identity is its, the keys derived from its session key
// seal both ways (and verified the MIC).
func TestVerifierLogon(t *testing.T) {
	v := &domainVerifier{}
	c, s, err := runHandshake(t, hsOpts{server: New(Config{Verifier: v}), target: "HTTP/server.example.com",
		ai: &sspi.AuthIdentity{User: "ALICE", Domain: "example", Password: testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	cu, su := mapped(t, c.out), mapped(t, s.out)
	roundTrip(t, cu, su, "to the server")
	roundTrip(t, su, cu, "to the client")
	id, err := su.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if err != nil {
		t.Fatal(err)
	}
	got := id.(sspi.Identity)
	if got.Principal != `EXAMPLE\Alice` || got.SID != "S-1-5-21-1-2-3-1103" || !slices.Equal(got.Groups, dcGroups) {
		t.Errorf("identity %+v", got)
	}
	if v.last.User != "ALICE" || v.last.Domain != "example" || v.calls.Load() != 1 {
		t.Errorf("the verifier saw %+v (%d calls)", v.last, v.calls.Load())
	}
}

// TestVerifierBesideAccounts: Accounts first, the Verifier for the rest.
func TestVerifierBesideAccounts(t *testing.T) {
	v := &domainVerifier{}
	local := NewMemoryStore()
	local.Add("LOCAL", "bob", "bob's password")
	p := New(Config{Accounts: local, Verifier: v})
	if _, _, err := runHandshake(t, hsOpts{server: p, ai: &sspi.AuthIdentity{User: "bob", Domain: "LOCAL", Password: "bob's password"}}); err != nil {
		t.Fatal(err)
	}
	if v.calls.Load() != 0 {
		t.Error("a local account went to the verifier")
	}
	if _, _, err := runHandshake(t, hsOpts{server: p}); err != nil || v.calls.Load() != 1 {
		t.Fatalf("a domain account: %v, %d calls", err, v.calls.Load())
	}
}

// TestVerifierLocalChecksFirst: a stale timestamp or wrong channel
// bindings are refused by the server without asking the verifier.
func TestVerifierLocalChecksFirst(t *testing.T) {
	v := &domainVerifier{}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := at
	server := New(Config{Verifier: v, Now: func() time.Time { return now }})
	// The AUTHENTICATE arrives an hour after the CHALLENGE whose
	// timestamp the client echoes.
	late := func(leg int, b []byte) []byte {
		if leg == 3 {
			now = at.Add(time.Hour)
		}
		return b
	}
	if _, _, err := runHandshake(t, hsOpts{server: server, tamper: late}); !errors.Is(err, sspi.SEC_E_TIME_SKEW) {
		t.Errorf("stale timestamp: %v", err)
	}
	cb := &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:a")}
	other := &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:b")}
	if _, _, err := runHandshake(t, hsOpts{server: New(Config{Verifier: v}), clientCB: cb, serverCB: other}); !errors.Is(err, sspi.SEC_E_BAD_BINDINGS) {
		t.Errorf("wrong bindings: %v", err)
	}
	if n := v.calls.Load(); n != 0 {
		t.Errorf("%d verifier calls for logons refused locally", n)
	}
}

// TestVerifierErrors: the verifier's status reaches the caller; an error
// without one is SEC_E_NO_AUTHENTICATING_AUTHORITY.
func TestVerifierErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want sspi.Status
	}{
		{&sspi.Error{Status: sspi.SEC_E_LOGON_DENIED, Detail: "x"}, sspi.SEC_E_LOGON_DENIED},
		{&sspi.Error{Status: sspi.STATUS_ACCOUNT_DISABLED}, sspi.STATUS_ACCOUNT_DISABLED},
		{sspi.STATUS_PASSWORD_EXPIRED, sspi.STATUS_PASSWORD_EXPIRED},
		{errors.New("connection refused"), sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY},
		{context.DeadlineExceeded, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY},
	} {
		_, _, err := runHandshake(t, hsOpts{server: New(Config{Verifier: &domainVerifier{err: tc.err}})})
		if sspi.StatusOf(err) != tc.want {
			t.Errorf("%v: %v, want %v", tc.err, err, tc.want)
		}
	}
	// A wrong password: the verifier's refusal.
	_, _, err := runHandshake(t, hsOpts{server: New(Config{Verifier: &domainVerifier{}}),
		ai: &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: "wrong"}})
	if !errors.Is(err, sspi.SEC_E_LOGON_DENIED) {
		t.Errorf("wrong password: %v", err)
	}
}

// TestVerifierNTLMv1: with AllowNTLMv1 and NTLM2 session security, the
// verifier gets the session challenge, MD5(server || client
// challenge)[:8], and no LM response; the keys still match.
func TestVerifierNTLMv1(t *testing.T) {
	v := &ess1Verifier{}
	c, s, err := runHandshake(t, hsOpts{server: New(Config{Verifier: v, AllowNTLMv1: true}), client: New(Config{AllowNTLMv1: true})})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, mapped(t, c.out), mapped(t, s.out), "NTLMv1 with ESS")
	if len(v.last.LMResponse) != 0 {
		t.Errorf("LM response %x passed on", v.last.LMResponse)
	}
}

// ess1Verifier checks an NTLM2 session response given the session
// challenge, as a DC does.
type ess1Verifier struct{ domainVerifier }

func (v *ess1Verifier) VerifyResponse(ctx context.Context, r *VerifyRequest) (*VerifiedLogon, error) {
	v.last = *r
	hash := ntlmssp.NTOWFv1(testPassword)
	_, want, key := ntlmssp.NTLMv1Response(hash, [16]byte{}, r.ServerChallenge, [8]byte{}, false)
	if subtle.ConstantTimeCompare(want, r.NTResponse) != 1 {
		return nil, &sspi.Error{Status: sspi.SEC_E_LOGON_DENIED}
	}
	return &VerifiedLogon{User: testUser, Domain: testDomain, SessionKey: key}, nil
}

// TestVerifierNames: the CHALLENGE advertises the Verifier's names.
func TestVerifierNames(t *testing.T) {
	p := New(Config{Verifier: &namedVerifier{}})
	if p.cfg.NetBIOSDomain != "EXAMPLE" || p.cfg.NetBIOSComputer != "WS1" || p.cfg.DNSDomain != "example.com" || p.cfg.DNSComputer != "ws1.example.com" {
		t.Errorf("names %+v", p.cfg)
	}
	p = New(Config{Verifier: &namedVerifier{}, NetBIOSDomain: "MINE"})
	if p.cfg.NetBIOSDomain != "MINE" || p.cfg.NetBIOSComputer == "WS1" {
		t.Errorf("configured names overridden: %+v", p.cfg)
	}
}
