package kerberos

import (
	"context"
	"testing"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

const dceISC = sspi.ISC_REQ_USE_DCE_STYLE | sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT

// DCE style (MS-KILE): bare AP-REQ, bare AP-REP, then the initiator's own
// AP-REP; our initiator and acceptor, then each against MIT.
func TestDCEStyle(t *testing.T) {
	realm := liveRealm(t)
	ctx := context.Background()
	for _, tc := range []struct{ name, spn, host, keytab string }{
		{"aes", svcSPN, "HTTP@svc.localhost", realm.svcKeytab},
		{"rc4", rc4SPN, "HTTP@rc4.localhost", realm.rc4Keytab},
	} {
		t.Run(tc.name+"/loopback", func(t *testing.T) {
			p := New(Config{})
			ccred, scred := clientCred(t, p), serverCred(t, p, tc.keytab, "")
			c, o1, err := p.InitLsaModeContext(ctx, ccred, nil, &secpkg.InitContextParams{TargetName: tc.spn, ContextReq: dceISC})
			if err != nil || o1.Status != sspi.SEC_I_CONTINUE_NEEDED || outToken(o1)[0] != 0x6e {
				t.Fatalf("leg 1: %v %v", o1.Status, err)
			}
			s, o2, err := p.AcceptLsaModeContext(ctx, scred, nil, &secpkg.AcceptContextParams{ContextReq: sspi.ASC_REQ_USE_DCE_STYLE, Input: tokenDesc(outToken(o1), nil)})
			if err != nil || o2.Status != sspi.SEC_I_CONTINUE_NEEDED || outToken(o2)[0] != 0x6f || o2.Mapped {
				t.Fatalf("leg 2: %v %v", o2.Status, err)
			}
			_, o3, err := p.InitLsaModeContext(ctx, ccred, c, &secpkg.InitContextParams{TargetName: tc.spn, ContextReq: dceISC, Input: tokenDesc(outToken(o2), nil)})
			if err != nil || o3.Status != sspi.SEC_E_OK || len(outToken(o3)) == 0 || o3.Flags&sspi.FlagDCEStyle == 0 {
				t.Fatalf("leg 3: %v %v", o3.Status, err)
			}
			// A tampered third leg is refused; the real one completes.
			bad := append([]byte(nil), outToken(o3)...)
			bad[len(bad)-2] ^= 1
			if _, _, err := p.AcceptLsaModeContext(ctx, scred, s, &secpkg.AcceptContextParams{Input: tokenDesc(bad, nil)}); sspi.StatusOf(err) != sspi.SEC_E_MESSAGE_ALTERED {
				t.Fatalf("tampered third leg: %v", err)
			}
			_, o4, err := p.AcceptLsaModeContext(ctx, scred, s, &secpkg.AcceptContextParams{Input: tokenDesc(outToken(o3), nil)})
			if err != nil || o4.Status != sspi.SEC_E_OK || !o4.Mapped || o4.Flags&sspi.FlagDCEStyle == 0 {
				t.Fatalf("leg 4: %v %v", o4.Status, err)
			}
			cu, _ := UserMode().InitUserModeContext(o3.ContextData)
			su, _ := UserMode().InitUserModeContext(o4.ContextData)
			sealRoundTrip(t, cu, su, []byte("dce hello, long enough for the in-place path"), 0)
			sealRoundTrip(t, su, cu, []byte("dce reply"), 0)
			signRoundTrip(t, cu, su, []byte("signed"))
		})
		t.Run(tc.name+"/mit-to-ours", func(t *testing.T) {
			mit := startMIT(t, "KRB5CCNAME=FILE:"+realm.fwdCCache)
			p := New(Config{})
			scred := serverCred(t, p, tc.keytab, "")
			r := mit.call(map[string]any{"op": "init", "target": tc.host, "flags": []string{"dce", "mutual", "replay", "sequence", "conf", "integ"}}, false)
			s, o, err := p.AcceptLsaModeContext(ctx, scred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(r.token(), nil)})
			if err != nil || o.Status != sspi.SEC_I_CONTINUE_NEEDED {
				t.Fatalf("ASC leg 1: %v %v", o.Status, err)
			}
			r = mit.call(map[string]any{"op": "step", "token": b64(outToken(o))}, false)
			if !r.Complete || len(r.token()) == 0 {
				t.Fatalf("MIT did not send its AP-REP: %+v", r)
			}
			_, o, err = p.AcceptLsaModeContext(ctx, scred, s, &secpkg.AcceptContextParams{Input: tokenDesc(r.token(), nil)})
			if err != nil || o.Status != sspi.SEC_E_OK || !o.Mapped {
				t.Fatalf("ASC leg 2: %v %v", o.Status, err)
			}
			uc, _ := UserMode().InitUserModeContext(o.ContextData)
			exchangeMessages(t, uc, mit)
		})
		t.Run(tc.name+"/ours-to-mit", func(t *testing.T) {
			mit := startMIT(t)
			p := New(Config{})
			ccred := clientCred(t, p)
			c, o, err := p.InitLsaModeContext(ctx, ccred, nil, &secpkg.InitContextParams{TargetName: tc.spn, ContextReq: dceISC})
			if err != nil {
				t.Fatal(err)
			}
			r := mit.call(map[string]any{"op": "accept", "token": b64(outToken(o)), "keytab": tc.keytab}, false)
			if r.Complete {
				t.Fatal("MIT acceptor complete before the third leg")
			}
			_, o, err = p.InitLsaModeContext(ctx, ccred, c, &secpkg.InitContextParams{TargetName: tc.spn, ContextReq: dceISC, Input: tokenDesc(r.token(), nil)})
			if err != nil || o.Status != sspi.SEC_E_OK {
				t.Fatalf("ISC leg 2: %v %v", o.Status, err)
			}
			r = mit.call(map[string]any{"op": "step", "token": b64(outToken(o))}, false)
			if !r.Complete {
				t.Fatal("MIT acceptor not complete after our AP-REP")
			}
			uc, _ := UserMode().InitUserModeContext(o.ContextData)
			exchangeMessages(t, uc, mit)
		})
	}
}
