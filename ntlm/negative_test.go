package ntlm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

func status(err error) sspi.Status { return sspi.StatusOf(err) }

// ntField returns the offset and length of the NtChallengeResponse.
func ntField(b []byte) (int, int) {
	return int(binary.LittleEndian.Uint32(b[24:])), int(binary.LittleEndian.Uint16(b[20:]))
}

// avOffset finds an AV pair's value inside the AUTHENTICATE's NTLMv2
// response.
func avOffset(t *testing.T, auth []byte, id uint16) int {
	off, _ := ntField(auth)
	p := off + 44
	for {
		aid := binary.LittleEndian.Uint16(auth[p:])
		n := int(binary.LittleEndian.Uint16(auth[p+2:]))
		if aid == id {
			return p + 4
		}
		if aid == ntlmssp.AvEOL {
			t.Fatalf("AV pair %d not found", id)
		}
		p += 4 + n
	}
}

func flip(leg, at int, f func(b []byte) int) func(int, []byte) []byte {
	return func(l int, b []byte) []byte {
		if l != leg {
			return b
		}
		b = append([]byte(nil), b...)
		b[f(b)+at] ^= 0x01
		return b
	}
}

func TestNegativeHandshake(t *testing.T) {
	cb := &sspi.ChannelBindings{ApplicationData: []byte("tls-unique:abcdefgh")}
	for _, tc := range []struct {
		name string
		o    hsOpts
		want sspi.Status
	}{
		{"wrong password", hsOpts{ai: &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: "wrong"}}, sspi.SEC_E_LOGON_DENIED},
		{"unknown user", hsOpts{ai: &sspi.AuthIdentity{User: "mallory", Domain: testDomain, Password: testPassword}}, sspi.SEC_E_LOGON_DENIED},
		{"tampered NTProofStr", hsOpts{tamper: flip(3, 3, func(b []byte) int { o, _ := ntField(b); return o })}, sspi.SEC_E_LOGON_DENIED},
		{"tampered client challenge blob", hsOpts{tamper: flip(3, 40, func(b []byte) int { o, _ := ntField(b); return o })}, sspi.SEC_E_LOGON_DENIED},
		{"tampered MIC", hsOpts{tamper: flip(3, ntlmssp.MICOffset+5, func([]byte) int { return 0 })}, sspi.SEC_E_MESSAGE_ALTERED},
		{"tampered NEGOTIATE (MIC covers it)", hsOpts{tamper: flip(1, 14, func([]byte) int { return 0 })}, sspi.SEC_E_MESSAGE_ALTERED},
		{"tampered channel bindings AV pair", hsOpts{clientCB: cb, serverCB: cb, tamper: func(l int, b []byte) []byte {
			if l != 3 {
				return b
			}
			b = append([]byte(nil), b...)
			b[avOffset(t, b, ntlmssp.AvChannelBindings)] ^= 1
			return b
		}}, sspi.SEC_E_LOGON_DENIED},
		{"other channel bindings", hsOpts{clientCB: cb, serverCB: &sspi.ChannelBindings{ApplicationData: []byte("tls-unique:other")}}, sspi.SEC_E_BAD_BINDINGS},
		{"tampered EncryptedRandomSessionKey", hsOpts{tamper: flip(3, 0, func(b []byte) int { return int(binary.LittleEndian.Uint32(b[56:])) })}, sspi.SEC_E_MESSAGE_ALTERED},
		{"stale timestamp", hsOpts{server: testPackage(Config{Now: slowHandshakeClock()})}, sspi.SEC_E_TIME_SKEW},
		{"wrong target name", hsOpts{target: "HTTP/evil.example.com", serverCfg: Config{ServicePrincipalNames: []string{"HTTP/server.example.com"}}}, sspi.SEC_E_BAD_BINDINGS},
		{"right target name", hsOpts{target: "http/SERVER.example.com", serverCfg: Config{ServicePrincipalNames: []string{"HTTP/server.example.com"}}}, sspi.SEC_E_OK},
		{"NTLMv1 not allowed", hsOpts{client: testPackage(Config{AllowNTLMv1: true})}, sspi.SEC_E_LOGON_DENIED},
		{"anonymous not allowed", hsOpts{ai: &sspi.AuthIdentity{}}, sspi.SEC_E_LOGON_DENIED},
		{"CHALLENGE instead of AUTHENTICATE", hsOpts{tamper: func(l int, b []byte) []byte {
			if l == 3 {
				return (&ntlmssp.ChallengeMessage{Flags: ntlmssp.NegotiateUnicode}).Marshal()
			}
			return b
		}}, sspi.SEC_E_INVALID_TOKEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runHandshake(t, tc.o)
			if got := status(err); got != tc.want {
				t.Fatalf("got %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

// TestUnknownUserLooksLikeWrongPassword: the same status and the same
// detail, so nothing tells the two apart.
func TestUnknownUserLooksLikeWrongPassword(t *testing.T) {
	_, _, e1 := runHandshake(t, hsOpts{ai: &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: "wrong"}})
	_, _, e2 := runHandshake(t, hsOpts{ai: &sspi.AuthIdentity{User: "nobody", Domain: testDomain, Password: "wrong"}})
	if e1 == nil || e2 == nil || e1.Error() != e2.Error() {
		t.Fatalf("%v vs %v", e1, e2)
	}
}

func TestRequireMIC(t *testing.T) {
	// curl's recorded AUTHENTICATE has no MIC: a server requiring one
	// refuses it.
	tr := loadTranscript(t, "curl.json")
	p := testPackage(fixedConfig(t, tr, Config{RequireMIC: true}))
	cred := serverCred(t, p)
	ctx, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: withCB(b64d(t, tr.Tokens[0]), nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.AcceptLsaModeContext(context.Background(), cred, ctx, &secpkg.AcceptContextParams{Input: withCB(b64d(t, tr.Tokens[2]), nil)})
	if status(err) != sspi.SEC_E_LOGON_DENIED {
		t.Fatalf("got %v", err)
	}
}

func established(t *testing.T) (*UserContext, *UserContext) {
	c, s, err := runHandshake(t, hsOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return mapped(t, c.out), mapped(t, s.out)
}

func TestNegativeMessages(t *testing.T) {
	cu, su := established(t)
	seal := func(text string) *sspi.SecBufferDesc {
		d := sealDesc([]byte(text))
		if err := cu.SealMessage(0, d, 0); err != nil {
			t.Fatal(err)
		}
		return d
	}
	clone := func(d *sspi.SecBufferDesc) *sspi.SecBufferDesc { return d.Clone() }
	m1, m2 := seal("first"), seal("second")

	// Altered ciphertext, altered checksum, bad version, short signature.
	for name, f := range map[string]func(d *sspi.SecBufferDesc){
		"ciphertext": func(d *sspi.SecBufferDesc) { d.Buffers[1].Buffer[0] ^= 1 },
		"checksum":   func(d *sspi.SecBufferDesc) { d.Buffers[0].Buffer[6] ^= 1 },
		"version":    func(d *sspi.SecBufferDesc) { d.Buffers[0].Buffer[0] = 2 },
		"short":      func(d *sspi.SecBufferDesc) { d.Buffers[0].Buffer = d.Buffers[0].Buffer[:15] },
	} {
		d := clone(m1)
		f(d)
		if _, err := su.UnsealMessage(d, 0); status(err) != sspi.SEC_E_MESSAGE_ALTERED {
			t.Errorf("%s: got %v", name, err)
		}
	}
	// Reordered: the second message first.
	if _, err := su.UnsealMessage(clone(m2), 0); status(err) != sspi.SEC_E_OUT_OF_SEQUENCE {
		t.Errorf("reordered: got %v", err)
	}
	// The failures did not desynchronise the context.
	d := clone(m1)
	if _, err := su.UnsealMessage(d, 0); err != nil || string(d.Buffers[1].Buffer) != "first" {
		t.Fatalf("first after failures: %v %q", err, d.Buffers[1].Buffer)
	}
	// Replayed.
	if _, err := su.UnsealMessage(clone(m1), 0); status(err) != sspi.SEC_E_OUT_OF_SEQUENCE {
		t.Errorf("replayed: got %v", err)
	}
	if _, err := su.UnsealMessage(clone(m2), 0); err != nil {
		t.Fatalf("second: %v", err)
	}
	// Signatures: altered data, replay.
	sig := sealDesc([]byte("signed"))
	if err := cu.MakeSignature(0, sig, 0); err != nil {
		t.Fatal(err)
	}
	bad := clone(sig)
	bad.Buffers[1].Buffer[0] ^= 1
	if _, err := su.VerifySignature(bad, 0); status(err) != sspi.SEC_E_MESSAGE_ALTERED {
		t.Errorf("altered signed data: %v", err)
	}
	if _, err := su.VerifySignature(clone(sig), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := su.VerifySignature(clone(sig), 0); status(err) != sspi.SEC_E_OUT_OF_SEQUENCE {
		t.Errorf("replayed signature: %v", err)
	}
	// A message sealed by the server cannot be fed back to it (reflection):
	// the directions have different keys.
	r := sealDesc([]byte("reflect"))
	if err := su.SealMessage(0, r, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := su.UnsealMessage(r, 0); status(err) == sspi.SEC_E_OK {
		t.Error("reflected message accepted")
	}
	// Missing buffers, bad QOP, a short stream.
	if err := cu.SealMessage(0, sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA}), 0); status(err) != sspi.SEC_E_INVALID_TOKEN {
		t.Errorf("no token buffer: %v", err)
	}
	if err := cu.SealMessage(sspi.SECQOP_WRAP_NO_ENCRYPT, sealDesc([]byte("x")), 0); status(err) != sspi.SEC_E_QOP_NOT_SUPPORTED {
		t.Errorf("qop: %v", err)
	}
	short := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: make([]byte, 10)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
	if _, err := su.UnsealMessage(short, 0); status(err) != sspi.SEC_E_INCOMPLETE_MESSAGE {
		t.Errorf("short stream: %v", err)
	}
	if _, err := UserMode().InitUserModeContext([]byte("GSCD\x01garbage")); status(err) != sspi.SEC_E_INVALID_TOKEN {
		t.Errorf("bad context data: %v", err)
	}
}

func negotiate32() []byte {
	b := make([]byte, 32)
	copy(b, ntlmssp.Signature)
	b[8] = 1
	binary.LittleEndian.PutUint32(b[12:], ntlmssp.NegotiateUnicode|ntlmssp.NegotiateNTLM|ntlmssp.NegotiateVersion|ntlmssp.RequestTarget)
	return b
}

func TestNegotiateWithoutVersion(t *testing.T) {
	m, err := ntlmssp.ParseNegotiate(negotiate32())
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != nil || m.Flags&ntlmssp.NegotiateVersion == 0 {
		t.Fatalf("%+v", m)
	}
	p := testPackage(Config{})
	_, out, err := p.AcceptLsaModeContext(context.Background(), serverCred(t, p), nil, &secpkg.AcceptContextParams{Input: withCB(negotiate32(), nil)})
	if err != nil || out.Status != sspi.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("%v %v", out.Status, err)
	}
}

func TestMalformedMessages(t *testing.T) {
	c, _, err := runHandshake(t, hsOpts{})
	if err != nil {
		t.Fatal(err)
	}
	_ = c
	// A real AUTHENTICATE to mutate.
	var auth, chal []byte
	runHandshake(t, hsOpts{tamper: func(l int, b []byte) []byte {
		switch l {
		case 2:
			chal = append([]byte(nil), b...)
		case 3:
			auth = append([]byte(nil), b...)
		}
		return b
	}})
	set32 := func(b []byte, at int, v uint32) []byte {
		b = append([]byte(nil), b...)
		binary.LittleEndian.PutUint32(b[at:], v)
		return b
	}
	set16 := func(b []byte, at int, v uint16) []byte {
		b = append([]byte(nil), b...)
		binary.LittleEndian.PutUint16(b[at:], v)
		return b
	}
	ntOff, _ := ntField(auth)
	for _, tc := range []struct {
		name string
		msg  []byte
		want sspi.Status
	}{
		{"truncated header", auth[:40], sspi.SEC_E_INCOMPLETE_MESSAGE},
		{"truncated payload", auth[:len(auth)-10], sspi.SEC_E_INCOMPLETE_MESSAGE},
		{"oversized", append(append([]byte(nil), auth...), make([]byte, ntlmssp.MaxMessage)...), sspi.SEC_E_INVALID_TOKEN},
		{"bad signature", append([]byte("NTLMSSQ\x00"), auth[8:]...), sspi.SEC_E_INVALID_TOKEN},
		{"wrong type", set32(auth, 8, 2), sspi.SEC_E_INVALID_TOKEN},
		{"offset inside header", set32(auth, 24, 20), sspi.SEC_E_INVALID_TOKEN},
		{"offset past any message", set32(auth, 24, 0xFFFFFF00), sspi.SEC_E_INVALID_TOKEN},
		{"overlapping fields", set32(auth, 24, uint32(ntOff-8)), sspi.SEC_E_INVALID_TOKEN},
		{"odd UTF-16 user name", set16(set16(auth, 36, 3), 38, 3), sspi.SEC_E_INVALID_TOKEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, perr := ntlmssp.ParseAuthenticate(tc.msg)
			if got := status(perr); got != tc.want {
				t.Errorf("ParseAuthenticate: got %v (%v), want %v", got, perr, tc.want)
			}
			// And through the package, on a server context waiting for it.
			p := testPackage(Config{})
			cred := serverCred(t, p)
			ctx, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: withCB(negotiate32(), nil)})
			if err != nil {
				t.Fatal(err)
			}
			_, out, err := p.AcceptLsaModeContext(context.Background(), cred, ctx, &secpkg.AcceptContextParams{Input: withCB(tc.msg, nil)})
			if got := status(err); got != tc.want {
				t.Errorf("AcceptLsaModeContext: got %v (%v), want %v", got, err, tc.want)
			}
			if tc.want == sspi.SEC_E_INCOMPLETE_MESSAGE && out.Missing <= 0 {
				t.Errorf("no SECBUFFER_MISSING hint")
			}
		})
	}
	// CHALLENGE and NEGOTIATE parsers.
	if _, err := ntlmssp.ParseChallenge(chal[:20]); status(err) != sspi.SEC_E_INCOMPLETE_MESSAGE {
		t.Errorf("short CHALLENGE: %v", err)
	}
	badTI := append([]byte(nil), chal...)
	badTI[len(badTI)-4] = 7 // EOL becomes a timestamp running off the end
	if _, err := ntlmssp.ParseChallenge(badTI); status(err) != sspi.SEC_E_INVALID_TOKEN {
		t.Errorf("bad TargetInfo: %v", err)
	}
	if _, err := ntlmssp.ParseNegotiate(negotiate32()[:31]); status(err) != sspi.SEC_E_INCOMPLETE_MESSAGE {
		t.Errorf("31-byte NEGOTIATE: %v", err)
	}
	if _, err := ntlmssp.ParseAvPairs([]byte{6, 0, 3, 0, 0, 0, 0, 0, 0, 0}); status(err) != sspi.SEC_E_INVALID_TOKEN {
		t.Errorf("MsvAvFlags of 3 bytes: %v", err)
	}
	if _, err := ntlmssp.ParseAvPairs([]byte{1, 0, 2, 0, 'a', 0, 1, 0, 2, 0, 'b', 0, 0, 0, 0, 0}); status(err) != sspi.SEC_E_INVALID_TOKEN {
		t.Errorf("repeated AV pair: %v", err)
	}
	if !errors.Is(&ntlmssp.IncompleteError{Missing: 1}, sspi.SEC_E_INCOMPLETE_MESSAGE) {
		t.Error("IncompleteError does not unwrap")
	}
	_ = bytes.Equal
}

// slowHandshakeClock is a server clock on which an hour passes between the
// CHALLENGE and the AUTHENTICATE.
func slowHandshakeClock() func() time.Time {
	var mu sync.Mutex
	calls := 0
	base := time.Now()
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return base
		}
		return base.Add(time.Hour)
	}
}
