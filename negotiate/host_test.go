package negotiate

import (
	"testing"

	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// TestThroughHost drives Negotiate through the LSA host and the SSPI
// surface: Kerberos against the realm, then NTLM when the client's
// PackageList excludes Kerberos; EncryptMessage and DecryptMessage in both
// directions; NEGOTIATION_INFO and PACKAGE_INFO name the chosen package.
func TestThroughHost(t *testing.T) {
	r := realm(t)
	store := ntlm.NewMemoryStore()
	store.Add("", krbUser, r.userPW)
	krb := kerberos.New(kerberos.Config{Krb5Conf: r.Krb5Con, Keytab: r.svcKeytab})
	nt := ntlm.New(ntlm.Config{AllowReflection: true, Accounts: store}) // client and server are this one package
	nego, err := New(Config{Packages: []secpkg.LsaModePackage{krb, nt}, UserPackages: []sspi.UserModePackage{kerberos.UserMode(), ntlmUserMode()}})
	if err != nil {
		t.Fatal(err)
	}
	host, err := lsa.New(lsa.Config{}, nego, krb, nt)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	ft := sspi.InitSecurityInterface(host, nego, kerberos.UserMode(), ntlmUserMode())

	for _, tc := range []struct {
		list, want string
		legs       int
	}{
		{"", kerberos.PackageName, 2},
		{"!kerberos", ntlm.PackageName, 4},
	} {
		t.Run(tc.want, func(t *testing.T) {
			var ccred, scred sspi.CredHandle
			var exp sspi.TimeStamp
			id := &sspi.AuthIdentity{User: krbUser, Password: r.userPW, PackageList: tc.list}
			if st := ft.AcquireCredentialsHandle("", PackageName, sspi.SECPKG_CRED_OUTBOUND, id, &ccred, &exp); st != sspi.SEC_E_OK {
				t.Fatal(st)
			}
			defer ft.FreeCredentialsHandle(&ccred)
			if st := ft.AcquireCredentialsHandle("", PackageName, sspi.SECPKG_CRED_INBOUND, nil, &scred, &exp); st != sspi.SEC_E_OK {
				t.Fatal(st)
			}
			defer ft.FreeCredentialsHandle(&scred)
			var cctx, sctx sspi.CtxtHandle
			var cp, sp *sspi.CtxtHandle
			var in []byte
			legs := 0
			cdone, sdone := false, false
			for i := 0; i < 8 && !(cdone && sdone); i++ {
				out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
				var d *sspi.SecBufferDesc
				if in != nil {
					d = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: in})
				}
				if i%2 == 0 {
					var attrs sspi.ISCRet
					st := ft.InitializeSecurityContext(&ccred, cp, "HTTP/"+svcHost, sspi.ISC_REQ_MUTUAL_AUTH|sspi.ISC_REQ_CONFIDENTIALITY, 0, d, &cctx, out, &attrs, &exp)
					if st.Failed() {
						t.Fatalf("ISC leg %d: %v", i, st)
					}
					cp, cdone = &cctx, st == sspi.SEC_E_OK
				} else {
					var attrs sspi.ASCRet
					st := ft.AcceptSecurityContext(&scred, sp, d, sspi.ASC_REQ_MUTUAL_AUTH|sspi.ASC_REQ_CONFIDENTIALITY, 0, &sctx, out, &attrs, &exp)
					if st.Failed() {
						t.Fatalf("ASC leg %d: %v", i, st)
					}
					sp, sdone = &sctx, st == sspi.SEC_E_OK
				}
				in = out.Token()
				if len(in) > 0 {
					legs++
				} else {
					in = nil
				}
			}
			if !cdone || !sdone || legs != tc.legs {
				t.Fatalf("done %v %v after %d legs", cdone, sdone, legs)
			}
			defer ft.DeleteSecurityContext(&cctx)
			defer ft.DeleteSecurityContext(&sctx)
			for _, h := range []*sspi.CtxtHandle{&cctx, &sctx} {
				var ni sspi.SecPkgContextNegotiationInfo
				if st := ft.QueryContextAttributes(h, sspi.SECPKG_ATTR_NEGOTIATION_INFO, &ni); st != sspi.SEC_E_OK || ni.PackageInfo.Name != tc.want || ni.NegotiationState != sspi.SECPKG_NEGOTIATION_COMPLETE {
					t.Fatalf("NEGOTIATION_INFO %v %+v", st, ni)
				}
				var pi sspi.SecPkgContextPackageInfo
				if st := ft.QueryContextAttributes(h, sspi.SECPKG_ATTR_PACKAGE_INFO, &pi); st != sspi.SEC_E_OK || pi.PackageInfo.Name != tc.want {
					t.Fatalf("PACKAGE_INFO %v %+v", st, pi)
				}
			}
			var id2 sspi.Identity
			if st := ft.QueryContextAttributes(&sctx, sspi.SECPKG_ATTR_GOSSPI_IDENTITY, &id2); st != sspi.SEC_E_OK || id2.User != krbUser {
				t.Fatalf("identity %v %+v", st, id2)
			}
			seal := func(from, to *sspi.CtxtHandle, text string) {
				var sizes sspi.SecPkgContextSizes
				ft.QueryContextAttributes(from, sspi.SECPKG_ATTR_SIZES, &sizes)
				// No SECBUFFER_PADDING: Kerberos leaves an unused one as the
				// caller sized it and then reads it back on DecryptMessage.
				msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, sizes.SecurityTrailer)},
					sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte(text)})
				if st := ft.EncryptMessage(from, 0, msg, 0); st != sspi.SEC_E_OK {
					t.Fatal(st)
				}
				var qop uint32
				if st := ft.DecryptMessage(to, msg, 0, &qop); st != sspi.SEC_E_OK || string(msg.Buffers[1].Buffer) != text {
					t.Fatalf("%v %q", st, msg.Buffers[1].Buffer)
				}
			}
			for i := 0; i < 3; i++ {
				seal(&cctx, &sctx, "to the server")
				seal(&sctx, &cctx, "to the client")
			}
		})
	}
}
