package kerberos

import (
	"context"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func keytabWiped(t *testing.T, what string, kt *keytab.Keytab) {
	t.Helper()
	if len(kt.Entries) == 0 {
		t.Fatalf("%s: no entries", what)
	}
	for i, e := range kt.Entries {
		if len(e.Key.KeyValue) == 0 || !allZero(e.Key.KeyValue) {
			t.Fatalf("%s: key %d (%d bytes) not cleared after Free", what, i, len(e.Key.KeyValue))
		}
	}
}

// TestFreeWipesKeytab: Free clears the key bytes of the acceptor's keytab,
// and the credential then refuses to accept (not a panic, not a zero key).
func TestFreeWipesKeytab(t *testing.T) {
	tr := loadTranscript(t, "aes256")
	now := testutil.PinClock(t, tr.recorded())
	p := New(Config{Krb5Conf: krb5Conf(t), Now: now, Rand: testutil.NewReplayReader(tr.AcceptorRandom), DisableReplayCache: true})
	lc, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND,
		AuthData: &sspi.AuthIdentity{Options: map[string]string{"keytab": tr.keytabFile(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	c := lc.(*credential)
	kt := c.kt
	in := &secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, &sspi.ChannelBindings{ApplicationData: tr.CB})}
	if _, _, err := p.AcceptLsaModeContext(context.Background(), lc, nil, in); err != nil {
		t.Fatal(err)
	}
	lc.Free()
	keytabWiped(t, "acceptor keytab", kt)
	_, _, err = p.AcceptLsaModeContext(context.Background(), lc, nil, in)
	wantStatus(t, err, sspi.SEC_E_NO_CREDENTIALS)
	lc.Free() // twice: nothing more to do
}

// TestFreeWipesClientKeytab: an outbound credential from a client_keytab
// clears its keys on Free (gokrb5 holds that keytab by reference).
func TestFreeWipesClientKeytab(t *testing.T) {
	realm := liveRealm(t)
	p := New(Config{})
	lc, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{User: "batch", Options: map[string]string{"client_keytab": realm.batchKeytab}}})
	if err != nil {
		t.Fatal(err)
	}
	kt := lc.(*credential).clientKT
	if kt == nil {
		t.Fatal("the credential keeps no client keytab")
	}
	lc.Free()
	keytabWiped(t, "client keytab", kt)
}

// sessionWiped checks that a session's keys and derived keys are gone.
func sessionWiped(t *testing.T, what string, s *session, key, sessionKey []byte, prof profile) {
	t.Helper()
	if !s.deleted || s.prof != nil {
		t.Fatalf("%s: session still usable after Delete", what)
	}
	if len(key) == 0 || !allZero(key) || len(sessionKey) == 0 || !allZero(sessionKey) {
		t.Fatalf("%s: message key or session key not cleared", what)
	}
	switch p := prof.(type) {
	case *aesSHA1:
		if !allZero(p.key) || p.other != nil {
			t.Fatalf("%s: profile key not cleared", what)
		}
		for i, sl := range p.slots {
			if sl != nil {
				t.Fatalf("%s: derived keys of usage %d kept", what, 22+i)
			}
		}
	case *aesSHA2:
		if !allZero(p.key) || p.slots != nil {
			t.Fatalf("%s: profile key not cleared", what)
		}
	case nil:
		if !allZero(s.rc4Sgn) {
			t.Fatalf("%s: rc4-hmac signing key not cleared", what)
		}
	}
}

// TestDeleteWipesSessionKeys: the user-mode context and the LSA-mode
// acceptor context clear their message key, ticket session key and the
// per-usage derived keys on Delete, for each enctype family; a deleted
// user-mode context refuses every call.
func TestDeleteWipesSessionKeys(t *testing.T) {
	for _, name := range transcriptNames {
		t.Run(name, func(t *testing.T) {
			tr := loadTranscript(t, name)
			now := testutil.PinClock(t, tr.recorded())
			p := New(Config{Krb5Conf: krb5Conf(t), PermittedEnctypes: legacyEnctypes, Now: now,
				Rand: testutil.NewReplayReader(tr.AcceptorRandom), DisableReplayCache: true})
			cred := serverCred(t, p, tr.keytabFile(t), tr.Service)
			lctx, out, err := p.AcceptLsaModeContext(context.Background(), cred, nil,
				&secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, &sspi.ChannelBindings{ApplicationData: tr.CB})})
			if err != nil {
				t.Fatal(err)
			}
			uc, err := NewUserMode(sspi.Env{Now: now}).InitUserModeContext(out.ContextData)
			if err != nil {
				t.Fatal(err)
			}
			replayMessages(t, uc, tr.Wraps, tr.MICs) // derives the per-usage keys
			s := uc.(*userContext).s
			key, sk, prof := s.key, s.sessionKey, s.prof
			if name != "rc4" && prof == nil || name == "rc4" && len(s.rc4Sgn) == 0 {
				t.Fatal("no derived keys to clear")
			}
			if p, ok := prof.(*aesSHA1); ok && p.slots[usageInitiatorSeal-22] == nil {
				t.Fatal("no derived keys to clear")
			}
			uc.Delete()
			sessionWiped(t, "user mode", s, key, sk, prof)
			d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte("after Delete")})
			if err := uc.SealMessage(0, d, 0); sspi.StatusOf(err) != sspi.SEC_E_INVALID_HANDLE {
				t.Fatalf("SealMessage after Delete: %v", err)
			}
			if _, err := uc.QueryAttributes(sspi.SECPKG_ATTR_SESSION_KEY); sspi.StatusOf(err) != sspi.SEC_E_INVALID_HANDLE {
				t.Fatalf("SESSION_KEY after Delete: %v", err)
			}
			if _, err := uc.(sspi.UserModeExporter).ExportContext(); sspi.StatusOf(err) != sspi.SEC_E_INVALID_HANDLE {
				t.Fatalf("ExportContext after Delete: %v", err)
			}

			ac := lctx.(*acceptorContext)
			ls := ac.session
			key, sk = ls.key, ls.sessionKey
			lctx.Delete()
			sessionWiped(t, "LSA mode", ls, key, sk, nil)
		})
	}
}

// TestInitiatorDeleteWipesKeys: our initiator's context clears the ticket
// session key, its subkey and the finished session's keys on Delete.
func TestInitiatorDeleteWipesKeys(t *testing.T) {
	realm := liveRealm(t)
	p := New(Config{})
	ccred, scred := clientCred(t, p), serverCred(t, p, realm.svcKeytab, "")
	ctx := context.Background()
	ictx, cout, err := p.InitLsaModeContext(ctx, ccred, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC})
	if err != nil {
		t.Fatal(err)
	}
	_, sout, err := p.AcceptLsaModeContext(ctx, scred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(outToken(cout), nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.InitLsaModeContext(ctx, ccred, ictx, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC, Input: tokenDesc(outToken(sout), nil)}); err != nil {
		t.Fatal(err)
	}
	ic := ictx.(*initiatorContext)
	tk, sub, s := ic.sessionKey.KeyValue, ic.subkey.KeyValue, ic.session
	key, sk := s.key, s.sessionKey
	ictx.Delete()
	if len(tk) == 0 || !allZero(tk) || len(sub) == 0 || !allZero(sub) {
		t.Fatal("ticket session key or subkey not cleared")
	}
	sessionWiped(t, "initiator", s, key, sk, nil)
}

// TestFreeDuringAccept: Free racing accepts on the same credential (run
// with -race) leaves each accept either done or refused, never using a
// half-wiped key.
func TestFreeDuringAccept(t *testing.T) {
	tr := loadTranscript(t, "aes256")
	now := testutil.PinClock(t, tr.recorded())
	p := New(Config{Krb5Conf: krb5Conf(t), Now: now, Rand: testutil.NewReplayReader(tr.AcceptorRandom), DisableReplayCache: true})
	lc, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND,
		AuthData: &sspi.AuthIdentity{Options: map[string]string{"keytab": tr.keytabFile(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := 0; i < cap(errs); i++ {
		go func() {
			_, _, err := p.AcceptLsaModeContext(context.Background(), lc, nil,
				&secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, &sspi.ChannelBindings{ApplicationData: tr.CB})})
			errs <- err
		}()
	}
	lc.Free()
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil && sspi.StatusOf(err) != sspi.SEC_E_NO_CREDENTIALS {
			t.Fatalf("accept during Free: %v", err)
		}
	}
}
