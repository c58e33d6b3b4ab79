//go:build linux

package adtest

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/kerberos"
)

// Enctype numbers (RFC 3962, RFC 4757).
const (
	etAES256 = 18
	etAES128 = 17
	etRC4    = 23
)

var enctypes = []struct {
	name   string // krb5.conf name
	number int32
}{
	{"aes256-cts-hmac-sha1-96", etAES256},
	{"aes128-cts-hmac-sha1-96", etAES128},
	{"arcfour-hmac", etRC4},
}

// clientHost is a gosspi host whose initiator asks the KDC only for
// enctypes (krb5.conf's permitted_enctypes syntax).
func clientHost(t testing.TB, dc *addc.DC, enctypes string) *hostT {
	t.Helper()
	// No default ccache or client keytab of the machine may stand in for
	// the identity the test gives.
	t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(t.TempDir(), "none"))
	t.Setenv("KRB5_CLIENT_KTNAME", "FILE:"+filepath.Join(t.TempDir(), "none.keytab"))
	return &hostT{newHost(t, kerberos.Config{Krb5Conf: dc.Krb5Conf, PermittedEnctypes: enctypes})}
}

// serverHost is a gosspi acceptor with the exported service keytab.
func serverHost(t testing.TB, dc *addc.DC) *hostT {
	t.Helper()
	return &hostT{newHost(t, kerberos.Config{Krb5Conf: dc.Krb5Conf, Keytab: dc.Keytab, ServicePrincipal: addc.SPN, PermittedEnctypes: "DEFAULT +rc4"})}
}

// apReq decodes the AP-REQ inside a client's first token.
func apReq(t testing.TB, tok []byte) messages.APReq {
	t.Helper()
	g, _, err := gss.Parse(tok)
	if err != nil || len(g.Inner) < 2 {
		t.Fatalf("client token is not an InitialContextToken: %v", err)
	}
	var req messages.APReq
	if err := req.Unmarshal(g.Inner[2:]); err != nil {
		t.Fatalf("AP-REQ: %v", err)
	}
	return req
}

// logon runs a gosspi client with id against the gosspi acceptor of the
// service keytab, checks mutual authentication and a wrapped message each
// way, and returns the AP-REQ.
func logon(t *testing.T, dc *addc.DC, cli *hostT, id idT, user string) messages.APReq {
	t.Helper()
	c, err := newClient(t, cli.Host, id, addc.SPN)
	if err != nil {
		t.Fatalf("client credential for %s: %v", user, err)
	}
	srv := serverHost(t, dc)
	s := newServer(t, srv.Host)
	tok, rep := exchange(t, c, s)
	if len(rep) == 0 || !mutual(c) {
		t.Errorf("no mutual authentication: AP-REP %d bytes, client flags %v", len(rep), c.Flags())
	}
	got := identity(t, s)
	if !strings.EqualFold(got.User, user) || got.Domain != addc.Realm {
		t.Errorf("server sees %+v, want %s@%s", got, user, addc.Realm)
	}
	roundTrip(t, c, s, "hello server")
	roundTrip(t, s, c, "hello client")
	return apReq(t, tok)
}

// TestPasswordEachEnctype gets a TGT (AS) and a service ticket (TGS) from
// the Samba KDC with a password, asking for one enctype at a time, and
// has gosspi's acceptor accept the ticket with the exported keytab.
func TestPasswordEachEnctype(t *testing.T) {
	dc := addc.Start(t)
	for _, et := range enctypes {
		t.Run(et.name, func(t *testing.T) {
			cli := clientHost(t, dc, et.name)
			req := logon(t, dc, cli, password(addc.Alice.Name, addc.Alice.Password), addc.Alice.Name)
			// The service has all three keys: the KDC encrypts the ticket
			// with its strongest, and the session key is of the one
			// enctype the client asked for.
			if e := req.Ticket.EncPart.EType; e != etAES256 {
				t.Errorf("ticket enctype %d, want %d (the service's strongest key)", e, etAES256)
			}
			if e := req.EncryptedAuthenticator.EType; e != et.number {
				t.Errorf("authenticator (session key) enctype %d, want %d", e, et.number)
			}
		})
	}
}

// TestRC4OnlyAccount logs on with the account that has only an RC4 key:
// it works when the client allows RC4 and the KDC refuses an AES-only
// request (KDC_ERR_ETYPE_NOSUPP), which proves the account has no AES key.
func TestRC4OnlyAccount(t *testing.T) {
	dc := addc.Start(t)
	cli := clientHost(t, dc, "arcfour-hmac")
	req := logon(t, dc, cli, password(addc.RC4Only.Name, addc.RC4Only.Password), addc.RC4Only.Name)
	if e := req.EncryptedAuthenticator.EType; e != etRC4 {
		t.Errorf("session key enctype %d, want rc4-hmac", e)
	}
	aes := clientHost(t, dc, "aes256-cts aes128-cts")
	_, err := newClient(t, aes.Host, password(addc.RC4Only.Name, addc.RC4Only.Password), addc.SPN)
	wantKDCError(t, err, "KDC_ERR_ETYPE_NOSUPP")
}

// TestKeytabCredential gets the TGT from a client keytab that samba-tool
// exported (Alice's keys, every enctype) instead of a password, and logs
// on as the service account with the service keytab itself.
func TestKeytabCredential(t *testing.T) {
	dc := addc.Start(t)
	for _, et := range enctypes {
		t.Run(et.name, func(t *testing.T) {
			cli := clientHost(t, dc, et.name)
			req := logon(t, dc, cli, clientKeytab(addc.Alice.Name, dc.ClientKeytab), addc.Alice.Name)
			if e := req.EncryptedAuthenticator.EType; e != et.number {
				t.Errorf("session key enctype %d, want %d", e, et.number)
			}
		})
	}
	t.Run("service-account", func(t *testing.T) {
		cli := clientHost(t, dc, "DEFAULT")
		logon(t, dc, cli, clientKeytab(addc.Service.Name, dc.Keytab), addc.Service.Name)
	})
}

// TestMachineAccount logs on as the computer account with its password.
func TestMachineAccount(t *testing.T) {
	dc := addc.Start(t)
	cli := clientHost(t, dc, "DEFAULT")
	logon(t, dc, cli, password(addc.Machine.Name, addc.Machine.Password), addc.Machine.Name)
}

// TestMITKinit is the cross-check: MIT's kinit gets TGTs from the DC for
// the same accounts (each enctype through its own krb5.conf), kvno a
// service ticket, and gosspi's initiator uses the MIT ccache.
func TestMITKinit(t *testing.T) {
	dc := addc.Start(t)
	testutil.RequirePeer(t, "kinit", "klist", "kvno")
	for _, et := range enctypes {
		t.Run(et.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "krb5.conf")
			b, err := os.ReadFile(dc.Krb5Conf)
			if err != nil {
				t.Fatal(err)
			}
			b = []byte(strings.Replace(string(b), "[libdefaults]\n", "[libdefaults]\n\tdefault_tkt_enctypes = "+et.name+"\n\tdefault_tgs_enctypes = "+et.name+"\n", 1))
			if err := os.WriteFile(conf, b, 0o644); err != nil {
				t.Fatal(err)
			}
			user := addc.Alice
			if et.number == etRC4 {
				user = addc.RC4Only
			}
			env := append(dc.Env(), "KRB5_CONFIG="+conf)
			cc := filepath.Join(dir, "ccache")
			run := func(stdin, tool string, args ...string) string {
				t.Helper()
				c := exec.Command(tool, args...)
				c.Env = append(env, "KRB5CCNAME=FILE:"+cc)
				c.Stdin = strings.NewReader(stdin)
				out, err := c.CombinedOutput()
				if err != nil {
					t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
				}
				return string(out)
			}
			run(user.Password+"\n", "kinit", dc.Principal(user.Name))
			run("", "kvno", addc.SPN)
			out := run("", "klist", "-e")
			t.Logf("klist -e:\n%s", out)
			if !strings.Contains(out, "krbtgt/"+addc.Realm) || !strings.Contains(out, addc.SPN) {
				t.Errorf("klist lacks the TGT or the service ticket")
			}
			// gosspi's initiator on MIT's ccache.
			cli := clientHost(t, dc, "DEFAULT +rc4")
			logon(t, dc, cli, ccacheID(cc), user.Name)
		})
	}
}

// TestMITInitiator has MIT's GSS-API initiator (python3-gssapi) get a
// service ticket from the Samba KDC and gosspi's acceptor accept it with
// the exported keytab; MIT checks the AP-REP (mutual authentication) and
// messages go both ways.
func TestMITInitiator(t *testing.T) {
	dc := addc.Start(t)
	testutil.RequirePeer(t, "/usr/bin/python3")
	cc, err := dc.Kinit(t.TempDir(), dc.Principal(addc.Bob.Name), addc.Bob.Password)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", "testdata/mit_init.py", "HTTP@"+addc.ServiceHost)
	cmd.Env = append(dc.Env(), "KRB5CCNAME=FILE:"+cc)
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(outp)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	next := func() string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("MIT initiator ended: %s", stderr.String())
		}
		return lines.Text()
	}
	tok, err := base64.StdEncoding.DecodeString(next())
	if err != nil {
		t.Fatal(err)
	}
	srv := serverHost(t, dc)
	s := newServer(t, srv.Host)
	rep, done, err := step(s, tok)
	if err != nil || !done || len(rep) == 0 {
		t.Fatalf("gosspi accepting MIT's AP-REQ: done %v, AP-REP %d bytes, %v", done, len(rep), err)
	}
	fmt.Fprintln(in, base64.StdEncoding.EncodeToString(rep))
	if got := next(); got != "complete" {
		t.Fatalf("MIT after the AP-REP: %s (%s)", got, stderr.String())
	}
	w, _ := base64.StdEncoding.DecodeString(next())
	msg, err := s.Unwrap(w)
	if err != nil || string(msg) != "hello from MIT" {
		t.Fatalf("Unwrap of MIT's message = %q, %v", msg, err)
	}
	back, err := s.Wrap([]byte("hello from gosspi"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(in, base64.StdEncoding.EncodeToString(back))
	if got := next(); got != "hello from gosspi" {
		t.Fatalf("MIT unwrapped %q", got)
	}
	id := identity(t, s)
	if !strings.EqualFold(id.User, addc.Bob.Name) || id.Domain != addc.Realm {
		t.Errorf("server sees %+v", id)
	}
}

// wantKDCError checks that err carries a KRB-ERROR of this RFC 4120 name.
func wantKDCError(t *testing.T, err error, name string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", name)
	}
	var ke *kerberos.KDCError
	if !errors.As(err, &ke) {
		t.Fatalf("error %v is not a *kerberos.KDCError (want %s)", err, name)
	}
	if got := kerberos.KRBErrorName(ke.Code); got != name {
		t.Errorf("KDC error %s (%v), want %s", got, err, name)
	}
	if !strings.Contains(err.Error(), name) {
		t.Errorf("error text %q does not name %s", err, name)
	}
}

// TestRefusedAccounts: the KDC's refusals of accounts that cannot log on
// come out of gosspi's credential by their RFC 4120 names.
func TestRefusedAccounts(t *testing.T) {
	dc := addc.Start(t)
	for _, c := range []struct {
		acct addc.Account
		pw   string
		want string
	}{
		{addc.Disabled, addc.Disabled.Password, "KDC_ERR_CLIENT_REVOKED"},
		{addc.AccountExpired, addc.AccountExpired.Password, "KDC_ERR_CLIENT_REVOKED"},
		{addc.Expired, addc.Expired.Password, "KDC_ERR_KEY_EXPIRED"},
		{addc.MustChange, addc.MustChange.Password, "KDC_ERR_KEY_EXPIRED"},
		{addc.Alice, "wrong-password", "KDC_ERR_PREAUTH_FAILED"},
		{addc.Account{Name: "nosuchuser"}, "x", "KDC_ERR_C_PRINCIPAL_UNKNOWN"},
	} {
		t.Run(c.acct.Name, func(t *testing.T) {
			cli := clientHost(t, dc, "DEFAULT")
			_, err := newClient(t, cli.Host, password(c.acct.Name, c.pw), addc.SPN)
			wantKDCError(t, err, c.want)
			t.Logf("%s: %v", c.acct.Name, err)
		})
	}
}

// TestPAC shows what gosspi's acceptor reads of the PAC of an AD ticket:
// the user's SID and the group SIDs, nested groups included (the KDC
// expands them).
func TestPAC(t *testing.T) {
	dc := addc.Start(t)
	sid := func(name string) string {
		t.Helper()
		s, err := dc.SID(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	aliceSID, aSID, bSID := sid(addc.Alice.Name), sid(addc.GroupA), sid(addc.GroupB)
	domainSID := aliceSID[:strings.LastIndex(aliceSID, "-")]
	cli := clientHost(t, dc, "DEFAULT")
	c, err := newClient(t, cli.Host, password(addc.Alice.Name, addc.Alice.Password), addc.SPN)
	if err != nil {
		t.Fatal(err)
	}
	srv := serverHost(t, dc)
	s := newServer(t, srv.Host)
	exchange(t, c, s)
	id := identity(t, s)
	t.Logf("acceptor identity: %+v; SECPKG_ATTR_NAMES %q", id, clientName(t, srv.Host, s))
	if id.SID != aliceSID {
		t.Errorf("SID %q, want %q", id.SID, aliceSID)
	}
	for _, want := range []string{domainSID + "-513", aSID, bSID} { // Domain Users, A, B (through A)
		if !slices.Contains(id.Groups, want) {
			t.Errorf("groups %v lack %s", id.Groups, want)
		}
	}
	if !strings.EqualFold(id.Principal, addc.Alice.Name+"@"+addc.Realm) {
		t.Errorf("principal %q", id.Principal)
	}
}

// TestNegotiate runs the same logon through SPNEGO (package Negotiate on
// both sides): Kerberos is chosen, and the identity is the PAC's.
func TestNegotiate(t *testing.T) {
	dc := addc.Start(t)
	cli := clientHost(t, dc, "DEFAULT")
	c, err := newClientOf(t, cli.Host, "Negotiate", password(addc.Alice.Name, addc.Alice.Password), addc.SPN)
	if err != nil {
		t.Fatal(err)
	}
	s := newServerOf(t, serverHost(t, dc).Host, "Negotiate")
	exchange(t, c, s)
	if c.Package() != "Kerberos" || s.Package() != "Kerberos" {
		t.Errorf("Negotiate chose %q (client) and %q (server), want Kerberos", c.Package(), s.Package())
	}
	if !mutual(c) {
		t.Error("no mutual authentication")
	}
	id := identity(t, s)
	aliceSID, err := dc.SID(addc.Alice.Name)
	if err != nil {
		t.Fatal(err)
	}
	if id.SID != aliceSID || !strings.EqualFold(id.User, addc.Alice.Name) {
		t.Errorf("identity %+v, want alice %s", id, aliceSID)
	}
	roundTrip(t, c, s, "through SPNEGO")
}
