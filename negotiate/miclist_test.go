package negotiate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// stripMechListMIC removes the mechListMIC from a NegTokenResp.
func stripMechListMIC(t testing.TB, b []byte) ([]byte, bool) {
	t.Helper()
	_, resp, err := spnego.ParseToken(b)
	if err != nil || resp == nil || resp.MechListMIC == nil {
		return b, false
	}
	resp.MechListMIC = nil
	out, err := resp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out, true
}

// TestStrippedMechListMIC is the attack on "new SPNEGO": NTLM is the
// initiator's first (only) mechanism, so the mechanism list alone does not
// call for a mechListMIC, but the initiator's NTLM AUTHENTICATE carries a
// MIC (MsvAvFlags 0x2). An attacker who strips the initiator's mechListMIC
// from the last NegTokenResp must get SEC_E_DOWNGRADE_DETECTED (MS-SPNG
// 3.2.5.1, 3.3.5.1; Windows and Samba demand it).
func TestStrippedMechListMIC(t *testing.T) {
	now, seed := newSeed("strip-mic")
	cli, srv := ntlmNego(t, now, seed), ntlmNego(t, now, append([]byte{1}, seed...))
	h := &hs{cli: cli, srv: srv, target: "HTTP/host.example.com", creq: sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY,
		ccred: acquire(t, cli, sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPass}),
		scred: acquire(t, srv, sspi.SECPKG_CRED_INBOUND, nil)}
	stripped := false
	h.tamper = func(leg int, b []byte) []byte {
		if leg == 2 { // the initiator's AUTHENTICATE and mechListMIC
			b, stripped = stripMechListMIC(t, b)
		}
		return b
	}
	err := h.run()
	if !stripped {
		t.Fatalf("no mechListMIC to strip (legs %d, %v)", len(h.legs), err)
	}
	var se *sideError
	if !errors.As(err, &se) || se.side != "server" || !errors.Is(err, sspi.SEC_E_DOWNGRADE_DETECTED) {
		t.Fatalf("stripped mechListMIC: got %v, want the acceptor's SEC_E_DOWNGRADE_DETECTED", err)
	}
	if r := parseResp(t, tok(h.sout)); r.NegState != spnego.Reject {
		t.Errorf("no reject token: %+v", r)
	}
}

// TestStrippedMechListMICRecorded strips the mechListMIC from MIT's real
// initiator tokens (SPNEGO with gss-ntlmssp, offering NTLM alone) in the
// recorded exchange: the acceptor that accepted the recording refuses it.
func TestStrippedMechListMICRecorded(t *testing.T) {
	tr := loadTranscript(t, "mit-ntlm-gosspi-server.json")
	at, err := time.Parse(time.RFC3339, tr.Time)
	if err != nil {
		t.Fatal(err)
	}
	legs := legBytes(t, tr)
	for _, strip := range []bool{false, true} {
		n := ntlmNego(t, testutil.PinClock(t, at)(), unhex(t, tr.Seed))
		cred, _, err := n.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND})
		if err != nil {
			t.Fatal(err)
		}
		accept := func(lc secpkg.LsaContext, in []byte) (secpkg.LsaContext, secpkg.ContextOutput, error) {
			return n.AcceptLsaModeContext(context.Background(), cred, lc, &secpkg.AcceptContextParams{Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: in})})
		}
		lc, _, err := accept(nil, legs[0])
		if err != nil {
			t.Fatal(err)
		}
		last := legs[2]
		if strip {
			var ok bool
			if last, ok = stripMechListMIC(t, last); !ok {
				t.Fatal("the recorded initiator sent no mechListMIC")
			}
		}
		_, out, err := accept(lc, last)
		switch {
		case !strip && (err != nil || out.Status != sspi.SEC_E_OK):
			t.Fatalf("recorded exchange: %v %v", out.Status, err)
		case strip && !errors.Is(err, sspi.SEC_E_DOWNGRADE_DETECTED):
			t.Fatalf("MIT's tokens without the mechListMIC: got %v %v, want SEC_E_DOWNGRADE_DETECTED", out.Status, err)
		}
	}
}

// TestInteropStrippedMechListMIC does the same against the live MIT
// initiator, offering NTLM alone.
func TestInteropStrippedMechListMIC(t *testing.T) {
	now, seed := newSeed("strip-mic-live")
	n := ntlmNego(t, now, seed)
	p := startSPNEGOPeer(t, ntlmPeerEnv(t), "client", "--mechs", "ntlm", "--user", ntlmDomain+`\`+ntlmUser, "--password", ntlmPass)
	stripped := false
	x := &tamperPeer{tokenExchanger: &livePeer{p: p, tolerate: true}, edit: func(i int, b []byte) []byte {
		if i == 1 {
			b, stripped = stripMechListMIC(t, b)
		}
		return b
	}}
	var legs []string
	_, err := runOurSideErr(t, n, false, "", x, &legs)
	if !stripped {
		t.Fatalf("MIT sent no mechListMIC to strip (%v)", err)
	}
	if !errors.Is(err, sspi.SEC_E_DOWNGRADE_DETECTED) {
		t.Fatalf("stripped mechListMIC: got %v, want SEC_E_DOWNGRADE_DETECTED", err)
	}
}
