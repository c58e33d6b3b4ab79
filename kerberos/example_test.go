package kerberos_test

import (
	"fmt"

	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/sspi"
)

// A client and a server in one process, through the package host and the
// SSPI surface. The client's TGT comes from the ccache kinit wrote
// (KRB5CCNAME), the server's key from the keytab (KRB5_KTNAME), the realm
// from krb5.conf (KRB5_CONFIG): the test binary points these at a
// throwaway MIT realm.
func Example() {
	host, err := lsa.New(lsa.Config{}, kerberos.New(kerberos.Config{}))
	if err != nil {
		panic(err)
	}
	defer host.Close()
	t := sspi.InitSecurityInterface(host, kerberos.UserMode())
	defer t.Close()

	var client, server sspi.CredHandle
	t.AcquireCredentialsHandle("", kerberos.PackageName, sspi.SECPKG_CRED_OUTBOUND, nil, &client, nil)
	t.AcquireCredentialsHandle("HTTP/svc.localhost", kerberos.PackageName, sspi.SECPKG_CRED_INBOUND, nil, &server, nil)
	defer t.FreeCredentialsHandle(&client)
	defer t.FreeCredentialsHandle(&server)

	// Leg 1: the AP-REQ. "HTTP@svc.localhost" works as well.
	var cctx, sctx sspi.CtxtHandle
	apReq := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	st := t.InitializeSecurityContext(&client, nil, "HTTP/svc.localhost", sspi.ISC_REQ_MUTUAL_AUTH|sspi.ISC_REQ_CONFIDENTIALITY,
		sspi.SECURITY_NATIVE_DREP, nil, &cctx, apReq, nil, nil)
	fmt.Println("client:", st.String())

	// The server verifies it and answers with an AP-REP.
	apRep := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	st = t.AcceptSecurityContext(&server, nil, apReq, sspi.ASC_REQ_MUTUAL_AUTH, sspi.SECURITY_NATIVE_DREP, &sctx, apRep, nil, nil)
	fmt.Println("server:", st.String())

	// Leg 2: the client verifies the AP-REP (mutual authentication).
	st = t.InitializeSecurityContext(&client, &cctx, "HTTP/svc.localhost", sspi.ISC_REQ_MUTUAL_AUTH|sspi.ISC_REQ_CONFIDENTIALITY,
		sspi.SECURITY_NATIVE_DREP, apRep, &cctx, sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}), nil, nil)
	fmt.Println("client:", st.String())

	var names sspi.SecPkgContextNames
	t.QueryContextAttributes(&sctx, sspi.SECPKG_ATTR_NAMES, &names)
	fmt.Println("server sees:", names.UserName)

	// Seal in place: TOKEN || DATA is one RFC 4121 wrap token.
	msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte("hello")})
	t.EncryptMessage(&cctx, 0, msg, 0)
	t.DecryptMessage(&sctx, msg, 0, nil)
	fmt.Printf("%s\n", msg.Buffers[1].Buffer)
	// Output:
	// client: SEC_I_CONTINUE_NEEDED
	// server: SEC_E_OK
	// client: SEC_E_OK
	// server sees: alice@GOSSPI.TEST
	// hello
}
