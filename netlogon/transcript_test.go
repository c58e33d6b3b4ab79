package netlogon

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

var record = flag.Bool("record", false, "record the NETLOGON transcripts under testdata/ from the Samba DC")

// transcript is a recorded NETLOGON exchange: a logon through a fresh
// Client (a secure channel set up, then NetrLogonSamLogonEx), with the
// client's clock and random seed, every PDU of every connection, and what
// the logon returned.
type transcript struct {
	Samba       string     `json:"samba"`
	Time        time.Time  `json:"time"`
	Seed        string     `json:"seed"`
	Domain      string     `json:"domain"`
	DNSDomain   string     `json:"dns_domain"`
	Account     string     `json:"account"`
	NTHash      string     `json:"nt_hash"` // of the throwaway test DC's machine account
	User        string     `json:"user"`
	UserDomain  string     `json:"user_domain"`
	Workstation string     `json:"workstation"`
	Challenge   string     `json:"challenge"`
	NT          string     `json:"nt_response"`
	LM          string     `json:"lm_response"`
	Conns       [][]pduRec `json:"connections"`
	SessionKey  string     `json:"netlogon_session_key"`
	// What VerifyResponse returned.
	Want wantLogon `json:"want"`
}

type pduRec struct {
	Out bool   `json:"out"`
	PDU string `json:"pdu"`
}

type wantLogon struct {
	User, Domain, SID, SessionKey, UPN, DNSDomain string
	Groups                                        []string
	Status                                        string `json:",omitempty"`
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadTranscript(t testing.TB, name string) *transcript {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var tr transcript
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return &tr
}

// replayConfig is the Client configuration of a transcript, pointed at addr.
func (tr *transcript) config(t testing.TB, addr string) Config {
	var h [16]byte
	copy(h[:], unhex(t, tr.NTHash))
	at := tr.Time
	return Config{DC: addr, Domain: tr.Domain, DNSDomain: tr.DNSDomain, Account: tr.Account, NTHash: h,
		Now: func() time.Time { return at }, Rand: &testutil.SeededReader{Seed: tr.Seed}}
}

func (tr *transcript) request(t testing.TB) *ntlm.VerifyRequest {
	r := &ntlm.VerifyRequest{User: tr.User, Domain: tr.UserDomain, Workstation: tr.Workstation,
		NTResponse: unhex(t, tr.NT), LMResponse: unhex(t, tr.LM)}
	copy(r.ServerChallenge[:], unhex(t, tr.Challenge))
	return r
}

// replayServer answers each connection, in the order the client makes
// them, with the transcript's PDUs, checking that the client sends
// exactly the recorded ones.
func replayServer(t *testing.T, tr *transcript) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for i := 0; ; i++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			if i >= len(tr.Conns) {
				t.Errorf("connection %d not in the transcript", i)
				nc.Close()
				return
			}
			go func(nc net.Conn, pdus []pduRec, i int) {
				defer nc.Close()
				for j, p := range pdus {
					want := unhex(t, p.PDU)
					if !p.Out {
						if _, err := nc.Write(want); err != nil {
							t.Errorf("connection %d PDU %d: %v", i, j, err)
							return
						}
						continue
					}
					got := make([]byte, len(want))
					if _, err := io.ReadFull(nc, got); err != nil {
						t.Errorf("connection %d PDU %d: %v", i, j, err)
						return
					}
					if !slices.Equal(got, want) {
						t.Errorf("connection %d PDU %d differs from the transcript:\n got %x\nwant %x", i, j, got, want)
						return
					}
				}
			}(nc, tr.Conns[i], i)
		}
	}()
	return ln.Addr().String()
}

// TestReplayTranscripts runs the Client against the recorded DC: the
// requests it sends must be the recorded ones byte for byte (the same
// NDR, credentials, authenticator and seal), and what it decodes from
// the recorded replies the recorded result.
func TestReplayTranscripts(t *testing.T) {
	for _, name := range []string{"samlogon-alice.json", "samlogon-wrong-password.json"} {
		t.Run(name, func(t *testing.T) {
			tr := loadTranscript(t, name)
			addr := replayServer(t, tr)
			c, err := New(tr.config(t, addr))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l, err := c.VerifyResponse(ctx, tr.request(t))
			checkWant(t, tr.Want, l, err)
			if got := hex.EncodeToString(c.sess.sk[:]); got != tr.SessionKey {
				t.Errorf("session key %s, recorded %s", got, tr.SessionKey)
			}
		})
	}
}

func checkWant(t *testing.T, w wantLogon, l *ntlm.VerifiedLogon, err error) {
	t.Helper()
	if w.Status != "" {
		if err == nil || sspi.StatusOf(err).String() != w.Status {
			t.Fatalf("logon: %v, want status %s", err, w.Status)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if l.User != w.User || l.Domain != w.Domain || l.SID != w.SID || hex.EncodeToString(l.SessionKey[:]) != w.SessionKey ||
		l.UPN != w.UPN || l.DNSDomain != w.DNSDomain || !slices.Equal(l.Groups, w.Groups) {
		t.Fatalf("logon %+v, want %+v", l, w)
	}
}

// sealedStubs returns the decrypted stubs of a transcript's sealed
// connection (its last), for fuzz seeds and decoding tests: requests and
// responses in order.
func sealedStubs(t testing.TB, tr *transcript) (reqs, resps [][]byte) {
	var sk [16]byte
	copy(sk[:], unhex(t, tr.SessionKey))
	conn := tr.Conns[len(tr.Conns)-1]
	s := &schannel{sk: sk}
	headerSign := false
	for _, p := range conn {
		pdu := unhex(t, p.PDU)
		if pdu[2] == 12 { // bind_ack: PFC_SUPPORT_HEADER_SIGN?
			headerSign = pdu[3]&0x04 != 0
		}
		if pdu[2] != 0 && pdu[2] != 2 { // bind, bind_ack
			continue
		}
		authLen := int(pdu[10]) | int(pdu[11])<<8
		body := pdu[24 : len(pdu)-authLen-8]
		sig := pdu[len(pdu)-authLen:]
		pad := int(pdu[len(pdu)-authLen-8+2])
		if p.Out {
			// Our own requests: undo the seal with the client's key stream.
			seq := s.seqBytes(true)
			var conf [8]byte
			copy(conf[:], sig[sigConfOff:])
			k := s.sealKey()
			d := newCFB8(k[:], doubled(seq), true)
			d.XORKeyStream(conf[:], conf[:])
			d.XORKeyStream(body, body)
			s.seq++
			reqs = append(reqs, body[:len(body)-pad])
			continue
		}
		signed := body
		if headerSign {
			signed = pdu[:len(pdu)-authLen]
		}
		if err := s.Unseal(body, signed, sig); err != nil {
			t.Fatalf("recorded response does not unseal: %v", err)
		}
		resps = append(resps, body[:len(body)-pad])
	}
	return reqs, resps
}
