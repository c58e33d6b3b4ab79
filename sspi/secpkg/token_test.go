package secpkg_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/internal/oid"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// recordedTokens returns every token of the recorded transcripts and fuzz
// corpora under */testdata: each string of a JSON (or JSON lines) file, or
// each whitespace-separated field of one ("Negotiate TOKEN", "YR TOKEN"),
// that is hex or base64; and each []byte value of a fuzz corpus file.
func recordedTokens(t testing.TB) [][]byte {
	t.Helper()
	var files []string
	for _, pat := range []string{"../../*/testdata/*.json", "../../*/testdata/*.jsonl", "../../*/testdata/*/*.json", "../../*/testdata/fuzz/*/*", "../../*/*/testdata/fuzz/*/*"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	seen := map[string]bool{}
	var out [][]byte
	add := func(b []byte) {
		if len(b) >= 2 && !seen[string(b)] {
			seen[string(b)] = true
			out = append(out, b)
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			for _, f := range strings.Fields(x) {
				if b, err := hex.DecodeString(f); err == nil {
					add(b)
				} else if b, err := base64.StdEncoding.DecodeString(f); err == nil {
					add(b)
				}
			}
		}
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p, string(filepath.Separator)+"fuzz"+string(filepath.Separator)) {
			for _, line := range strings.Split(string(b), "\n") {
				if s, ok := strings.CutPrefix(line, "[]byte("); ok {
					if v, err := strconv.Unquote(strings.TrimSuffix(s, ")")); err == nil {
						add([]byte(v))
					}
				}
			}
			continue
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			var v any
			if json.Unmarshal(line, &v) == nil {
				walk(v)
			}
		}
		var v any
		if json.Unmarshal(b, &v) == nil {
			walk(v)
		}
	}
	if len(out) < 50 {
		t.Fatalf("only %d recorded tokens", len(out))
	}
	return out
}

func loadJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecognizeToken checks each kind on real tokens (curl's NTLM, MIT's
// SPNEGO, MIT's Kerberos AP-REQ, AP-REP and KRB-ERROR, raw and framed)
// and on the edges of the framing.
func TestRecognizeToken(t *testing.T) {
	check := func(name string, tok []byte, want secpkg.TokenKind) {
		t.Helper()
		if got := secpkg.RecognizeToken(tok); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	const F = secpkg.TokenFramed

	var curl struct{ Tokens []string }
	loadJSON(t, "../../ntlm/testdata/curl.json", &curl)
	for i, want := range []secpkg.TokenKind{secpkg.TokenNTLMNegotiate, secpkg.TokenNTLMChallenge, secpkg.TokenNTLMAuthenticate} {
		tok := b64(t, curl.Tokens[i])
		check("curl NTLM "+strconv.Itoa(i), tok, want)
		check("framed curl NTLM "+strconv.Itoa(i), gss.Frame(gss.OIDNTLM, tok), want|F)
	}

	var mit struct{ Legs []string }
	loadJSON(t, "../../negotiate/testdata/mit-krb5-gosspi-server.json", &mit)
	init, _ := hex.DecodeString(mit.Legs[0])
	resp, _ := hex.DecodeString(mit.Legs[1])
	check("MIT NegTokenInit", init, secpkg.TokenSPNEGOInit|F)
	check("MIT NegTokenResp", resp, secpkg.TokenSPNEGOResp)
	ni, _, err := spnego.ParseToken(init)
	if err != nil {
		t.Fatal(err)
	}
	check("MIT optimistic token", ni.MechToken, secpkg.TokenKerberosAPReq|F)
	_, nr, err := spnego.ParseToken(resp)
	if err != nil {
		t.Fatal(err)
	}
	check("MIT responseToken", nr.ResponseToken, secpkg.TokenKerberosAPRep|F)

	var krb struct {
		APReq    string `json:"ap_req"`
		MITAPRep string `json:"mit_ap_rep"`
		KRBError string `json:"krb_error"`
	}
	loadJSON(t, "../../kerberos/testdata/transcripts/aes256.json", &krb)
	raw := func(framed []byte) []byte {
		g, _, err := gss.Parse(framed)
		if err != nil {
			t.Fatal(err)
		}
		return g.Inner[2:]
	}
	apReq, apRep, krbErr := b64(t, krb.APReq), b64(t, krb.MITAPRep), b64(t, krb.KRBError)
	check("AP-REQ", apReq, secpkg.TokenKerberosAPReq|F)
	check("raw AP-REQ", raw(apReq), secpkg.TokenKerberosAPReq)
	check("MS-Kerberos AP-REQ", gss.Frame(gss.OIDKerberosMS, append([]byte{1, 0}, raw(apReq)...)), secpkg.TokenKerberosAPReq|F)
	check("AP-REP", apRep, secpkg.TokenKerberosAPRep|F)
	check("raw AP-REP", raw(apRep), secpkg.TokenKerberosAPRep)
	check("KRB-ERROR", krbErr, secpkg.TokenKerberosError)
	check("framed KRB-ERROR", gss.Frame(gss.OIDKerberos, append([]byte{3, 0}, krbErr...)), secpkg.TokenKerberosError|F)
	check("RFC 1964 wrap token", gss.Frame(gss.OIDKerberos, []byte{2, 1, 0, 0}), secpkg.TokenKerberos|F)
	check("Kerberos without TOK_ID", gss.Frame(gss.OIDKerberos, []byte{1}), secpkg.TokenKerberos|F)
	check("Kerberos cut in the OID", apReq[:8], secpkg.TokenGSS|F)
	check("Kerberos cut after the OID", apReq[:15], secpkg.TokenKerberos|F)
	check("Kerberos cut after TOK_ID", apReq[:17], secpkg.TokenKerberosAPReq|F)

	check("NegoEx", gss.Frame(oid.Arcs(oid.NegoEx), []byte("NEGOEXTS")), secpkg.TokenGSS|F)
	check("NTLM OID, not NTLMSSP", gss.Frame(gss.OIDNTLM, []byte("x")), secpkg.TokenNTLM|F)

	for _, c := range []struct {
		name string
		tok  string
		want secpkg.TokenKind
	}{
		{"empty", "", secpkg.TokenUnknown},
		{"text", "hello, world", secpkg.TokenUnknown},
		{"raw NegTokenInit", "\xa0\x03\x30\x01\x00", secpkg.TokenUnknown},
		{"NegTokenResp tag", "\xa1", secpkg.TokenSPNEGOResp},
		{"AP-REQ tag", "\x6e", secpkg.TokenKerberosAPReq},
		{"AP-REP tag", "\x6f\x00", secpkg.TokenKerberosAPRep},
		{"KRB-ERROR tag", "\x7e\x00", secpkg.TokenKerberosError},
		{"NTLMSSP without NUL", "NTLMSSP", secpkg.TokenUnknown},
		{"NTLMSSP signature only", "NTLMSSP\x00", secpkg.TokenNTLM},
		{"NTLMSSP short type", "NTLMSSP\x00\x01\x00\x00", secpkg.TokenNTLM},
		{"NTLMSSP type 7", "NTLMSSP\x00\x07\x00\x00\x00", secpkg.TokenNTLM},
		{"NTLMSSP type 1<<24+1", "NTLMSSP\x00\x01\x00\x00\x01", secpkg.TokenNTLM},
		{"NTLMSSP type 1", "NTLMSSP\x00\x01\x00\x00\x00", secpkg.TokenNTLMNegotiate},
		{"bare 0x60", "\x60", secpkg.TokenGSS | F},
		{"indefinite length", "\x60\x80\x06\x06\x2b\x06\x01\x05\x05\x02", secpkg.TokenGSS | F},
		{"5-octet length", "\x60\x85\x00\x00\x00\x00\x10\x06\x06\x2b\x06\x01\x05\x05\x02", secpkg.TokenGSS | F},
		{"length cut off", "\x60\x82\x01", secpkg.TokenGSS | F},
		{"no OID tag", "\x60\x08\x04\x06\x2b\x06\x01\x05\x05\x02", secpkg.TokenGSS | F},
		{"zero-length OID", "\x60\x02\x06\x00", secpkg.TokenGSS | F},
		{"long-form OID length", "\x60\x09\x06\x81\x06\x2b\x06\x01\x05\x05\x02", secpkg.TokenGSS | F},
		{"SPNEGO cut off", "\x60\x84\x7f\xff\xff\xff\x06\x06\x2b\x06\x01\x05\x05\x02", secpkg.TokenSPNEGOInit | F},
		{"SPNEGO, length shorter than the OID", "\x60\x03\x06\x06\x2b\x06\x01\x05\x05\x02\xa0", secpkg.TokenGSS | F},
		{"Kerberos TOK_ID after the announced end", "\x60\x0b\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01\x00", secpkg.TokenKerberos | F},
	} {
		check(c.name, []byte(c.tok), c.want)
	}
}

func TestTokenKindString(t *testing.T) {
	for k, want := range map[secpkg.TokenKind]string{
		secpkg.TokenUnknown:                               "unknown",
		secpkg.TokenNTLMNegotiate:                         "NTLM NEGOTIATE",
		secpkg.TokenNTLMAuthenticate | secpkg.TokenFramed: "NTLM AUTHENTICATE (framed)",
		secpkg.TokenSPNEGOInit | secpkg.TokenFramed:       "SPNEGO NegTokenInit",
		secpkg.TokenKerberosAPReq | secpkg.TokenFramed:    "Kerberos AP-REQ (framed)",
		secpkg.TokenKerberosError:                         "Kerberos KRB-ERROR",
		secpkg.TokenGSS | secpkg.TokenFramed:              "GSS InitialContextToken",
		0x77:                                              "TokenKind(0x77)",
	} {
		if got := k.String(); got != want {
			t.Errorf("%#x: %q, want %q", uint16(k), got, want)
		}
	}
	if !(secpkg.TokenNTLM | secpkg.TokenFramed).IsNTLM() || secpkg.TokenSPNEGOInit.IsNTLM() || !secpkg.TokenKerberos.IsKerberos() ||
		!(secpkg.TokenKerberosError | secpkg.TokenFramed).IsKerberos() || secpkg.TokenGSS.IsKerberos() || secpkg.TokenNTLMAuthenticate.IsKerberos() {
		t.Error("IsNTLM/IsKerberos")
	}
}

// FuzzRecognizeToken: RecognizeToken never panics, reads only the first
// bytes of an unframed token, and agrees with the parsers: gss.Parse's
// mechanism (RFC 2743 3.1) and TOK_ID (RFC 4121 4.1) for a framed token,
// spnego.ParseToken for SPNEGO. Seeds are the recorded tokens of
// */testdata.
func FuzzRecognizeToken(f *testing.F) {
	for _, tok := range recordedTokens(f) {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok []byte) {
		k := secpkg.RecognizeToken(tok)
		if k.Base() > secpkg.TokenGSS || k&^(secpkg.TokenFramed|0xff) != 0 || k.String() == "" {
			t.Fatalf("kind %#x", uint16(k))
		}
		if len(tok) > 0 && k.Framed() != (tok[0] == 0x60) {
			t.Fatalf("%v for a token starting % x", k, tok[:1])
		}
		if (k.Base() == secpkg.TokenSPNEGOInit || k.Base() == secpkg.TokenGSS) && !k.Framed() {
			t.Fatalf("%v without framing", k)
		}
		if !k.Framed() {
			if p := tok[:min(len(tok), 12)]; secpkg.RecognizeToken(p) != k {
				t.Fatalf("%v, but %v for the first %d bytes", k, secpkg.RecognizeToken(p), len(p))
			}
			if k.IsNTLM() != bytes.HasPrefix(tok, []byte("NTLMSSP\x00")) {
				t.Fatalf("%v for % x", k, tok[:min(len(tok), 12)])
			}
		}
		if g, n, err := gss.Parse(tok); err == nil {
			var want secpkg.TokenKind
			switch {
			case g.Mech.Equal(gss.OIDSPNEGO):
				want = secpkg.TokenSPNEGOInit
			case g.Mech.Equal(gss.OIDKerberos) || g.Mech.Equal(gss.OIDKerberosMS):
				want = secpkg.TokenKerberos
				if len(g.Inner) >= 2 && g.Inner[1] == 0 && g.Inner[0] >= 1 && g.Inner[0] <= 3 {
					want = []secpkg.TokenKind{secpkg.TokenKerberosAPReq, secpkg.TokenKerberosAPRep, secpkg.TokenKerberosError}[g.Inner[0]-1]
				}
			case g.Mech.Equal(gss.OIDNTLM):
				if !k.IsNTLM() {
					t.Fatalf("%v for an NTLM token", k)
				}
				want = k.Base()
			default:
				want = secpkg.TokenGSS
			}
			if k != want|secpkg.TokenFramed {
				t.Fatalf("%v, but gss.Parse read mechanism %v (%d bytes)", k, g.Mech, n)
			}
		}
		if init, resp, err := spnego.ParseToken(tok); err == nil {
			if init != nil && k != secpkg.TokenSPNEGOInit|secpkg.TokenFramed || resp != nil && k != secpkg.TokenSPNEGOResp {
				t.Fatalf("%v for a token spnego.ParseToken reads", k)
			}
		}
	})
}
