//go:build linux

package adtest

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/sspi"
)

// S4U (MS-SFU) and delegation against the Samba KDC, with the service
// accounts of internal/addc's S4U part.

// s4uServer is a gosspi acceptor for one of the S4U service accounts, with
// its exported keytab.
func s4uServer(t testing.TB, dc *addc.DC, a addc.Account) *gosspi.SecurityContext {
	t.Helper()
	h := newHost(t, kerberos.Config{Krb5Conf: dc.Krb5Conf, Keytab: dc.ServiceKeytab(a), ServicePrincipal: addc.SPNOf(a), PermittedEnctypes: "DEFAULT +rc4"})
	return newServer(t, h)
}

// s4uClient is a client context of service svc (authenticating with
// id, its own credentials) on behalf of user, to target; the error is the
// credential's (S4U2Self runs in AcquireCredentialsHandle).
func s4uClient(t testing.TB, dc *addc.DC, id idT, user, target string) (*gosspi.SecurityContext, error) {
	t.Helper()
	cli := clientHost(t, dc, "DEFAULT")
	c, err := cli.NewClient(context.Background(), gosspi.ClientConfig{Package: "Kerberos", Target: target, Identity: id, OnBehalfOf: user})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// wantUser checks that the acceptor sees the user with its SID and the
// groups of its PAC (Alice: Domain Users, GroupA and, through it, GroupB).
func wantUser(t *testing.T, dc *addc.DC, s *gosspi.SecurityContext, user addc.Account) sspi.Identity {
	t.Helper()
	id := identity(t, s)
	sid, err := dc.SID(user.Name)
	if err != nil {
		t.Fatal(err)
	}
	if id.User != user.Name || id.Domain != addc.Realm || id.SID != sid {
		t.Errorf("acceptor sees %+v, want %s@%s (%s)", id, user.Name, addc.Realm, sid)
	}
	if user == addc.Alice {
		for _, g := range []string{addc.GroupA, addc.GroupB} {
			gs, err := dc.SID(g)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(id.Groups, gs) {
				t.Errorf("groups %v lack %s (%s)", id.Groups, g, gs)
			}
		}
	}
	return id
}

// ticketFlags decrypts the ticket of an AP-REQ with a keytab and returns
// its client and flags.
func ticketFlags(t *testing.T, tok []byte, ktPath string) (string, types.PrincipalName, bool) {
	t.Helper()
	req := apReq(t, tok)
	kt, err := keytab.Load(ktPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Ticket.DecryptEncPart(kt, nil); err != nil {
		t.Fatalf("decrypting the ticket with %s: %v", ktPath, err)
	}
	p := req.Ticket.DecryptedEncPart
	return p.CRealm, p.CName, types.IsFlagSet(&p.Flags, flags.Forwardable)
}

// TestS4U2Self: a service with its own keytab gets a ticket to itself
// (one of its keytab's principals) on behalf of Alice (protocol
// transition), with her PAC; the KDC
// makes it forwardable only for the service trusted to authenticate for
// delegation. The service accepts it with its keytab and sees Alice, her
// SID and her nested groups.
func TestS4U2Self(t *testing.T) {
	dc := addc.Start(t)
	for _, c := range []struct {
		name        string
		svc         addc.Account
		id          idT
		forwardable bool
	}{
		{"trusted-keytab", addc.SvcFront, clientKeytab(addc.SvcFront.Name, dc.ServiceKeytab(addc.SvcFront)), true},
		{"untrusted", addc.SvcNoDeleg, clientKeytab(addc.SvcNoDeleg.Name, dc.ServiceKeytab(addc.SvcNoDeleg)), false},
		{"kerberos-only-kcd", addc.SvcKCD, clientKeytab(addc.SvcKCD.Name, dc.ServiceKeytab(addc.SvcKCD)), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := s4uClient(t, dc, c.id, addc.Alice.Name, addc.SPNOf(c.svc))
			if err != nil {
				t.Fatalf("S4U2Self: %v", err)
			}
			s := s4uServer(t, dc, c.svc)
			tok, rep := exchange(t, cl, s)
			if len(rep) == 0 || !mutual(cl) {
				t.Error("no mutual authentication")
			}
			wantUser(t, dc, s, addc.Alice)
			roundTrip(t, cl, s, "as alice")
			crealm, cname, fwd := ticketFlags(t, tok, dc.ServiceKeytab(c.svc))
			if crealm != addc.Realm || len(cname.NameString) != 1 || cname.NameString[0] != addc.Alice.Name {
				t.Errorf("ticket client %v@%s, want alice", cname.NameString, crealm)
			}
			if fwd != c.forwardable {
				t.Errorf("S4U2Self ticket forwardable = %v, want %v", fwd, c.forwardable)
			}
		})
	}
}

// TestS4U2Proxy: the front service, trusted for protocol transition and
// allowed to delegate to the back service (msDS-AllowedToDelegateTo),
// gets a ticket to the back service as Alice; the back service's
// acceptor sees Alice with her PAC.
func TestS4U2Proxy(t *testing.T) {
	dc := addc.Start(t)
	for _, id := range []struct {
		name string
		id   idT
	}{
		{"keytab", clientKeytab(addc.SvcFront.Name, dc.ServiceKeytab(addc.SvcFront))},
		{"password", password(addc.SvcFront.Name, addc.SvcFront.Password)},
	} {
		t.Run(id.name, func(t *testing.T) {
			cl, err := s4uClient(t, dc, id.id, addc.Alice.Name, addc.BackSPN)
			if err != nil {
				t.Fatal(err)
			}
			s := s4uServer(t, dc, addc.SvcBack)
			exchange(t, cl, s)
			wantUser(t, dc, s, addc.Alice)
			roundTrip(t, cl, s, "delegated")
			roundTrip(t, s, cl, "back")
		})
	}
	t.Run("case", func(t *testing.T) {
		// The user as typed (another case, the DNS domain for the
		// realm). Samba 4.17's KDC spells the ticket's client as asked;
		// a service with a keytab reads the account's spelling from the
		// PAC of its S4U2Self ticket and asks again under it, so the far
		// service sees "alice".
		cl, err := s4uClient(t, dc, clientKeytab(addc.SvcFront.Name, dc.ServiceKeytab(addc.SvcFront)), "ALICE@"+addc.DNSDomain, addc.BackSPN)
		if err != nil {
			t.Fatal(err)
		}
		s := s4uServer(t, dc, addc.SvcBack)
		exchange(t, cl, s)
		wantUser(t, dc, s, addc.Alice)
		// With only a password the service cannot open its S4U2Self
		// ticket: the name is the KDC's (here the caller's) spelling, the
		// SID and groups the PAC's.
		cl, err = s4uClient(t, dc, password(addc.SvcFront.Name, addc.SvcFront.Password), "ALICE", addc.BackSPN)
		if err != nil {
			t.Fatal(err)
		}
		s = s4uServer(t, dc, addc.SvcBack)
		exchange(t, cl, s)
		id := identity(t, s)
		sid, _ := dc.SID(addc.Alice.Name)
		if !strings.EqualFold(id.User, addc.Alice.Name) || id.SID != sid {
			t.Errorf("acceptor sees %+v", id)
		}
		t.Logf("password credential, user typed ALICE: the far service sees %q", id.User)
	})
	t.Run("negotiate", func(t *testing.T) {
		// Through SPNEGO: Negotiate hands the principal to Kerberos.
		cli := clientHost(t, dc, "DEFAULT")
		cl, err := cli.NewClient(context.Background(), gosspi.ClientConfig{Package: "Negotiate", Target: addc.BackSPN,
			Identity: password(addc.SvcFront.Name, addc.SvcFront.Password), OnBehalfOf: addc.Alice.Name})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		h := newHost(t, kerberos.Config{Krb5Conf: dc.Krb5Conf, Keytab: dc.ServiceKeytab(addc.SvcBack), ServicePrincipal: addc.BackSPN})
		s := newServerOf(t, h, "Negotiate")
		exchange(t, cl, s)
		if cl.Package() != "Kerberos" {
			t.Errorf("Negotiate chose %q", cl.Package())
		}
		wantUser(t, dc, s, addc.Alice)
	})
	t.Run("bob", func(t *testing.T) {
		cl, err := s4uClient(t, dc, password(addc.SvcFront.Name, addc.SvcFront.Password), addc.Bob.Name+"@"+addc.Realm, addc.BackSPN)
		if err != nil {
			t.Fatal(err)
		}
		s := s4uServer(t, dc, addc.SvcBack)
		exchange(t, cl, s)
		wantUser(t, dc, s, addc.Bob)
	})
}

// wantRefusal checks that the first Step of a client fails with the KDC's
// refusal by name and the SSPI status Windows gives it.
func wantRefusal(t *testing.T, c *gosspi.SecurityContext, name string, st sspi.Status) {
	t.Helper()
	_, _, err := step(c, nil)
	wantKDCError(t, err, name)
	if got := sspi.StatusOf(err); got != st {
		t.Errorf("status %v, want %v", got, st)
	}
	t.Logf("refused: %v", err)
}

// TestS4U2ProxyRefused: a service that may not delegate gets the KDC's
// KDC_ERR_BADOPTION (SEC_E_DELEGATION_POLICY): one with no delegation
// rights, the front service to a target it is not allowed, and the
// Kerberos-only service, whose S4U2Self ticket is not forwardable.
func TestS4U2ProxyRefused(t *testing.T) {
	dc := addc.Start(t)
	for _, c := range []struct {
		name   string
		svc    addc.Account
		target string
	}{
		{"no-delegation", addc.SvcNoDeleg, addc.BackSPN},
		{"target-not-allowed", addc.SvcFront, addc.SPN},
		{"no-protocol-transition", addc.SvcKCD, addc.BackSPN},
		{"rbcd-front-to-other", addc.SvcRBCDFront, addc.BackSPN},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := s4uClient(t, dc, password(c.svc.Name, c.svc.Password), addc.Alice.Name, c.target)
			if err != nil {
				t.Fatalf("S4U2Self: %v", err)
			}
			wantRefusal(t, cl, "KDC_ERR_BADOPTION", sspi.SEC_E_DELEGATION_POLICY)
		})
	}
}

// TestS4U2ProxyRefusedNegotiate: through Negotiate, the refusal stays a
// refusal: NTLM has no credentials of the user and does not stand in with
// the service's own password (the far service would see the service, not
// the user).
func TestS4U2ProxyRefusedNegotiate(t *testing.T) {
	dc := addc.Start(t)
	cli := clientHost(t, dc, "DEFAULT")
	cl, err := cli.NewClient(context.Background(), gosspi.ClientConfig{Package: "Negotiate", Target: addc.BackSPN,
		Identity: password(addc.SvcNoDeleg.Name, addc.SvcNoDeleg.Password), OnBehalfOf: addc.Alice.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tok, _, err := step(cl, nil)
	if err == nil {
		t.Fatalf("Negotiate sent a %d-byte token (package %q) for a refused S4U2Proxy", len(tok), cl.Package())
	}
	wantKDCError(t, err, "KDC_ERR_BADOPTION")
	t.Logf("refused: %v", err)
}

// TestRBCD: resource-based constrained delegation. The back service's
// msDS-AllowedToActOnBehalfOfOtherIdentity names the front service, which
// has no delegation rights of its own (its S4U2Self ticket is not
// forwardable); PA-PAC-OPTIONS asks the KDC to consider RBCD (MS-SFU
// 3.2.5.2). MIT's kvno (-U user -P) is the oracle of what the KDC grants:
// Debian's Samba 4.17 runs the Heimdal KDC, whose S4U2Proxy checks only
// msDS-AllowedToDelegateTo (RBCD is in Samba's MIT-KDC glue only), and
// refuses both clients alike with KDC_ERR_BADOPTION; a KDC that grants
// RBCD must grant it to gosspi too, and the back service must see Alice.
func TestRBCD(t *testing.T) {
	dc := addc.Start(t)
	testutil.RequirePeer(t, "kinit", "kvno")
	cc, err := dc.Kinit(t.TempDir(), addc.SvcRBCDFront.Name, addc.SvcRBCDFront.Password, "-f")
	if err != nil {
		t.Fatal(err)
	}
	mitOut, mitErr := dc.Run(nil, "kvno", "-c", "FILE:"+cc, "-U", addc.Alice.Name, "-P", addc.RBCDBackSPN)
	t.Logf("MIT kvno -U %s -P %s: %v\n%s", addc.Alice.Name, addc.RBCDBackSPN, mitErr, mitOut)

	kt := clientKeytab(addc.SvcRBCDFront.Name, dc.ServiceKeytab(addc.SvcRBCDFront))
	cl, err := s4uClient(t, dc, kt, addc.Alice.Name, addc.RBCDBackSPN)
	if err != nil {
		t.Fatal(err)
	}
	if mitErr != nil {
		if !strings.Contains(mitOut, "constrained delegation failed") {
			t.Fatalf("MIT's kvno failed otherwise than by the KDC's refusal: %s", mitOut)
		}
		t.Logf("this KDC (%s) does not grant RBCD; gosspi must get the same refusal", dc.Version)
		wantRefusal(t, cl, "KDC_ERR_BADOPTION", sspi.SEC_E_DELEGATION_POLICY)
		return
	}
	s := s4uServer(t, dc, addc.SvcRBCDBack)
	exchange(t, cl, s)
	wantUser(t, dc, s, addc.Alice)
	roundTrip(t, cl, s, "rbcd")
}

// TestS4UWindowsShape makes the S4U credential the way a Windows service
// does it with SSPI: AcquireCredentialsHandle for the user's principal,
// no password, with the service's own credentials as pAuthData; then
// InitializeSecurityContext to the far service with that handle.
func TestS4UWindowsShape(t *testing.T) {
	dc := addc.Start(t)
	cli := clientHost(t, dc, "DEFAULT")
	ft := cli.SSPI()
	var cred sspi.CredHandle
	var expiry sspi.TimeStamp
	svc := &sspi.AuthIdentity{User: addc.SvcFront.Name, Domain: addc.Realm, Password: addc.SvcFront.Password}
	if st := ft.AcquireCredentialsHandle(addc.Alice.Name+"@"+addc.Realm, "Kerberos", sspi.SECPKG_CRED_OUTBOUND, svc, &cred, &expiry); st.Failed() {
		t.Fatalf("AcquireCredentialsHandle: %v", st)
	}
	defer ft.FreeCredentialsHandle(&cred)
	var ctx sspi.CtxtHandle
	out := &sspi.SecBufferDesc{Buffers: []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN}}}
	var attrs sspi.ISCRet
	st := ft.InitializeSecurityContext(&cred, nil, addc.BackSPN, sspi.ISC_REQ_MUTUAL_AUTH|sspi.ISC_REQ_CONFIDENTIALITY, 0, nil, &ctx, out, &attrs, nil)
	if st != sspi.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("InitializeSecurityContext: %v", st)
	}
	defer ft.DeleteSecurityContext(&ctx)
	s := s4uServer(t, dc, addc.SvcBack)
	rep, done, err := step(s, out.Token())
	if err != nil || !done {
		t.Fatalf("accept: %v", err)
	}
	in := &sspi.SecBufferDesc{Buffers: []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: rep}}}
	out2 := &sspi.SecBufferDesc{Buffers: []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN}}}
	if st := ft.InitializeSecurityContext(&cred, &ctx, addc.BackSPN, sspi.ISC_REQ_MUTUAL_AUTH|sspi.ISC_REQ_CONFIDENTIALITY, 0, in, &ctx, out2, &attrs, nil); st != sspi.SEC_E_OK {
		t.Fatalf("InitializeSecurityContext with the AP-REP: %v", st)
	}
	wantUser(t, dc, s, addc.Alice)
	var names sspi.SecPkgContextNames
	if st := ft.QueryContextAttributes(&ctx, sspi.SECPKG_ATTR_NAMES, &names); st.Failed() || !strings.EqualFold(names.UserName, addc.Alice.Name+"@"+addc.Realm) {
		t.Errorf("client SECPKG_ATTR_NAMES %q (%v), want alice@%s", names.UserName, st, addc.Realm)
	}
}

// forwardableConf is the DC's krb5.conf asking for forwardable TGTs.
func forwardableConf(t *testing.T, dc *addc.DC) string {
	t.Helper()
	b, err := os.ReadFile(dc.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "krb5.conf")
	b = []byte(strings.Replace(string(b), "[libdefaults]\n", "[libdefaults]\n\tforwardable = true\n", 1))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// delegClient is a client context of Alice (password, forwardable TGT)
// to target with FlagDelegate, on a host with cfg's DelegateAlways.
func delegClient(t *testing.T, dc *addc.DC, always bool, target string) *gosspi.SecurityContext {
	t.Helper()
	t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(t.TempDir(), "none"))
	t.Setenv("KRB5_CLIENT_KTNAME", "FILE:"+filepath.Join(t.TempDir(), "none.keytab"))
	h := newHost(t, kerberos.Config{Krb5Conf: forwardableConf(t, dc), DelegateAlways: always})
	c, err := h.NewClient(context.Background(), gosspi.ClientConfig{Package: "Kerberos", Target: target,
		Identity: password(addc.Alice.Name, addc.Alice.Password), Flags: gosspi.DefaultFlags | gosspi.FlagDelegate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// delegServer is a gosspi acceptor for spn with keytab that stores
// delegated credentials; it returns the context and its host.
func delegServer(t *testing.T, dc *addc.DC, keytab, spn string) (*gosspi.SecurityContext, *gosspi.Host) {
	t.Helper()
	h := newHost(t, kerberos.Config{Krb5Conf: dc.Krb5Conf, Keytab: keytab, ServicePrincipal: spn, DelegationDir: t.TempDir()})
	s, err := h.NewServer(context.Background(), gosspi.ServerConfig{Package: "Kerberos", Flags: gosspi.DefaultFlags | gosspi.FlagDelegate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, h
}

// delegatedCCache is the path of the ccache an acceptor wrote for the
// delegated TGT, or "".
func delegatedCCache(t *testing.T, h *gosspi.Host, s *gosspi.SecurityContext) string {
	t.Helper()
	var v any
	hd := s.Handle()
	if st := h.SSPI().QueryContextAttributes(&hd, kerberos.SECPKG_ATTR_DELEGATED_CCACHE, &v); st.Failed() {
		t.Fatalf("SECPKG_ATTR_DELEGATED_CCACHE: %v", st)
	}
	path, _ := v.(string)
	return path
}

// TestDelegation: Alice's initiator, asked to delegate (ISC_REQ_DELEGATE)
// with a forwardable TGT, delegates it to the back service, whose account
// is trusted for delegation (the KDC sets ok-as-delegate on its tickets):
// the acceptor gets the forwarded TGT in the authenticator's KRB-CRED and
// uses it, as Alice, to reach a third service; MIT's klist reads the
// delegated ccache. To the web service (no ok-as-delegate) it does not
// delegate, as Windows does not by default, unless DelegateAlways is set.
func TestDelegation(t *testing.T) {
	dc := addc.Start(t)
	t.Run("ok-as-delegate", func(t *testing.T) {
		c := delegClient(t, dc, false, addc.BackSPN)
		s, h := delegServer(t, dc, dc.ServiceKeytab(addc.SvcBack), addc.BackSPN)
		exchange(t, c, s)
		if c.Flags()&gosspi.FlagDelegate == 0 || s.Flags()&gosspi.FlagDelegate == 0 {
			t.Fatalf("no delegation: client %v, server %v", c.Flags(), s.Flags())
		}
		id := wantUser(t, dc, s, addc.Alice)
		if !id.Delegated {
			t.Error("identity does not say delegated")
		}
		cc := delegatedCCache(t, h, s)
		if cc == "" {
			t.Fatal("no delegated ccache")
		}
		out, err := dc.Run(nil, "klist", "-f", "-c", cc)
		if err != nil || !strings.Contains(out, "krbtgt/"+addc.Realm) || !strings.Contains(out, "alice@"+addc.Realm) {
			t.Fatalf("MIT klist of the delegated ccache: %v\n%s", err, out)
		}
		t.Logf("klist -f of the delegated ccache:\n%s", out)
		// The second hop, as Alice, with the delegated TGT.
		cli := clientHost(t, dc, "DEFAULT")
		c2, err := newClient(t, cli.Host, ccacheID(strings.TrimPrefix(cc, "FILE:")), addc.SPN)
		if err != nil {
			t.Fatalf("credential from the delegated ccache: %v", err)
		}
		s2 := newServer(t, serverHost(t, dc).Host)
		exchange(t, c2, s2)
		wantUser(t, dc, s2, addc.Alice)
	})
	t.Run("no-ok-as-delegate", func(t *testing.T) {
		c := delegClient(t, dc, false, addc.SPN)
		s, h := delegServer(t, dc, dc.Keytab, addc.SPN)
		exchange(t, c, s)
		if c.Flags()&gosspi.FlagDelegate != 0 || s.Flags()&gosspi.FlagDelegate != 0 || identity(t, s).Delegated {
			t.Fatalf("delegated to a service without ok-as-delegate: client %v, server %v", c.Flags(), s.Flags())
		}
		if cc := delegatedCCache(t, h, s); cc != "" {
			t.Fatalf("delegated ccache %s", cc)
		}
	})
	t.Run("delegate-always", func(t *testing.T) {
		c := delegClient(t, dc, true, addc.SPN)
		s, h := delegServer(t, dc, dc.Keytab, addc.SPN)
		exchange(t, c, s)
		if c.Flags()&gosspi.FlagDelegate == 0 || !identity(t, s).Delegated || delegatedCCache(t, h, s) == "" {
			t.Fatalf("DelegateAlways did not delegate: client %v, server %v", c.Flags(), s.Flags())
		}
	})
	t.Run("not-forwardable", func(t *testing.T) {
		// The DC's own krb5.conf asks for no forwardable TGT.
		cli := clientHost(t, dc, "DEFAULT")
		c, err := cli.NewClient(context.Background(), gosspi.ClientConfig{Package: "Kerberos", Target: addc.BackSPN,
			Identity: password(addc.Alice.Name, addc.Alice.Password), Flags: gosspi.DefaultFlags | gosspi.FlagDelegate})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, _ := delegServer(t, dc, dc.ServiceKeytab(addc.SvcBack), addc.BackSPN)
		exchange(t, c, s)
		if c.Flags()&gosspi.FlagDelegate != 0 || identity(t, s).Delegated {
			t.Fatal("delegated a TGT that is not forwardable")
		}
	})
	t.Run("s4u-credential", func(t *testing.T) {
		// An S4U credential holds the service's TGT, not the user's: it
		// never delegates it, even with DelegateAlways.
		h := newHost(t, kerberos.Config{Krb5Conf: forwardableConf(t, dc), DelegateAlways: true})
		c, err := h.NewClient(context.Background(), gosspi.ClientConfig{Package: "Kerberos", Target: addc.BackSPN,
			Identity: password(addc.SvcFront.Name, addc.SvcFront.Password), OnBehalfOf: addc.Alice.Name,
			Flags: gosspi.DefaultFlags | gosspi.FlagDelegate})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, _ := delegServer(t, dc, dc.ServiceKeytab(addc.SvcBack), addc.BackSPN)
		exchange(t, c, s)
		wantUser(t, dc, s, addc.Alice)
		if c.Flags()&gosspi.FlagDelegate != 0 || identity(t, s).Delegated {
			t.Fatal("an S4U credential delegated the service's TGT")
		}
	})
}

// TestDelegationToMIT: MIT's GSS-API acceptor (python3-gssapi) gets the
// TGT gosspi's initiator delegates to the back service and uses it to
// initiate a context, as Alice, to the web service, which gosspi's
// acceptor accepts.
func TestDelegationToMIT(t *testing.T) {
	dc := addc.Start(t)
	testutil.RequirePeer(t, "/usr/bin/python3")
	c := delegClient(t, dc, false, addc.BackSPN)
	tok, _, err := step(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Flags()&gosspi.FlagDelegate == 0 {
		t.Fatalf("no ISC_RET_DELEGATE to an ok-as-delegate service: %v", c.Flags())
	}
	cmd := exec.Command("/usr/bin/python3", "testdata/mit_accept_deleg.py", dc.ServiceKeytab(addc.SvcBack), "HTTP@"+addc.ServiceHost)
	cmd.Env = append(dc.Env(), "KRB5CCNAME=MEMORY:deleg")
	cmd.Stdin = strings.NewReader(base64.StdEncoding.EncodeToString(tok) + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("MIT acceptor: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 || lines[0] != "alice@"+addc.Realm || lines[1] != "delegated" {
		t.Fatalf("MIT acceptor said %q", lines)
	}
	hop, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, serverHost(t, dc).Host)
	if _, _, err := step(s, hop); err != nil {
		t.Fatalf("accepting MIT's AP-REQ made with the delegated TGT: %v", err)
	}
	wantUser(t, dc, s, addc.Alice)
}

// TestS4U2SelfRefused: the KDC's refusals of S4U2Self come out of the
// credential by name, with the user in the text: a user it does not know,
// and a disabled account (Samba 4.17 answers KDC_ERR_POLICY for it).
func TestS4U2SelfRefused(t *testing.T) {
	dc := addc.Start(t)
	for _, c := range []struct {
		user, want string
		st         sspi.Status
	}{
		{"nosuchuser", "KDC_ERR_C_PRINCIPAL_UNKNOWN", sspi.SEC_E_NO_CREDENTIALS},
		{addc.Disabled.Name, "KDC_ERR_POLICY", sspi.SEC_E_LOGON_DENIED},
	} {
		t.Run(c.user, func(t *testing.T) {
			_, err := s4uClient(t, dc, password(addc.SvcFront.Name, addc.SvcFront.Password), c.user, addc.BackSPN)
			wantKDCError(t, err, c.want)
			if got := sspi.StatusOf(err); got != c.st {
				t.Errorf("status %v, want %v", got, c.st)
			}
			if !strings.Contains(err.Error(), c.user+"@"+addc.Realm) {
				t.Errorf("error %q does not name the user", err)
			}
			t.Logf("%s: %v", c.user, err)
		})
	}
}
