package kerberos

import (
	"bytes"
	"context"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

const stdISC = sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT

func sealRoundTrip(t *testing.T, from, to sspi.UserModeContext, msg []byte, qop uint32) {
	t.Helper()
	data := append([]byte(nil), msg...)
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: data}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_PADDING})
	if err := from.SealMessage(qop, d, 0); err != nil {
		t.Fatalf("SealMessage: %v", err)
	}
	if qop == 0 && len(msg) > 8 && bytes.Equal(d.Buffers[1].Buffer, msg) {
		t.Fatal("data not encrypted")
	}
	gotQop, err := to.UnsealMessage(d, 0)
	if err != nil {
		t.Fatalf("UnsealMessage: %v", err)
	}
	if gotQop != qop || !bytes.Equal(d.Buffers[1].Buffer, msg) {
		t.Fatalf("unsealed %q qop %#x, want %q %#x", d.Buffers[1].Buffer, gotQop, msg, qop)
	}
}

func signRoundTrip(t *testing.T, from, to sspi.UserModeContext, msg []byte) {
	t.Helper()
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: msg}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	if err := from.MakeSignature(0, d, 0); err != nil {
		t.Fatalf("MakeSignature: %v", err)
	}
	if _, err := to.VerifySignature(d, 0); err != nil {
		t.Fatalf("VerifySignature: %v", err)
	}
}

func TestLoopback(t *testing.T) {
	realm := liveRealm(t)
	for _, tc := range []struct {
		name, spn, keytab string
		isc               sspi.ISCReq
	}{
		{"aes-mutual", svcSPN, realm.svcKeytab, stdISC},
		{"aes-nomutual", svcSPN, realm.svcKeytab, sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_SEQUENCE_DETECT},
		{"rc4-mutual", rc4SPN, realm.rc4Keytab, stdISC},
		{"rc4-nomutual", rc4SPN, realm.rc4Keytab, sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_REPLAY_DETECT},
		{"hostbased-name", "HTTP@svc.localhost", realm.svcKeytab, stdISC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Config{})
			pr, err := handshake(t, p, p, clientCred(t, p), serverCred(t, p, tc.keytab, ""), tc.spn, tc.isc, 0, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range [][]byte{[]byte("hello, acceptor"), {}, bytes.Repeat([]byte{7}, 5000)} {
				sealRoundTrip(t, pr.client, pr.server, msg, 0)
				sealRoundTrip(t, pr.server, pr.client, msg, 0)
				sealRoundTrip(t, pr.client, pr.server, msg, sspi.KERB_WRAP_NO_ENCRYPT)
				sealRoundTrip(t, pr.server, pr.client, msg, sspi.KERB_WRAP_NO_ENCRYPT)
				signRoundTrip(t, pr.client, pr.server, msg)
				signRoundTrip(t, pr.server, pr.client, msg)
			}
			id, err := pr.server.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
			if err != nil || id.(sspi.Identity).Principal != "alice@"+realm.Name {
				t.Fatalf("identity %+v %v", id, err)
			}
		})
	}
}

// One package and one credential per side, many handshakes at once: the
// package and credentials are safe for concurrent use (run with -race).
func TestConcurrentHandshakes(t *testing.T) {
	realm := liveRealm(t)
	p := New(Config{})
	ccred := clientCred(t, p)
	scred := serverCred(t, p, realm.allKeytab, "")
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		go func(g int) {
			spn := svcSPN
			if g%2 == 1 {
				spn = rc4SPN
			}
			for i := 0; i < 10; i++ {
				pr, err := handshake(t, p, p, ccred, scred, spn, stdISC, 0, nil, nil)
				if err != nil {
					errs <- err
					return
				}
				d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: bytes.Repeat([]byte{byte(i)}, 40)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_PADDING})
				if err := pr.client.SealMessage(0, d, 0); err != nil {
					errs <- err
					return
				}
				if _, err := pr.server.UnsealMessage(d, 0); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Initiator credentials from a client keytab (AS exchange with the key).
func TestClientKeytab(t *testing.T) {
	realm := liveRealm(t)
	kt := realm.batchKeytab
	p := New(Config{})
	cred, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{User: "batch", Options: map[string]string{"client_keytab": kt}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Free()
	pr, err := handshake(t, p, p, cred, serverCred(t, p, realm.svcKeytab, ""), svcSPN, stdISC, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := pr.server.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if id.(sspi.Identity).Principal != "batch@"+realm.Name {
		t.Fatalf("identity %+v", id)
	}
}

// ISC_REQ_DELEGATE with a TGT that is not forwardable: the handshake
// proceeds without delegation, as on Windows.
func TestDelegateNotForwardable(t *testing.T) {
	realm := liveRealm(t)
	cc, err := realm.Kinit("alice", realm.userPW, "-F")
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{})
	cred, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{Options: map[string]string{"ccache": cc}}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Free()
	pr, err := handshake(t, p, p, cred, serverCred(t, p, realm.svcKeytab, ""), svcSPN, stdISC|sspi.ISC_REQ_DELEGATE, sspi.ASC_REQ_DELEGATE, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pr.clientOut.Flags&sspi.FlagDelegate != 0 || pr.serverOut.Flags&sspi.FlagDelegate != 0 {
		t.Fatal("delegation claimed with a non-forwardable TGT")
	}
}

// ContextData carries session keys only: no keytab key and no password
// appears in it. An exported context continues in a fresh user-mode
// context with its sequence numbers.
func TestContextDataKeys(t *testing.T) {
	realm := liveRealm(t)
	p := New(Config{})
	pr, err := handshake(t, p, p, clientCred(t, p), serverCred(t, p, realm.svcKeytab, ""), svcSPN, stdISC, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	kt, err := keytab.Load(realm.svcKeytab)
	if err != nil {
		t.Fatal(err)
	}
	for _, cd := range [][]byte{pr.clientOut.ContextData, pr.serverOut.ContextData} {
		for _, e := range kt.Entries {
			if bytes.Contains(cd, e.Key.KeyValue) {
				t.Fatal("a keytab key is in ContextData")
			}
		}
		if bytes.Contains(cd, []byte(realm.userPW)) {
			t.Fatal("the password is in ContextData")
		}
	}
	sealRoundTrip(t, pr.client, pr.server, []byte("before export"), 0)
	exp, err := pr.server.(sspi.UserModeExporter).ExportContext()
	if err != nil {
		t.Fatal(err)
	}
	moved, err := UserMode().InitUserModeContext(exp)
	if err != nil {
		t.Fatal(err)
	}
	sealRoundTrip(t, pr.client, moved, []byte("after export"), 0)
	sealRoundTrip(t, moved, pr.client, []byte("reply"), 0)
	// Garbage context data is refused with a status, not a panic.
	for _, bad := range [][]byte{nil, []byte("GSCD"), exp[:len(exp)/2]} {
		if _, err := UserMode().InitUserModeContext(bad); sspi.StatusOf(err) != sspi.SEC_E_INVALID_TOKEN {
			t.Fatalf("bad context data: %v", err)
		}
	}
}

// SECPKG_ATTR_SIZES: the TOKEN buffer SealMessage fills fits
// cbSecurityTrailer, and MakeSignature's fits cbMaxSignature.
func TestSizes(t *testing.T) {
	realm := liveRealm(t)
	for _, tc := range []struct{ spn, keytab string }{{svcSPN, realm.svcKeytab}, {rc4SPN, realm.rc4Keytab}} {
		p := New(Config{})
		pr, err := handshake(t, p, p, clientCred(t, p), serverCred(t, p, tc.keytab, ""), tc.spn, stdISC, 0, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, err := pr.client.QueryAttributes(sspi.SECPKG_ATTR_SIZES)
		if err != nil {
			t.Fatal(err)
		}
		z := v.(sspi.SecPkgContextSizes)
		for _, n := range []int{0, 10, 100, 5000, 60000} {
			d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: make([]byte, n)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_PADDING})
			if err := pr.client.SealMessage(0, d, 0); err != nil {
				t.Fatal(err)
			}
			if len(d.Buffers[0].Buffer) > int(z.SecurityTrailer) {
				t.Fatalf("%s n=%d: token %d > cbSecurityTrailer %d", tc.spn, n, len(d.Buffers[0].Buffer), z.SecurityTrailer)
			}
			m := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: make([]byte, n)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
			if err := pr.client.MakeSignature(0, m, 0); err != nil {
				t.Fatal(err)
			}
			if len(m.Buffers[1].Buffer) > int(z.MaxSignature) {
				t.Fatalf("%s: signature %d > cbMaxSignature %d", tc.spn, len(m.Buffers[1].Buffer), z.MaxSignature)
			}
		}
	}
}

// A password login whose salt is not the default (the principal was
// renamed): the AS exchange must use the salt from ETYPE-INFO2 in the
// KDC's PREAUTH_REQUIRED error, then PA-ENC-TIMESTAMP.
func TestPasswordSaltFromETypeInfo2(t *testing.T) {
	realm := liveRealm(t)
	p := New(Config{})
	cred, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{User: "dave@" + realm.Name, Password: "dave-Secret-1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Free()
	pr, err := handshake(t, p, p, cred, serverCred(t, p, realm.svcKeytab, ""), svcSPN, stdISC, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := pr.server.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if id.(sspi.Identity).Principal != "dave@"+realm.Name {
		t.Fatalf("identity %+v", id)
	}
	_, _, err = p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
		AuthData: &sspi.AuthIdentity{User: realm.Name + `\dave`, Password: "wrong"}})
	wantStatus(t, err, sspi.SEC_E_LOGON_DENIED)
}
