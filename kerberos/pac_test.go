package kerberos

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/test/testdata"
	"github.com/jcmturner/gokrb5/v8/types"
)

// An Active Directory PAC (gokrb5's test vector, from a Windows KDC) inside
// AD-IF-RELEVANT: the acceptor verifies its server signature with the
// service key and reports the group SIDs; a PAC whose signature does not
// verify (a wrong key, or a group added) is an error, which refuses the
// ticket.
func TestPACGroups(t *testing.T) {
	pacBytes, _ := hex.DecodeString(testdata.MarshaledPAC_AD_WIN2K_PAC)
	ktb, _ := hex.DecodeString(testdata.KEYTAB_SYSHTTP_TEST_GOKRB5)
	kt := keytab.New()
	if err := kt.Unmarshal(ktb); err != nil {
		t.Fatal(err)
	}
	pn, _ := types.ParseSPNString("sysHTTP")
	key, _, err := kt.GetEncryptionKey(pn, "TEST.GOKRB5", 2, 18)
	if err != nil {
		t.Fatal(err)
	}
	if !pacHasLogonInfo(pacBytes) {
		t.Fatal("test PAC has no logon info buffer")
	}
	inner, err := asn1.Marshal(types.AuthorizationData{{ADType: 128, ADData: pacBytes}})
	if err != nil {
		t.Fatal(err)
	}
	ad := types.AuthorizationData{{ADType: 1, ADData: inner}}
	sid, groups, err := pacIdentity(ad, key)
	if err != nil || len(groups) == 0 {
		t.Fatalf("no group SIDs from a real PAC: %v", err)
	}
	if !strings.HasPrefix(sid, "S-1-5-21-") {
		t.Fatalf("user SID %q", sid)
	}
	for _, g := range groups {
		if !strings.HasPrefix(g, "S-1-") {
			t.Fatalf("not a SID: %q", g)
		}
	}
	wrong := key
	wrong.KeyValue = make([]byte, len(key.KeyValue))
	if _, g, err := pacIdentity(ad, wrong); g != nil || err == nil {
		t.Fatalf("PAC accepted with a wrong key: %v %v", g, err)
	}
	// A group SID changed inside the signed PAC: the server signature no
	// longer verifies. The last occurrence of the user's domain SID prefix
	// byte pattern is in the group data; flip a byte of the RID that ends it.
	altered := append([]byte(nil), pacBytes...)
	if i := strings.LastIndex(string(altered), "\x01\x04\x00\x00\x00\x00\x00\x05\x15\x00\x00\x00"); i > 0 && i+24 < len(altered) {
		altered[i+23] ^= 1
	} else {
		altered[len(altered)/2] ^= 1
	}
	ain, _ := asn1.Marshal(types.AuthorizationData{{ADType: 128, ADData: altered}})
	if _, g, err := pacIdentity(types.AuthorizationData{{ADType: 1, ADData: ain}}, key); g != nil || err == nil {
		t.Fatalf("altered PAC accepted: %v %v", g, err)
	}
	// Truncated PACs never panic; one that still announces a logon info
	// buffer is an error.
	for n := 0; n < len(pacBytes); n += 7 {
		in, _ := asn1.Marshal(types.AuthorizationData{{ADType: 128, ADData: pacBytes[:n]}})
		if _, g, err := pacIdentity(types.AuthorizationData{{ADType: 1, ADData: in}}, key); g != nil || (err == nil && pacHasLogonInfo(pacBytes[:n])) {
			t.Fatalf("truncated PAC (%d bytes) accepted: %v %v", n, g, err)
		}
	}
}
