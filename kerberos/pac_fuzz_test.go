package kerberos

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/test/testdata"

	"github.com/gosspi/gosspi/internal/ctxdata"
	"github.com/gosspi/gosspi/internal/pactest"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// The PAC fuzz targets are seeded from the real PACs: the Samba AD
// ticket of kerberos/testdata/ad-pac.json and gokrb5's vectors from a
// Windows KDC (PAC, logon info, claims).

// checkIdentity holds what any decoded PAC's identity must.
func checkIdentity(t *testing.T, id *pacIdentity) {
	if len(id.groups) != len(id.groupAttrs) {
		t.Fatalf("%d groups, %d attributes", len(id.groups), len(id.groupAttrs))
	}
	for _, s := range append([]string{id.sid, id.primaryGroup}, id.groups...) {
		if s != "" && !strings.HasPrefix(s, "S-") {
			t.Fatalf("not a SID: %q", s)
		}
	}
	// The identity survives ContextData (what the user-mode half reads).
	w := ctxdata.NewWriter(PackageName).String(tagGroups, strings.Join(id.groups, ",")).String(tagSID, id.sid)
	id.marshal(w)
	r, err := ctxdata.Parse(w.Finish())
	if err != nil {
		t.Fatal(err)
	}
	var back pacIdentity
	if !back.unmarshal(r) {
		t.Fatalf("ContextData of %+v does not read back", id)
	}
}

// FuzzDecodePAC decodes PACTYPE and every buffer the acceptor reads, and
// checks the signatures with the recording's keys.
func FuzzDecodePAC(f *testing.F) {
	r := loadADPAC(f)
	key := r.serviceKey(f)
	f.Add(r.pac(f))
	win, _ := hex.DecodeString(testdata.MarshaledPAC_AD_WIN2K_PAC)
	f.Add(win)
	krbtgt := func(int32) [][]byte { return [][]byte{key.KeyValue} }
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePAC(b)
		if err != nil {
			return
		}
		p.verifyServerSignature(key.KeyType, key.KeyValue)
		p.verifyKDCSignatures(krbtgt, nil)
		p.checkClient(principalName{Names: []string{"carol"}}, r.Realm, r.RecordedAt)
		checkIdentity(t, p.identity())
		if p.claims != nil {
			decodeClientClaims(p.claims)
		}
	})
}

// FuzzKerbValidationInfo decodes the NDR logon info alone.
func FuzzKerbValidationInfo(f *testing.F) {
	r := loadADPAC(f)
	f.Add(pactest.Buffer(r.pac(f), pacLogonInfo))
	for _, h := range []string{testdata.MarshaledPAC_Kerb_Validation_Info, testdata.MarshaledPAC_Kerb_Validation_Info_MS, testdata.MarshaledPAC_Kerb_Validation_Info_Trust} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeKerbValidationInfo(b)
		if err != nil {
			return
		}
		checkIdentity(t, (&pacType{logonInfo: v}).identity())
	})
}

// FuzzClientClaims decodes PAC_CLIENT_CLAIMS_INFO (NDR, and LZ77+Huffman
// when compressed).
func FuzzClientClaims(f *testing.F) {
	for _, h := range []string{testdata.MarshaledPAC_ClientClaimsInfoStr, testdata.MarshaledPAC_ClientClaimsInfoInt,
		testdata.MarshaledPAC_ClientClaimsInfoMulti, testdata.MarshaledPAC_ClientClaimsInfoMultiUint,
		testdata.MarshaledPAC_ClientClaimsInfoMultiStr, testdata.MarshaledPAC_ClientClaimsInfo_XPRESS_HUFF} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		claims, err := decodeClientClaims(b)
		if err != nil {
			return
		}
		for _, c := range claims {
			for _, v := range c.Values {
				switch v.(type) {
				case int64, uint64, string, bool:
				default:
					t.Fatalf("claim value of type %T", v)
				}
			}
		}
	})
}

// FuzzLZXpressHuffman decompresses one block to the size its first two
// bytes give.
func FuzzLZXpressHuffman(f *testing.F) {
	b, _ := hex.DecodeString(testdata.MarshaledPAC_ClientClaimsInfo_XPRESS_HUFF)
	r, _ := typeSerialization1(b)
	r.u32()
	size, _ := r.u32(), r.u32()
	r.u16()
	un := r.u32()
	r.u16()
	r.u32()
	r.u32()
	n := r.count(1)
	if uint32(n) != size {
		f.Fatal("claims vector does not parse")
	}
	f.Add(append([]byte{byte(un), byte(un >> 8)}, r.bytes(n)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		size := int(b[0]) | int(b[1])<<8
		out, err := lzxpressHuffmanDecompress(b[2:], size)
		if err == nil && len(out) != size {
			t.Fatalf("%d bytes out, want %d", len(out), size)
		}
	})
}

// FuzzAcceptADPAC puts the fuzzed PAC into the recorded Samba ticket,
// signs it with the service key (so that the acceptor gets past the
// signature to the decoders behind it), and has the acceptor accept the
// AP-REQ: malformed PACs are refused with SEC_E_LOGON_DENIED, never a
// panic or an internal error.
func FuzzAcceptADPAC(f *testing.F) {
	r := loadADPAC(f)
	key := r.serviceKey(f)
	ap, err := pactest.ParseAPReq(r.APReq)
	if err != nil {
		f.Fatal(err)
	}
	et, err := ap.Ticket(key)
	if err != nil {
		f.Fatal(err)
	}
	p := New(Config{Now: testutil.PinClock(f, r.RecordedAt.Add(time.Second)), DisableReplayCache: true})
	cred := serverCred(f, p, r.Keytab, r.SPN)
	f.Add(r.pac(f))
	f.Fuzz(func(t *testing.T, pac []byte) {
		if signed, err := pactest.SignServer(pac, key); err == nil {
			pac = signed
		}
		e, err := pactest.SetPAC(et, pac)
		if err != nil {
			return
		}
		if err := ap.SetTicket(e, key); err != nil {
			t.Fatal(err)
		}
		c, out, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(ap.Bytes(), nil)})
		if err != nil {
			if st := sspi.StatusOf(err); st != sspi.SEC_E_LOGON_DENIED {
				t.Fatalf("status %v: %v", st, err)
			}
			return
		}
		defer c.Delete()
		if _, err := UserMode().InitUserModeContext(out.ContextData); err != nil {
			t.Fatalf("accepted, but the ContextData does not load: %v", err)
		}
	})
}

// FuzzPACPlaceholderTicket re-encodes an EncTicketPart with the PAC's
// placeholder (the ticket signature's input), seeded with the recorded
// Samba ticket's.
func FuzzPACPlaceholderTicket(f *testing.F) {
	r := loadADPAC(f)
	ap, err := pactest.ParseAPReq(r.APReq)
	if err != nil {
		f.Fatal(err)
	}
	et, err := ap.Ticket(r.serviceKey(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(et)
	f.Fuzz(func(t *testing.T, b []byte) {
		out, ok := pacPlaceholderTicket(b)
		if !ok {
			return
		}
		// The placeholder ticket has a PAC of one zero byte, and doing it
		// again changes nothing.
		again, ok := pacPlaceholderTicket(out)
		if !ok || string(again) != string(out) {
			t.Fatalf("placeholder of the placeholder differs")
		}
	})
}
