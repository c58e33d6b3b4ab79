package sspi_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/sspi"
)

// TestContextDataAcrossHosts takes the ContextData a host returns at the end
// of a handshake, builds a fresh user-mode context from it in a second host
// that has no LSA-mode packages at all, and seals and unseals with it
// against the peer in the first host.
func TestContextDataAcrossHosts(t *testing.T) {
	ctx := context.Background()
	pkg := sspitest.New(sspitest.Config{Accounts: accounts})
	hostA, err := lsa.New(lsa.Config{}, pkg)
	if err != nil {
		t.Fatal(err)
	}
	defer hostA.Close()
	tblA := sspi.InitSecurityInterface(hostA, sspitest.UserMode{})

	// The client side talks to the host directly, as a remote surface
	// would, and keeps the ContextData it is handed.
	cred, err := hostA.AcquireCredentialsHandle(ctx, &sspi.AcquireCredentialsRequest{Package: sspitest.Name, Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: "alice", Password: "correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	var sc sspi.CredHandle
	if st := tblA.AcquireCredentialsHandle("", sspitest.Name, sspi.SECPKG_CRED_INBOUND, nil, &sc, nil); st.Failed() {
		t.Fatal(st)
	}
	req := sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_SEQUENCE_DETECT
	r1, err := hostA.InitLsaModeContext(ctx, &sspi.InitContextRequest{Credential: cred.Credential, TargetName: "x", ContextReq: req})
	if err != nil || r1.Mapped {
		t.Fatalf("leg 1: %v mapped=%v", err, r1.Mapped)
	}
	var srv sspi.CtxtHandle
	out := outDesc()
	if st := tblA.AcceptSecurityContext(&sc, nil, tokenDesc(r1.Output[0].Buffer), sspi.ASC_REQ_CONFIDENTIALITY|sspi.ASC_REQ_SEQUENCE_DETECT, 0, &srv, out, nil, nil); st != sspi.SEC_I_CONTINUE_NEEDED {
		t.Fatal(st)
	}
	r2, err := hostA.InitLsaModeContext(ctx, &sspi.InitContextRequest{Context: r1.Context, ContextReq: req, Input: tokenDesc(out.Token())})
	if err != nil || r2.Status != sspi.SEC_E_OK || !r2.Mapped || len(r2.ContextData) == 0 {
		t.Fatalf("leg 3: %v %v mapped=%v", err, r2.Status, r2.Mapped)
	}
	if st := tblA.AcceptSecurityContext(&sc, &srv, tokenDesc(r2.Output[0].Buffer), sspi.ASC_REQ_CONFIDENTIALITY|sspi.ASC_REQ_SEQUENCE_DETECT, 0, &srv, outDesc(), nil, nil); st != sspi.SEC_E_OK {
		t.Fatal(st)
	}
	// The LSA half is gone before the user-mode half is built.
	if err := hostA.DeleteContext(ctx, r1.Context); err != nil {
		t.Fatal(err)
	}

	hostB, err := lsa.New(lsa.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer hostB.Close()
	tblB := sspi.InitSecurityInterface(hostB, sspitest.UserMode{})
	var moved sspi.CtxtHandle
	if st := tblB.ImportSecurityContext(sspitest.Name, r2.ContextData, &moved); st.Failed() {
		t.Fatalf("ImportSecurityContext: %v", st)
	}
	for i := 0; i < 3; i++ {
		msg := []byte("sealed in host B")
		got, st := sspitest.Unseal(tblA, &srv, sspitest.Seal(t, tblB, &moved, msg))
		if st.Failed() || !bytes.Equal(got, msg) {
			t.Fatalf("A unseals B: %q %v", got, st)
		}
		got, st = sspitest.Unseal(tblB, &moved, sspitest.Seal(t, tblA, &srv, []byte("sealed in host A")))
		if st.Failed() || string(got) != "sealed in host A" {
			t.Fatalf("B unseals A: %q %v", got, st)
		}
	}
	var names sspi.SecPkgContextNames
	if st := tblB.QueryContextAttributes(&moved, sspi.SECPKG_ATTR_NAMES, &names); st.Failed() || names.UserName != "alice" {
		t.Errorf("NAMES in host B = %q %v", names.UserName, st)
	}
	if st := tblB.DeleteSecurityContext(&moved); st != sspi.SEC_E_OK {
		t.Errorf("delete imported = %v", st)
	}
	if st := tblB.DeleteSecurityContext(&moved); st != sspi.SEC_E_INVALID_HANDLE {
		t.Errorf("delete imported twice = %v", st)
	}
	// Garbage ContextData is refused.
	if st := tblB.ImportSecurityContext(sspitest.Name, []byte("GSCD\x01garbage"), &moved); st != sspi.SEC_E_INVALID_TOKEN {
		t.Errorf("garbage ContextData = %v", st)
	}
	tblA.DeleteSecurityContext(&srv)
	tblA.FreeCredentialsHandle(&sc)
	hostA.FreeCredentialsHandle(ctx, cred.Credential)
}

// TestBoundaryIsSerializable gob-encodes every type that crosses the host
// boundary: no funcs, channels or pointers into the other side.
func TestBoundaryIsSerializable(t *testing.T) {
	for _, v := range []any{sspi.SecPkgContextSizes{}, sspi.SecPkgContextNames{}, sspi.SecPkgContextLifespan{},
		sspi.SecPkgContextSessionKey{}, sspi.SecPkgContextPackageInfo{}, sspi.SecPkgContextNegotiationInfo{},
		sspi.SecPkgContextFlags{}, sspi.SecPkgContextNativeNames{}, sspi.SecPkgContextStreamSizes{}, sspi.Identity{}} {
		gob.Register(v)
	}
	values := []any{
		&sspi.AcquireCredentialsRequest{Package: "NTLM", Principal: "p", Use: sspi.SECPKG_CRED_BOTH, AuthData: &sspi.AuthIdentity{User: "u", Options: map[string]string{"k": "v"}}},
		&sspi.AcquireCredentialsResult{Credential: sspi.CredHandle{Lower: 1, Upper: 2}, Expiry: time.Unix(5, 0)},
		&sspi.InitContextRequest{Credential: sspi.CredHandle{Lower: 1}, TargetName: "t", ContextReq: sspi.ISC_REQ_MUTUAL_AUTH, Input: tokenDesc([]byte{1})},
		&sspi.AcceptContextRequest{Context: sspi.CtxtHandle{Lower: 3}, ContextReq: sspi.ASC_REQ_INTEGRITY, Input: tokenDesc([]byte{2})},
		&sspi.ContextResult{Status: sspi.SEC_I_CONTINUE_NEEDED, Context: sspi.CtxtHandle{Lower: 9}, Output: []sspi.SecBuffer{{BufferType: sspi.SECBUFFER_TOKEN, Buffer: []byte{7}}}, Mapped: true, ContextData: []byte("GSCD")},
		&sspi.PackageInfo{Name: "NTLM", OIDs: []string{"1.2.3"}},
	}
	for _, v := range values {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(v); err != nil {
			t.Errorf("%T: %v", v, err)
		}
	}
	var attr any = sspi.SecPkgContextSizes{MaxToken: 1}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&attr); err != nil {
		t.Errorf("attribute value: %v", err)
	}
}
