//go:build linux

package adtest

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	krbtypes "github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/internal/pactest"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/sspi"
)

// The PAC as the Samba KDC issues it, read by gosspi's acceptor: the
// SIDs (nested and domain-local groups resolved by the KDC), the names in
// the DC's spelling, UPN_DNS_INFO, and the refusal of a PAC that was
// altered.

// pacLogon logs on to the service as user (as the client types it) with
// gosspi's initiator and returns the client's AP-REQ token, the server's
// identity and its SECPKG_ATTR_NAMES.
func pacLogon(t *testing.T, dc *addc.DC, user, pw string) ([]byte, sspi.Identity, string) {
	t.Helper()
	tok, id, names, _ := pacLogonNative(t, dc, user, pw)
	return tok, id, names
}

// pacLogonNative is pacLogon that also returns the client name of
// SECPKG_ATTR_NATIVE_NAMES: the ticket's, as the KDC wrote it.
func pacLogonNative(t *testing.T, dc *addc.DC, user, pw string) ([]byte, sspi.Identity, string, string) {
	t.Helper()
	cli := clientHost(t, dc, "DEFAULT")
	c, err := newClient(t, cli.Host, password(user, pw), addc.SPN)
	if err != nil {
		t.Fatalf("client credential for %s: %v", user, err)
	}
	srv := serverHost(t, dc)
	s := newServer(t, srv.Host)
	tok, _ := exchange(t, c, s)
	var nn sspi.SecPkgContextNativeNames
	h := s.Handle()
	if st := srv.Host.SSPI().QueryContextAttributes(&h, sspi.SECPKG_ATTR_NATIVE_NAMES, &nn); st.Failed() {
		t.Fatalf("SECPKG_ATTR_NATIVE_NAMES: %v", st)
	}
	return tok, identity(t, s), clientName(t, srv.Host, s), nn.ClientName
}

// sidOf is the objectSid of an account or group, from the DC's database.
func sidOf(t *testing.T, dc *addc.DC, name string) string {
	t.Helper()
	s, err := dc.SID(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tokenGroups is what the DC itself computes as the account's groups of
// its domain (the constructed tokenGroups attribute: every group, nesting
// resolved), read with ldbsearch from its database. The BUILTIN aliases
// (S-1-5-32-...) it also lists are the resource server's to add, not the
// PAC's.
func tokenGroups(t *testing.T, dc *addc.DC, name string) []string {
	t.Helper()
	out, err := dc.Run(nil, "ldbsearch", "-H", filepath.Join(dc.Dir, "private", "sam.ldb"),
		"-b", "CN="+name+",CN=Users,DC=addc,DC=gosspi,DC=test", "-s", "base", "tokenGroups")
	if err != nil {
		t.Fatalf("ldbsearch tokenGroups: %v: %s", err, out)
	}
	var g []string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "tokenGroups: "); ok && strings.HasPrefix(v, "S-1-5-21-") {
			g = append(g, strings.TrimSpace(v))
		}
	}
	if len(g) == 0 {
		t.Fatalf("no tokenGroups for %s: %s", name, out)
	}
	return g
}

// checkPACIdentity checks what every PAC identity must hold: one
// attribute per group, the primary group among the groups, the logon time
// the ticket's, the domain's DNS name.
func checkPACIdentity(t *testing.T, id sspi.Identity, logonName string) {
	t.Helper()
	if len(id.GroupAttributes) != len(id.Groups) {
		t.Errorf("%d group attributes for %d groups", len(id.GroupAttributes), len(id.Groups))
	}
	for i, a := range id.GroupAttributes {
		if a&7 != 7 { // SE_GROUP_MANDATORY | ENABLED_BY_DEFAULT | ENABLED
			t.Errorf("group %s has attributes %#x", id.Groups[i], a)
		}
	}
	if !slices.Contains(id.Groups, id.PrimaryGroup) {
		t.Errorf("primary group %s not among the groups %v", id.PrimaryGroup, id.Groups)
	}
	if id.LogonName != logonName {
		t.Errorf("LogonName %q, want %q", id.LogonName, logonName)
	}
	if !strings.EqualFold(id.DNSDomain, addc.DNSDomain) {
		t.Errorf("DNSDomain %q, want %s", id.DNSDomain, addc.DNSDomain)
	}
	if d := sysenv.Now().Sub(id.LogonTime); d < 0 || d > 10*time.Minute {
		t.Errorf("LogonTime %v is not the logon just made", id.LogonTime)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(id.Groups)))) != len(id.Groups) {
		t.Errorf("a group appears twice: %v", id.Groups)
	}
}

// TestPACNestedGroups: Alice is a member of GroupA, GroupA of GroupB, and
// GroupB of the domain-local PACLocal: the KDC resolves the nesting, and
// the acceptor's identity has every SID, as the DC's own tokenGroups has
// them.
func TestPACNestedGroups(t *testing.T) {
	dc := addc.Start(t)
	_, id, names := pacLogon(t, dc, addc.Alice.Name, addc.Alice.Password)
	t.Logf("identity %+v; SECPKG_ATTR_NAMES %q", id, names)
	alice := sidOf(t, dc, addc.Alice.Name)
	domain := alice[:strings.LastIndex(alice, "-")]
	if id.SID != alice {
		t.Errorf("SID %s, want %s", id.SID, alice)
	}
	if id.PrimaryGroup != domain+"-513" {
		t.Errorf("primary group %s, want Domain Users", id.PrimaryGroup)
	}
	for _, g := range []string{addc.GroupA, addc.GroupB, addc.PACLocal} {
		if s := sidOf(t, dc, g); !slices.Contains(id.Groups, s) {
			t.Errorf("groups %v lack %s (%s)", id.Groups, g, s)
		}
	}
	for _, s := range tokenGroups(t, dc, addc.Alice.Name) {
		if !slices.Contains(id.Groups, s) {
			t.Errorf("the DC's tokenGroups has %s, the PAC identity does not", s)
		}
	}
	checkPACIdentity(t, id, addc.Domain+`\`+addc.Alice.Name)
	if names != addc.Domain+`\`+addc.Alice.Name {
		t.Errorf("SECPKG_ATTR_NAMES %q", names)
	}
	if id.UPN != addc.Alice.Name+"@"+addc.DNSDomain {
		t.Errorf("UPN %q", id.UPN)
	}
}

// TestPACManyGroups: Carol is in fourteen groups (twelve directly, one
// universal through the last, Domain Users), her primary group is not
// Domain Users, and her UPN is her userPrincipalName: all of it arrives.
func TestPACManyGroups(t *testing.T) {
	dc := addc.Start(t)
	_, id, _ := pacLogon(t, dc, addc.Carol.Name, addc.Carol.Password)
	t.Logf("identity %+v", id)
	if id.SID != sidOf(t, dc, addc.Carol.Name) {
		t.Errorf("SID %s", id.SID)
	}
	if want := sidOf(t, dc, addc.PACGroups[0]); id.PrimaryGroup != want {
		t.Errorf("primary group %s, want %s (%s)", id.PrimaryGroup, want, addc.PACGroups[0])
	}
	for _, g := range append(slices.Clone(addc.PACGroups), addc.PACUniversal) {
		if s := sidOf(t, dc, g); !slices.Contains(id.Groups, s) {
			t.Errorf("groups lack %s (%s)", g, s)
		}
	}
	tg := tokenGroups(t, dc, addc.Carol.Name)
	for _, s := range tg {
		if !slices.Contains(id.Groups, s) {
			t.Errorf("the DC's tokenGroups has %s, the PAC identity does not", s)
		}
	}
	if len(id.Groups) < 14 {
		t.Errorf("%d groups, want 14 or more", len(id.Groups))
	}
	checkPACIdentity(t, id, addc.Domain+`\`+addc.Carol.Name)
	if id.UPN != addc.PACUPN {
		t.Errorf("UPN %q, want %q", id.UPN, addc.PACUPN)
	}
}

// TestPACCanonicalName: the client types ALICE; the KDC finds the account
// whatever the case, and the application sees the account's spelling
// (the PAC's) in User, Principal, LogonName and SECPKG_ATTR_NAMES.
func TestPACCanonicalName(t *testing.T) {
	dc := addc.Start(t)
	for _, typed := range []string{strings.ToUpper(addc.Alice.Name), "aLiCe@" + addc.Realm} {
		t.Run(typed, func(t *testing.T) {
			_, id, names, native := pacLogonNative(t, dc, typed, addc.Alice.Password)
			t.Logf("typed %q: the ticket names %q; identity User %q Principal %q LogonName %q; SECPKG_ATTR_NAMES %q", typed, native, id.User, id.Principal, id.LogonName, names)
			if id.User != addc.Alice.Name || id.Principal != addc.Alice.Name+"@"+addc.Realm {
				t.Errorf("User %q Principal %q, want the account's spelling %q", id.User, id.Principal, addc.Alice.Name)
			}
			if want := addc.Domain + `\` + addc.Alice.Name; id.LogonName != want || names != want {
				t.Errorf("LogonName %q, SECPKG_ATTR_NAMES %q, want %q", id.LogonName, names, want)
			}
		})
	}
}

// TestPACUPNDNSInfo: UPN_DNS_INFO as the KDC writes it: Carol's UPN is
// her userPrincipalName, Dave (who has none) gets the one the KDC makes
// from his account name and the DNS domain.
func TestPACUPNDNSInfo(t *testing.T) {
	dc := addc.Start(t)
	for _, c := range []struct {
		acct addc.Account
		upn  string
	}{
		{addc.Carol, addc.PACUPN},
		{addc.Dave, addc.Dave.Name + "@" + addc.DNSDomain},
		{addc.Alice, addc.Alice.Name + "@" + addc.DNSDomain},
	} {
		t.Run(c.acct.Name, func(t *testing.T) {
			_, id, _ := pacLogon(t, dc, c.acct.Name, c.acct.Password)
			t.Logf("UPN %q DNSDomain %q", id.UPN, id.DNSDomain)
			if !strings.EqualFold(id.UPN, c.upn) {
				t.Errorf("UPN %q, want %q", id.UPN, c.upn)
			}
			if c.acct == addc.Carol && id.UPN != c.upn {
				t.Errorf("UPN %q is not the attribute's spelling %q", id.UPN, c.upn)
			}
			if !strings.EqualFold(id.DNSDomain, addc.DNSDomain) {
				t.Errorf("DNSDomain %q", id.DNSDomain)
			}
		})
	}
}

// pacService is an acceptor's keytab and principal, and the enctype of
// its tickets.
type pacService struct {
	keytab, spn string
	etype       int32
}

// defaultService is the service account of addc.SPN (AES256 tickets).
func defaultService(dc *addc.DC) pacService { return pacService{dc.Keytab, addc.SPN, etAES256} }

// key is the service's key for its tickets.
func (svc pacService) key(t *testing.T) krbtypes.EncryptionKey {
	t.Helper()
	kt, err := keytab.Load(svc.keytab)
	if err != nil {
		t.Fatal(err)
	}
	pn, _ := krbtypes.ParseSPNString(svc.spn)
	k, _, err := kt.GetEncryptionKey(pn, addc.Realm, 0, svc.etype)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// alterPAC changes the PAC of the ticket in tok with edit, which gets the
// PAC and the service key, and returns the AP-REQ with the new ticket.
func alterPAC(t *testing.T, svc pacService, tok []byte, edit func(pac []byte, key krbtypes.EncryptionKey) ([]byte, error)) []byte {
	t.Helper()
	ap, err := pactest.ParseAPReq(tok)
	if err != nil {
		t.Fatal(err)
	}
	key := svc.key(t)
	et, err := ap.Ticket(key)
	if err != nil {
		t.Fatal(err)
	}
	pac, err := pactest.PAC(et)
	if err != nil {
		t.Fatal(err)
	}
	pac, err = edit(pac, key)
	if err != nil {
		t.Fatal(err)
	}
	if et, err = pactest.SetPAC(et, pac); err != nil {
		t.Fatal(err)
	}
	if err := ap.SetTicket(et, key); err != nil {
		t.Fatal(err)
	}
	return ap.Bytes()
}

// acceptPAC has a fresh acceptor of svc (its own replay cache), with the
// krbtgt keytab when withKDC, accept tok.
func acceptPAC(t *testing.T, dc *addc.DC, svc pacService, tok []byte, withKDC bool) (sspi.Identity, error) {
	t.Helper()
	cfg := kerberos.Config{Krb5Conf: dc.Krb5Conf, Keytab: svc.keytab, ServicePrincipal: svc.spn, PermittedEnctypes: "DEFAULT +rc4"}
	if withKDC {
		cfg.KDCKeytab = filepath.Join(dc.Dir, addc.KDCKeytab)
	}
	s := newServer(t, newHost(t, cfg))
	if _, _, err := step(s, tok); err != nil {
		return sspi.Identity{}, err
	}
	return identity(t, s), nil
}

// TestPACAltered: a ticket whose PAC was changed after the KDC signed it
// is refused (SEC_E_LOGON_DENIED). A group added: the server signature
// fails. The same PAC signed again with the service key (what a holder of
// the service's keytab can do): only the KDC signature shows it, which
// the acceptor verifies when it has the krbtgt keys (Config.KDCKeytab,
// on a DC); without them it cannot tell, and this test shows that limit.
// Likewise a ticket changed around an untouched PAC: only the ticket
// signature shows it. A client info naming another client or another
// logon time, signed again with the service key: refused either way.
func TestPACAltered(t *testing.T) {
	dc := addc.Start(t)
	tok, _, _ := pacLogon(t, dc, addc.Alice.Name, addc.Alice.Password)
	testAltered(t, dc, defaultService(dc), tok)
}

// TestPACServiceEnctypes: services whose only keys are RC4 or AES128 get
// tickets in that enctype, and PACs whose server signature is HMAC-MD5
// or HMAC-SHA1-96-AES128: the acceptor verifies each, and refuses them
// altered.
func TestPACServiceEnctypes(t *testing.T) {
	dc := addc.Start(t)
	for _, ps := range addc.PACServices {
		t.Run(ps.Name, func(t *testing.T) {
			et := int32(etAES128)
			if ps.Enctypes == 4 {
				et = etRC4
			}
			svc := pacService{filepath.Join(dc.Dir, ps.Keytab()), ps.SPN(), et}
			cli := clientHost(t, dc, "aes256-cts aes128-cts arcfour-hmac")
			c, err := newClient(t, cli.Host, password(addc.Alice.Name, addc.Alice.Password), svc.spn)
			if err != nil {
				t.Fatal(err)
			}
			tok, _, err := step(c, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e := apReq(t, tok).Ticket.EncPart.EType; e != et {
				t.Fatalf("ticket enctype %d, want %d", e, et)
			}
			testAltered(t, dc, svc, tok)
		})
	}
}

// testAltered accepts tok (Alice's AP-REQ for svc) as the KDC made it,
// then altered in the ways TestPACAltered lists.
func testAltered(t *testing.T, dc *addc.DC, svc pacService, tok []byte) {
	const forged = 4242 // a RID the domain does not have
	alice := sidOf(t, dc, addc.Alice.Name)
	forgedSID := alice[:strings.LastIndex(alice, "-")] + "-4242"
	addGroup := func(pac []byte, _ krbtypes.EncryptionKey) ([]byte, error) {
		return pactest.AddGroup(pac, forged, 7)
	}
	resign := func(edit func([]byte, krbtypes.EncryptionKey) ([]byte, error)) func([]byte, krbtypes.EncryptionKey) ([]byte, error) {
		return func(pac []byte, key krbtypes.EncryptionKey) ([]byte, error) {
			p, err := edit(pac, key)
			if err != nil {
				return nil, err
			}
			return pactest.SignServer(p, key)
		}
	}
	refused := func(t *testing.T, tok []byte, withKDC bool) {
		t.Helper()
		id, err := acceptPAC(t, dc, svc, tok, withKDC)
		if err == nil {
			t.Fatalf("altered PAC accepted: %+v", id)
		}
		if st := sspi.StatusOf(err); st != sspi.SEC_E_LOGON_DENIED {
			t.Errorf("status %v (%v), want SEC_E_LOGON_DENIED", st, err)
		}
		t.Logf("refused: %v", err)
	}

	t.Run("unaltered", func(t *testing.T) {
		for _, withKDC := range []bool{false, true} {
			id, err := acceptPAC(t, dc, svc, tok, withKDC)
			if err != nil || id.SID != alice {
				t.Fatalf("the KDC's own ticket (KDC keytab %v): %+v, %v", withKDC, id, err)
			}
		}
	})
	t.Run("group-added", func(t *testing.T) {
		refused(t, alterPAC(t, svc, tok, addGroup), false)
	})
	t.Run("group-added-server-signature-recomputed", func(t *testing.T) {
		bad := alterPAC(t, svc, tok, resign(addGroup))
		refused(t, bad, true)
		// Without the krbtgt keys the forgery is indistinguishable: the
		// service key signs it as well as the KDC did.
		id, err := acceptPAC(t, dc, svc, bad, false)
		if err != nil || !slices.Contains(id.Groups, forgedSID) {
			t.Fatalf("without the KDC keytab, a PAC re-signed with the service key: %v %v", id.Groups, err)
		}
	})
	t.Run("client-info-other-name", func(t *testing.T) {
		refused(t, alterPAC(t, svc, tok, resign(func(pac []byte, _ krbtypes.EncryptionKey) ([]byte, error) {
			ci := pactest.Buffer(pac, 10)
			return pactest.SetClientInfo(pac, addc.Bob.Name, clientInfoTime(ci))
		})), false)
	})
	t.Run("client-info-other-time", func(t *testing.T) {
		refused(t, alterPAC(t, svc, tok, resign(func(pac []byte, _ krbtypes.EncryptionKey) ([]byte, error) {
			ci := pactest.Buffer(pac, 10)
			return pactest.SetClientInfo(pac, addc.Alice.Name, clientInfoTime(ci).Add(-time.Hour))
		})), false)
	})
	t.Run("ticket-changed-pac-untouched", func(t *testing.T) {
		// The endtime a day later: the PAC's own signatures hold, the
		// ticket signature (PAC_TICKET_CHECKSUM) does not.
		ap, err := pactest.ParseAPReq(tok)
		if err != nil {
			t.Fatal(err)
		}
		key := svc.key(t)
		et, err := ap.Ticket(key)
		if err != nil {
			t.Fatal(err)
		}
		if et, err = pactest.SetTimes(et, 3, map[int]time.Time{7: sysenv.Now().Add(34 * time.Hour)}, nil); err != nil {
			t.Fatal(err)
		}
		if err := ap.SetTicket(et, key); err != nil {
			t.Fatal(err)
		}
		refused(t, ap.Bytes(), true)
		if _, err := acceptPAC(t, dc, svc, ap.Bytes(), false); err != nil {
			t.Fatalf("without the KDC keytab: %v", err)
		}
	})
	t.Run("server-signature-wrong-key", func(t *testing.T) {
		refused(t, alterPAC(t, svc, tok, func(pac []byte, key krbtypes.EncryptionKey) ([]byte, error) {
			other := key
			other.KeyValue = make([]byte, len(key.KeyValue))
			return pactest.SignServer(pac, other)
		}), false)
	})
}

// clientInfoTime is the ClientId of PAC_CLIENT_INFO (MS-PAC 2.7).
func clientInfoTime(ci []byte) time.Time {
	if len(ci) < 8 {
		panic(errors.New("short PAC_CLIENT_INFO"))
	}
	var ft uint64
	for i := 7; i >= 0; i-- {
		ft = ft<<8 | uint64(ci[i])
	}
	return time.Unix(int64(ft-116444736000000000)/1e7, 0).UTC()
}
