package ntlm_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// NTLM through the package host and the faithful SSPI calls: a client and a
// server authenticate, then seal a message.
func Example() {
	accounts := ntlm.NewMemoryStore()
	accounts.Add("EXAMPLE", "alice", "correct horse")
	// Client and server share one NTLM package in this example, so it must
	// be allowed to log on to itself (reflection is refused by default).
	host, err := lsa.New(lsa.Config{}, ntlm.New(ntlm.Config{Accounts: accounts, AllowReflection: true}))
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	t := sspi.InitSecurityInterface(host, ntlm.UserMode())
	defer t.Close()

	var cc, sc sspi.CredHandle
	t.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_OUTBOUND,
		&sspi.AuthIdentity{User: `EXAMPLE\alice`, Password: "correct horse"}, &cc, nil)
	t.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_INBOUND, nil, &sc, nil)

	var cli, srv sspi.CtxtHandle
	var cliPrev, srvPrev *sspi.CtxtHandle
	var tok []byte
	for {
		var in *sspi.SecBufferDesc
		if tok != nil {
			in = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok})
		}
		out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		var attr sspi.ISCRet
		st := t.InitializeSecurityContext(&cc, cliPrev, "HTTP/server.example.com",
			sspi.ISC_REQ_CONFIDENTIALITY|sspi.ISC_REQ_INTEGRITY, 0, in, &cli, out, &attr, nil)
		fmt.Println("client:", st, len(out.Token()) > 0)
		cliPrev = &cli
		in = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: out.Token()})
		out = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		var aattr sspi.ASCRet
		st = t.AcceptSecurityContext(&sc, srvPrev, in, 0, 0, &srv, out, &aattr, nil)
		fmt.Println("server:", st)
		srvPrev = &srv
		if st != sspi.SEC_I_CONTINUE_NEEDED {
			break
		}
		tok = out.Token()
	}
	var names sspi.SecPkgContextNames
	t.QueryContextAttributes(&srv, sspi.SECPKG_ATTR_NAMES, &names)
	fmt.Println("authenticated", names.UserName)

	msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, ntlm.SignatureSize)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte("hello")})
	fmt.Println(t.EncryptMessage(&cli, 0, msg, 0))
	fmt.Println(t.DecryptMessage(&srv, msg, 0, nil), string(msg.Buffers[1].Buffer))
	fmt.Println(t.DecryptMessage(&srv, msg, 0, nil) == sspi.SEC_E_OUT_OF_SEQUENCE)
	// Output:
	// client: SEC_I_CONTINUE_NEEDED (0x00090312) true
	// server: SEC_I_CONTINUE_NEEDED (0x00090312)
	// client: SEC_E_OK (0x00000000) true
	// server: SEC_E_OK (0x00000000)
	// authenticated EXAMPLE\alice
	// SEC_E_OK (0x00000000)
	// SEC_E_OK (0x00000000) hello
	// true
}

// The account file keeps NT hashes only.
func ExampleHashFile() {
	dir, _ := os.MkdirTemp("", "ntlm")
	defer os.RemoveAll(dir)
	f := ntlm.OpenHashFile(filepath.Join(dir, "accounts"))
	if err := f.Add("EXAMPLE", "alice", "Password"); err != nil {
		log.Fatal(err)
	}
	b, _ := os.ReadFile(f.Path())
	fmt.Print(string(b))
	// Output:
	// #gosspi-ntlm-accounts/1
	// EXAMPLE:alice:a4f49c406510bdcab6824ee7c30fd852
}
