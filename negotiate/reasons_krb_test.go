package negotiate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// The fallback reasons with the real packages: our Kerberos (against the
// MIT realm where a KDC is needed) and our NTLM, both sides in process.
// The Kerberos package's own wording is its business: these tests look for
// the mechanism, the status and the file or target named.

// realNego is Negotiate over Kerberos (kcfg) and NTLM with the test
// account TESTDOM\alice.
func realNego(t *testing.T, kcfg kerberos.Config) *Package {
	t.Helper()
	store := ntlm.NewMemoryStore()
	store.Add(ntlmDomain, ntlmUser, ntlmPass)
	n, err := New(Config{
		Packages:     []secpkg.LsaModePackage{kerberos.New(kcfg), ntlm.New(ntlm.Config{Accounts: store, NetBIOSDomain: ntlmDomain})},
		UserPackages: []sspi.UserModePackage{kerberos.UserMode(), ntlmUserMode()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func realHS(t *testing.T, cli, srv *Package, id *sspi.AuthIdentity, target string) *hs {
	t.Helper()
	c, _, err := cli.AcquireCredentialsHandle(t.Context(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: id})
	if err != nil {
		t.Fatal(err)
	}
	return &hs{cli: cli, srv: srv, ccred: c, scred: acquireIn(t, srv), target: target,
		creq: sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_SEQUENCE_DETECT}
}

// clientFailure runs h until the acceptor refuses, hands its reject to the
// initiator and returns the initiator's error.
func clientFailure(t *testing.T, h *hs) error {
	t.Helper()
	err := h.run()
	var se *sideError
	if !errors.As(err, &se) {
		t.Fatalf("handshake: %v", err)
	}
	if se.side == "client" {
		return se.err
	}
	err = h.client(tok(h.sout))
	if err == nil {
		t.Fatal("the initiator accepted the reject")
	}
	return err
}

// wantParts checks that err's Detail starts with parts[0] and has the
// other parts after it, in order, each starting an entry ("; "), and that
// errors.Is holds for st and each of also.
func wantParts(t *testing.T, err error, st sspi.Status, parts []string, also ...error) {
	t.Helper()
	var se *sspi.Error
	if !errors.As(err, &se) || se.Status != st {
		t.Fatalf("got %v, want status %v", err, st)
	}
	t.Log(err)
	rest := se.Detail
	for i, p := range parts {
		if i > 0 {
			p = "; " + p
		}
		j := strings.Index(rest, p)
		if j < 0 || i == 0 && j != 0 {
			t.Fatalf("detail %q lacks %q in place", se.Detail, p)
		}
		rest = rest[j+len(p):]
	}
	for _, e := range append([]error{st}, also...) {
		if !errors.Is(err, e) {
			t.Errorf("errors.Is(err, %v) is false: %v", e, err)
		}
	}
}

func skippedOf(t *testing.T, n *Package, out secpkg.ContextOutput) []string {
	t.Helper()
	u, err := n.InitUserModeContext(out.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Delete()
	return negInfoOf(t, u).Skipped
}

// TestReasonRealIPTarget: alice has a Kerberos credential, but the target
// is an IP address; NTLM then fails, as alice has no NTLM account with
// that password.
func TestReasonRealIPTarget(t *testing.T) {
	r := realm(t)
	h := realHS(t, krbNego(t, r, kerberos.Config{}), krbNego(t, r, kerberos.Config{}), krbIdentity(r), "HTTP@127.0.0.1")
	wantParts(t, clientFailure(t, h), sspi.SEC_E_LOGON_DENIED,
		[]string{"Kerberos skipped: target is an IP address", "NTLM: SEC_E_LOGON_DENIED"})
}

// TestReasonRealWrongKerberosPassword: the KDC refuses the password, so
// the credential has no Kerberos; NTLM is tried and refuses it too.
func TestReasonRealWrongKerberosPassword(t *testing.T) {
	r := realm(t)
	n, srv := krbNego(t, r, kerberos.Config{}), krbNego(t, r, kerberos.Config{})
	h := realHS(t, n, srv, &sspi.AuthIdentity{User: krbUser, Password: "not-" + r.userPW}, "HTTP@"+svcHost)
	err := clientFailure(t, h)
	wantParts(t, err, sspi.SEC_E_LOGON_DENIED,
		[]string{"Kerberos skipped: SEC_E_LOGON_DENIED", "NTLM: SEC_E_LOGON_DENIED"})

	// With the NTLM password, NTLM succeeds and says why Kerberos was not
	// used, on the context and on an exported copy of it.
	h = realHS(t, n, srv, &sspi.AuthIdentity{User: ntlmUser, Password: ntlmPass}, "HTTP@"+svcHost)
	mustRun(t, h)
	got := skippedOf(t, n, h.cout)
	if len(got) != 1 || !strings.HasPrefix(got[0], "Kerberos: SEC_E_LOGON_DENIED") {
		t.Fatalf("skipped %q", got)
	}
	u, err := n.InitUserModeContext(h.cout.ContextData)
	if err != nil {
		t.Fatal(err)
	}
	data, err := u.(sspi.UserModeExporter).ExportContext()
	if err != nil {
		t.Fatal(err)
	}
	imp, err := n.InitUserModeContext(data)
	if err != nil {
		t.Fatal(err)
	}
	if g := negInfoOf(t, imp).Skipped; !sameStrings(g, got) {
		t.Fatalf("imported: %q", g)
	}
}

// TestReasonMissingKrb5Conf: no KDC needed: krb5.conf does not exist, so
// Kerberos has no credential and NTLM is used.
func TestReasonMissingKrb5Conf(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "no", "krb5.conf")
	kcfg := kerberos.Config{Krb5Conf: conf, Keytab: filepath.Join(t.TempDir(), "none.keytab")}
	n, srv := realNego(t, kcfg), realNego(t, kcfg)
	h := realHS(t, n, srv, &sspi.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPass}, "HTTP/host.example.com")
	mustRun(t, h)
	got := skippedOf(t, n, h.cout)
	if len(got) != 1 || !strings.HasPrefix(got[0], "Kerberos: SEC_E_NO_AUTHENTICATING_AUTHORITY") || !strings.Contains(got[0], conf) {
		t.Fatalf("skipped %q", got)
	}
	// With a wrong NTLM password the failure says both.
	h = realHS(t, n, srv, &sspi.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: "wrong"}, "HTTP/host.example.com")
	err := clientFailure(t, h)
	wantParts(t, err, sspi.SEC_E_LOGON_DENIED,
		[]string{"Kerberos skipped: SEC_E_NO_AUTHENTICATING_AUTHORITY", "NTLM: SEC_E_LOGON_DENIED"}, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY)
	if !strings.Contains(err.Error(), conf) {
		t.Fatalf("%v does not name %s", err, conf)
	}
}

// TestReasonNoCCache: no password and no credential cache: neither
// package has a credential, and AcquireCredentialsHandle says why each.
func TestReasonNoCCache(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = EXAMPLE.TEST\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := realNego(t, kerberos.Config{Krb5Conf: conf})
	cc := "FILE:" + filepath.Join(dir, "krb5cc_none")
	_, _, err := n.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{User: ntlmUser, Options: map[string]string{"ccache": cc}}})
	wantParts(t, err, sspi.SEC_E_NO_CREDENTIALS, []string{"Kerberos: SEC_E_NO_CREDENTIALS", "NTLM: "})
}

// TestReasonAcceptorWithoutKeytab is the misconfigured server: its keytab
// does not exist, so it has no Kerberos. A client with a ticket that
// offers only Kerberos gets "no mechanism in common", and the acceptor's
// error says why; one that offers both falls back to NTLM.
func TestReasonAcceptorWithoutKeytab(t *testing.T) {
	r := realm(t)
	kt := filepath.Join(t.TempDir(), "missing.keytab")
	srv := krbNego(t, r, kerberos.Config{Keytab: kt})
	cli := krbNego(t, r, kerberos.Config{})
	ticket := &sspi.AuthIdentity{Options: map[string]string{"ccache": "FILE:" + r.ccache}, PackageList: "kerberos"}
	h := realHS(t, cli, srv, ticket, "HTTP@"+svcHost)
	err := h.run()
	var se *sideError
	if !errors.As(err, &se) || se.side != "server" {
		t.Fatalf("%v", err)
	}
	wantParts(t, se.err, sspi.SEC_E_SECPKG_NOT_FOUND,
		[]string{"no mechanism in common: Kerberos skipped: SEC_E_NO_CREDENTIALS", "NTLM skipped: not offered by the initiator"}, sspi.SEC_E_NO_CREDENTIALS)
	if !strings.Contains(se.err.Error(), kt) {
		t.Fatalf("%v does not name %s", se.err, kt)
	}

	h = realHS(t, cli, srv, &sspi.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPass}, "HTTP@"+svcHost)
	mustRun(t, h)
	if got := skippedOf(t, srv, h.sout); len(got) != 1 || !strings.HasPrefix(got[0], "Kerberos: SEC_E_NO_CREDENTIALS") {
		t.Fatalf("acceptor skipped %q", got)
	}
}
