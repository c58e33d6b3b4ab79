package kerberos

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/test/testdata"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/internal/pactest"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// adPAC is kerberos/testdata/ad-pac.json: a real AP-REQ from the Samba AD
// DC of internal/addc for a user in fourteen groups, recorded by
// internal/adtest's TestRecordADPAC, with the service and krbtgt keys.
type adPAC struct {
	RecordedAt  time.Time     `json:"recorded_at"`
	Realm       string        `json:"realm"`
	SPN         string        `json:"spn"`
	Client      string        `json:"client"`
	Keytab      string        `json:"keytab"`
	KDCKeytab   string        `json:"kdc_keytab"`
	APReq       []byte        `json:"ap_req"`
	Identity    sspi.Identity `json:"identity"`
	TokenGroups []string      `json:"token_groups"`
	GroupSIDs   []string      `json:"group_sids"`
}

func loadADPAC(t testing.TB) *adPAC {
	t.Helper()
	b, err := os.ReadFile("testdata/ad-pac.json")
	if err != nil {
		t.Fatal(err)
	}
	var r adPAC
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	r.Keytab = filepath.Join("testdata", r.Keytab)
	r.KDCKeytab = filepath.Join("testdata", r.KDCKeytab)
	return &r
}

// serviceKey is the recording's service key for its ticket (aes256).
func (r *adPAC) serviceKey(t testing.TB) types.EncryptionKey {
	t.Helper()
	kt, err := keytab.Load(r.Keytab)
	if err != nil {
		t.Fatal(err)
	}
	pn, _ := types.ParseSPNString(r.SPN)
	k, _, err := kt.GetEncryptionKey(pn, r.Realm, 0, etypeAES256SHA1)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pac returns the PAC of the recorded ticket (opened by pactest, not by
// the code under test).
func (r *adPAC) pac(t testing.TB) []byte {
	t.Helper()
	ap, err := pactest.ParseAPReq(r.APReq)
	if err != nil {
		t.Fatal(err)
	}
	et, err := ap.Ticket(r.serviceKey(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pactest.PAC(et)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// withPAC returns the recorded AP-REQ with edit applied to its PAC.
func (r *adPAC) withPAC(t testing.TB, edit func(pac []byte, key types.EncryptionKey) ([]byte, error)) []byte {
	t.Helper()
	key := r.serviceKey(t)
	ap, err := pactest.ParseAPReq(r.APReq)
	if err != nil {
		t.Fatal(err)
	}
	et, err := ap.Ticket(key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pactest.PAC(et)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = edit(p, key); err != nil {
		t.Fatal(err)
	}
	if et, err = pactest.SetPAC(et, p); err != nil {
		t.Fatal(err)
	}
	if err := ap.SetTicket(et, key); err != nil {
		t.Fatal(err)
	}
	return ap.Bytes()
}

// acceptRecorded accepts tok on a clock pinned to the recording, with the
// recording's keytab (and krbtgt keytab when withKDC), and returns the
// LSA-side identity, the user-mode identity rebuilt from ContextData and
// SECPKG_ATTR_NAMES.
func (r *adPAC) accept(t testing.TB, tok []byte, withKDC bool) (lsa, user sspi.Identity, names string, err error) {
	t.Helper()
	cfg := Config{Now: testutil.PinClock(t, r.RecordedAt.Add(time.Second)), DisableReplayCache: true}
	if withKDC {
		cfg.KDCKeytab = r.KDCKeytab
	}
	p := New(cfg)
	cred := serverCred(t, p, r.Keytab, r.SPN)
	c, out, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(tok, nil)})
	if err != nil {
		return lsa, user, "", err
	}
	t.Cleanup(c.Delete)
	v, err := c.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if err != nil {
		t.Fatal(err)
	}
	lsa = v.(sspi.Identity)
	uc, err := UserMode().InitUserModeContext(out.ContextData)
	if err != nil {
		t.Fatalf("InitUserModeContext: %v", err)
	}
	if v, err = uc.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY); err != nil {
		t.Fatal(err)
	}
	user = v.(sspi.Identity)
	v, err = uc.QueryAttributes(sspi.SECPKG_ATTR_NAMES)
	if err != nil {
		t.Fatal(err)
	}
	return lsa, user, v.(sspi.SecPkgContextNames).UserName, nil
}

// TestADPACAccept accepts the recorded Samba AD ticket offline: the
// identity is the one recorded against the DC, field by field, on the
// LSA side and in user mode (rebuilt from ContextData alone); the DC's
// tokenGroups and the fourteen groups are all there; the KDC signatures
// verify with the krbtgt keys.
func TestADPACAccept(t *testing.T) {
	r := loadADPAC(t)
	for _, withKDC := range []bool{false, true} {
		lsa, user, names, err := r.accept(t, r.APReq, withKDC)
		if err != nil {
			t.Fatalf("accept (KDC keytab %v): %v", withKDC, err)
		}
		want := r.Identity
		if !reflect.DeepEqual(lsa, want) {
			t.Errorf("LSA identity\n%+v\nrecorded\n%+v", lsa, want)
		}
		if !reflect.DeepEqual(user, lsa) {
			t.Errorf("user-mode identity\n%+v\nLSA\n%+v", user, lsa)
		}
		if names != want.LogonName || !strings.Contains(names, `\`) {
			t.Errorf("SECPKG_ATTR_NAMES %q, want %q", names, want.LogonName)
		}
	}
	id := r.Identity
	for _, s := range append(r.TokenGroups, r.GroupSIDs...) {
		if !slices.Contains(id.Groups, s) {
			t.Errorf("groups lack %s", s)
		}
	}
	if len(id.Groups) < 14 || id.PrimaryGroup != r.GroupSIDs[0] || id.UPN == "" || id.DNSDomain == "" || id.LogonTime.IsZero() {
		t.Errorf("recorded identity is not a full PAC's: %+v", id)
	}
	if !strings.HasPrefix(r.Client, id.User+"@") || id.LogonName != "ADDC\\"+id.User {
		t.Errorf("names %q %q for %s", id.User, id.LogonName, r.Client)
	}
	// UPN_DNS_INFO's extension (the S flag): the account's SAM name and
	// SID, the logon info's.
	p, err := decodePAC(r.pac(t))
	if err != nil {
		t.Fatal(err)
	}
	if u := p.upnDNS; u == nil || u.Flags&upnExtended == 0 || u.SAMName != id.User || u.SID.String() != id.SID || u.UPN != id.UPN {
		t.Errorf("UPN_DNS_INFO %+v (SID %s), identity %+v", u, u.SID, id)
	}
	if v := p.logonInfo; v.FullName != "Carol Pac" || v.LogonDomainName != "ADDC" || v.UserAccountControl&0x10 == 0 { // USER_NORMAL_ACCOUNT (MS-SAMR 2.2.1.12)
		t.Errorf("logon info: FullName %q, domain %q, UserAccountControl %#x", v.FullName, v.LogonDomainName, v.UserAccountControl)
	}
}

// TestPACContextDataClaims: the claims of a PAC travel in ContextData and
// the user-mode half decodes them.
func TestPACContextDataClaims(t *testing.T) {
	claims, _ := hex.DecodeString(testdata.MarshaledPAC_ClientClaimsInfo_XPRESS_HUFF)
	s := &session{client: "alice@EXAMPLE.COM", pac: pacIdentity{
		sid: "S-1-5-21-1-2-3-1000", primaryGroup: "S-1-5-21-1-2-3-513",
		groups: []string{"S-1-5-21-1-2-3-513", "S-1-18-1"}, groupAttrs: []uint32{7, 7},
		user: "alice", domain: "EXAMPLE", upn: "alice@example.com", dnsDomain: "EXAMPLE.COM",
		logonTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), claims: claims,
	}}
	s.etype, s.key = etypeAES256SHA1, make([]byte, 32)
	s.recv = newSeqState(0, false, false, true)
	if err := s.msgState.init(); err != nil {
		t.Fatal(err)
	}
	uc, err := UserMode().InitUserModeContext(s.marshal())
	if err != nil {
		t.Fatal(err)
	}
	v, err := uc.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if err != nil {
		t.Fatal(err)
	}
	id := v.(sspi.Identity)
	if id.LogonName != `EXAMPLE\alice` || id.PrimaryGroup != s.pac.primaryGroup || !slices.Equal(id.GroupAttributes, s.pac.groupAttrs) ||
		id.UPN != s.pac.upn || id.DNSDomain != s.pac.dnsDomain || !id.LogonTime.Equal(s.pac.logonTime) || len(id.Claims) != 3 {
		t.Errorf("user-mode identity %+v", id)
	}
	// Attributes that do not match the groups one for one: refused.
	s.pac.groupAttrs = []uint32{7}
	if _, err := UserMode().InitUserModeContext(s.marshal()); err == nil {
		t.Error("ContextData with mismatched group attributes loads")
	}
}

// TestADPACAltered: the offline counterpart of internal/adtest's
// TestPACAltered on the recorded ticket.
func TestADPACAltered(t *testing.T) {
	r := loadADPAC(t)
	forged := r.Identity.SID[:strings.LastIndex(r.Identity.SID, "-")] + "-4242"
	addGroup := func(p []byte, _ types.EncryptionKey) ([]byte, error) { return pactest.AddGroup(p, 4242, 7) }
	resigned := func(edit func([]byte, types.EncryptionKey) ([]byte, error)) func([]byte, types.EncryptionKey) ([]byte, error) {
		return func(p []byte, k types.EncryptionKey) ([]byte, error) {
			p, err := edit(p, k)
			if err != nil {
				return nil, err
			}
			return pactest.SignServer(p, k)
		}
	}
	ciTime := func(p []byte) time.Time {
		ft := binary.LittleEndian.Uint64(pactest.Buffer(p, pacClientInfo))
		return fileTime(ft).Time()
	}
	for _, c := range []struct {
		name    string
		edit    func([]byte, types.EncryptionKey) ([]byte, error)
		withKDC bool
		want    string // in the error; "" accepts
	}{
		{"group-added", addGroup, false, "server signature"},
		{"group-added-resigned", resigned(addGroup), true, "KDC signature"},
		{"group-added-resigned-no-kdc-keytab", resigned(addGroup), false, ""},
		{"client-other-name", resigned(func(p []byte, _ types.EncryptionKey) ([]byte, error) {
			return pactest.SetClientInfo(p, "bob", ciTime(p))
		}), false, "client info names another client"},
		{"client-other-case", resigned(func(p []byte, _ types.EncryptionKey) ([]byte, error) {
			return pactest.SetClientInfo(p, "CAROL", ciTime(p))
		}), false, ""},
		{"client-other-time", resigned(func(p []byte, _ types.EncryptionKey) ([]byte, error) {
			return pactest.SetClientInfo(p, "carol", ciTime(p).Add(time.Second))
		}), false, "client info time"},
		{"no-client-info", resigned(func(p []byte, _ types.EncryptionKey) ([]byte, error) {
			return retype(p, pacClientInfo, 0x7777), nil
		}), false, "no client info"},
		{"two-logon-infos", resigned(func(p []byte, _ types.EncryptionKey) ([]byte, error) {
			return retype(p, pacUPNDNSInfo, pacLogonInfo), nil
		}), false, "two buffers of type 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lsa, _, _, err := r.accept(t, r.withPAC(t, c.edit), c.withKDC)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.name == "group-added-resigned-no-kdc-keytab" && !slices.Contains(lsa.Groups, forged) {
					t.Errorf("forged group missing: %v", lsa.Groups)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", lsa)
			}
			if st := sspi.StatusOf(err); st != sspi.SEC_E_LOGON_DENIED || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v (%v), want SEC_E_LOGON_DENIED: %s", st, err, c.want)
			}
		})
	}
}

// TestADPACTicketSignature: the recorded ticket with its endtime moved by
// a second and the PAC untouched: the PAC signatures still hold, only the
// ticket signature (PAC_TICKET_CHECKSUM) shows the change, which the
// acceptor checks with the krbtgt keys.
func TestADPACTicketSignature(t *testing.T) {
	r := loadADPAC(t)
	key := r.serviceKey(t)
	ap, err := pactest.ParseAPReq(r.APReq)
	if err != nil {
		t.Fatal(err)
	}
	et, err := ap.Ticket(key)
	if err != nil {
		t.Fatal(err)
	}
	// The placeholder encoding of the untouched ticket is what the KDC
	// signed: it verifies.
	p, err := decodePAC(r.pac(t))
	if err != nil {
		t.Fatal(err)
	}
	if p.ticket == nil {
		t.Fatal("the recorded PAC has no ticket signature")
	}
	kdc := r.kdcKeys(t)
	if err := p.verifyTicketSignature(et, kdc); err != nil {
		t.Fatal(err)
	}
	end := r.RecordedAt.Add(10*time.Hour + time.Second)
	moved, err := pactest.SetTimes(et, 3, map[int]time.Time{7: end}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ap.SetTicket(moved, key); err != nil {
		t.Fatal(err)
	}
	tok := ap.Bytes()
	if _, _, _, err := r.accept(t, tok, false); err != nil {
		t.Fatalf("without the KDC keytab: %v", err)
	}
	_, _, _, err = r.accept(t, tok, true)
	if err == nil || sspi.StatusOf(err) != sspi.SEC_E_LOGON_DENIED || !strings.Contains(err.Error(), "ticket signature") {
		t.Fatalf("a changed ticket with the KDC keytab: %v", err)
	}
}

// kdcKeys reads the recording's krbtgt keys.
func (r *adPAC) kdcKeys(t testing.TB) func(int32) [][]byte {
	t.Helper()
	kt, err := keytab.Load(r.KDCKeytab)
	if err != nil {
		t.Fatal(err)
	}
	return func(et int32) [][]byte {
		var out [][]byte
		for _, e := range kt.Entries {
			if e.Key.KeyType == et {
				out = append(out, e.Key.KeyValue)
			}
		}
		return out
	}
}

// retype changes the type of a PAC's buffer.
func retype(p []byte, from, to uint32) []byte {
	p = append([]byte(nil), p...)
	n := binary.LittleEndian.Uint32(p)
	for i := uint32(0); i < n; i++ {
		if binary.LittleEndian.Uint32(p[8+16*i:]) == from {
			binary.LittleEndian.PutUint32(p[8+16*i:], to)
		}
	}
	return p
}

// TestPACGroups decodes gokrb5's PAC from a Windows KDC: every
// field of the identity, the server signature with the service key, and
// the refusal of a changed group RID or a wrong key.
func TestPACGroups(t *testing.T) {
	raw, _ := hex.DecodeString(testdata.MarshaledPAC_AD_WIN2K_PAC)
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
	p, err := decodePAC(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.verifyServerSignature(key.KeyType, key.KeyValue); err != nil {
		t.Fatal(err)
	}
	dom := "S-1-5-21-3167651404-3865080224-2280184895-"
	id := p.identity()
	want := &pacIdentity{
		sid: dom + "1105", primaryGroup: dom + "513",
		groups:     []string{dom + "513", dom + "1108", dom + "1109", dom + "1115", dom + "1116", dom + "1114", dom + "1111"},
		groupAttrs: []uint32{7, 7, 7, 7, 7, 0x20000007, 0x20000007},
		user:       "testuser1", domain: "TEST", upn: "testuser1@test.gokrb5", dnsDomain: "TEST.GOKRB5",
		logonTime: time.Date(2017, 5, 6, 15, 53, 11, 825766900, time.UTC),
	}
	if !reflect.DeepEqual(id, want) {
		t.Errorf("identity\n%+v\nwant\n%+v", id, want)
	}
	if v := p.logonInfo; v.FullName != "Test1 User1" || v.LogonServer != "ADDC" || v.UserAccountControl != 0x210 || v.LogonCount != 216 {
		t.Errorf("logon info %+v", v)
	}
	if ci := p.clientInfo; ci.Name != "testuser1" {
		t.Errorf("client info %+v", ci)
	}
	wrong := make([]byte, len(key.KeyValue))
	if err := p.verifyServerSignature(key.KeyType, wrong); err == nil {
		t.Error("verified with a wrong key")
	}
	if err := p.verifyServerSignature(etypeAES128SHA1, key.KeyValue[:16]); err == nil {
		t.Error("verified with a key of another enctype")
	}
	// Group RID 1108 becomes 1109+... : the signature no longer holds.
	i := bytes.Index(raw, []byte{0x54, 0x04, 0, 0, 7, 0, 0, 0}) // RID 1108, attributes 7
	if i < 0 {
		t.Fatal("RID 1108 not found")
	}
	altered := append([]byte(nil), raw...)
	altered[i] ^= 0x40
	pa, err := decodePAC(altered)
	if err != nil {
		t.Fatal(err)
	}
	if err := pa.verifyServerSignature(key.KeyType, key.KeyValue); err == nil {
		t.Error("a changed group verified")
	}
}

// TestPACEveryByte: a change of any byte of the recorded PAC outside the
// two zeroed signature fields is either malformed or fails the server
// signature; no change panics (every prefix and every single flip).
func TestPACEveryByte(t *testing.T) {
	r := loadADPAC(t)
	raw := r.pac(t)
	key := r.serviceKey(t)
	p, err := decodePAC(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.verifyServerSignature(key.KeyType, key.KeyValue); err != nil {
		t.Fatal(err)
	}
	kdcSig := p.kdc
	for i := range raw {
		if i >= kdcSig.Off && i < kdcSig.Off+len(kdcSig.Sig) {
			continue // the KDC signature is not under the server signature
		}
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		q, err := decodePAC(b)
		if err != nil {
			continue
		}
		if q.verifyServerSignature(key.KeyType, key.KeyValue) == nil {
			t.Errorf("byte %d changed and the PAC still verifies", i)
		}
	}
	for n := 0; n < len(raw); n++ {
		if q, err := decodePAC(raw[:n]); err == nil {
			if q.verifyServerSignature(key.KeyType, key.KeyValue) == nil {
				t.Errorf("PAC cut to %d bytes verifies", n)
			}
		}
	}
	li := pactest.Buffer(raw, pacLogonInfo)
	for n := 0; n < len(li); n++ {
		if _, err := decodeKerbValidationInfo(li[:n]); err == nil {
			t.Errorf("logon info cut to %d of %d bytes decodes", n, len(li))
		}
	}
}

// TestPACClientInfoNames: the client info's name against the ticket's
// client, as AD and MIT write it.
func TestPACClientInfoNames(t *testing.T) {
	at := time.Date(2026, 12, 2, 7, 51, 48, 0, time.UTC)
	for _, c := range []struct {
		name  string
		cname []string
		ok    bool
	}{
		{"alice", []string{"alice"}, true},
		{"ALICE", []string{"alice"}, true},
		{"alice@EXAMPLE.COM", []string{"alice"}, true},
		{`alice\@example.com`, []string{"alice@example.com"}, true},
		{"host/web", []string{"host", "web"}, true},
		{"bob", []string{"alice"}, false},
		{"alice@OTHER.COM", []string{"alice"}, false},
		{"", []string{"alice"}, false},
	} {
		p := &pacType{clientInfo: &pacClientInfoData{ClientID: fileTimeOf(at), Name: c.name}}
		err := p.checkClient(principalName{Names: c.cname}, "EXAMPLE.COM", at)
		if (err == nil) != c.ok {
			t.Errorf("client info %q for %v: %v", c.name, c.cname, err)
		}
	}
}

// TestPACClaimsVectors decodes the claims of gokrb5's vectors from a
// Windows KDC, one of them LZ77+Huffman compressed.
func TestPACClaimsVectors(t *testing.T) {
	const (
		sam   = "ad://ext/sAMAccountName:88d5d9085ea5c0c0"
		enc   = "ad://ext/msDS-SupportedE:88d5dea8f1af5f19"
		class = "ad://ext/objectClass:88d5de791e7b27e6"
	)
	for _, c := range []struct {
		name, hex string
		want      []sspi.Claim
	}{
		{"string", testdata.MarshaledPAC_ClientClaimsInfoStr, []sspi.Claim{{ID: sam, Source: 1, Values: []any{"testuser1"}}}},
		{"int64", testdata.MarshaledPAC_ClientClaimsInfoInt, []sspi.Claim{{ID: enc, Source: 1, Values: []any{int64(28)}}}},
		{"two", testdata.MarshaledPAC_ClientClaimsInfoMulti, []sspi.Claim{{ID: enc, Source: 1, Values: []any{int64(28)}}, {ID: sam, Source: 1, Values: []any{"testuser1"}}}},
		{"uint64s", testdata.MarshaledPAC_ClientClaimsInfoMultiUint, []sspi.Claim{{ID: class, Source: 1, Values: []any{uint64(655369), uint64(65543), uint64(65542), uint64(65536)}}}},
		{"strings", testdata.MarshaledPAC_ClientClaimsInfoMultiStr, []sspi.Claim{{ID: "ad://ext/otherIpPhone:88d5de9f6b4af985", Source: 1, Values: []any{"str1", "str2", "str3", "str4"}}}},
		{"xpress-huffman", testdata.MarshaledPAC_ClientClaimsInfo_XPRESS_HUFF, []sspi.Claim{
			{ID: class, Source: 1, Values: []any{uint64(655369), uint64(65543), uint64(65542), uint64(65536)}},
			{ID: sam, Source: 1, Values: []any{"testuser1"}},
			{ID: "ad://ext/sAMAccountType:88d5de79a7ecf8c7", Source: 1, Values: []any{int64(805306368)}},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, _ := hex.DecodeString(c.hex)
			got, err := decodeClientClaims(b)
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("claims %+v, %v\nwant %+v", got, err, c.want)
			}
			for n := 0; n < len(b); n++ {
				if _, err := decodeClientClaims(b[:n]); err == nil {
					t.Fatalf("claims cut to %d of %d bytes decode", n, len(b))
				}
			}
		})
	}
}

// TestLZXpressHuffmanSpec is the example of MS-XCA 3.2: the alphabet as
// literals and the end-of-file symbol.
func TestLZXpressHuffmanSpec(t *testing.T) {
	in := make([]byte, 256)
	copy(in[48:], []byte{0x50, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x45, 0x44, 0x04})
	in[128] = 0x04
	in = append(in, 0xd8, 0x52, 0x3e, 0xd7, 0x94, 0x11, 0x5b, 0xe9, 0x19, 0x5f, 0xf9, 0xd6, 0x7c, 0xdf, 0x8d, 0x04, 0, 0, 0, 0)
	got, err := lzxpressHuffmanDecompress(in, 26)
	if err != nil || string(got) != "abcdefghijklmnopqrstuvwxyz" {
		t.Fatalf("%q, %v", got, err)
	}
	if _, err := lzxpressHuffmanDecompress(in[:255], 26); err == nil {
		t.Error("a cut table decompresses")
	}
	bad := append([]byte(nil), in...)
	bad[48] = 0x11 // lengths that do not make a prefix code
	if _, err := lzxpressHuffmanDecompress(bad, 26); err == nil {
		t.Error("an invalid code decompresses")
	}
}
