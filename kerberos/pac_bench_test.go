package kerberos

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"

	"github.com/gosspi/gosspi/internal/pactest"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

var benchAuthSeq atomic.Int64

// freshADAPReqs makes n AP-REQs from the recorded AD ticket that are
// valid now: the ticket (its PAC untouched) with its endtime moved past
// now, and n authenticators of the recorded one's session key with fresh
// times, so that acceptors with replay caches take each once. gokrb5
// checks times against the wall clock, so the tokens are made for it.
func (r *adPAC) freshAPReqs(b *testing.B, n int) [][]byte {
	b.Helper()
	key := r.serviceKey(b)
	ap, err := pactest.ParseAPReq(r.APReq)
	if err != nil {
		b.Fatal(err)
	}
	et, err := ap.Ticket(key)
	if err != nil {
		b.Fatal(err)
	}
	now := sysenv.Now().UTC().Truncate(time.Second)
	if et, err = pactest.SetTimes(et, 3, map[int]time.Time{7: now.Add(10 * time.Hour), 8: now.Add(24 * time.Hour)}, nil); err != nil {
		b.Fatal(err)
	}
	if err := ap.SetTicket(et, key); err != nil {
		b.Fatal(err)
	}
	sk, err := pactest.SessionKey(et)
	if err != nil {
		b.Fatal(err)
	}
	auth, err := ap.Authenticator(sk)
	if err != nil {
		b.Fatal(err)
	}
	out := make([][]byte, n)
	for i := range out {
		// Distinct across the rounds of a benchmark: gokrb5's replay
		// cache is global.
		j := benchAuthSeq.Add(1)
		a, err := pactest.SetTimes(auth, 2, map[int]time.Time{5: now.Add(time.Duration(j/1000000) * time.Second)}, map[int]int64{4: j % 1000000})
		if err != nil {
			b.Fatal(err)
		}
		if err := ap.SetAuthenticator(a, sk); err != nil {
			b.Fatal(err)
		}
		out[i] = ap.Bytes()
	}
	return out
}

// BenchmarkAcceptADPAC accepts the recorded Samba AD ticket of a user in
// fourteen groups (kerberos/testdata/ad-pac.json): gosspi's acceptor
// verifies the AP-REQ, decodes and verifies the PAC (server signature,
// client info) into the identity, and builds the AP-REP, replay cache on;
// gokrb5's service.VerifyAPREQ verifies the AP-REQ and decodes and
// verifies the PAC (PAC decoding on, its default; its global replay cache
// on; no AP-REP). Both get the same fresh AP-REQ per iteration.
func BenchmarkAcceptADPAC(b *testing.B) {
	r := loadADPAC(b)
	b.Run("gosspi", func(b *testing.B) {
		p := New(Config{})
		cred := serverCred(b, p, r.Keytab, r.SPN)
		toks := r.freshAPReqs(b, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(toks[i], nil)})
			if err != nil {
				b.Fatal(err)
			}
			c.Delete()
		}
	})
	b.Run("gosspi-norcache", func(b *testing.B) {
		p := New(Config{DisableReplayCache: true})
		cred := serverCred(b, p, r.Keytab, r.SPN)
		tok := r.freshAPReqs(b, 1)[0]
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(tok, nil)})
			if err != nil {
				b.Fatal(err)
			}
			c.Delete()
		}
	})
	gokrb5 := func(b *testing.B, decodePAC bool) {
		kt, err := keytab.Load(r.Keytab)
		if err != nil {
			b.Fatal(err)
		}
		settings := service.NewSettings(kt, service.DecodePAC(decodePAC))
		toks := r.freshAPReqs(b, b.N)
		for i := range toks {
			toks[i] = innerOf(toks[i])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			var ap messages.APReq
			if err := ap.Unmarshal(toks[i]); err != nil {
				b.Fatal(err)
			}
			ok, creds, err := service.VerifyAPREQ(&ap, settings)
			if !ok || err != nil {
				b.Fatal(err)
			}
			if i == 0 && decodePAC && len(creds.GetADCredentials().GroupMembershipSIDs) < 14 {
				b.Fatalf("gokrb5 read %d groups", len(creds.GetADCredentials().GroupMembershipSIDs))
			}
		}
	}
	b.Run("gokrb5-VerifyAPREQ-PAC", func(b *testing.B) { gokrb5(b, true) })
	// The same without the PAC: how much of gokrb5's time the PAC takes.
	b.Run("gokrb5-VerifyAPREQ-noPAC", func(b *testing.B) { gokrb5(b, false) })
}

// BenchmarkAcceptADPACPaired is BenchmarkAcceptADPAC's gosspi (replay
// cache on) and gokrb5 (PAC decoding on) sides paired within one run: each
// iteration accepts one fresh AP-REQ on each, in rounds of 256 whose order
// alternates, so that both see the same machine load. It reports each
// side's ns per accept and the ratio gokrb5/gosspi.
func BenchmarkAcceptADPACPaired(b *testing.B) {
	r := loadADPAC(b)
	p := New(Config{})
	cred := serverCred(b, p, r.Keytab, r.SPN)
	kt, err := keytab.Load(r.Keytab)
	if err != nil {
		b.Fatal(err)
	}
	settings := service.NewSettings(kt)
	ours := r.freshAPReqs(b, b.N)
	theirs := r.freshAPReqs(b, b.N)
	for i := range theirs {
		theirs[i] = innerOf(theirs[i])
	}
	gosspi := func(toks [][]byte) time.Duration {
		start := time.Now()
		for _, tok := range toks {
			c, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(tok, nil)})
			if err != nil {
				b.Fatal(err)
			}
			c.Delete()
		}
		return time.Since(start)
	}
	gokrb5 := func(toks [][]byte) time.Duration {
		start := time.Now()
		for _, tok := range toks {
			var ap messages.APReq
			if err := ap.Unmarshal(tok); err != nil {
				b.Fatal(err)
			}
			if ok, _, err := service.VerifyAPREQ(&ap, settings); !ok || err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	const round = 256
	var tOurs, tTheirs time.Duration
	b.ResetTimer()
	for off, i := 0, 0; off < b.N; off, i = off+round, i+1 {
		end := min(off+round, b.N)
		if i%2 == 0 {
			tOurs += gosspi(ours[off:end])
			tTheirs += gokrb5(theirs[off:end])
		} else {
			tTheirs += gokrb5(theirs[off:end])
			tOurs += gosspi(ours[off:end])
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(tOurs.Nanoseconds())/float64(b.N), "gosspi-ns/accept")
	b.ReportMetric(float64(tTheirs.Nanoseconds())/float64(b.N), "gokrb5-ns/accept")
	b.ReportMetric(float64(tTheirs)/float64(tOurs), "gokrb5/gosspi")
}

// BenchmarkDecodePAC is the PAC part alone: decode, verify the server
// signature, check the client info and build the identity, against
// gokrb5's PACType Unmarshal and ProcessPACInfoBuffers.
func BenchmarkDecodePAC(b *testing.B) {
	r := loadADPAC(b)
	raw := r.pac(b)
	key := r.serviceKey(b)
	b.Run("gosspi", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			p, err := decodePAC(raw)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.verifyServerSignature(key.KeyType, key.KeyValue); err != nil {
				b.Fatal(err)
			}
			if len(p.identity().groups) < 14 {
				b.Fatal("groups")
			}
		}
	})
}
