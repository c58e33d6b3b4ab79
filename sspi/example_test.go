package sspi_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// The faithful calls, leg by leg, as a Windows program makes them: the
// first InitializeSecurityContext takes no context handle, later ones pass
// the handle it returned, and a token that comes with SEC_E_OK is still
// sent.
func Example() {
	store := ntlm.NewMemoryStore()
	store.Add("CONTOSO", "alice", "correct horse")
	// Client and server share one NTLM package in this example, so it must
	// be allowed to log on to itself (reflection is refused by default).
	host, err := lsa.New(lsa.Config{}, ntlm.New(ntlm.Config{Accounts: store, AllowReflection: true}))
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	t := sspi.InitSecurityInterface(host, ntlm.UserMode())

	var cliCred, srvCred sspi.CredHandle
	t.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_OUTBOUND,
		&sspi.AuthIdentity{User: "alice", Domain: "CONTOSO", Password: "correct horse"}, &cliCred, nil)
	t.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_INBOUND, nil, &srvCred, nil)
	defer t.FreeCredentialsHandle(&cliCred)
	defer t.FreeCredentialsHandle(&srvCred)

	var cli, srv sspi.CtxtHandle
	var cliAttr sspi.ISCRet
	var srvAttr sspi.ASCRet
	req := sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_CONNECTION
	areq := sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_CONNECTION

	out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	st := t.InitializeSecurityContext(&cliCred, nil, "host/server", req, sspi.SECURITY_NATIVE_DREP, nil, &cli, out, &cliAttr, nil)
	fmt.Println("client:", st.String())

	in := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: out.Token()})
	out = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	st = t.AcceptSecurityContext(&srvCred, nil, in, areq, sspi.SECURITY_NATIVE_DREP, &srv, out, &srvAttr, nil)
	fmt.Println("server:", st.String())

	in = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: out.Token()})
	out = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	st = t.InitializeSecurityContext(&cliCred, &cli, "host/server", req, sspi.SECURITY_NATIVE_DREP, in, &cli, out, &cliAttr, nil)
	fmt.Println("client:", st.String(), "with a token to send:", len(out.Token()) > 0)

	in = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: out.Token()})
	out = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	st = t.AcceptSecurityContext(&srvCred, &srv, in, areq, sspi.SECURITY_NATIVE_DREP, &srv, out, &srvAttr, nil)
	fmt.Println("server:", st.String(), srvAttr&sspi.ASC_RET_CONFIDENTIALITY != 0)

	var names sspi.SecPkgContextNames
	t.QueryContextAttributes(&srv, sspi.SECPKG_ATTR_NAMES, &names)
	fmt.Println("user:", names.UserName)
	t.DeleteSecurityContext(&cli)
	t.DeleteSecurityContext(&srv)
	// Output:
	// client: SEC_I_CONTINUE_NEEDED
	// server: SEC_I_CONTINUE_NEEDED
	// client: SEC_E_OK with a token to send: true
	// server: SEC_E_OK true
	// user: CONTOSO\alice
}

// The asynchronous form: the call is queued and returns SEC_E_OK, the
// status is SEC_I_ASYNC_CALL_PENDING until the work is done, and the notify
// callback fires once when it finishes.
func ExampleFunctionTable_SspiAcquireCredentialsHandleAsync() {
	host, _ := lsa.New(lsa.Config{}, ntlm.New(ntlm.Config{Accounts: ntlm.NewMemoryStore()}))
	defer host.Close()
	t := sspi.InitSecurityInterface(host, ntlm.UserMode())
	defer t.Close()

	ac := sspi.SspiCreateAsyncContext()
	defer sspi.SspiFreeAsyncContext(ac)
	done := make(chan sspi.Status, 1)
	sspi.SspiSetAsyncNotifyCallback(ac, func(ac *sspi.AsyncContext, _ any) {
		done <- sspi.SspiGetAsyncCallStatus(ac)
	}, nil)

	var cred sspi.CredHandle
	st := t.SspiAcquireCredentialsHandleAsync(ac, "", "NTLM", sspi.SECPKG_CRED_INBOUND, nil, &cred, nil)
	fmt.Println("queued:", st.String())
	fmt.Println("finished:", (<-done).String())
	st, _ = ac.Wait(context.Background())
	fmt.Println("Wait:", st.String(), cred.IsValid())
	t.FreeCredentialsHandle(&cred)
	// Output:
	// queued: SEC_E_OK
	// finished: SEC_E_OK
	// Wait: SEC_E_OK true
}
