package kerberos

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// impacketVectors are PA-FOR-USER for alice@ADDC.GOSSPI.TEST under two
// TGT session keys, as impacket computes them
// (testdata/s4u/impacket_vectors.py): the checksum, then the DER.
var impacketVectors = []struct {
	etype      int32
	key        string
	cksum, der string
}{
	{18, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "3701fa856af924cd81785a2e5e4a7f35",
		"3052a0123010a003020101a10930071b05616c696365a1121b10414444432e474f535350492e54455354a21c301aa0040202ff76a11204103701fa856af924cd81785a2e5e4a7f35a30a1b084b65726265726f73"},
	{23, "00112233445566778899aabbccddeeff", "e6419268196c2500f9eb0e725b63b2e0",
		"3052a0123010a003020101a10930071b05616c696365a1121b10414444432e474f535350492e54455354a21c301aa0040202ff76a1120410e6419268196c2500f9eb0e725b63b2e0a30a1b084b65726265726f73"},
}

// TestPAForUserImpacket: the PA-FOR-USER checksum (HMAC-MD5 over the
// S4UByteArray, key usage 17) and encoding (MS-SFU 2.2.1) match impacket's.
func TestPAForUserImpacket(t *testing.T) {
	u := s4uUser{name: principalName{NameType: nametype.KRB_NT_PRINCIPAL, Names: []string{"alice"}}, realm: "ADDC.GOSSPI.TEST"}
	for _, v := range impacketVectors {
		key := unhex(t, v.key)
		if got := hex.EncodeToString(forUserChecksum(key, u, authPackageKerberos)); got != v.cksum {
			t.Errorf("etype %d: checksum %s, impacket %s", v.etype, got, v.cksum)
		}
		if got := hex.EncodeToString(encodePAForUser(key, u)); got != v.der {
			t.Errorf("etype %d: PA-FOR-USER\n%s\nimpacket\n%s", v.etype, got, v.der)
		}
	}
}

// TestPAPACOptions: PA-PAC-OPTIONS with the RBCD bit, as impacket
// encodes it (MS-KILE 2.2.10).
func TestPAPACOptions(t *testing.T) {
	if got := hex.EncodeToString(encodePAPACOptions(pacOptionRBCD)); got != "3009a00703050010000000" {
		t.Errorf("PA-PAC-OPTIONS %s", got)
	}
}

// mitS4UVector is MIT krb5's ktest encoding of PA-S4U-X509-USER
// (src/tests/asn.1/reference_encode.out, as gokrb5's test data carries
// it): nonce 13243546, hftsai/extra@ATHENA.MIT.EDU, a certificate, options
// 0x80000000, checksum type 1 "1234".
const mitS4UVector = "3068A0553053A006020400CA149AA11A3018A003020101A111300F1B066866747361691B056578747261A2101B0E415448454E412E4D49542E454455A312041070615F7334755F783530395F75736572A40703050080000000A10F300DA003020101A106040431323334"

// TestPAS4UX509UserMIT encodes and decodes MIT's reference
// PA-S4U-X509-USER.
func TestPAS4UX509UserMIT(t *testing.T) {
	want := unhex(t, mitS4UVector)
	id := &s4uUserID{nonce: 13243546, cname: principalName{NameType: 1, Names: []string{"hftsai", "extra"}}, hasName: true,
		crealm: "ATHENA.MIT.EDU", cert: []byte("pa_s4u_x509_user"), options: 0x80000000, hasOpts: true}
	got := marshalPAS4UX509User(encodeS4UUserID(id), 1, []byte("1234"))
	if hex.EncodeToString(got) != hex.EncodeToString(want) {
		t.Fatalf("encoding\n%x\nMIT\n%x", got, want)
	}
	p, ok := parsePAS4UX509User(want)
	if !ok {
		t.Fatal("MIT's encoding does not parse")
	}
	if p.id.nonce != id.nonce || !sameName(p.id.cname, id.cname) || p.id.crealm != id.crealm || string(p.id.cert) != string(id.cert) ||
		p.id.options != id.options || p.cksumType != 1 || string(p.cksum) != "1234" || hex.EncodeToString(p.idDER) != hex.EncodeToString(encodeS4UUserID(id)) {
		t.Errorf("parsed %+v", p)
	}
	for i := range want {
		if _, ok := parsePAS4UX509User(want[:i]); ok {
			t.Fatalf("a prefix of %d bytes parses", i)
		}
	}
}

// s4uRecording is a recorded S4U2Self exchange with MIT's KDC: the TGT
// session key, the request's S4UUserID fields and the reply's
// PA-S4U-X509-USER.
type s4uRecording struct {
	KeyType int32  `json:"key_type"`
	Key     string `json:"key"`
	Nonce   uint32 `json:"nonce"`
	User    string `json:"user"`
	Realm   string `json:"realm"`
	Request string `json:"request"` // our PA-S4U-X509-USER
	Reply   string `json:"reply"`   // the KDC's
}

const s4uRecordingFile = "testdata/s4u/mit-s4u2self.json"

// TestS4UReplyRecorded checks the recorded reply of MIT's KDC offline:
// its checksum verifies with key usage 27 (signed-with-kun-27), and a
// changed byte, another nonce or user, or usage 26 are refused.
func TestS4UReplyRecorded(t *testing.T) {
	b, err := os.ReadFile(s4uRecordingFile)
	if err != nil {
		t.Fatal(err)
	}
	var r s4uRecording
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	key := types.EncryptionKey{KeyType: r.KeyType, KeyValue: unhex(t, r.Key)}
	sent := func() *s4uUserID {
		return &s4uUserID{nonce: r.Nonce, cname: principalName{NameType: 1, Names: []string{r.User}}, hasName: true, crealm: r.Realm, options: s4uOptReplyKeyUsage, hasOpts: true}
	}
	reply := unhex(t, r.Reply)
	if err := verifyS4UReply(reply, key, sent()); err != nil {
		t.Fatalf("recorded reply: %v", err)
	}
	bad := append([]byte(nil), reply...)
	bad[len(bad)-1] ^= 1
	if err := verifyS4UReply(bad, key, sent()); sspi.StatusOf(err) != sspi.SEC_E_MESSAGE_ALTERED {
		t.Errorf("altered checksum: %v", err)
	}
	s := sent()
	s.nonce++
	if err := verifyS4UReply(reply, key, s); sspi.StatusOf(err) != sspi.SEC_E_MESSAGE_ALTERED {
		t.Errorf("other nonce: %v", err)
	}
	s = sent()
	s.cname.Names = []string{"bob"}
	if err := verifyS4UReply(reply, key, s); sspi.StatusOf(err) != sspi.SEC_E_MESSAGE_ALTERED {
		t.Errorf("other user: %v", err)
	}
	s = sent()
	s.options = 0
	if err := verifyS4UReply(reply, key, s); sspi.StatusOf(err) != sspi.SEC_E_MESSAGE_ALTERED {
		t.Errorf("key usage 26: %v", err)
	}
	other := types.EncryptionKey{KeyType: r.KeyType, KeyValue: make([]byte, len(key.KeyValue))}
	if err := verifyS4UReply(reply, other, sent()); sspi.StatusOf(err) != sspi.SEC_E_MESSAGE_ALTERED {
		t.Errorf("another key: %v", err)
	}
	if err := verifyS4UReply([]byte{0x30, 0}, key, sent()); sspi.StatusOf(err) != sspi.SEC_E_INTERNAL_ERROR {
		t.Errorf("malformed: %v", err)
	}
	// Our own request decodes, and its checksum is usage 26's.
	req, ok := parsePAS4UX509User(unhex(t, r.Request))
	if !ok {
		t.Fatal("our request does not parse")
	}
	if _, ck, _ := s4uChecksum(key, usageS4UUserRequest, req.idDER); hex.EncodeToString(ck) != hex.EncodeToString(req.cksum) {
		t.Error("our request's checksum is not usage 26's")
	}
}

// kdcRecorder is a TCP proxy in front of a KDC that keeps each request and
// its reply.
type kdcRecorder struct {
	l     net.Listener
	mu    sync.Mutex
	pairs [][2][]byte
}

func startKDCRecorder(t *testing.T, kdc string) *kdcRecorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &kdcRecorder{l: l}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); r.relay(c, kdc) }()
		}
	}()
	return r
}

func readRecord(c net.Conn) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(h[:])&0x7fffffff)
	_, err := io.ReadFull(c, b)
	return b, err
}

func (r *kdcRecorder) relay(c net.Conn, kdc string) {
	req, err := readRecord(c)
	if err != nil {
		return
	}
	k, err := net.Dial("tcp", kdc)
	if err != nil {
		return
	}
	defer k.Close()
	if _, err := k.Write(binary.BigEndian.AppendUint32(nil, uint32(len(req)))); err != nil {
		return
	}
	if _, err := k.Write(req); err != nil {
		return
	}
	rep, err := readRecord(k)
	if err != nil {
		return
	}
	r.mu.Lock()
	r.pairs = append(r.pairs, [2][]byte{req, rep})
	r.mu.Unlock()
	c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(rep))))
	c.Write(rep)
}

// TestS4U2SelfMIT runs S4U2Self against MIT's KDC, which answers
// PA-S4U-X509-USER with its own, signed with key usage 27, and checks it
// (MS-SFU 3.1.5.1.2): the service HTTP/svc.localhost, with its keytab, gets
// a ticket to itself for alice, and its acceptor accepts it. With -record
// the exchange is kept for TestS4UReplyRecorded and the fuzz seeds.
func TestS4U2SelfMIT(t *testing.T) {
	realm := liveRealm(t)
	rec := startKDCRecorder(t, realm.KDCAddr())
	port := rec.l.Addr().(*net.TCPAddr).Port
	p := New(Config{Krb5Conf: writeKrb5Conf(t, realm.Name, port, []string{"udp_preference_limit = 1", "dns_canonicalize_hostname = false"})})
	lc, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, Principal: "alice",
		AuthData: &sspi.AuthIdentity{User: svcSPN, Options: map[string]string{"client_keytab": realm.svcKeytab}}})
	if err != nil {
		t.Fatalf("S4U2Self credential: %v", err)
	}
	defer lc.Free()
	cred := lc.(*credential)
	if cred.s4u == nil || cred.s4u.user.NameString[0] != "alice" || cred.s4u.realm != realm.Name {
		t.Fatalf("not an S4U credential for alice: %+v", cred.s4u)
	}
	pr, err := handshake(t, p, p, lc, serverCred(t, p, realm.svcKeytab, svcSPN), svcSPN, stdISC, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := pr.server.QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if id.(sspi.Identity).Principal != "alice@"+realm.Name {
		t.Fatalf("acceptor sees %+v", id)
	}
	// The KDC did answer with a PA-S4U-X509-USER, which checkReply
	// verified (else the credential would have failed).
	var reqPA, repPA []byte
	var nonce int
	rec.mu.Lock()
	for _, pr := range rec.pairs {
		var req messages.TGSReq
		if err := req.Unmarshal(pr[0]); err != nil {
			continue
		}
		for _, pa := range req.PAData {
			if pa.PADataType == paS4UX509User && repPA == nil {
				var rep messages.TGSRep
				if err := rep.Unmarshal(pr[1]); err != nil {
					t.Fatalf("S4U2Self reply: %v", err)
				}
				for _, rpa := range rep.PAData {
					if rpa.PADataType == paS4UX509User {
						reqPA, repPA, nonce = pa.PADataValue, rpa.PADataValue, req.ReqBody.Nonce
					}
				}
			}
		}
	}
	rec.mu.Unlock()
	if repPA == nil {
		t.Fatal("MIT's KDC sent no PA-S4U-X509-USER")
	}
	if !*record {
		return
	}
	cred.mu.Lock()
	tgt := cred.tgts[realm.Name]
	r := s4uRecording{KeyType: tgt.key.KeyType, Key: hex.EncodeToString(tgt.key.KeyValue), Nonce: uint32(nonce),
		User: "alice", Realm: realm.Name, Request: hex.EncodeToString(reqPA), Reply: hex.EncodeToString(repPA)}
	cred.mu.Unlock()
	b, _ := json.MarshalIndent(r, "", "  ")
	writeFile(t, s4uRecordingFile, append(b, '\n'))
	dir := filepath.Join("testdata", "fuzz", "FuzzS4UX509User")
	os.MkdirAll(dir, 0o755)
	writeSeedFile(t, filepath.Join(dir, "mit-reply"), repPA)
	writeSeedFile(t, filepath.Join(dir, "our-request"), reqPA)
	writeSeedFile(t, filepath.Join(dir, "mit-ktest"), unhex(t, mitS4UVector))
}

// FuzzS4UX509User decodes PA-S4U-X509-USER replies and checks them
// against the recorded request: no panic, bounded work, and a reply that
// verifies must decode again to the same user-id.
func FuzzS4UX509User(f *testing.F) {
	b, err := os.ReadFile(s4uRecordingFile)
	if err != nil {
		f.Fatal(err)
	}
	var r s4uRecording
	if err := json.Unmarshal(b, &r); err != nil {
		f.Fatal(err)
	}
	f.Add(unhex(f, r.Reply))
	f.Add(unhex(f, r.Request))
	f.Add(unhex(f, mitS4UVector))
	key := types.EncryptionKey{KeyType: r.KeyType, KeyValue: unhex(f, r.Key)}
	sent := &s4uUserID{nonce: r.Nonce, cname: principalName{NameType: 1, Names: []string{r.User}}, hasName: true, crealm: r.Realm, options: s4uOptReplyKeyUsage, hasOpts: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parsePAS4UX509User(b)
		if err := verifyS4UReply(b, key, sent); err == nil && !ok {
			t.Fatal("a reply that does not parse verified")
		}
		if ok {
			if _, ok2 := parsePAS4UX509User(marshalPAS4UX509User(p.idDER, p.cksumType, p.cksum)); !ok2 {
				t.Fatal("re-encoded reply does not parse")
			}
		}
	})
}
