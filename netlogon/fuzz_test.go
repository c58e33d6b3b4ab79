package netlogon

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// The parsers of the DC's replies, fuzzed from the recorded ones
// (testdata/*.json): the NDR of each call's [out] parameters and the
// secure channel's unsealing. None may panic or allocate beyond what
// the input can carry, and a reply that parses must re-parse the same way.

// recordedStubs returns the [out] stubs of every transcript: the
// unauthenticated connection's responses and the sealed connection's,
// decrypted.
func recordedStubs(f *testing.F) (plain, sealed [][]byte) {
	names, _ := filepath.Glob("testdata/*.json")
	if len(names) == 0 {
		f.Fatal("no transcripts under testdata/")
	}
	for _, n := range names {
		tr := loadTranscript(f, filepath.Base(n))
		for _, p := range tr.Conns[0] {
			pdu := unhex(f, p.PDU)
			if !p.Out && pdu[2] == 2 {
				plain = append(plain, pdu[24:])
			}
		}
		_, resps := sealedStubs(f, tr)
		sealed = append(sealed, resps...)
	}
	return plain, sealed
}

func FuzzDecodeSamLogonEx(f *testing.F) {
	_, sealed := recordedStubs(f)
	for _, s := range sealed {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeSamLogonEx(b, validationSamInfo4)
		if err != nil {
			return
		}
		if r.validation != nil {
			_ = r.validation.userSID()
			_ = r.validation.groupSIDs()
		}
		r2, err := decodeSamLogonEx(b, validationSamInfo4)
		if err != nil || (r.validation == nil) != (r2.validation == nil) || r.status != r2.status {
			t.Fatal("decoding is not deterministic")
		}
	})
}

func FuzzDecodeHandshake(f *testing.F) {
	plain, sealed := recordedStubs(f)
	for _, s := range append(plain, sealed...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeReqChallenge(b)
		decodeAuthenticate3(b)
		decodeGetCapabilities(b)
		for _, level := range []uint16{validationSamInfo, validationSamInfo2} {
			decodeSamLogonEx(b, level)
		}
	})
}

// FuzzUnseal feeds arbitrary stubs and signatures to the secure channel's
// Unseal with the recorded session key: it must refuse them without
// panicking (a forgery that verifies would be a break of HMAC-SHA256).
func FuzzUnseal(f *testing.F) {
	tr := loadTranscript(f, "samlogon-alice.json")
	var sk [16]byte
	copy(sk[:], unhex(f, tr.SessionKey))
	conn := tr.Conns[len(tr.Conns)-1]
	for _, p := range conn {
		pdu := unhex(f, p.PDU)
		if !p.Out && pdu[2] == 2 {
			authLen := int(pdu[10]) | int(pdu[11])<<8
			f.Add(pdu[24:len(pdu)-authLen-8], pdu[len(pdu)-authLen:], uint64(1))
		}
	}
	f.Fuzz(func(t *testing.T, data, sig []byte, seq uint64) {
		s := &schannel{sk: sk, seq: seq}
		// The recorded replies were signed with their headers (header
		// signing), so none verifies as a bare stub: nothing may.
		if err := s.Unseal(data, data, sig); err == nil {
			t.Fatalf("a forged message verified: %x", data)
		}
	})
}

// TestRecordedRepliesDecode checks the decrypted recorded replies field by
// field, without the DC.
func TestRecordedRepliesDecode(t *testing.T) {
	tr := loadTranscript(t, "samlogon-alice.json")
	reqs, resps := sealedStubs(t, tr)
	if len(reqs) != 2 || len(resps) != 2 {
		t.Fatalf("%d requests and %d responses on the sealed connection", len(reqs), len(resps))
	}
	ret, caps, status, err := decodeGetCapabilities(resps[0])
	if err != nil || status != 0 || caps&requiredFlags != requiredFlags || ret == ([8]byte{}) {
		t.Errorf("GetCapabilities: caps 0x%08x status 0x%x %v", caps, status, err)
	}
	r, err := decodeSamLogonEx(resps[1], validationSamInfo4)
	if err != nil || r.status != 0 || r.validation == nil || r.authoritative != 1 {
		t.Fatalf("SamLogonEx: %+v %v", r, err)
	}
	v := r.validation
	if v.userSID() != tr.Want.SID || v.effectiveName != tr.Want.User || v.logonDomainName != tr.Want.Domain ||
		v.upn != tr.Want.UPN || hex.EncodeToString(v.userSessionKey[:]) != tr.Want.SessionKey || v.userID == 0 {
		t.Errorf("validation %+v, want %+v", v, tr.Want)
	}
	// Our own request re-encodes to what was sent.
	req := tr.request(t)
	n := &networkInfo{domain: req.Domain, user: req.User, workstation: req.Workstation,
		parameterControl: msv1_0AllowServerTrustAccount | msv1_0AllowWorkstationTrustAccount,
		challenge:        req.ServerChallenge, nt: req.NTResponse, lm: req.LMResponse}
	if got := encodeSamLogonEx("WS1", netlogonNetworkTransitiveInformation, n, validationSamInfo4); hex.EncodeToString(got) != hex.EncodeToString(reqs[1]) {
		t.Errorf("SamLogonEx request\n %x\nsent %x", got, reqs[1])
	}
	if _, err := os.Stat("testdata/samlogon-wrong-password.json"); err != nil {
		t.Fatal(err)
	}
	tr = loadTranscript(t, "samlogon-wrong-password.json")
	_, resps = sealedStubs(t, tr)
	r, err = decodeSamLogonEx(resps[1], validationSamInfo4)
	if err != nil || r.status != statusWrongPassword || r.validation != nil {
		t.Errorf("wrong password: %+v %v", r, err)
	}
}

// BenchmarkLogonCompute is the work this client does for one logon, on
// the recorded exchange without the network: encode and seal the
// request, unseal and decode the DC's reply.
func BenchmarkLogonCompute(b *testing.B) {
	tr := loadTranscript(b, "samlogon-alice.json")
	var sk [16]byte
	copy(sk[:], unhex(b, tr.SessionKey))
	conn := tr.Conns[len(tr.Conns)-1]
	resp := unhex(b, conn[len(conn)-1].PDU)
	authLen := int(resp[10]) | int(resp[11])<<8
	req := tr.request(b)
	n := &networkInfo{domain: req.Domain, user: req.User, workstation: req.Workstation,
		parameterControl: msv1_0AllowServerTrustAccount | msv1_0AllowWorkstationTrustAccount,
		challenge:        req.ServerChallenge, nt: req.NTResponse, lm: req.LMResponse}
	body := make([]byte, len(resp))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s := &schannel{sk: sk, seq: 2, rand: fixedReader(make([]byte, 8))}
		stub := encodeSamLogonEx("WS1", netlogonNetworkTransitiveInformation, n, validationSamInfo4)
		stub = append(stub, make([]byte, 16-len(stub)%16)...)
		if _, err := s.Seal(stub, stub); err != nil {
			b.Fatal(err)
		}
		copy(body, resp)
		data := body[24 : len(body)-authLen-8]
		if err := s.Unseal(data, body[:len(body)-authLen], body[len(body)-authLen:]); err != nil {
			b.Fatal(err)
		}
		if _, err := decodeSamLogonEx(data[:len(data)-int(body[len(body)-authLen-8+2])], validationSamInfo4); err != nil {
			b.Fatal(err)
		}
	}
}
