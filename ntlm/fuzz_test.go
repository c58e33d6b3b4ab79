package ntlm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Fuzz targets for every parser of wire data. Their seed corpora under
// testdata/fuzz/ come from real tokens: the gss-ntlmssp and curl
// transcripts and the MS-NLMP 4.2 messages (regenerate with
// go test ./ntlm -run TestWriteFuzzCorpus -record).

// realTokens returns the recorded tokens of one message type.
func realTokens(t testing.TB, typ uint32) [][]byte {
	var out [][]byte
	files, _ := filepath.Glob("testdata/*.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tr transcript
		if err := json.Unmarshal(b, &tr); err != nil {
			t.Fatal(err)
		}
		for _, s := range tr.Tokens {
			if tok := b64d(t, s); ntlmssp.MessageType(tok) == typ {
				out = append(out, tok)
			}
		}
	}
	switch typ {
	case ntlmssp.MsgNegotiate:
		out = append(out, negotiate32())
	case ntlmssp.MsgChallenge:
		out = append(out, unhex(t, katChallengeV1), unhex(t, katChallengeV2))
	case ntlmssp.MsgAuthenticate:
		out = append(out, unhex(t, katAuthenticateV1), unhex(t, katAuthenticateV2))
	}
	return out
}

func FuzzParseNegotiate(f *testing.F) {
	for _, s := range realTokens(f, ntlmssp.MsgNegotiate) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ntlmssp.ParseNegotiate(b)
		if err != nil {
			return
		}
		m2, err := ntlmssp.ParseNegotiate(m.Marshal())
		if err != nil || m2.Flags&^(ntlmssp.NegotiateOEMDomainSupplied|ntlmssp.NegotiateOEMWorkstationSupplied|ntlmssp.NegotiateVersion) !=
			m.Flags&^(ntlmssp.NegotiateOEMDomainSupplied|ntlmssp.NegotiateOEMWorkstationSupplied|ntlmssp.NegotiateVersion) ||
			m2.Domain != m.Domain || m2.Workstation != m.Workstation {
			t.Fatalf("round trip: %+v -> %+v (%v)", m, m2, err)
		}
	})
}

func FuzzParseChallenge(f *testing.F) {
	for _, s := range realTokens(f, ntlmssp.MsgChallenge) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ntlmssp.ParseChallenge(b)
		if err != nil {
			return
		}
		m2, err := ntlmssp.ParseChallenge(m.Marshal())
		if err != nil || m2.Flags != m.Flags || m2.ServerChallenge != m.ServerChallenge ||
			!bytes.Equal(m2.TargetInfo, m.TargetInfo) || !reflect.DeepEqual(m2.Version, m.Version) {
			t.Fatalf("round trip: %+v -> %+v (%v)", m, m2, err)
		}
	})
}

func FuzzParseAuthenticate(f *testing.F) {
	for _, s := range realTokens(f, ntlmssp.MsgAuthenticate) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ntlmssp.ParseAuthenticate(b)
		if err != nil {
			return
		}
		if m.HasMIC && m.Version == nil {
			t.Fatal("MIC without ntlmssp.Version")
		}
		m2, err := ntlmssp.ParseAuthenticate(m.Marshal())
		if err != nil || m2.User != m.User || m2.Domain != m.Domain || m2.Workstation != m.Workstation ||
			!bytes.Equal(m2.NtChallengeResponse, m.NtChallengeResponse) ||
			!bytes.Equal(m2.LmChallengeResponse, m.LmChallengeResponse) ||
			!bytes.Equal(m2.EncryptedRandomSessionKey, m.EncryptedRandomSessionKey) {
			t.Fatalf("round trip: %+v -> %+v (%v)", m, m2, err)
		}
	})
}

func FuzzParseAvPairs(f *testing.F) {
	for _, s := range realTokens(f, ntlmssp.MsgChallenge) {
		if m, err := ntlmssp.ParseChallenge(s); err == nil && len(m.TargetInfo) > 0 {
			f.Add(m.TargetInfo)
		}
	}
	for _, s := range realTokens(f, ntlmssp.MsgAuthenticate) {
		if m, err := ntlmssp.ParseAuthenticate(s); err == nil && len(m.NtChallengeResponse) > 44 {
			f.Add(m.NtChallengeResponse[44:])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		av, err := ntlmssp.ParseAvPairs(b)
		if err != nil {
			return
		}
		av2, err := ntlmssp.ParseAvPairs(av.Marshal())
		if err != nil || len(av2) != len(av) {
			t.Fatalf("round trip: %v -> %v (%v)", av, av2, err)
		}
	})
}

// fuzzContext is a fixed pair of contexts whose server half unseals.
func fuzzSealers() (client, server *sealer) {
	flags := ntlmssp.Negotiate128 | ntlmssp.Negotiate56 | ntlmssp.NegotiateKeyExch | ntlmssp.NegotiateExtendedSessionSecurity | ntlmssp.NegotiateSign | ntlmssp.NegotiateSeal
	return newSealer(flags, katRandomSession, true, 0, 0, 0, 0), newSealer(flags, katRandomSession, false, 0, 0, 0, 0)
}

func realWraps(t testing.TB) [][]byte {
	c, _ := fuzzSealers()
	var out [][]byte
	for _, text := range []string{"", "Plaintext", "a longer message sealed by the client"} {
		d := sealDesc([]byte(text))
		if err := c.seal(d); err != nil {
			t.Fatal(err)
		}
		out = append(out, append(append([]byte(nil), d.Buffers[0].Buffer...), d.Buffers[1].Buffer...))
	}
	files, _ := filepath.Glob("testdata/gss-*.json")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var tr transcript
		_ = json.Unmarshal(b, &tr)
		out = append(out, b64d(t, tr.PeerWrap), b64d(t, tr.OurWrap))
	}
	return out
}

func FuzzUnseal(f *testing.F) {
	for _, w := range realWraps(f) {
		f.Add(w)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, s := fuzzSealers()
		d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: append([]byte(nil), b...)},
			sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
		err := s.unseal(d)
		if err == nil {
			return
		}
		switch sspi.StatusOf(err) {
		case sspi.SEC_E_MESSAGE_ALTERED, sspi.SEC_E_OUT_OF_SEQUENCE, sspi.SEC_E_INCOMPLETE_MESSAGE:
		default:
			t.Fatalf("unexpected status %v", err)
		}
		// A failure leaves the context usable: a genuine first message
		// still unseals.
		c, _ := fuzzSealers()
		g := sealDesc([]byte("genuine"))
		_ = c.seal(g)
		if err := s.unseal(g); err != nil || string(g.Buffers[1].Buffer) != "genuine" {
			t.Fatalf("context desynchronised: %v", err)
		}
	})
}

// TestWriteFuzzCorpus writes the seed corpora (with -record).
func TestWriteFuzzCorpus(t *testing.T) {
	if !*record {
		t.Skip("writes testdata/fuzz with -record")
	}
	avs := [][]byte{}
	for _, s := range realTokens(t, ntlmssp.MsgChallenge) {
		if m, err := ntlmssp.ParseChallenge(s); err == nil && len(m.TargetInfo) > 0 {
			avs = append(avs, m.TargetInfo)
		}
	}
	for _, s := range realTokens(t, ntlmssp.MsgAuthenticate) {
		if m, err := ntlmssp.ParseAuthenticate(s); err == nil && len(m.NtChallengeResponse) > 44 {
			avs = append(avs, m.NtChallengeResponse[44:])
		}
	}
	for name, seeds := range map[string][][]byte{
		"FuzzParseNegotiate":    realTokens(t, ntlmssp.MsgNegotiate),
		"FuzzParseChallenge":    realTokens(t, ntlmssp.MsgChallenge),
		"FuzzParseAuthenticate": realTokens(t, ntlmssp.MsgAuthenticate),
		"FuzzParseAvPairs":      avs,
		"FuzzUnseal":            realWraps(t),
		"FuzzAccept":            realTokens(t, ntlmssp.MsgAuthenticate),
		"FuzzInitChallenge":     realTokens(t, ntlmssp.MsgChallenge),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(s)))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzAccept runs the server's whole AUTHENTICATE processing (parse, NTLMv2
// response, AV pairs, MIC, bindings) on arbitrary bytes after a real
// NEGOTIATE / CHALLENGE: any outcome but a panic or a non-SSPI error.
func FuzzAccept(f *testing.F) {
	for _, s := range realTokens(f, ntlmssp.MsgAuthenticate) {
		f.Add(s)
	}
	p := testPackage(Config{AllowNTLMv1: true})
	sc := serverCred(f, p)
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, _, err := p.AcceptLsaModeContext(context.Background(), sc, nil, &secpkg.AcceptContextParams{Input: withCB(negotiate32(), nil)})
		if err != nil {
			t.Fatal(err)
		}
		_, out, err := p.AcceptLsaModeContext(context.Background(), sc, ctx, &secpkg.AcceptContextParams{
			ContextReq: sspi.ASC_REQ_ALLOW_NULL_SESSION, Input: withCB(b, nil)})
		if err == nil {
			if _, err := UserMode().InitUserModeContext(out.ContextData); err != nil {
				t.Fatalf("accepted, but the context data does not load: %v", err)
			}
			return
		}
		var se *sspi.Error
		if !errors.As(err, &se) {
			t.Fatalf("not an SSPI error: %v", err)
		}
	})
}

// FuzzInitChallenge runs the client's CHALLENGE processing on arbitrary
// bytes.
func FuzzInitChallenge(f *testing.F) {
	for _, s := range realTokens(f, ntlmssp.MsgChallenge) {
		f.Add(s)
	}
	p := testPackage(Config{})
	cc := clientCred(f, p, &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: testPassword})
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, _, err := p.InitLsaModeContext(context.Background(), cc, nil, &secpkg.InitContextParams{})
		if err != nil {
			t.Fatal(err)
		}
		_, out, err := p.InitLsaModeContext(context.Background(), cc, ctx, &secpkg.InitContextParams{Input: withCB(b, nil)})
		if err == nil {
			if _, err := ntlmssp.ParseAuthenticate(out.Output[0].Buffer); err != nil {
				t.Fatalf("our AUTHENTICATE does not parse: %v", err)
			}
			return
		}
		var se *sspi.Error
		if !errors.As(err, &se) {
			t.Fatalf("not an SSPI error: %v", err)
		}
	})
}
