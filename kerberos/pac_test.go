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
// service key and reports the group SIDs; a wrong key or a minimal PAC
// gives none.
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
	sid, groups := pacIdentity(ad, key)
	if len(groups) == 0 {
		t.Fatal("no group SIDs from a real PAC")
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
	if _, g := pacIdentity(ad, wrong); g != nil {
		t.Fatalf("PAC accepted with a wrong key: %v", g)
	}
	// Truncated PACs never panic.
	for n := 0; n < len(pacBytes); n += 7 {
		in, _ := asn1.Marshal(types.AuthorizationData{{ADType: 128, ADData: pacBytes[:n]}})
		pacIdentity(types.AuthorizationData{{ADType: 1, ADData: in}}, key)
	}
}
