package negotiate_test

import (
	"context"
	"fmt"

	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/negotiate"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Example builds Negotiate over Kerberos and NTLM and runs a handshake
// with both sides in one process. The target is an IP address, so Kerberos
// is not offered and the two sides settle on NTLM, exchanging mechListMICs.
func Example() {
	accounts := ntlm.NewMemoryStore()
	accounts.Add("EXAMPLE", "alice", "s3cret")
	nego, err := negotiate.New(negotiate.Config{
		// Client and server share one NTLM package here: allow it to log on
		// to itself (reflection is refused by default).
		Packages:     []secpkg.LsaModePackage{kerberos.New(kerberos.Config{Krb5Conf: "/dev/null"}), ntlm.New(ntlm.Config{Accounts: accounts, AllowReflection: true})},
		UserPackages: []sspi.UserModePackage{kerberos.UserMode(), ntlm.UserMode()},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	ccred, _, err := nego.AcquireCredentialsHandle(ctx, &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{User: `EXAMPLE\alice`, Password: "s3cret"}})
	if err != nil {
		panic(err)
	}
	scred, _, err := nego.AcquireCredentialsHandle(ctx, &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_INBOUND})
	if err != nil {
		panic(err)
	}

	var cctx, sctx secpkg.LsaContext
	var cout, sout secpkg.ContextOutput
	var tok []byte
	desc := func(b []byte) *sspi.SecBufferDesc {
		if b == nil {
			return nil
		}
		return sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: b})
	}
	token := func(out secpkg.ContextOutput) []byte {
		for _, b := range out.Output {
			if b.BufferType == sspi.SECBUFFER_TOKEN && len(b.Buffer) > 0 {
				return b.Buffer
			}
		}
		return nil
	}
	for leg := 1; ; leg++ {
		if leg%2 == 1 {
			cctx, cout, err = nego.InitLsaModeContext(ctx, ccred, cctx, &secpkg.InitContextParams{TargetName: "HTTP/192.0.2.10", ContextReq: sspi.ISC_REQ_CONFIDENTIALITY, Input: desc(tok)})
			tok = token(cout)
			fmt.Printf("initiator: %v\n", cout.Status)
		} else {
			sctx, sout, err = nego.AcceptLsaModeContext(ctx, scred, sctx, &secpkg.AcceptContextParams{Input: desc(tok)})
			tok = token(sout)
			fmt.Printf("acceptor:  %v\n", sout.Status)
		}
		if err != nil {
			panic(err)
		}
		if tok == nil {
			break
		}
	}

	// Per-message calls run on user-mode contexts rebuilt from ContextData.
	client, _ := nego.InitUserModeContext(cout.ContextData)
	server, _ := nego.InitUserModeContext(sout.ContextData)
	info, _ := server.QueryAttributes(sspi.SECPKG_ATTR_NEGOTIATION_INFO)
	fmt.Println("negotiated:", info.(sspi.SecPkgContextNegotiationInfo).PackageInfo.Name)

	msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 16)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte("hello")})
	if err := client.SealMessage(0, msg, 0); err != nil {
		panic(err)
	}
	if _, err := server.UnsealMessage(msg, 0); err != nil {
		panic(err)
	}
	fmt.Printf("unsealed: %s\n", msg.Buffers[1].Buffer)
	// Output:
	// initiator: SEC_I_CONTINUE_NEEDED (0x00090312)
	// acceptor:  SEC_I_CONTINUE_NEEDED (0x00090312)
	// initiator: SEC_I_CONTINUE_NEEDED (0x00090312)
	// acceptor:  SEC_E_OK (0x00000000)
	// initiator: SEC_E_OK (0x00000000)
	// negotiated: NTLM
	// unsealed: hello
}
