package ntlm

import (
	"context"
	"testing"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// TestCanonicalIdentity: the identity reported for an NTLM logon is the
// account store's spelling of user and domain, not the client's. Squid ACLs
// and logs compare names exactly, so `contoso\carol`, `Contoso\CAROL` and
// `carol@contoso.com` must all be CONTOSO\carol, and an account stored
// without a domain is in the server's domain whatever the client typed
// (`ADMINS\bob` is CONTOSO\bob).
func TestCanonicalIdentity(t *testing.T) {
	const carolPW, bobPW = "Car0l-pass", "B0b-pass"
	store := NewMemoryStore()
	store.Add("CONTOSO", "carol", carolPW)
	store.Add("", "bob", bobPW)
	srv := New(Config{Accounts: store, NetBIOSDomain: "CONTOSO", DNSDomain: "contoso.com"})
	for _, tc := range []struct {
		user, domain, pw string
		wantDomain       string
		wantUser         string
	}{
		{"carol", "CONTOSO", carolPW, "CONTOSO", "carol"},
		{"carol", "contoso", carolPW, "CONTOSO", "carol"},
		{"CAROL", "Contoso", carolPW, "CONTOSO", "carol"},
		{"bob", "ADMINS", bobPW, "CONTOSO", "bob"},
		{"BOB", "", bobPW, "CONTOSO", "bob"},
		// UPN form: the whole name in the user field, an empty domain
		// field (MS-NLMP 3.2.5.1.2 looks up UserName and DomainName).
		{"carol@CONTOSO", "", carolPW, "CONTOSO", "carol"},
		{"carol@contoso.com", "", carolPW, "CONTOSO", "carol"},
		{"Carol@Contoso.COM", "", carolPW, "CONTOSO", "carol"},
		{"bob@ADMINS", "", bobPW, "CONTOSO", "bob"},
	} {
		name := tc.domain + `\` + tc.user
		t.Run(name, func(t *testing.T) {
			// A credential that sends the names exactly as given (our
			// AcquireCredentialsHandle would split a UPN itself).
			cli := testPackage(Config{})
			cred := &credential{use: sspi.SECPKG_CRED_OUTBOUND, user: tc.user, domain: tc.domain, ntHash: ntlmssp.NTOWFv1(tc.pw), workstation: "WKS"}
			_, s, err := runHandshakeCred(t, cli, cred, srv)
			if err != nil {
				t.Fatalf("logon: %v", err)
			}
			want := tc.wantDomain + `\` + tc.wantUser
			v, err := s.ctx.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
			if err != nil {
				t.Fatal(err)
			}
			if id := v.(sspi.Identity); id.User != tc.wantUser || id.Domain != tc.wantDomain || id.Principal != want {
				t.Errorf("identity %+v, want %s", id, want)
			}
			u := mappedOn(t, srv, s.out)
			v, err = u.QueryAttributes(sspi.SECPKG_ATTR_NAMES)
			if err != nil {
				t.Fatal(err)
			}
			if n := v.(sspi.SecPkgContextNames).UserName; n != want {
				t.Errorf("user mode SECPKG_ATTR_NAMES %q, want %q", n, want)
			}
		})
	}
	// The UPN form still needs the password of that account.
	cred := &credential{use: sspi.SECPKG_CRED_OUTBOUND, user: "carol@contoso.com", ntHash: ntlmssp.NTOWFv1(bobPW), workstation: "WKS"}
	if _, _, err := runHandshakeCred(t, testPackage(Config{}), cred, srv); status(err) != sspi.SEC_E_LOGON_DENIED {
		t.Errorf("UPN with a wrong password: %v", err)
	}
}

// runHandshakeCred runs a handshake from an explicit client credential.
func runHandshakeCred(t *testing.T, cli *Package, cred *credential, srv *Package) (*peer, *peer, error) {
	t.Helper()
	ctx := context.Background()
	c := &peer{p: cli, cred: cred}
	s := &peer{p: srv, cred: serverCred(t, srv)}
	req := sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_CONNECTION
	var err error
	c.ctx, c.out, err = cli.InitLsaModeContext(ctx, cred, nil, &secpkg.InitContextParams{ContextReq: req})
	if err != nil {
		t.Fatal(err)
	}
	s.ctx, s.out, err = srv.AcceptLsaModeContext(ctx, s.cred, nil, &secpkg.AcceptContextParams{Input: withCB(c.out.Output[0].Buffer, nil)})
	if err != nil {
		return c, s, err
	}
	c.ctx, c.out, err = cli.InitLsaModeContext(ctx, cred, c.ctx, &secpkg.InitContextParams{ContextReq: req, Input: withCB(s.out.Output[0].Buffer, nil)})
	if err != nil {
		return c, s, err
	}
	s.ctx, s.out, err = srv.AcceptLsaModeContext(ctx, s.cred, s.ctx, &secpkg.AcceptContextParams{Input: withCB(c.out.Output[0].Buffer, nil)})
	return c, s, err
}
