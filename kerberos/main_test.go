package kerberos

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// The realm shared by the tests of this package: started on first use
// (liveRealm), so the pure unit tests (crypto, DER, sequence windows,
// parsers, replays) need no MIT installation; stopped by TestMain.
var (
	realmOnce sync.Once
	theRealm  *testRealm
	realmErr  error
)

// liveRealm returns the shared MIT realm, starting it on first use. A
// missing or broken MIT installation fails the test that needs it, never
// skips it.
func liveRealm(t testing.TB) *testRealm {
	t.Helper()
	startShared()
	if realmErr != nil {
		t.Fatalf("kerberos tests: cannot start the MIT realm (run make test, which installs it): %v", realmErr)
	}
	return theRealm
}

func startShared() {
	realmOnce.Do(func() {
		r, err := startRealm()
		if err != nil {
			realmErr = err
			return
		}
		theRealm = r
		// The environment MIT tools use, for the examples: alice's kinit
		// ccache and the HTTP/svc.localhost keytab.
		os.Setenv("KRB5CCNAME", "FILE:"+r.fwdCCache)
		os.Setenv("KRB5_KTNAME", "FILE:"+r.svcKeytab)
	})
}

type testRealm struct {
	*krbtest.Realm
	userPW       string
	svcKeytab    string // HTTP/svc.localhost, all enctypes
	rc4Keytab    string // HTTP/rc4.localhost, rc4-hmac only
	otherKeytab  string // HTTP/other.localhost
	sha2Keytab   string // HTTP/sha2.localhost, aes256-cts-hmac-sha384-192 only
	sha256Keytab string // HTTP/sha256.localhost, aes128-cts-hmac-sha256-128 only
	allKeytab    string // all the services
	fwdCCache    string // kinit -f of alice
	batchKeytab  string // the client principal "batch", keys only
}

const (
	svcSPN    = "HTTP/svc.localhost"
	rc4SPN    = "HTTP/rc4.localhost"
	otherSPN  = "HTTP/other.localhost"
	sha2SPN   = "HTTP/sha2.localhost"
	sha256SPN = "HTTP/sha256.localhost"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Fuzzing needs no KDC (the targets run on recorded transcripts), and
	// every fuzz worker process runs TestMain.
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		os.Exit(m.Run())
	}
	// The Example runs on the realm's environment and cannot ask for it:
	// start the realm first when the run includes it.
	if runsExamples() {
		startShared()
		if realmErr != nil {
			fmt.Fprintln(os.Stderr, "kerberos tests: cannot start the MIT realm; the tests that need it will fail:", realmErr)
		}
	}
	code := m.Run()
	if theRealm != nil {
		theRealm.Close()
	}
	os.Exit(code)
}

func startRealm() (*testRealm, error) {
	kr, err := krbtest.Start(krbtest.Options{})
	if err != nil {
		return nil, err
	}
	r := &testRealm{Realm: kr, userPW: "alice-Secret-1"}
	fail := func(err error) (*testRealm, error) { kr.Close(); return nil, err }
	os.Setenv("KRB5_CONFIG", kr.Krb5Con)
	os.Unsetenv("KRB5CCNAME")
	os.Unsetenv("KRB5_KTNAME")
	if err := kr.AddPrincipal("alice", r.userPW); err != nil {
		return fail(err)
	}
	// PA-ENC-TIMESTAMP with the ETYPE-INFO2 salt, as AD requires.
	if _, err := kr.Kadmin("modprinc +requires_preauth alice"); err != nil {
		return fail(err)
	}
	if r.svcKeytab, err = kr.AddService(svcSPN); err != nil {
		return fail(err)
	}
	if r.rc4Keytab, err = kr.AddService(rc4SPN, "arcfour-hmac"); err != nil {
		return fail(err)
	}
	if r.otherKeytab, err = kr.AddService(otherSPN); err != nil {
		return fail(err)
	}
	if r.sha2Keytab, err = kr.AddService(sha2SPN, "aes256-cts-hmac-sha384-192"); err != nil {
		return fail(err)
	}
	if r.sha256Keytab, err = kr.AddService(sha256SPN, "aes128-cts-hmac-sha256-128"); err != nil {
		return fail(err)
	}
	if err := kr.SetString(sha256SPN, "session_enctypes", "aes128-cts-hmac-sha256-128"); err != nil {
		return fail(err)
	}
	// Session keys of the services' own enctypes, not the KDC's AES default.
	if err := kr.SetString(rc4SPN, "session_enctypes", "arcfour-hmac"); err != nil {
		return fail(err)
	}
	if err := kr.SetString(sha2SPN, "session_enctypes", "aes256-cts-hmac-sha384-192"); err != nil {
		return fail(err)
	}
	if r.allKeytab, err = kr.Keytab(svcSPN, rc4SPN, otherSPN, sha2SPN); err != nil {
		return fail(err)
	}
	// "dave" keeps the keys made for "carol": its salt is not the default
	// one, so a client must take it from the KDC's ETYPE-INFO2.
	if err := kr.AddPrincipal("carol", "dave-Secret-1"); err != nil {
		return fail(err)
	}
	if _, err := kr.Kadmin("renprinc -force carol dave", "modprinc +requires_preauth dave"); err != nil {
		return fail(err)
	}
	if r.batchKeytab, err = kr.AddService("batch"); err != nil {
		return fail(err)
	}
	if r.fwdCCache, err = kr.Kinit("alice", r.userPW, "-f"); err != nil {
		return fail(err)
	}
	return r, nil
}

// clientCred acquires outbound credentials for alice with her password.
func clientCred(t testing.TB, p *Package) secpkg.LsaCredential {
	t.Helper()
	c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
		Use:      sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{User: "alice", Password: liveRealm(t).userPW},
	})
	if err != nil {
		t.Fatalf("AcquireCredentialsHandle(outbound): %v", err)
	}
	t.Cleanup(c.Free)
	return c
}

// serverCred acquires inbound credentials from a keytab.
func serverCred(t testing.TB, p *Package, keytab, principal string) secpkg.LsaCredential {
	t.Helper()
	c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{
		Use:       sspi.SECPKG_CRED_INBOUND,
		Principal: principal,
		AuthData:  &sspi.AuthIdentity{Options: map[string]string{"keytab": keytab}},
	})
	if err != nil {
		t.Fatalf("AcquireCredentialsHandle(inbound): %v", err)
	}
	t.Cleanup(c.Free)
	return c
}

func tokenDesc(tok []byte, cb *sspi.ChannelBindings) *sspi.SecBufferDesc {
	d := sspi.NewDesc()
	if tok != nil {
		d.Buffers = append(d.Buffers, sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok})
	}
	if cb != nil {
		d.Buffers = append(d.Buffers, sspi.SecBuffer{BufferType: sspi.SECBUFFER_CHANNEL_BINDINGS, Buffer: cb.Marshal()})
	}
	return d
}

func outToken(out secpkg.ContextOutput) []byte {
	for _, b := range out.Output {
		if b.BufferType == sspi.SECBUFFER_TOKEN {
			return b.Buffer
		}
	}
	return nil
}

type pair struct {
	client, server       sspi.UserModeContext
	clientOut, serverOut secpkg.ContextOutput
	serverLsa            secpkg.LsaContext
}

// handshake runs our initiator against our acceptor.
func handshake(t testing.TB, cp, sp *Package, ccred, scred secpkg.LsaCredential, target string, isc sspi.ISCReq, asc sspi.ASCReq, ccb, scb *sspi.ChannelBindings) (*pair, error) {
	t.Helper()
	ctx := context.Background()
	cctx, cout, err := cp.InitLsaModeContext(ctx, ccred, nil, &secpkg.InitContextParams{TargetName: target, ContextReq: isc, Input: tokenDesc(nil, ccb)})
	if err != nil {
		return nil, err
	}
	sctx, sout, err := sp.AcceptLsaModeContext(ctx, scred, nil, &secpkg.AcceptContextParams{ContextReq: asc, Input: tokenDesc(outToken(cout), scb)})
	if err != nil {
		return nil, err
	}
	if cout.Status == sspi.SEC_I_CONTINUE_NEEDED {
		_, cout, err = cp.InitLsaModeContext(ctx, ccred, cctx, &secpkg.InitContextParams{TargetName: target, ContextReq: isc, Input: tokenDesc(outToken(sout), nil)})
		if err != nil {
			return nil, err
		}
	}
	if cout.Status != sspi.SEC_E_OK || sout.Status != sspi.SEC_E_OK || !cout.Mapped || !sout.Mapped {
		t.Fatalf("handshake did not finish: %v %v", cout.Status, sout.Status)
	}
	um := UserMode()
	c, err := um.InitUserModeContext(cout.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	s, err := um.InitUserModeContext(sout.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	return &pair{client: c, server: s, clientOut: cout, serverOut: sout, serverLsa: sctx}, nil
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// ktCred is an inbound credential over a keytab already loaded, with the
// legacy enctype policy (RC4 permitted), as the transcripts and fuzz seeds
// include rc4-hmac.
func ktCred(p *Package, kt *keytab.Keytab) *credential {
	c := &credential{pkg: p, use: sspi.SECPKG_CRED_INBOUND, permit: legacyPolicy()}
	c.setKeytab(kt)
	return c
}

// legacyEnctypes is the switch for RC4 peers.
const legacyEnctypes = "DEFAULT +rc4"

func legacyPolicy() *enctypePolicy {
	l, err := parseEnctypeList(legacyEnctypes, defaultEnctypes(libdefaults{}), false)
	if err != nil {
		panic(err)
	}
	return &enctypePolicy{list: l, source: "test"}
}

// krb5Conf writes a krb5.conf with the given [libdefaults] lines.
func krb5Conf(t testing.TB, libdefaults ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "krb5.conf")
	writeFile(t, path, []byte("[libdefaults]\n\tdefault_realm = GOSSPI.TEST\n\t"+strings.Join(libdefaults, "\n\t")+"\n"))
	return path
}

// runsExamples reports whether -test.run selects the Example functions.
func runsExamples() bool {
	f := flag.Lookup("test.run")
	if f == nil || f.Value.String() == "" {
		return true
	}
	re, err := regexp.Compile(strings.SplitN(f.Value.String(), "/", 2)[0])
	return err == nil && re.MatchString("Example")
}
