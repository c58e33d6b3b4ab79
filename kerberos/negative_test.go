package kerberos

import (
	"bytes"
	"context"
	"testing"
	"time"

	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

func wantStatus(t *testing.T, err error, want sspi.Status) {
	t.Helper()
	if got := sspi.StatusOf(err); got != want {
		t.Fatalf("got %v (%v), want %v", got, err, want)
	}
}

// apReqToken makes a fresh AP-REQ token from our initiator.
func apReqToken(t *testing.T, p *Package, spn string, isc sspi.ISCReq, cb *sspi.ChannelBindings) []byte {
	t.Helper()
	_, out, err := p.InitLsaModeContext(context.Background(), clientCred(t, p), nil, &secpkg.InitContextParams{TargetName: spn, ContextReq: isc, Input: tokenDesc(nil, cb)})
	if err != nil {
		t.Fatal(err)
	}
	return outToken(out)
}

func accept(p *Package, cred secpkg.LsaCredential, tok []byte, cb *sspi.ChannelBindings, req sspi.ASCReq) (secpkg.ContextOutput, error) {
	_, out, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{ContextReq: req, Input: tokenDesc(tok, cb)})
	return out, err
}

// parseAPReqToken unframes a token into a gokrb5 AP-REQ, for tampering.
func parseAPReqToken(t *testing.T, tok []byte) messages.APReq {
	t.Helper()
	id, msg, _, err := unframeToken(tok)
	if err != nil || id != tokAPReq {
		t.Fatal(err)
	}
	var ap messages.APReq
	if err := ap.Unmarshal(msg); err != nil {
		t.Fatal(err)
	}
	return ap
}

func apReqFrame(t *testing.T, ap messages.APReq) []byte {
	b, err := ap.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return frameToken(tokAPReq, b)
}

// forgedAPReq builds an AP-REQ around a ticket we forge with the service
// keytab, with chosen times.
func forgedAPReq(t *testing.T, ktPath string, start, end, ctime time.Time) []byte {
	realm := liveRealm(t)
	t.Helper()
	kt, err := keytab.Load(ktPath)
	if err != nil {
		t.Fatal(err)
	}
	cname := types.PrincipalName{NameType: nametype.KRB_NT_PRINCIPAL, NameString: []string{"alice"}}
	sname := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"HTTP", "svc.localhost"}}
	var kvno int
	for _, e := range kt.Entries {
		if e.Key.KeyType == etypeAES256SHA1 {
			kvno = int(e.KVNO)
		}
	}
	tkt, skey, err := messages.NewTicket(cname, realm.Name, sname, realm.Name, types.NewKrbFlags(), kt, etypeAES256SHA1, kvno, start, start, end, end)
	if err != nil {
		t.Fatal(err)
	}
	ck := &gssChecksum{Flags: gssMutualFlag | gssIntegFlag | gssConfFlag}
	auth := types.Authenticator{AVNO: 5, CRealm: realm.Name, CName: cname, Cksum: types.Checksum{CksumType: cksumTypeGSS, Checksum: ck.marshal()},
		CTime: ctime.UTC().Truncate(time.Second), Cusec: 1, SeqNumber: 7}
	ab, _ := auth.Marshal()
	ed, err := krbcrypto.GetEncryptedData(ab, skey, usageAuthenticator, 0)
	if err != nil {
		t.Fatal(err)
	}
	return apReqFrame(t, messages.APReq{PVNO: 5, MsgType: 14, APOptions: types.NewKrbFlags(), Ticket: tkt, EncryptedAuthenticator: ed})
}

func TestNegativeAcceptor(t *testing.T) {
	realm := liveRealm(t)
	p := New(Config{})
	svc := serverCred(t, p, realm.svcKeytab, "")
	now := time.Now()

	t.Run("wrong-kvno", func(t *testing.T) {
		tok := apReqToken(t, p, svcSPN, stdISC, nil)
		ap := parseAPReqToken(t, tok)
		ap.Ticket.EncPart.KVNO += 5
		_, err := accept(p, svc, apReqFrame(t, ap), nil, 0)
		wantStatus(t, err, sspi.SEC_E_NO_KERB_KEY)
	})
	t.Run("wrong-key", func(t *testing.T) {
		tok := apReqToken(t, p, svcSPN, stdISC, nil)
		ap := parseAPReqToken(t, tok)
		kt := keytab.New()
		if err := kt.AddEntry(svcSPN, realm.Name, "not the key", now, uint8(ap.Ticket.EncPart.KVNO), ap.Ticket.EncPart.EType); err != nil {
			t.Fatal(err)
		}
		path := t.TempDir() + "/wrong.keytab"
		b, _ := kt.Marshal()
		writeFile(t, path, b)
		_, err := accept(p, serverCred(t, p, path, ""), tok, nil, 0)
		wantStatus(t, err, sspi.SEC_E_WRONG_PRINCIPAL)
	})
	t.Run("expired-ticket", func(t *testing.T) {
		tok := forgedAPReq(t, realm.svcKeytab, now.Add(-3*time.Hour), now.Add(-time.Hour), now)
		_, err := accept(p, svc, tok, nil, 0)
		wantStatus(t, err, sspi.SEC_E_CONTEXT_EXPIRED)
	})
	t.Run("ticket-not-yet-valid", func(t *testing.T) {
		tok := forgedAPReq(t, realm.svcKeytab, now.Add(time.Hour), now.Add(3*time.Hour), now)
		_, err := accept(p, svc, tok, nil, 0)
		wantStatus(t, err, sspi.SEC_E_TIME_SKEW)
	})
	t.Run("forged-ticket-accepted", func(t *testing.T) {
		// The forging helper itself is sound: a good forged ticket passes.
		tok := forgedAPReq(t, realm.svcKeytab, now.Add(-time.Minute), now.Add(time.Hour), now)
		if _, err := accept(p, svc, tok, nil, 0); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("clock-skew", func(t *testing.T) {
		skewed := New(Config{Now: func() time.Time { return time.Now().Add(10 * time.Minute) }, ClockSkew: 5 * time.Minute})
		tok := apReqToken(t, p, svcSPN, stdISC, nil)
		_, err := accept(skewed, serverCred(t, skewed, realm.svcKeytab, ""), tok, nil, 0)
		wantStatus(t, err, sspi.SEC_E_TIME_SKEW)
	})
	t.Run("wrong-service-principal", func(t *testing.T) {
		tok := apReqToken(t, p, svcSPN, stdISC, nil)
		_, err := accept(p, serverCred(t, p, realm.allKeytab, otherSPN), tok, nil, 0)
		wantStatus(t, err, sspi.SEC_E_WRONG_PRINCIPAL)
		_, err = accept(p, serverCred(t, p, realm.otherKeytab, ""), tok, nil, 0)
		wantStatus(t, err, sspi.SEC_E_WRONG_PRINCIPAL)
	})
	t.Run("replayed-ap-req", func(t *testing.T) {
		tok := apReqToken(t, p, svcSPN, stdISC, nil)
		if _, err := accept(p, svc, tok, nil, 0); err != nil {
			t.Fatal(err)
		}
		_, err := accept(p, svc, tok, nil, 0)
		wantStatus(t, err, sspi.SEC_E_OUT_OF_SEQUENCE)
	})
	t.Run("tampered-authenticator", func(t *testing.T) {
		tok := apReqToken(t, p, svcSPN, stdISC, nil)
		ap := parseAPReqToken(t, tok)
		ap.EncryptedAuthenticator.Cipher[20] ^= 0x01
		_, err := accept(p, svc, apReqFrame(t, ap), nil, 0)
		wantStatus(t, err, sspi.SEC_E_MESSAGE_ALTERED)
	})
	t.Run("tampered-channel-bindings", func(t *testing.T) {
		tok := apReqToken(t, p, svcSPN, stdISC, testCB)
		other := &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:tampered")}
		_, err := accept(p, svc, tok, other, 0)
		wantStatus(t, err, sspi.SEC_E_BAD_BINDINGS)
		// Required bindings and a client that sent none.
		req := New(Config{})
		tok = apReqToken(t, p, svcSPN, stdISC, nil)
		_, err = accept(req, serverCred(t, req, realm.svcKeytab, ""), tok, testCB, 0)
		wantStatus(t, err, sspi.SEC_E_BAD_BINDINGS)
		// Matching bindings pass.
		tok = apReqToken(t, p, svcSPN, stdISC, testCB)
		if _, err := accept(req, serverCred(t, req, realm.svcKeytab, ""), tok, testCB, 0); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		tok := apReqToken(t, p, svcSPN, stdISC, nil)
		out, err := accept(p, svc, tok[:len(tok)-10], nil, 0)
		wantStatus(t, err, sspi.SEC_E_INCOMPLETE_MESSAGE)
		if out.Missing != 10 {
			t.Fatalf("Missing=%d, want 10", out.Missing)
		}
		// Consistent framing around cut ASN.1: every length, no panic.
		_, msg, _, _ := unframeToken(tok)
		for n := 0; n < len(msg); n++ {
			_, err := accept(p, svc, frameToken(tokAPReq, msg[:n]), nil, 0)
			wantStatus(t, err, sspi.SEC_E_INVALID_TOKEN)
		}
	})
	t.Run("extended-error-token", func(t *testing.T) {
		tok := apReqToken(t, p, svcSPN, stdISC, testCB)
		out, err := accept(p, svc, tok, &sspi.ChannelBindings{ApplicationData: []byte("x")}, sspi.ASC_REQ_EXTENDED_ERROR)
		wantStatus(t, err, sspi.SEC_E_BAD_BINDINGS)
		id, msg, _, err := unframeToken(outToken(out))
		if err != nil || id != tokKRBError {
			t.Fatalf("no KRB-ERROR token: %v", err)
		}
		if _, err := parseKRBError(msg); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("prompt-for-creds", func(t *testing.T) {
		_, err := accept(p, svc, apReqToken(t, p, svcSPN, stdISC, nil), nil, sspi.ASC_REQ_PROMPT_FOR_CREDS)
		wantStatus(t, err, sspi.SEC_E_UNSUPPORTED_FUNCTION)
	})
}

func TestNegativeInitiator(t *testing.T) {
	realm := liveRealm(t)
	p := New(Config{})
	ctx := context.Background()
	t.Run("wrong-password", func(t *testing.T) {
		_, _, err := p.AcquireCredentialsHandle(ctx, &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: "alice", Password: "wrong"}})
		wantStatus(t, err, sspi.SEC_E_LOGON_DENIED)
	})
	t.Run("unknown-target", func(t *testing.T) {
		_, _, err := p.InitLsaModeContext(ctx, clientCred(t, p), nil, &secpkg.InitContextParams{TargetName: "HTTP/nowhere.localhost", ContextReq: stdISC})
		wantStatus(t, err, sspi.SEC_E_TARGET_UNKNOWN)
	})
	t.Run("tampered-ap-rep", func(t *testing.T) {
		cred := clientCred(t, p)
		c, out, err := p.InitLsaModeContext(ctx, cred, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC})
		if err != nil {
			t.Fatal(err)
		}
		sout, err := accept(p, serverCred(t, p, realm.svcKeytab, ""), outToken(out), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		rep := append([]byte(nil), outToken(sout)...)
		rep[len(rep)-5] ^= 0x40
		_, _, err = p.InitLsaModeContext(ctx, cred, c, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC, Input: tokenDesc(rep, nil)})
		wantStatus(t, err, sspi.SEC_E_MUTUAL_AUTH_FAILED)
		// Truncated AP-REP: incomplete, with the missing count.
		_, out2, err := p.InitLsaModeContext(ctx, cred, c, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC, Input: tokenDesc(outToken(sout)[:20], nil)})
		wantStatus(t, err, sspi.SEC_E_INCOMPLETE_MESSAGE)
		if out2.Missing != len(outToken(sout))-20 {
			t.Fatalf("Missing %d", out2.Missing)
		}
	})
	t.Run("krb-error-from-acceptor", func(t *testing.T) {
		cred := clientCred(t, p)
		c, _, err := p.InitLsaModeContext(ctx, cred, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = p.InitLsaModeContext(ctx, cred, c, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC, Input: tokenDesc(krbErrorToken(sspi.SEC_E_TIME_SKEW), nil)})
		wantStatus(t, err, sspi.SEC_E_TIME_SKEW)
	})
}

func TestNegativeMessages(t *testing.T) {
	realm := liveRealm(t)
	for _, tc := range []struct{ name, spn, keytab string }{{"aes", svcSPN, realm.svcKeytab}, {"rc4", rc4SPN, realm.rc4Keytab}} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Config{})
			pr, err := handshake(t, p, p, clientCred(t, p), serverCred(t, p, tc.keytab, ""), tc.spn, stdISC, 0, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			seal := func(msg string) []byte {
				d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte(msg)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_PADDING})
				if err := pr.client.SealMessage(0, d, 0); err != nil {
					t.Fatal(err)
				}
				return bytes.Join([][]byte{d.Buffers[0].Buffer, d.Buffers[1].Buffer, d.Buffers[2].Buffer}, nil)
			}
			unseal := func(tok []byte) error {
				d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: append([]byte(nil), tok...)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
				_, err := pr.server.UnsealMessage(d, 0)
				return err
			}
			t1, t2, t3 := seal("one"), seal("two"), seal("three")
			// tampered: every byte position, none may panic or pass.
			for i := range t1 {
				bad := append([]byte(nil), t1...)
				bad[i] ^= 0x01
				if err := unseal(bad); err == nil {
					t.Fatalf("tampered byte %d accepted", i)
				}
			}
			bad := append([]byte(nil), t1...)
			bad[len(bad)-3] ^= 0x80
			wantStatus(t, unseal(bad), sspi.SEC_E_MESSAGE_ALTERED)
			if err := unseal(t1); err != nil {
				t.Fatal(err)
			}
			wantStatus(t, unseal(t1), sspi.SEC_E_OUT_OF_SEQUENCE) // replayed
			wantStatus(t, unseal(t3), sspi.SEC_E_OUT_OF_SEQUENCE) // reordered: t2 skipped
			if err := unseal(t2); err != nil {
				t.Fatal(err)
			}
			if err := unseal(t3); err != nil {
				t.Fatal(err)
			}
			// A token reflected back to its sender is refused.
			d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: seal("mirror")}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
			_, err = pr.client.UnsealMessage(d, 0)
			wantStatus(t, err, sspi.SEC_E_MESSAGE_ALTERED)
			// Truncations never panic.
			for n := 0; n < len(t1); n++ {
				if err := unseal(t1[:n]); err == nil {
					t.Fatalf("truncated token of %d bytes accepted", n)
				}
			}
			// MIC over altered data.
			md := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte("signed")}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
			if err := pr.server.MakeSignature(0, md, 0); err != nil {
				t.Fatal(err)
			}
			md.Buffers[0].Buffer = []byte("signeD")
			_, err = pr.client.VerifySignature(md, 0)
			wantStatus(t, err, sspi.SEC_E_MESSAGE_ALTERED)
		})
	}
}

func TestGSSFramingMechanism(t *testing.T) {
	tok := gss.Frame(gss.OIDSPNEGO, []byte{1, 0, 0x6e})
	if _, _, _, err := unframeToken(tok); sspi.StatusOf(err) != sspi.SEC_E_INVALID_TOKEN {
		t.Fatalf("foreign mechanism: %v", err)
	}
}
