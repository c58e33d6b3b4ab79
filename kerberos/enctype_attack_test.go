package kerberos

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// TestRC4TicketRefusedByDefault is the "RC4 tickets are accepted with no
// permitted-enctypes policy" default of issue 10 as an attack: MIT's
// initiator's rc4-hmac AP-REQ (ticket, session key and subkey all
// arcfour-hmac), against an acceptor whose krb5.conf says nothing about
// enctypes. It used to be accepted; RC4 is now permitted only when asked for
// (allow_rc4, permitted_enctypes, Config.PermittedEnctypes).
func TestRC4TicketRefusedByDefault(t *testing.T) {
	tr := loadTranscript(t, "rc4")
	now := testutil.PinClock(t, tr.recorded())
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n\tdefault_realm = GOSSPI.TEST\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := New(Config{Krb5Conf: conf, Now: now, Rand: testutil.NewReplayReader(tr.AcceptorRandom), DisableReplayCache: true})
	cred := serverCred(t, p, tr.keytabFile(t), tr.Service)
	_, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil,
		&secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, &sspi.ChannelBindings{ApplicationData: tr.CB})})
	wantStatus(t, err, sspi.SEC_E_ALGORITHM_MISMATCH)
}

// TestTranscriptEnctypePolicy: the recorded rc4-hmac and aes AP-REQs under
// the policies krb5.conf and Config can set.
func TestTranscriptEnctypePolicy(t *testing.T) {
	dir := t.TempDir()
	incl := filepath.Join(dir, "rc4.conf")
	writeFile(t, incl, []byte("[libdefaults]\n  allow_rc4 = yes\n"))
	// includedir reads 50-rc4 and skips editor backups, as MIT does.
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	writeFile(t, filepath.Join(dir, "d", "50-rc4"), []byte("[libdefaults]\n allow_rc4 = 1\n"))
	os.Mkdir(filepath.Join(dir, "e"), 0o755)
	writeFile(t, filepath.Join(dir, "e", "50-rc4~"), []byte("[libdefaults]\n allow_rc4 = 1\n"))
	cases := []struct {
		name      string
		conf      string
		permitted string // Config.PermittedEnctypes
		rc4, aes  sspi.Status
	}{
		{"default", krb5Conf(t), "", sspi.SEC_E_ALGORITHM_MISMATCH, sspi.SEC_E_OK},
		{"no krb5.conf", filepath.Join(dir, "nonexistent.conf"), "", sspi.SEC_E_ALGORITHM_MISMATCH, sspi.SEC_E_OK},
		{"allow_rc4", krb5Conf(t, "allow_rc4 = true"), "", sspi.SEC_E_OK, sspi.SEC_E_OK},
		{"allow_rc4 in an include", krb5Conf(t, "forwardable = true", "[realms]", "include "+incl), "", sspi.SEC_E_OK, sspi.SEC_E_OK},
		{"allow_rc4 in an includedir", krb5Conf(t, "includedir "+filepath.Join(dir, "d")), "", sspi.SEC_E_OK, sspi.SEC_E_OK},
		{"backup file in an includedir", krb5Conf(t, "includedir "+filepath.Join(dir, "e")), "", sspi.SEC_E_ALGORITHM_MISMATCH, sspi.SEC_E_OK},
		{"permitted_enctypes lists rc4", krb5Conf(t, "permitted_enctypes = aes256-cts-hmac-sha1-96,arcfour-hmac"), "", sspi.SEC_E_OK, sspi.SEC_E_OK},
		{"DEFAULT +rc4", krb5Conf(t, "permitted_enctypes = DEFAULT +rc4"), "", sspi.SEC_E_OK, sspi.SEC_E_OK},
		{"allow_rc4 but DEFAULT -rc4", krb5Conf(t, "allow_rc4 = true", "permitted_enctypes = DEFAULT -rc4"), "", sspi.SEC_E_ALGORITHM_MISMATCH, sspi.SEC_E_OK},
		{"aes128 only", krb5Conf(t, "permitted_enctypes = aes128-cts"), "", sspi.SEC_E_ALGORITHM_MISMATCH, sspi.SEC_E_ALGORITHM_MISMATCH},
		{"Config wins over krb5.conf", krb5Conf(t, "permitted_enctypes = aes128-cts"), legacyEnctypes, sspi.SEC_E_OK, sspi.SEC_E_OK},
		{"Config without RC4", krb5Conf(t, "allow_rc4 = true"), "aes", sspi.SEC_E_ALGORITHM_MISMATCH, sspi.SEC_E_OK},
		{"realm subsection ignored", krb5Conf(t, "GOSSPI.TEST = {", "permitted_enctypes = rc4", "}"), "", sspi.SEC_E_ALGORITHM_MISMATCH, sspi.SEC_E_OK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, x := range []struct {
				name string
				want sspi.Status
			}{{"rc4", c.rc4}, {"aes256", c.aes}} {
				tr := loadTranscript(t, x.name)
				now := testutil.PinClock(t, tr.recorded())
				p := New(Config{Krb5Conf: c.conf, PermittedEnctypes: c.permitted, Now: now, Rand: testutil.NewReplayReader(tr.AcceptorRandom), DisableReplayCache: true})
				cred := serverCred(t, p, tr.keytabFile(t), tr.Service)
				_, out, err := p.AcceptLsaModeContext(context.Background(), cred, nil,
					&secpkg.AcceptContextParams{ContextReq: sspi.ASC_REQ_EXTENDED_ERROR, Input: tokenDesc(tr.APReq, &sspi.ChannelBindings{ApplicationData: tr.CB})})
				if sspi.StatusOf(err) != x.want {
					t.Fatalf("%s: %v, want %v", x.name, err, x.want)
				}
				if x.want == sspi.SEC_E_ALGORITHM_MISMATCH {
					// The client learns why: KDC_ERR_ETYPE_NOSUPP.
					e, perr := parseKRBError(innerOf(outToken(out)))
					if perr != nil || e.ErrorCode != 14 {
						t.Fatalf("KRB-ERROR %+v %v", e, perr)
					}
				}
			}
		})
	}
	// A policy that permits nothing known fails the credential, closed.
	for _, bad := range []Config{{Krb5Conf: krb5Conf(t, "permitted_enctypes = des-cbc-crc nosuch")}, {Krb5Conf: krb5Conf(t), PermittedEnctypes: "-aes"}} {
		p := New(bad)
		_, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND,
			AuthData: &sspi.AuthIdentity{Options: map[string]string{"keytab": loadTranscript(t, "aes256").keytabFile(t)}}})
		wantStatus(t, err, sspi.SEC_E_ALGORITHM_MISMATCH)
	}
	// A krb5.conf that cannot be read (its include is missing) fails too.
	p := New(Config{Krb5Conf: krb5Conf(t, "include "+filepath.Join(dir, "missing.conf"))})
	_, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND,
		AuthData: &sspi.AuthIdentity{Options: map[string]string{"keytab": loadTranscript(t, "aes256").keytabFile(t)}}})
	wantStatus(t, err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY)
}

func TestParseEnctypeList(t *testing.T) {
	def := defaultEnctypes(libdefaults{})
	for _, c := range []struct {
		in   string
		weak bool
		want []int32
	}{
		{"DEFAULT", false, []int32{18, 17, 20, 19, 25, 26}},
		{"default +rc4 -camellia", false, []int32{18, 17, 20, 19, 23}},
		{"aes256-cts, AES128-CTS\trc4-hmac", false, []int32{18, 17, 23}},
		{"des-cbc-crc des3 arcfour-hmac-md5-exp", false, []int32{16}},
		{"des-cbc-crc des3 arcfour-hmac-md5-exp", true, []int32{1, 16, 24}},
		{"aes -aes256-sha2 +aes256-sha2 aes128-sha1", false, []int32{18, 17, 19, 20}},
	} {
		got, err := parseEnctypeList(c.in, def, c.weak)
		if err != nil || !slicesEqual(got, c.want) {
			t.Errorf("%q: %v %v, want %v", c.in, got, err, c.want)
		}
	}
	if _, err := parseEnctypeList("nosuch -aes", def, false); err == nil {
		t.Error("an empty list parsed")
	}
	if d := defaultEnctypes(libdefaults{allowRC4: true, allowDES3: true}); !slicesEqual(d, mitDefaultEnctypes) {
		t.Errorf("with allow_rc4 and allow_des3 the default is MIT's: %v", d)
	}
}

func slicesEqual(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestInitiatorEnctypeLists: the initiator asks the KDC for the session key
// enctypes of default_tgs_enctypes, else permitted_enctypes, and without
// the legacy switch no longer gets an RC4 ticket.
func TestInitiatorEnctypeLists(t *testing.T) {
	realm := liveRealm(t)
	b, err := os.ReadFile(realm.Krb5Con)
	if err != nil {
		t.Fatal(err)
	}
	// The realm's krb5.conf sets allow_rc4 = true for the RC4 tests.
	base := strings.ReplaceAll(string(b), "allow_rc4 = true", "")
	conf := func(extra ...string) string {
		path := filepath.Join(t.TempDir(), "krb5.conf")
		writeFile(t, path, []byte(strings.Replace(base, "[libdefaults]", "[libdefaults]\n\t"+strings.Join(extra, "\n\t"), 1)))
		return path
	}
	sessionEtype := func(pr *pair) int32 {
		s, err := unmarshalSession(pr.serverOut.ContextData, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s.sessionEtype
	}
	for _, c := range []struct {
		name  string
		conf  string
		etype int32
	}{
		{"default", conf(), etypeAES256SHA1},
		{"default_tgs_enctypes", conf("default_tgs_enctypes = aes128-cts-hmac-sha1-96"), etypeAES128SHA1},
		{"permitted_enctypes", conf("permitted_enctypes = aes128-cts aes256-cts"), etypeAES128SHA1},
		{"default_tgs_enctypes wins", conf("permitted_enctypes = aes128-cts aes256-cts", "default_tgs_enctypes = aes256-cts"), etypeAES256SHA1},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := New(Config{Krb5Conf: c.conf})
			pr, err := handshake(t, p, p, clientCred(t, p), serverCred(t, p, realm.svcKeytab, ""), svcSPN, stdISC, 0, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e := sessionEtype(pr); e != c.etype {
				t.Fatalf("session key %s, want %s", enctypeName(e), enctypeName(c.etype))
			}
		})
	}
	// rc4.localhost issues only arcfour-hmac session keys: without the
	// switch the initiator does not ask for one and the KDC refuses.
	p := New(Config{Krb5Conf: conf()})
	_, _, err = p.InitLsaModeContext(context.Background(), clientCred(t, p), nil, &secpkg.InitContextParams{TargetName: rc4SPN, ContextReq: stdISC})
	wantStatus(t, err, sspi.SEC_E_KDC_UNKNOWN_ETYPE)
	p = New(Config{Krb5Conf: conf(), PermittedEnctypes: legacyEnctypes})
	pr, err := handshake(t, p, p, clientCred(t, p), serverCred(t, p, realm.rc4Keytab, ""), rc4SPN, stdISC, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := sessionEtype(pr); e != etypeRC4HMAC {
		t.Fatalf("legacy session key %s", enctypeName(e))
	}
}
