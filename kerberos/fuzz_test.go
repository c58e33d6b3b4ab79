package kerberos

import (
	"context"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// The fuzz targets run on keys from the recorded transcripts, so that the
// committed seeds (testdata/fuzz) are real MIT tokens that get past the
// cryptography and exercise the parsers behind it.

func FuzzAcceptAPReq(f *testing.F) {
	tr := loadTranscript(f, "aes256")
	rc4 := loadTranscript(f, "rc4")
	p := New(Config{Now: tr.recorded, DisableReplayCache: true})
	kt := keytab.New()
	for _, b := range [][]byte{tr.Keytab, rc4.Keytab} {
		k := keytab.New()
		if err := k.Unmarshal(b); err != nil {
			f.Fatal(err)
		}
		kt.Entries = append(kt.Entries, k.Entries...)
	}
	cred := ktCred(p, kt)
	f.Add(tr.APReq)
	f.Add(rc4.APReq)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, out, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(b, nil)})
		if err == nil && !out.Mapped {
			t.Fatal("accepted without a context")
		}
		if err != nil && sspi.StatusOf(err) == sspi.SEC_E_INTERNAL_ERROR {
			t.Fatalf("internal error: %v", err)
		}
	})
}

func FuzzAPRep(f *testing.F) {
	tr := loadTranscript(f, "aes256")
	ap := parseAPReqToken(&testing.T{}, tr.OurAPReq)
	kt := keytab.New()
	if err := kt.Unmarshal(tr.Keytab); err != nil {
		f.Fatal(err)
	}
	c := ktCred(nil, kt)
	skey, err := c.serviceKey("HTTP/svc.localhost", ap.Ticket.Realm, ap.Ticket.EncPart.EType, ap.Ticket.EncPart.KVNO)
	if err != nil {
		f.Fatal(err)
	}
	if err := ap.Ticket.Decrypt(skey); err != nil {
		f.Fatal(err)
	}
	sk := ap.Ticket.DecryptedEncPart.Key
	f.Add(innerOf(tr.MITAPRep))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseAPRep(b, sk)
	})
}

func FuzzKRBError(f *testing.F) {
	tr := loadTranscript(f, "aes256")
	f.Add(tr.KRBError)
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := parseKRBError(b); err == nil {
			_ = krbErrorStatus(e.ErrorCode)
		}
	})
}

// fuzzStates returns acceptor-side message states for the aes256 and rc4
// transcripts (accepting their recorded AP-REQs).
func fuzzStates(f *testing.F) []*session {
	var out []*session
	for _, name := range []string{"aes256", "rc4"} {
		tr := loadTranscript(f, name)
		p := New(Config{Now: tr.recorded, Rand: testutil.NewReplayReader(tr.AcceptorRandom), DisableReplayCache: true})
		kt := keytab.New()
		if err := kt.Unmarshal(tr.Keytab); err != nil {
			f.Fatal(err)
		}
		_, o, err := p.AcceptLsaModeContext(context.Background(), ktCred(p, kt), nil,
			&secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, &sspi.ChannelBindings{ApplicationData: tr.CB})})
		if err != nil {
			f.Fatal(err)
		}
		s, err := unmarshalSession(o.ContextData, nil)
		if err != nil {
			f.Fatal(err)
		}
		s.recv = newSeqState(0, false, false, isCFX(s.etype)) // accept any sequence number
		out = append(out, s)
		for _, w := range tr.Wraps {
			f.Add(w.Token)
		}
	}
	return out
}

func FuzzUnwrap(f *testing.F) {
	states := fuzzStates(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range states {
			s.unwrap(b)
		}
	})
}

func FuzzVerifyMIC(f *testing.F) {
	states := fuzzStates(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range states {
			s.verifyMIC(b, []byte("recorded message"))
		}
	})
}

func FuzzCCache(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := parseCCache(b); err == nil {
			if _, err := parseCCache(marshalCCache(c)); err != nil {
				t.Fatalf("re-marshaled cache does not parse: %v", err)
			}
		}
	})
}

func FuzzGSSChecksum(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := parseGSSChecksum(b); err == nil {
			if _, err := parseGSSChecksum(c.marshal()); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzDecode runs the acceptor's own ASN.1 decoders (AP-REQ,
// EncTicketPart, Authenticator), seeded with the decrypted parts of MIT's
// recorded AP-REQ.
func FuzzDecode(f *testing.F) {
	tr := loadTranscript(f, "aes256")
	kt := keytab.New()
	if err := kt.Unmarshal(tr.Keytab); err != nil {
		f.Fatal(err)
	}
	ap, ok := decodeAPReq(innerOf(tr.APReq))
	if !ok {
		f.Fatal("recorded AP-REQ does not decode")
	}
	c := ktCred(nil, kt)
	skey, err := c.serviceKey("HTTP/svc.localhost", ap.Realm, ap.TktEnc.EType, ap.TktEnc.KVNO)
	if err != nil {
		f.Fatal(err)
	}
	etb, err := decryptEncPart(toGokrb5ED(ap.TktEnc), skey, usageTicket)
	if err != nil {
		f.Fatal(err)
	}
	et, ok := decodeEncTicketPart(etb)
	if !ok {
		f.Fatal("EncTicketPart does not decode")
	}
	ab, err := decryptEncPart(toGokrb5ED(ap.Auth), toGokrb5Key(et.Key), usageAuthenticator)
	if err != nil {
		f.Fatal(err)
	}
	if _, ok := decodeAuthenticator(ab); !ok {
		f.Fatal("authenticator does not decode")
	}
	f.Add(innerOf(tr.APReq))
	f.Add(etb)
	f.Add(ab)
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeAPReq(b)
		decodeEncTicketPart(b)
		decodeAuthenticator(b)
	})
}

// go test ./kerberos -run TestRecordDecodeSeeds -record writes FuzzDecode's
// seed corpus: the decrypted EncTicketPart and Authenticator of the
// recorded MIT AP-REQs.
func TestRecordDecodeSeeds(t *testing.T) {
	if !*record {
		t.Skip("recording only with -record")
	}
	for _, name := range transcriptNames {
		tr := loadTranscript(t, name)
		kt := keytab.New()
		if err := kt.Unmarshal(tr.Keytab); err != nil {
			t.Fatal(err)
		}
		ap, ok := decodeAPReq(innerOf(tr.APReq))
		if !ok {
			t.Fatal("AP-REQ")
		}
		skey, err := ktCred(nil, kt).serviceKey(strings.Join(ap.SName.Names, "/"), ap.Realm, ap.TktEnc.EType, ap.TktEnc.KVNO)
		if err != nil {
			t.Fatal(err)
		}
		etb, err := decryptEncPart(toGokrb5ED(ap.TktEnc), skey, usageTicket)
		if err != nil {
			t.Fatal(err)
		}
		et, _ := decodeEncTicketPart(etb)
		ab, err := decryptEncPart(toGokrb5ED(ap.Auth), toGokrb5Key(et.Key), usageAuthenticator)
		if err != nil {
			t.Fatal(err)
		}
		writeSeeds(t, "FuzzDecode", name, innerOf(tr.APReq), etb, ab)
	}
}
