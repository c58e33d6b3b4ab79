package negotiate

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/sspi"
)

// recordedLeg is one line of a testdata/*.jsonl handshake recorded by
// testdata/spnego_peer.py.
type recordedLeg struct {
	Leg  int    `json:"leg"`
	From string `json:"from"`
	Tok  string `json:"tok"`
	MIC  string `json:"mic"`
	Wrap string `json:"wrap"`
	Mech string `json:"mech"`
}

func loadLegs(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l recordedLeg
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if l.Tok == "" {
			continue
		}
		b, err := hex.DecodeString(l.Tok)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseMITNTLM decodes an MIT SPNEGO handshake over gss-ntlmssp and
// re-encodes every token byte for byte.
func TestParseMITNTLM(t *testing.T) {
	legs := loadLegs(t, "mit-ntlm-handshake.jsonl")
	if len(legs) != 4 {
		t.Fatalf("%d legs", len(legs))
	}
	init, resp, err := spnego.ParseToken(legs[0])
	if err != nil || resp != nil {
		t.Fatalf("leg 0: %v", err)
	}
	if len(init.MechTypes) != 1 || !init.MechTypes[0].Equal(spnego.OIDNTLM) || init.Init2 || init.HasReqFlags {
		t.Fatalf("leg 0: %+v", init)
	}
	if !bytes.HasPrefix(init.MechToken, []byte("NTLMSSP\x00\x01")) || init.MechListMIC != nil {
		t.Fatalf("leg 0 mechToken %x", init.MechToken)
	}
	if !bytes.Equal(init.RawMechTypes, spnego.EncodeMechTypes(init.MechTypes)) {
		t.Fatal("raw mechTypes differ")
	}
	if re, err := (&spnego.NegTokenInit{MechTypes: init.MechTypes, MechToken: init.MechToken}).Marshal(); err != nil || !bytes.Equal(re, legs[0]) {
		t.Fatalf("leg 0 re-encoding differs: %x", re)
	}
	want := []struct {
		state spnego.NegState
		mech  spnego.OID
		tok   string
		mic   bool
	}{
		{spnego.AcceptIncomplete, spnego.OIDNTLM, "NTLMSSP\x00\x02", false},
		{spnego.AcceptIncomplete, nil, "NTLMSSP\x00\x03", true},
		{spnego.AcceptCompleted, nil, "", true},
	}
	for i, w := range want {
		b := legs[i+1]
		init, resp, err := spnego.ParseToken(b)
		if err != nil || init != nil {
			t.Fatalf("leg %d: %v", i+1, err)
		}
		if resp.NegState != w.state || !resp.SupportedMech.Equal(w.mech) ||
			!bytes.HasPrefix(resp.ResponseToken, []byte(w.tok)) || (resp.MechListMIC != nil) != w.mic {
			t.Fatalf("leg %d: %+v", i+1, resp)
		}
		if w.tok == "" && resp.ResponseToken != nil {
			t.Fatalf("leg %d: responseToken present", i+1)
		}
		if w.mic && len(resp.MechListMIC) != 16 {
			t.Fatalf("leg %d: mic %x", i+1, resp.MechListMIC)
		}
		re, err := resp.Marshal()
		if err != nil || !bytes.Equal(re, b) {
			t.Fatalf("leg %d re-encoding differs", i+1)
		}
	}
}

// windowsNegTokenInit2 is the NegTokenInit2 a Windows SMB server sends in
// its NEGOTIATE response (mechTypes NTLM only, negHints with the fixed
// hint name), from a packet capture.
const windowsNegTokenInit2 = "604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa32a3028a0261b246e6f745f646566696e65645f696e5f5246433431373840706c656173655f69676e6f7265"

func TestNegTokenInit2(t *testing.T) {
	b := unhex(t, windowsNegTokenInit2)
	init, _, err := spnego.ParseToken(b)
	if err != nil {
		t.Fatal(err)
	}
	if !init.Init2 || init.NegHints == nil || init.NegHints.HintName != spnego.WindowsHintName || init.MechToken != nil {
		t.Fatalf("%+v", init)
	}
	if len(init.MechTypes) != 1 || !init.MechTypes[0].Equal(spnego.OIDNTLM) {
		t.Fatalf("mechs %v", init.MechTypes)
	}
	re, err := (&spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDNTLM}, Init2: true, NegHints: &spnego.NegHints{HintName: spnego.WindowsHintName}}).Marshal()
	if err != nil || !bytes.Equal(re, b) {
		t.Fatalf("re-encoding %x", re)
	}
	// With a MIC: [4], and a hint address.
	t2 := &spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDMSKerberos, spnego.OIDKerberos, spnego.OIDNTLM}, Init2: true,
		NegHints: &spnego.NegHints{HintName: "x", HasName: true, HintAddress: []byte{1, 2}}, MechListMIC: []byte{9}, HasReqFlags: true, ReqFlags: 1<<1 | 1<<6}
	enc, err := t2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := spnego.ParseToken(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Init2 || got.NegHints.HintName != "x" || !bytes.Equal(got.NegHints.HintAddress, []byte{1, 2}) ||
		!bytes.Equal(got.MechListMIC, []byte{9}) || got.ReqFlags != t2.ReqFlags || len(got.MechTypes) != 3 || !got.MechTypes[0].IsKerberos() {
		t.Fatalf("%+v", got)
	}
}

func TestOIDs(t *testing.T) {
	for _, s := range []string{"1.3.6.1.5.5.2", "1.2.840.113554.1.2.2", "1.2.840.48018.1.2.2", "1.3.6.1.4.1.311.2.2.10"} {
		if got := spnego.MustParseOID(s).String(); got != s {
			t.Errorf("%s -> %s", s, got)
		}
	}
	if !bytes.Equal(spnego.OIDSPNEGO, []byte{0x2b, 6, 1, 5, 5, 2}) {
		t.Fatalf("%x", []byte(spnego.OIDSPNEGO))
	}
	for _, s := range []string{"", "1", "1.x", "1.-2"} {
		if _, err := spnego.ParseOID(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	huge := spnego.OID{0x2b, 0x90, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}
	if s := huge.String(); s[0] != '?' {
		t.Errorf("huge OID: %s", s)
	}
}

func TestReqFlagsEncoding(t *testing.T) {
	for _, f := range []spnego.ReqFlags{0, 1, 2, 0x40, 0x7f, 0x21} {
		enc, err := (&spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDNTLM}, HasReqFlags: true, ReqFlags: f}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := spnego.ParseToken(enc)
		if err != nil || !got.HasReqFlags || got.ReqFlags != f {
			t.Fatalf("flags %#x: %v %+v", f, err, got)
		}
	}
}

// TestParseMalformed checks that broken DER gets SEC_E_INVALID_TOKEN.
func TestParseMalformed(t *testing.T) {
	good := loadLegs(t, "mit-ntlm-handshake.jsonl")
	mod := func(b []byte, i int, v byte) []byte {
		c := append([]byte(nil), b...)
		c[i] = v
		return c
	}
	cases := map[string][]byte{
		"empty":                   {},
		"not spnego":              []byte("NTLMSSP\x00\x01\x00\x00\x00"),
		"truncated init":          good[0][:len(good[0])-1],
		"trailing init":           append(append([]byte(nil), good[0]...), 0),
		"truncated resp":          good[1][:len(good[1])-3],
		"trailing resp":           append(append([]byte(nil), good[3]...), 0, 0),
		"wrong thisMech":          mod(good[0], 8, 0x03),
		"indefinite length":       {0x60, 0x80, 0x06, 0x06, 0x2b, 6, 1, 5, 5, 2, 0, 0},
		"non-minimal length":      append([]byte{0xa1, 0x81, 0x05}, unhex(t, "3003a0010a")...),
		"resp wrong tag":          mod(good[3], 0, 0xa2),
		"negState 4":              unhex(t, "a1073005a0030a0104"),
		"negState negative":       unhex(t, "a1073005a0030a01ff"),
		"negState long":           unhex(t, "a1083006a0040a020001"),
		"fields out of order":     unhex(t, "a10e300ca2020400a0030a0100a1010000"),
		"duplicate field":         unhex(t, "a10c300aa0030a0100a0030a0100"),
		"unknown field":           unhex(t, "a1093007a4050403010203"),
		"primitive field tag":     unhex(t, "a1073005800301"+"0100"),
		"bad supportedMech":       unhex(t, "a1083006a1040602ff80"),
		"init no mechTypes":       unhex(t, "600e06062b0601050502a0043002"+"a200"),
		"mechType not spnego.OID": unhex(t, "601206062b0601050502a0083006a0043002"+"0400"),
		"empty spnego.OID":        unhex(t, "601206062b0601050502a0083006a0043002"+"0600"),
		"negHints trailing":       unhex(t, "601806062b0601050502a00e300ca30a3008a0031b01783000"),
		"reqFlags padding":        unhex(t, "601d06062b0601050502a0133011a00e300c060a2b06010401823702020a"+"a1030301"+"01"),
		"high tag":                {0x7f, 0x81, 0x01, 0x00},
	}
	for name, b := range cases {
		i, r, err := spnego.ParseToken(b)
		if !errors.Is(err, sspi.SEC_E_INVALID_TOKEN) || i != nil || r != nil {
			t.Errorf("%s: err=%v", name, err)
		}
	}
}

func TestElementSize(t *testing.T) {
	tok := loadLegs(t, "mit-ntlm-handshake.jsonl")[2]
	n, inc, err := spnego.ElementSize(tok)
	if err != nil || inc || n != len(tok) {
		t.Fatalf("%d %v %v", n, inc, err)
	}
	n, inc, err = spnego.ElementSize(tok[:10])
	if err != nil || !inc || n != len(tok) {
		t.Fatalf("prefix: %d %v %v", n, inc, err)
	}
	if _, inc, _ := spnego.ElementSize(tok[:1]); !inc {
		t.Fatal("1 byte not incomplete")
	}
	if _, _, err := spnego.ElementSize([]byte{0xa1, 0x84, 1, 0, 0, 0}); err == nil {
		t.Fatal("4-byte length accepted")
	}
	if _, _, err := spnego.ElementSize([]byte{0xa1, 0x83, 0x10, 0, 0}); err == nil {
		t.Fatal("oversized accepted")
	}
}

// FuzzParseToken checks that the DER parser never panics and that what it
// accepts re-encodes to the same bytes (DER is canonical).
func FuzzParseToken(f *testing.F) {
	for _, name := range []string{"mit-ntlm-handshake.jsonl", "mit-krb5-handshake.jsonl"} {
		if _, err := os.Stat(filepath.Join("testdata", name)); err != nil {
			continue
		}
		for _, b := range loadLegs(f, name) {
			f.Add(b)
		}
	}
	f.Add(unhex(f, windowsNegTokenInit2))
	f.Fuzz(func(t *testing.T, b []byte) {
		init, resp, err := spnego.ParseToken(b)
		if err != nil {
			if !errors.Is(err, sspi.SEC_E_INVALID_TOKEN) {
				t.Fatalf("status %v", err)
			}
			return
		}
		var re []byte
		if init != nil {
			re, err = init.Marshal()
		} else {
			re, err = resp.Marshal()
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, re)
		}
	})
}
