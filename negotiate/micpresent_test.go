package negotiate

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gosspi/gosspi/internal/ntlmssp"
)

// ntlmMICPresentParsed is the reference for ntlmMICPresent: the full
// AUTHENTICATE and AV pair parsers.
func ntlmMICPresentParsed(tok []byte) bool {
	am, err := ntlmssp.ParseAuthenticate(tok)
	if err != nil || len(am.NtChallengeResponse) < 16+28+4 {
		return false
	}
	avs, err := ntlmssp.ParseAvPairs(am.NtChallengeResponse[16+28:])
	if err != nil {
		return false
	}
	f, ok := avs.Get(ntlmssp.AvFlags)
	return ok && len(f) == 4 && binary.LittleEndian.Uint32(f)&ntlmssp.AvFlagMICPresent != 0
}

// ntlmSeeds: the NTLM messages inside the recorded SPNEGO legs (MIT +
// gss-ntlmssp, both directions) and the legs themselves.
func ntlmSeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, l := range seedTokens(f) {
		out = append(out, l)
		if i := bytes.Index(l, []byte("NTLMSSP\x00")); i >= 0 {
			out = append(out, l[i:])
		}
	}
	return out
}

// TestNTLMMICPresentRecorded: gss-ntlmssp's recorded AUTHENTICATE carries
// a MIC, and the in-place reader agrees with the parsers on every seed.
func TestNTLMMICPresentRecorded(t *testing.T) {
	tr := loadTranscript(t, "mit-ntlm-gosspi-server.json")
	found := false
	for _, l := range legBytes(t, tr) {
		i := bytes.Index(l, []byte("NTLMSSP\x00\x03"))
		if i < 0 {
			continue
		}
		found = true
		if !ntlmMICPresent(l[i:]) || !ntlmMICPresentParsed(l[i:]) {
			t.Fatalf("recorded AUTHENTICATE: MIC not seen (%v, %v)", ntlmMICPresent(l[i:]), ntlmMICPresentParsed(l[i:]))
		}
	}
	if !found {
		t.Fatal("no AUTHENTICATE in the transcript")
	}
}

// FuzzNTLMMICPresent: the in-place reader never panics and, on every
// AUTHENTICATE the full parser accepts, gives the parser's answer.
func FuzzNTLMMICPresent(f *testing.F) {
	for _, s := range ntlmSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok []byte) {
		got := ntlmMICPresent(tok)
		if _, err := ntlmssp.ParseAuthenticate(tok); err != nil {
			return // the inner package refuses it before Negotiate looks
		}
		if want := ntlmMICPresentParsed(tok); got != want {
			t.Fatalf("ntlmMICPresent %v, parsers %v", got, want)
		}
	})
}
