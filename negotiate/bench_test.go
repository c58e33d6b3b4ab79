package negotiate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Benchmarks: token parsing and encoding, and a full handshake (both sides
// in one process) through Negotiate beside the same inner package's bare
// handshake, for NTLM and for Kerberos. Run with
//
//	go test -run '^$' -bench . -benchmem ./negotiate

func BenchmarkParseToken(b *testing.B) {
	legs := loadLegs(b, "mit-ntlm-handshake.jsonl")
	raw, err := os.ReadFile(filepath.Join("testdata", "curl-negotiate.json"))
	if err != nil {
		b.Fatal(err)
	}
	var rec curlRecording
	json.Unmarshal(raw, &rec)
	for _, tc := range []struct {
		name string
		tok  []byte
	}{
		{"NegTokenInit-NTLM", legs[0]},
		{"NegTokenInit-Kerberos-curl", mustB64(b, rec.Token)},
		{"NegTokenResp-challenge", legs[1]},
		{"NegTokenResp-mic", legs[3]},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.tok)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := spnego.ParseToken(tc.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	legs := loadLegs(b, "mit-ntlm-handshake.jsonl")
	init, _, _ := spnego.ParseToken(legs[0])
	_, resp, _ := spnego.ParseToken(legs[1])
	b.Run("NegTokenInit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			t := &spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDKerberos, spnego.OIDMSKerberos, spnego.OIDNTLM}, MechToken: init.MechToken}
			if _, err := t.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("NegTokenResp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := resp.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// handshakeOnce runs one complete handshake between two LSA-mode packages
// with the given credentials. With um set it also maps both contexts, as
// the host does: the user-mode halves are rebuilt from ContextData.
func handshakeOnce(b *testing.B, cp, sp secpkg.LsaModePackage, ccred, scred secpkg.LsaCredential, target string, req sspi.ISCReq, um sspi.UserModePackage) {
	ctx := context.Background()
	var cctx, sctx secpkg.LsaContext
	var in, cdata, sdata []byte
	cdone, sdone := false, false
	for i := 0; i < 8; i++ {
		var d *sspi.SecBufferDesc
		if in != nil {
			d = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: in})
		}
		var out secpkg.ContextOutput
		var err error
		if i%2 == 0 {
			if cdone {
				break
			}
			cctx, out, err = cp.InitLsaModeContext(ctx, ccred, cctx, &secpkg.InitContextParams{TargetName: target, ContextReq: req, Input: d})
			cdone = err == nil && out.Status == sspi.SEC_E_OK
			cdata = out.ContextData
		} else {
			if sdone {
				break
			}
			sctx, out, err = sp.AcceptLsaModeContext(ctx, scred, sctx, &secpkg.AcceptContextParams{Input: d})
			sdone = err == nil && out.Status == sspi.SEC_E_OK
			sdata = out.ContextData
		}
		if err != nil {
			b.Fatalf("leg %d: %v", i, err)
		}
		in = tok(out)
		if len(in) == 0 {
			in = nil
		}
		if cdone && sdone && in == nil {
			break
		}
	}
	if !cdone || !sdone {
		b.Fatal("handshake did not finish")
	}
	cctx.Delete()
	sctx.Delete()
	if um != nil {
		for _, d := range [][]byte{cdata, sdata} {
			u, err := um.InitUserModeContext(d)
			if err != nil {
				b.Fatal(err)
			}
			u.Delete()
		}
	}
}

func credOf(b *testing.B, p secpkg.LsaModePackage, use sspi.CredentialUse, id *sspi.AuthIdentity) secpkg.LsaCredential {
	c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: use, AuthData: id})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkHandshakeNTLM: NEGOTIATE, CHALLENGE, AUTHENTICATE bare, and the
// same inside SPNEGO with the mechListMIC exchange (one more leg).
func BenchmarkHandshakeNTLM(b *testing.B) {
	store := ntlm.NewMemoryStore()
	store.Add(ntlmDomain, ntlmUser, ntlmPass)
	np, nego, nps, negos := ntlmPairs(b, store)
	id := &sspi.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPass}
	req := sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY
	for _, tc := range []struct {
		name string
		p, s secpkg.LsaModePackage
		um   sspi.UserModePackage
	}{{"bare", np, nps, nil}, {"negotiate", nego, negos, nil}, {"bare+map", np, nps, ntlm.UserMode()}, {"negotiate+map", nego, negos, negos}} {
		b.Run(tc.name, func(b *testing.B) {
			cc, sc := credOf(b, tc.p, sspi.SECPKG_CRED_OUTBOUND, id), credOf(b, tc.s, sspi.SECPKG_CRED_INBOUND, nil)
			b.ReportAllocs()
			for b.Loop() {
				handshakeOnce(b, tc.p, tc.s, cc, sc, "HTTP/"+svcHost, req, tc.um)
			}
		})
	}
}

// BenchmarkHandshakeKerberos: AP-REQ and AP-REP (mutual authentication)
// bare, and inside SPNEGO. The service ticket is cached in the credential
// after the first handshake, so the KDC is not in the loop.
func BenchmarkHandshakeKerberos(b *testing.B) {
	r := realm(b)
	kp := kerberos.New(kerberos.Config{Krb5Conf: r.Krb5Con, Keytab: r.svcKeytab, DisableReplayCache: true})
	nego, err := New(Config{Packages: []secpkg.LsaModePackage{kp}, UserPackages: []sspi.UserModePackage{kerberos.UserMode()}})
	if err != nil {
		b.Fatal(err)
	}
	req := sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY
	for _, tc := range []struct {
		name string
		p    secpkg.LsaModePackage
		um   sspi.UserModePackage
	}{{"bare", kp, nil}, {"negotiate", nego, nil}, {"bare+map", kp, kerberos.UserMode()}, {"negotiate+map", nego, nego}} {
		b.Run(tc.name, func(b *testing.B) {
			cc, sc := credOf(b, tc.p, sspi.SECPKG_CRED_OUTBOUND, krbIdentity(r)), credOf(b, tc.p, sspi.SECPKG_CRED_INBOUND, nil)
			handshakeOnce(b, tc.p, tc.p, cc, sc, svcSPN, req, nil) // fetch the service ticket
			b.ReportAllocs()
			for b.Loop() {
				handshakeOnce(b, tc.p, tc.p, cc, sc, svcSPN, req, tc.um)
			}
		})
	}
}

// pairedOverhead alternates a bare and a Negotiate handshake in one loop,
// timing each, so that both see the same machine load; it reports both
// times and Negotiate's overhead in percent.
func pairedOverhead(b *testing.B, bare, nego func()) {
	var tb, tn time.Duration
	i := 0
	for b.Loop() {
		// Alternate the order so that neither side pays for the other's
		// garbage more often.
		if i++; i%2 == 0 {
			t0 := time.Now()
			bare()
			t1 := time.Now()
			nego()
			tn += time.Since(t1)
			tb += t1.Sub(t0)
		} else {
			t0 := time.Now()
			nego()
			t1 := time.Now()
			bare()
			tb += time.Since(t1)
			tn += t1.Sub(t0)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(tb.Nanoseconds())/n, "bare-ns/op")
	b.ReportMetric(float64(tn.Nanoseconds())/n, "negotiate-ns/op")
	b.ReportMetric(100*(float64(tn)/float64(tb)-1), "overhead-%")
}

// BenchmarkOverhead: Negotiate's cost over the bare inner handshake, paired
// in one loop. "map" also rebuilds both user-mode contexts from
// ContextData, as the host does after every handshake.
func BenchmarkOverhead(b *testing.B) {
	store := ntlm.NewMemoryStore()
	store.Add(ntlmDomain, ntlmUser, ntlmPass)
	np, nn, nps, nns := ntlmPairs(b, store)
	nid := &sspi.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPass}
	r := realm(b)
	kp := kerberos.New(kerberos.Config{Krb5Conf: r.Krb5Con, Keytab: r.svcKeytab, DisableReplayCache: true})
	kn, err := New(Config{Packages: []secpkg.LsaModePackage{kp}, UserPackages: []sspi.UserModePackage{kerberos.UserMode()}})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		bare, nego   secpkg.LsaModePackage
		bares, negos secpkg.LsaModePackage // the server side
		bum, num     sspi.UserModePackage
		id           *sspi.AuthIdentity
		target       string
		req          sspi.ISCReq
		fetchTickets bool
	}{
		{"NTLM", np, nn, nps, nns, nil, nil, nid, "HTTP/" + svcHost, sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY, false},
		{"NTLM+map", np, nn, nps, nns, ntlm.UserMode(), nn, nid, "HTTP/" + svcHost, sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY, false},
		{"Kerberos", kp, kn, kp, kn, nil, nil, krbIdentity(r), svcSPN, sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY, true},
		{"Kerberos+map", kp, kn, kp, kn, kerberos.UserMode(), kn, krbIdentity(r), svcSPN, sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bc, bs := credOf(b, tc.bare, sspi.SECPKG_CRED_OUTBOUND, tc.id), credOf(b, tc.bares, sspi.SECPKG_CRED_INBOUND, nil)
			nc, ns := credOf(b, tc.nego, sspi.SECPKG_CRED_OUTBOUND, tc.id), credOf(b, tc.negos, sspi.SECPKG_CRED_INBOUND, nil)
			if tc.fetchTickets {
				handshakeOnce(b, tc.bare, tc.bares, bc, bs, tc.target, tc.req, nil)
				handshakeOnce(b, tc.nego, tc.negos, nc, ns, tc.target, tc.req, nil)
			}
			pairedOverhead(b,
				func() { handshakeOnce(b, tc.bare, tc.bares, bc, bs, tc.target, tc.req, tc.bum) },
				func() { handshakeOnce(b, tc.nego, tc.negos, nc, ns, tc.target, tc.req, tc.num) })
		})
	}
}

// BenchmarkMechListMIC is the mechListMIC work Negotiate adds to an NTLM
// handshake, per side: rebuild the inner user-mode context from its
// ContextData (NTLM derives its sealing keys and RC4 states there), make
// or verify the MIC over the mechanism list, and export the state.
func BenchmarkMechListMIC(b *testing.B) {
	work := mechListMICWork(b)
	b.ReportAllocs()
	for b.Loop() {
		work()
	}
}
