package ntlm_test

import (
	"testing"

	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// TestThroughHost drives the package through lsa.New and the SSPI surface:
// a partial AUTHENTICATE gives SEC_E_INCOMPLETE_MESSAGE with a
// SECBUFFER_MISSING count and leaves the context usable; the whole token
// then completes it, and the mapped contexts sign and seal.
func TestThroughHost(t *testing.T) {
	accounts := ntlm.NewMemoryStore()
	accounts.Add("EXAMPLE", "alice", "pw")
	host, err := lsa.New(lsa.Config{}, ntlm.New(ntlm.Config{Accounts: accounts, AllowReflection: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	tab := sspi.InitSecurityInterface(host, ntlm.UserMode())
	defer tab.Close()
	var cc, sc sspi.CredHandle
	if st := tab.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_OUTBOUND, &sspi.AuthIdentity{User: `alice@EXAMPLE`, Password: "pw"}, &cc, nil); st.Failed() {
		t.Fatal(st)
	}
	if st := tab.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_INBOUND, nil, &sc, nil); st.Failed() {
		t.Fatal(st)
	}
	req := sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY
	tokOut := func() *sspi.SecBufferDesc { return sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}) }
	tokIn := func(b []byte) *sspi.SecBufferDesc {
		return sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: b}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_EMPTY})
	}
	var cli, srv sspi.CtxtHandle
	var ia sspi.ISCRet
	var aa sspi.ASCRet
	o1 := tokOut()
	if st := tab.InitializeSecurityContext(&cc, nil, "HTTP/s", req, 0, nil, &cli, o1, &ia, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		t.Fatal(st)
	}
	o2 := tokOut()
	if st := tab.AcceptSecurityContext(&sc, nil, tokIn(o1.Token()), 0, 0, &srv, o2, &aa, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		t.Fatal(st)
	}
	o3 := tokOut()
	if st := tab.InitializeSecurityContext(&cc, &cli, "HTTP/s", req, 0, tokIn(o2.Token()), &cli, o3, &ia, nil); st != sspi.SEC_E_OK {
		t.Fatal(st)
	}
	auth := o3.Token()
	part := tokIn(auth[:len(auth)-7])
	if st := tab.AcceptSecurityContext(&sc, &srv, part, 0, 0, &srv, tokOut(), &aa, nil); st != sspi.SEC_E_INCOMPLETE_MESSAGE {
		t.Fatalf("partial AUTHENTICATE: %v", st)
	}
	if m := part.Find(sspi.SECBUFFER_MISSING); m == nil || m.Size() != 7 {
		t.Fatalf("SECBUFFER_MISSING: %+v", part.Buffers)
	}
	if st := tab.AcceptSecurityContext(&sc, &srv, tokIn(auth), 0, 0, &srv, tokOut(), &aa, nil); st != sspi.SEC_E_OK {
		t.Fatalf("whole AUTHENTICATE: %v", st)
	}
	if aa&sspi.ASC_RET_CONFIDENTIALITY == 0 || ia&sspi.ISC_RET_INTEGRITY == 0 {
		t.Errorf("attributes %v / %v", aa, ia)
	}
	var names sspi.SecPkgContextNames
	if st := tab.QueryContextAttributes(&srv, sspi.SECPKG_ATTR_NAMES, &names); st.Failed() || names.UserName != `EXAMPLE\alice` {
		t.Fatalf("NAMES %v %q", st, names.UserName)
	}
	var ck, sk sspi.SecPkgContextSessionKey
	tab.QueryContextAttributes(&cli, sspi.SECPKG_ATTR_SESSION_KEY, &ck)
	tab.QueryContextAttributes(&srv, sspi.SECPKG_ATTR_SESSION_KEY, &sk)
	if len(ck.SessionKey) != 16 || string(ck.SessionKey) != string(sk.SessionKey) {
		t.Fatal("session keys differ")
	}
	msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 16)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: []byte("through the host")})
	if st := tab.MakeSignature(&srv, 0, msg, 0); st.Failed() {
		t.Fatal(st)
	}
	if st := tab.VerifySignature(&cli, msg, 0, nil); st.Failed() {
		t.Fatal(st)
	}
	if st := tab.EncryptMessage(&srv, 0, msg, 0); st.Failed() {
		t.Fatal(st)
	}
	msg.Buffers[1].Buffer[0] ^= 1
	if st := tab.DecryptMessage(&cli, msg, 0, nil); st != sspi.SEC_E_MESSAGE_ALTERED {
		t.Fatalf("altered: %v", st)
	}
	msg.Buffers[1].Buffer[0] ^= 1
	if st := tab.DecryptMessage(&cli, msg, 0, nil); st.Failed() || string(msg.Buffers[1].Buffer) != "through the host" {
		t.Fatalf("DecryptMessage %v %q", st, msg.Buffers[1].Buffer)
	}
	tab.DeleteSecurityContext(&cli)
	tab.DeleteSecurityContext(&srv)
}
