package ntlm

import (
	"bytes"
	"context"
	"crypto/rc4"
	"testing"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

func allZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

// rc4Cleared reports whether an RC4 state was zeroed (rc4.Cipher.Reset):
// a zero permutation produces a zero keystream.
func rc4Cleared(c *rc4.Cipher) bool {
	b := []byte("keystream probe")
	c.XORKeyStream(b, b)
	return string(b) == "keystream probe"
}

// TestDeleteWipesUserModeKeys: after Delete, a user-mode context's
// exported session key, signing and sealing keys and RC4 states are zero,
// with and without extended session security.
func TestDeleteWipesUserModeKeys(t *testing.T) {
	for _, v1 := range []bool{false, true} {
		o := hsOpts{}
		if v1 {
			// NTLMv1 without ESS: one RC4 handle for both directions.
			o.client = testPackage(Config{AllowNTLMv1: true})
			o.server = testPackage(Config{AllowNTLMv1: true})
			o.tamper = clearFlag(1, ntlmssp.NegotiateExtendedSessionSecurity)
		}
		c, s, err := runHandshake(t, o)
		if err != nil {
			t.Fatal(err)
		}
		cu, su := mapped(t, c.out), mapped(t, s.out)
		roundTrip(t, cu, su, "before Delete")
		roundTrip(t, su, cu, "and back")
		for _, u := range []*UserContext{cu, su} {
			sess, sl := u.s, u.seal
			if sl == nil || allZero(sess.key[:]) || allZero(sl.out.rc4.key) {
				t.Fatal("no keys to wipe")
			}
			keys := [][]byte{sess.key[:], sl.out.rc4.key, sl.in.rc4.key, sl.out.signKey, sl.in.signKey}
			ciphers := []*rc4.Cipher{sl.out.rc4.c, sl.in.rc4.c}
			u.Delete()
			for i, k := range keys {
				if !allZero(k) {
					t.Errorf("v1=%v: key %d not wiped: %x", v1, i, k)
				}
			}
			for i, ci := range ciphers {
				if ci == nil || !rc4Cleared(ci) {
					t.Errorf("v1=%v: ntlmssp.RC4 state %d not cleared", v1, i)
				}
			}
			if sl.out.mac != nil || sl.in.mac != nil {
				t.Errorf("v1=%v: HMAC state kept", v1)
			}
			if err := u.SealMessage(0, sealDesc([]byte("x")), 0); status(err) != sspi.SEC_E_INVALID_HANDLE {
				t.Errorf("seal after Delete: %v", err)
			}
		}
	}
}

// TestDeleteWipesLsaModeKeys: LSA-mode contexts forget the session key and
// the client's NT hash on Delete, and a credential its NT hash on Free.
func TestDeleteWipesLsaModeKeys(t *testing.T) {
	c, s, err := runHandshake(t, hsOpts{})
	if err != nil {
		t.Fatal(err)
	}
	cc, sc := c.ctx.(*clientContext), s.ctx.(*serverContext)
	if allZero(cc.done.key[:]) || allZero(sc.done.key[:]) {
		t.Fatal("no session keys")
	}
	cc.Delete()
	sc.Delete()
	if !allZero(cc.done.key[:]) || !allZero(sc.done.key[:]) || !allZero(cc.cred.ntHash[:]) {
		t.Error("LSA-mode keys survive Delete")
	}
	// A client context deleted mid-handshake holds the NT hash.
	p := testPackage(Config{})
	cred := clientCred(t, p, &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: testPassword})
	ctx, _, err := p.InitLsaModeContext(context.Background(), cred, nil, &secpkg.InitContextParams{})
	if err != nil {
		t.Fatal(err)
	}
	mid := ctx.(*clientContext)
	if allZero(mid.cred.ntHash[:]) {
		t.Fatal("no NT hash in the context")
	}
	mid.Delete()
	if !allZero(mid.cred.ntHash[:]) {
		t.Error("NT hash survives Delete")
	}
	cr := cred.(*credential)
	cred.Free()
	if !allZero(cr.ntHash[:]) {
		t.Error("NT hash survives Free")
	}
}
