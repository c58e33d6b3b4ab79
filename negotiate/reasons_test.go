package negotiate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// wantDetail checks that err is an *sspi.Error of Negotiate with status st
// whose Detail is want, that errors.Is holds for st and each of also, and
// that the message says each thing once.
func wantDetail(t *testing.T, err error, st sspi.Status, want string, also ...error) {
	t.Helper()
	var se *sspi.Error
	if !errors.As(err, &se) {
		t.Fatalf("not an *sspi.Error: %v", err)
	}
	if se.Status != st || se.Detail != want {
		t.Fatalf("got %v / %q\nwant %v / %q", se.Status, se.Detail, st, want)
	}
	if sspi.StatusOf(err) != st {
		t.Fatalf("StatusOf = %v", sspi.StatusOf(err))
	}
	for _, e := range append([]error{st}, also...) {
		if !errors.Is(err, e) {
			t.Errorf("errors.Is(err, %v) is false", e)
		}
	}
	if msg := err.Error(); strings.Count(msg, want) != 1 {
		t.Errorf("message says the detail %d times: %s", strings.Count(msg, want), msg)
	}
}

// negInfoOf is the negotiation info of an LSA context, or of the user-mode
// context its ContextData builds.
func negInfoOf(t *testing.T, q interface {
	QueryAttributes(sspi.ContextAttribute) (any, error)
}) sspi.SecPkgContextNegotiationInfo {
	t.Helper()
	v, err := q.QueryAttributes(sspi.SECPKG_ATTR_NEGOTIATION_INFO)
	if err != nil {
		t.Fatal(err)
	}
	return v.(sspi.SecPkgContextNegotiationInfo)
}

func sameStrings(a, b []string) bool {
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

// TestReasonIPTargetLogonDenied is the example: the target is an
// IP address, so Kerberos is skipped, and NTLM is denied.
func TestReasonIPTargetLogonDenied(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	h.target = "HTTP/192.0.2.7"
	h.ccred = acquire(t, n, sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: "alice", Password: "wrong"})
	err := h.run()
	var se *sideError
	if !errors.As(err, &se) || se.side != "server" {
		t.Fatalf("%v", err)
	}
	// The acceptor says what it saw: no Kerberos offered, NTLM denied.
	wantDetail(t, se.err, sspi.SEC_E_LOGON_DENIED, "Kerberos skipped: not offered by the initiator; NTLM: SEC_E_LOGON_DENIED")
	// The initiator hears the reject.
	err = h.client(tok(h.sout))
	wantDetail(t, err, sspi.SEC_E_LOGON_DENIED,
		"Kerberos skipped: target is an IP address; NTLM: SEC_E_LOGON_DENIED: acceptor rejected the authentication")
	if !strings.HasPrefix(err.Error(), "InitializeSecurityContext: SEC_E_LOGON_DENIED") {
		t.Errorf("message %q", err)
	}
	if krb.inits.Load() != 0 {
		t.Fatal("Kerberos was tried")
	}
}

// TestReasonAcceptorDenied: nothing was skipped, and the acceptor's NTLM
// refuses the password: the error still names the mechanism, wraps the
// package's error and keeps its status.
func TestReasonAcceptorDenied(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	h.ccred = acquire(t, n, sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: "alice", Password: "wrong", PackageList: "ntlm"})
	err := h.run()
	var se *sideError
	if !errors.As(err, &se) || se.side != "server" {
		t.Fatalf("%v", err)
	}
	wantDetail(t, se.err, sspi.SEC_E_LOGON_DENIED, "Kerberos skipped: not offered by the initiator; NTLM: SEC_E_LOGON_DENIED")
	// The client hears the reject; its credential left Kerberos out.
	if err := h.client(tok(h.sout)); err == nil {
		t.Fatal("client accepted a reject")
	} else {
		wantDetail(t, err, sspi.SEC_E_LOGON_DENIED,
			"Kerberos skipped: not in the PackageList; NTLM: SEC_E_LOGON_DENIED: acceptor rejected the authentication")
	}
}

// TestReasonKerberosCannotStart: Kerberos fails to start (no KDC) and NTLM
// is used; the success reports why, on the LSA context and on the
// user-mode context rebuilt from ContextData.
func TestReasonKerberosCannotStart(t *testing.T) {
	krb, ntlm := newToys()
	cause := &sspi.Error{Status: sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY, Detail: "no KDC answered for EXAMPLE.COM", Err: context.DeadlineExceeded}
	krb.initErr = cause
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	mustRun(t, h)
	want := []string{"Kerberos: SEC_E_NO_AUTHENTICATING_AUTHORITY: no KDC answered for EXAMPLE.COM: " + context.DeadlineExceeded.Error()}
	if got := negInfoOf(t, h.cctx).Skipped; !sameStrings(got, want) {
		t.Fatalf("LSA context: %q", got)
	}
	cu, su := userPair(t, h)
	if got := negInfoOf(t, cu).Skipped; !sameStrings(got, want) {
		t.Fatalf("user-mode context: %q", got)
	}
	if got := negInfoOf(t, su).Skipped; !sameStrings(got, []string{"Kerberos: not offered by the initiator"}) {
		t.Fatalf("acceptor: %q", got)
	}

	// NTLM cannot start either: the first package's status, both reasons,
	// and errors.Is reaches each package's error and its cause.
	ntlm.initErr = sspi.SEC_E_NO_CREDENTIALS
	h = newHS(t, n, n)
	err := h.run()
	var se *sideError
	if !errors.As(err, &se) || h.cctx != nil {
		t.Fatalf("%v", err)
	}
	wantDetail(t, se.err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY,
		"no mechanism could start: Kerberos skipped: SEC_E_NO_AUTHENTICATING_AUTHORITY: no KDC answered for EXAMPLE.COM: context deadline exceeded; NTLM skipped: SEC_E_NO_CREDENTIALS",
		sspi.SEC_E_NO_CREDENTIALS, context.DeadlineExceeded, cause)
}

// TestReasonNoMechanismToOffer: Kerberos only, and the target is an IP
// address.
func TestReasonNoMechanismToOffer(t *testing.T) {
	krb, _ := newToys()
	n := newNego(t, krb)
	cred := acquire(t, n, sspi.SECPKG_CRED_OUTBOUND, nil)
	_, _, err := n.InitLsaModeContext(context.Background(), cred, nil, &secpkg.InitContextParams{TargetName: "HTTP@[2001:db8::1]:8443"})
	wantDetail(t, err, sspi.SEC_E_SECPKG_NOT_FOUND, "no mechanism to offer: Kerberos skipped: target is an IP address")
}

// TestReasonNotOfferedByAcceptor: the acceptor's NegTokenInit2 lists only
// NTLM.
func TestReasonNotOfferedByAcceptor(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	h.firstServerInput = mustMarshal(t, &spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDNTLM}, Init2: true})
	if err := h.client(h.firstServerInput); err != nil {
		t.Fatal(err)
	}
	if got := negInfoOf(t, h.cctx).Skipped; !sameStrings(got, []string{"Kerberos: not offered by the acceptor"}) {
		t.Fatalf("%q", got)
	}
}

// TestReasonAcceptorChoice: the acceptor has no Kerberos credential (a
// server without a keytab), so it picks NTLM. Each side reports why.
func TestReasonAcceptorChoice(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	h.scred = acquire(t, n, sspi.SECPKG_CRED_INBOUND, &sspi.AuthIdentity{Password: "pw", Options: map[string]string{"no-kerberos": "1"}})
	mustRun(t, h)
	cu, su := userPair(t, h)
	if got := negInfoOf(t, cu).Skipped; !sameStrings(got, []string{"Kerberos: the acceptor chose NTLM"}) {
		t.Fatalf("initiator: %q", got)
	}
	if got := negInfoOf(t, su).Skipped; !sameStrings(got, []string{"Kerberos: SEC_E_NO_CREDENTIALS"}) {
		t.Fatalf("acceptor: %q", got)
	}

	// An initiator that offers Kerberos only: no mechanism in common, and
	// the acceptor says why each of its packages was not used.
	h = newHS(t, n, n)
	h.scred = acquire(t, n, sspi.SECPKG_CRED_INBOUND, &sspi.AuthIdentity{Password: "pw", Options: map[string]string{"no-kerberos": "1"}})
	h.ccred = acquire(t, n, sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: "alice", Password: "pw", PackageList: "kerberos"})
	err := h.run()
	var se *sideError
	if !errors.As(err, &se) || se.side != "server" {
		t.Fatalf("%v", err)
	}
	wantDetail(t, se.err, sspi.SEC_E_SECPKG_NOT_FOUND,
		"no mechanism in common: Kerberos skipped: SEC_E_NO_CREDENTIALS; NTLM skipped: not offered by the initiator", sspi.SEC_E_NO_CREDENTIALS)

	// An initiator that prefers NTLM: the acceptor, which prefers
	// Kerberos, follows it (RFC 4178 3.2) and says so.
	h = newHS(t, n, n)
	h.ccred = acquire(t, n, sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: "alice", Password: "pw", PackageList: "ntlm,kerberos"})
	mustRun(t, h)
	_, su = userPair(t, h)
	if got := negInfoOf(t, su).Skipped; !sameStrings(got, []string{"Kerberos: the initiator preferred NTLM"}) {
		t.Fatalf("acceptor: %q", got)
	}
}

// TestReasonNoCredentials: no package can supply a credential; the error
// lists each package's error and wraps them.
func TestReasonNoCredentials(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	_, _, err := n.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{User: "alice", Options: map[string]string{"no-kerberos": "1"}}})
	wantDetail(t, err, sspi.SEC_E_NO_CREDENTIALS, "Kerberos: SEC_E_NO_CREDENTIALS; NTLM: SEC_E_NO_CREDENTIALS")
	_, _, err = n.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{User: "alice", PackageList: "ntlm"}})
	wantDetail(t, err, sspi.SEC_E_NO_CREDENTIALS, "Kerberos skipped: not in the PackageList; NTLM: SEC_E_NO_CREDENTIALS")
}

// TestReasonNothingSkipped: a handshake that used the first mechanism
// reports nothing, and Negotiate's own errors are unchanged when nothing
// was skipped.
func TestReasonNothingSkipped(t *testing.T) {
	krb, ntlm := newToys()
	n := newNego(t, krb, ntlm)
	h := newHS(t, n, n)
	mustRun(t, h)
	cu, su := userPair(t, h)
	if a, b := negInfoOf(t, cu).Skipped, negInfoOf(t, su).Skipped; a != nil || b != nil {
		t.Fatalf("%q %q", a, b)
	}
	_, _, err := n.AcceptLsaModeContext(context.Background(), h.scred, nil, &secpkg.AcceptContextParams{
		Input: sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: []byte{0xa1, 0x00}})})
	wantDetail(t, err, sspi.SEC_E_INVALID_TOKEN, "not a SPNEGO token")
}
