package ntlm

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// clearFlag returns a tamper function that clears flag in the negotiate
// flags of one leg (NEGOTIATE at 12, CHALLENGE at 20, AUTHENTICATE at 60).
func clearFlag(leg int, flag uint32) func(int, []byte) []byte {
	at := map[int]int{1: 12, 2: 20, 3: 60}[leg]
	return func(l int, b []byte) []byte {
		if l != leg {
			return b
		}
		b = append([]byte(nil), b...)
		binary.LittleEndian.PutUint32(b[at:], binary.LittleEndian.Uint32(b[at:])&^flag)
		return b
	}
}

// TestServerRequires128: a client that asks for signing or sealing without
// NTLMSSP_NEGOTIATE_128 is refused with SEC_E_UNSUPPORTED_FUNCTION
// (MS-NLMP 3.2.5.1.1, ServerRequire128bitEncryption), unless the server
// allows weak sealing; a client asking for neither (curl) is not affected.
func TestServerRequires128(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint32
		allow bool
		want  sspi.Status
	}{
		{"56-bit seal", ntlmssp.NegotiateSign | ntlmssp.NegotiateSeal | ntlmssp.Negotiate56 | ntlmssp.NegotiateKeyExch, false, sspi.SEC_E_UNSUPPORTED_FUNCTION},
		{"40-bit sign", ntlmssp.NegotiateSign, false, sspi.SEC_E_UNSUPPORTED_FUNCTION},
		{"56-bit seal allowed", ntlmssp.NegotiateSign | ntlmssp.NegotiateSeal | ntlmssp.Negotiate56 | ntlmssp.NegotiateKeyExch, true, sspi.SEC_I_CONTINUE_NEEDED},
		{"no session security", ntlmssp.NegotiateAlwaysSign, false, sspi.SEC_I_CONTINUE_NEEDED},
		{"128-bit seal", ntlmssp.NegotiateSign | ntlmssp.NegotiateSeal | ntlmssp.Negotiate128 | ntlmssp.NegotiateKeyExch, false, sspi.SEC_I_CONTINUE_NEEDED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			neg := (&ntlmssp.NegotiateMessage{Flags: ntlmssp.NegotiateUnicode | ntlmssp.NegotiateNTLM | ntlmssp.RequestTarget | ntlmssp.NegotiateExtendedSessionSecurity | tc.flags}).Marshal()
			p := testPackage(Config{AllowWeakSealing: tc.allow})
			_, out, err := p.AcceptLsaModeContext(context.Background(), serverCred(t, p), nil, &secpkg.AcceptContextParams{Input: withCB(neg, nil)})
			got := out.Status
			if err != nil {
				got = status(err)
			}
			if got != tc.want {
				t.Fatalf("got %v (%v), want %v", got, err, tc.want)
			}
		})
	}
	// An AUTHENTICATE that drops NTLMSSP_NEGOTIATE_128 after a 128-bit
	// NEGOTIATE: NTLMv1 has no MIC to catch it, the policy does.
	v1 := func(allow bool) hsOpts {
		return hsOpts{
			client: testPackage(Config{AllowNTLMv1: true}),
			server: testPackage(Config{AllowNTLMv1: true, AllowWeakSealing: allow}),
			tamper: clearFlag(3, ntlmssp.Negotiate128),
		}
	}
	if _, _, err := runHandshake(t, v1(false)); status(err) != sspi.SEC_E_UNSUPPORTED_FUNCTION {
		t.Errorf("AUTHENTICATE without 128: got %v, want SEC_E_UNSUPPORTED_FUNCTION", err)
	}
	if _, s, err := runHandshake(t, v1(true)); err != nil {
		t.Errorf("AUTHENTICATE without 128, weak sealing allowed: %v", err)
	} else if f := mapped(t, s.out).s.flags; f&ntlmssp.Negotiate128 != 0 {
		t.Errorf("flags %#x", f)
	}
}

// TestClientRequires128: a server whose CHALLENGE drops
// NTLMSSP_NEGOTIATE_128 is refused by the client with
// SEC_E_UNSUPPORTED_FUNCTION (MS-NLMP 3.1.5.1.2,
// ClientRequire128bitEncryption), unless the client allows weak sealing.
func TestClientRequires128(t *testing.T) {
	for _, allow := range []bool{false, true} {
		srv := testPackage(Config{})
		cli := testPackage(Config{AllowWeakSealing: allow})
		ctx := context.Background()
		cred := clientCred(t, cli, &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: testPassword})
		cc, out, err := cli.InitLsaModeContext(ctx, cred, nil, &secpkg.InitContextParams{ContextReq: sspi.ISC_REQ_CONFIDENTIALITY})
		if err != nil {
			t.Fatal(err)
		}
		_, sout, err := srv.AcceptLsaModeContext(ctx, serverCred(t, srv), nil, &secpkg.AcceptContextParams{Input: withCB(out.Output[0].Buffer, nil)})
		if err != nil {
			t.Fatal(err)
		}
		chal := clearFlag(2, ntlmssp.Negotiate128)(2, sout.Output[0].Buffer)
		_, out, err = cli.InitLsaModeContext(ctx, cred, cc, &secpkg.InitContextParams{ContextReq: sspi.ISC_REQ_CONFIDENTIALITY, Input: withCB(chal, nil)})
		switch {
		case !allow && status(err) != sspi.SEC_E_UNSUPPORTED_FUNCTION:
			t.Errorf("CHALLENGE without 128: got %v, want SEC_E_UNSUPPORTED_FUNCTION", err)
		case allow && (err != nil || out.Status != sspi.SEC_E_OK):
			t.Errorf("CHALLENGE without 128, weak sealing allowed: %v %v", out.Status, err)
		}
	}
}
