package kerberos

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// go test ./kerberos -run TestRecordTranscripts -record rewrites the
// transcripts and the fuzz seed corpora from the live MIT realm.
var record = flag.Bool("record", false, "record MIT transcripts into testdata")

type wrapRec struct {
	Token []byte `json:"token"`
	Data  []byte `json:"data"`
	Conf  bool   `json:"conf"`
}

// transcript is a recorded exchange with MIT krb5 (python3-gssapi): MIT's
// initiator against our acceptor (APReq, Wraps, MICs from MIT), and our
// initiator against MIT's acceptor (OurAPReq, MITAPRep, AcceptorWraps,
// AcceptorMICs). Keytab is the throwaway realm's service keytab.
type transcript struct {
	Realm         string    `json:"realm"`
	Service       string    `json:"service"`
	Time          int64     `json:"time"`
	Keytab        []byte    `json:"keytab"`
	CB            []byte    `json:"cb"`
	APReq         []byte    `json:"ap_req"`
	Wraps         []wrapRec `json:"wraps"`
	MICs          []wrapRec `json:"mics"`
	OurAPReq      []byte    `json:"our_ap_req,omitempty"`
	MITAPRep      []byte    `json:"mit_ap_rep,omitempty"`
	AcceptorWraps []wrapRec `json:"acceptor_wraps,omitempty"`
	AcceptorMICs  []wrapRec `json:"acceptor_mics,omitempty"`
	KRBError      []byte    `json:"krb_error,omitempty"`
	// AcceptorRandom is what our acceptor drew from Config.Rand (its
	// subkey and sequence number, then the AP-REP's confounder) while
	// accepting APReq.
	AcceptorRandom []byte `json:"acceptor_random"`
}

// recorded is the transcript's recording time.
func (tr *transcript) recorded() time.Time { return time.Unix(tr.Time, 0) }

var transcriptNames = []string{"aes256", "rc4", "aes256-sha384"}

func loadTranscript(t testing.TB, name string) *transcript {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "transcripts", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr transcript
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return &tr
}

func (tr *transcript) keytabFile(t testing.TB) string {
	path := filepath.Join(t.TempDir(), "service.keytab")
	writeFile(t, path, tr.Keytab)
	return path
}

func TestRecordTranscripts(t *testing.T) {
	if !*record {
		t.Skip("recording only with -record")
	}
	realm := liveRealm(t)
	cases := []struct{ name, host, spn, keytab string }{
		{"aes256", "HTTP@svc.localhost", svcSPN, realm.svcKeytab},
		{"rc4", "HTTP@rc4.localhost", rc4SPN, realm.rc4Keytab},
		{"aes256-sha384", "HTTP@sha2.localhost", sha2SPN, realm.sha2Keytab},
	}
	krbErr := recordKRBError(t)
	msgs := [][]byte{[]byte("recorded message"), {}, make([]byte, 1000)}
	for _, c := range cases {
		kt, _ := os.ReadFile(c.keytab)
		tr := &transcript{Realm: realm.Name, Service: c.spn, Time: time.Now().Unix(), Keytab: kt, CB: testCB.ApplicationData, KRBError: krbErr}
		mit := startMIT(t, "KRB5CCNAME=FILE:"+realm.fwdCCache)
		r := mit.call(map[string]any{"op": "init", "target": c.host, "flags": []string{"mutual", "replay", "sequence", "conf", "integ"}, "cb": b64(testCB.ApplicationData)}, false)
		tr.APReq = r.token()
		tee := &testutil.TeeReader{R: rand.Reader}
		p := New(Config{Rand: tee})
		scred := serverCred(t, p, c.keytab, "")
		_, out, err := p.AcceptLsaModeContext(context.Background(), scred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, testCB)})
		tr.AcceptorRandom = tee.Got
		if err != nil {
			t.Fatal(err)
		}
		mit.call(map[string]any{"op": "step", "token": b64(outToken(out))}, false)
		for _, m := range msgs {
			for _, conf := range []bool{true, false} {
				r := mit.call(map[string]any{"op": "wrap", "data": b64(m), "conf": conf}, false)
				tr.Wraps = append(tr.Wraps, wrapRec{Token: r.token(), Data: m, Conf: conf})
			}
			r := mit.call(map[string]any{"op": "mic", "data": b64(m)}, false)
			tr.MICs = append(tr.MICs, wrapRec{Token: r.token(), Data: m})
		}
		if c.name != "aes256-sha384" { // gokrb5 clients do not ask for aes-sha2 session keys
			mit2 := startMIT(t)
			cred := clientCred(t, p)
			ic, out, err := p.InitLsaModeContext(context.Background(), cred, nil, &secpkg.InitContextParams{TargetName: c.spn, ContextReq: stdISC})
			if err != nil {
				t.Fatal(err)
			}
			tr.OurAPReq = outToken(out)
			r := mit2.call(map[string]any{"op": "accept", "token": b64(tr.OurAPReq), "keytab": c.keytab}, false)
			tr.MITAPRep = r.token()
			if _, _, err := p.InitLsaModeContext(context.Background(), cred, ic, &secpkg.InitContextParams{TargetName: c.spn, ContextReq: stdISC, Input: tokenDesc(tr.MITAPRep, nil)}); err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				for _, conf := range []bool{true, false} {
					r := mit2.call(map[string]any{"op": "wrap", "data": b64(m), "conf": conf}, false)
					tr.AcceptorWraps = append(tr.AcceptorWraps, wrapRec{Token: r.token(), Data: m, Conf: conf})
				}
				r := mit2.call(map[string]any{"op": "mic", "data": b64(m)}, false)
				tr.AcceptorMICs = append(tr.AcceptorMICs, wrapRec{Token: r.token(), Data: m})
			}
		}
		b, _ := json.MarshalIndent(tr, "", "  ")
		os.MkdirAll(filepath.Join("testdata", "transcripts"), 0o755)
		if err := os.WriteFile(filepath.Join("testdata", "transcripts", c.name+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		writeSeeds(t, "FuzzAcceptAPReq", c.name, tr.APReq, tr.OurAPReq)
		writeSeeds(t, "FuzzAPRep", c.name, innerOf(tr.MITAPRep))
		for i, w := range append(tr.Wraps, tr.AcceptorWraps...) {
			writeSeeds(t, "FuzzUnwrap", fmt.Sprintf("%s-%d", c.name, i), w.Token)
		}
		for i, w := range append(tr.MICs, tr.AcceptorMICs...) {
			writeSeeds(t, "FuzzVerifyMIC", fmt.Sprintf("%s-%d", c.name, i), w.Token)
		}
		gssSeeds := filepath.Join("..", "internal", "gss", "testdata", "fuzz", "FuzzParse")
		os.MkdirAll(gssSeeds, 0o755)
		writeSeedFile(t, filepath.Join(gssSeeds, "mit-ap-req-"+c.name), tr.APReq)
		if tr.MITAPRep != nil {
			writeSeedFile(t, filepath.Join(gssSeeds, "mit-ap-rep-"+c.name), tr.MITAPRep)
		}
	}
	writeSeeds(t, "FuzzKRBError", "kdc", krbErr)
	writeSeeds(t, "FuzzKRBError", "acceptor", innerOf(krbErrorToken(sspi.SEC_E_TIME_SKEW)))
	cc, _ := os.ReadFile(realm.fwdCCache)
	writeSeeds(t, "FuzzCCache", "kinit", cc)
	writeSeeds(t, "FuzzGSSChecksum", "mutual", (&gssChecksum{Flags: 0x3e}).marshal())
}

func innerOf(tok []byte) []byte {
	_, msg, _, _ := unframeToken(tok)
	return msg
}

func writeSeeds(t *testing.T, target, name string, toks ...[]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	os.MkdirAll(dir, 0o755)
	for i, b := range toks {
		if b == nil {
			continue
		}
		writeSeedFile(t, filepath.Join(dir, fmt.Sprintf("%s-%d", name, i)), b)
	}
}

func writeSeedFile(t *testing.T, path string, b []byte) {
	if err := os.WriteFile(path, []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordKRBError asks the KDC for a TGT without pre-authentication and
// returns its KRB-ERROR (KDC_ERR_PREAUTH_REQUIRED, with ETYPE-INFO2).
func recordKRBError(t *testing.T) []byte {
	realm := liveRealm(t)
	cfg, err := config.Load(realm.Krb5Con)
	if err != nil {
		t.Fatal(err)
	}
	req, err := messages.NewASReqForTGT(realm.Name, cfg, types.PrincipalName{NameType: nametype.KRB_NT_PRINCIPAL, NameString: []string{"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := req.Marshal()
	conn, err := net.Dial("tcp", realm.KDCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(b)))
	conn.Write(append(l[:], b...))
	if _, err := io.ReadFull(conn, l[:]); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, binary.BigEndian.Uint32(l[:]))
	if _, err := io.ReadFull(conn, resp); err != nil {
		t.Fatal(err)
	}
	if e, err := parseKRBError(resp); err != nil || e.ErrorCode != 25 {
		t.Fatalf("expected KDC_ERR_PREAUTH_REQUIRED: %v", err)
	}
	return resp
}

// Replays MIT's initiator tokens into our acceptor, clock pinned to the
// recording and replay cache off, with no KDC and no python.
func TestTranscriptReplayAcceptor(t *testing.T) {
	for _, name := range transcriptNames {
		t.Run(name, func(t *testing.T) {
			tr := loadTranscript(t, name)
			now := testutil.PinClock(t, tr.recorded())
			random := testutil.NewReplayReader(tr.AcceptorRandom)
			// The rc4 recording needs the legacy switch (TestTranscriptEnctypePolicy).
			conf := krb5Conf(t)
			if name == "rc4" {
				conf = krb5Conf(t, "allow_rc4 = true")
			}
			p := New(Config{Krb5Conf: conf, Now: now, Rand: random, DisableReplayCache: true})
			user := NewUserMode(sspi.Env{Now: now})
			cred := serverCred(t, p, tr.keytabFile(t), tr.Service)
			cb := &sspi.ChannelBindings{ApplicationData: tr.CB}
			for round := 0; round < 2; round++ { // twice: no replay cache
				random.Reset()
				_, out, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, cb)})
				if err != nil {
					t.Fatal(err)
				}
				if len(outToken(out)) == 0 || out.Flags&sspi.FlagMutualAuth == 0 {
					t.Fatal("no AP-REP for a mutual request")
				}
				uc, err := user.InitUserModeContext(out.ContextData)
				if err != nil {
					t.Fatal(err)
				}
				replayMessages(t, uc, tr.Wraps, tr.MICs)
			}
			// Wrong bindings and a later clock fail as they should.
			_, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, &sspi.ChannelBindings{ApplicationData: []byte("x")})})
			wantStatus(t, err, sspi.SEC_E_BAD_BINDINGS)
			late := New(Config{Krb5Conf: conf, Now: func() time.Time { return now().Add(time.Hour) }})
			_, _, err = late.AcceptLsaModeContext(context.Background(), serverCred(t, late, tr.keytabFile(t), ""), nil, &secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, cb)})
			wantStatus(t, err, sspi.SEC_E_TIME_SKEW)
			withCache := New(Config{Krb5Conf: conf, Now: now})
			wc := serverCred(t, withCache, tr.keytabFile(t), "")
			if _, _, err := withCache.AcceptLsaModeContext(context.Background(), wc, nil, &secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, cb)}); err != nil {
				t.Fatal(err)
			}
			_, _, err = withCache.AcceptLsaModeContext(context.Background(), wc, nil, &secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, cb)})
			wantStatus(t, err, sspi.SEC_E_OUT_OF_SEQUENCE)
		})
	}
}

func replayMessages(t *testing.T, uc sspi.UserModeContext, wraps, mics []wrapRec) {
	t.Helper()
	for i, w := range wraps {
		d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: append([]byte(nil), w.Token...)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
		qop, err := uc.UnsealMessage(d, 0)
		if err != nil {
			t.Fatalf("wrap %d: %v", i, err)
		}
		if string(d.Buffers[1].Buffer) != string(w.Data) || (qop == 0) != w.Conf {
			t.Fatalf("wrap %d: wrong plaintext or qop", i)
		}
		// MIC tokens share the sequence space; they follow each pair.
		if i%2 == 1 {
			m := mics[i/2]
			d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: m.Data}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: m.Token})
			if _, err := uc.VerifySignature(d, 0); err != nil {
				t.Fatalf("mic %d: %v", i/2, err)
			}
		}
	}
}

// Replays our initiator's AP-REQ and MIT's AP-REP: the keytab opens the
// ticket, so the session key and authenticator are known; the AP-REP must
// verify and key MIT's acceptor tokens.
func TestTranscriptReplayInitiator(t *testing.T) {
	for _, name := range transcriptNames {
		tr := loadTranscript(t, name)
		if tr.OurAPReq == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			now := testutil.PinClock(t, tr.recorded())
			kt, err := keytab.Load(tr.keytabFile(t))
			if err != nil {
				t.Fatal(err)
			}
			ap := parseAPReqToken(t, tr.OurAPReq)
			c := ktCred(nil, kt)
			skey, err := c.serviceKey(ap.Ticket.SName.NameString[0]+"/"+ap.Ticket.SName.NameString[1], ap.Ticket.Realm, ap.Ticket.EncPart.EType, ap.Ticket.EncPart.KVNO)
			if err != nil {
				t.Fatal(err)
			}
			if err := ap.Ticket.Decrypt(skey); err != nil {
				t.Fatal(err)
			}
			sk := ap.Ticket.DecryptedEncPart.Key
			if err := ap.DecryptAuthenticator(sk); err != nil {
				t.Fatal(err)
			}
			_, msg, _, err := unframeToken(tr.MITAPRep)
			if err != nil {
				t.Fatal(err)
			}
			part, err := parseAPRep(msg, sk)
			if err != nil {
				t.Fatal(err)
			}
			if !part.CTime.Equal(ap.Authenticator.CTime) || part.Cusec != ap.Authenticator.Cusec {
				t.Fatal("AP-REP does not echo the authenticator")
			}
			key, acc := ap.Authenticator.SubKey, false
			if len(part.Subkey.KeyValue) > 0 && isCFX(part.Subkey.KeyType) {
				key, acc = part.Subkey, true
			}
			s := &session{flags: sspi.FlagReplayDetect | sspi.FlagSequenceDetect}
			s.initiator, s.acceptorSubkey, s.etype, s.key = true, acc, key.KeyType, key.KeyValue
			s.recv = newSeqState(uint64(uint32(part.SequenceNumber)), true, true, isCFX(key.KeyType))
			if err := s.init(); err != nil {
				t.Fatal(err)
			}
			replayMessages(t, &userContext{s: s, now: now}, tr.AcceptorWraps, tr.AcceptorMICs)
			// A tampered AP-REP fails mutual authentication.
			bad := append([]byte(nil), msg...)
			bad[len(bad)-1] ^= 1
			if _, err := parseAPRep(bad, sk); sspi.StatusOf(err) != sspi.SEC_E_MUTUAL_AUTH_FAILED {
				t.Fatalf("tampered AP-REP: %v", err)
			}
		})
	}
}

func TestTranscriptKRBError(t *testing.T) {
	tr := loadTranscript(t, "aes256")
	e, err := parseKRBError(tr.KRBError)
	if err != nil || e.ErrorCode != 25 || e.Realm != tr.Realm {
		t.Fatalf("KRB-ERROR: %v %+v", err, e)
	}
	for n := 0; n < len(tr.KRBError); n++ {
		if _, err := parseKRBError(tr.KRBError[:n]); err == nil {
			t.Fatalf("truncated KRB-ERROR of %d bytes parsed", n)
		}
	}
	_ = gss.OIDKerberos
}
