package sspi

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"math/big"
	"testing"
	"time"
)

func testCert(t testing.TB) *x509.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), SignatureAlgorithm: x509.ECDSAWithSHA256}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestTLSServerEndPoint(t *testing.T) {
	c := testCert(t)
	cb, err := TLSServerEndPoint(c)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Raw)
	want := append([]byte("tls-server-end-point:"), sum[:]...)
	if !bytes.Equal(cb.ApplicationData, want) || cb.InitiatorAddress != nil || cb.AcceptorAddress != nil {
		t.Fatalf("application data = %x", cb.ApplicationData)
	}
	// RFC 4121 4.1.1.2: MD5 over the two address fields (type, length,
	// value) and the application data (length, value), little-endian.
	var buf bytes.Buffer
	buf.Write(make([]byte, 16)) // two (type, length) pairs of zeros
	binary.Write(&buf, binary.LittleEndian, uint32(len(want)))
	buf.Write(want)
	if got := cb.GSSBindingsHash(); got != md5.Sum(buf.Bytes()) {
		t.Errorf("GSSBindingsHash = %x", got)
	}
	if _, err := TLSServerEndPoint(nil); err == nil {
		t.Error("nil certificate accepted")
	}
	u, err := TLSUnique([]byte{1, 2, 3})
	if err != nil || string(u.ApplicationData) != "tls-unique:\x01\x02\x03" {
		t.Errorf("TLSUnique = %q %v", u.ApplicationData, err)
	}
	if _, err := TLSUnique(nil); err == nil {
		t.Error("empty tls-unique accepted")
	}
}

func TestChannelBindingsMarshal(t *testing.T) {
	cb := &ChannelBindings{InitiatorAddrType: 2, InitiatorAddress: []byte{127, 0, 0, 1}, AcceptorAddrType: 2,
		AcceptorAddress: []byte{10, 0, 0, 1}, ApplicationData: []byte("tls-unique:xyz")}
	b := cb.Marshal()
	if len(b) != 32+4+4+14 {
		t.Fatalf("len = %d", len(b))
	}
	got, err := ParseChannelBindings(b)
	if err != nil || !got.Equal(cb) || !bytes.Equal(got.AcceptorAddress, cb.AcceptorAddress) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if (*ChannelBindings)(nil).Equal(cb) || !(*ChannelBindings)(nil).Equal(nil) {
		t.Error("nil Equal")
	}
	bad := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(bad[28:], 1000) // application data offset out of range
	if _, err := ParseChannelBindings(bad); err != SEC_E_INVALID_TOKEN {
		t.Errorf("out-of-range offset: %v", err)
	}
	if _, err := ParseChannelBindings(b[:31]); err != SEC_E_INVALID_TOKEN {
		t.Errorf("short header: %v", err)
	}
	binary.LittleEndian.PutUint32(bad[24:], 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(bad[28:], 0xFFFFFFFF)
	if _, err := ParseChannelBindings(bad); err != SEC_E_INVALID_TOKEN {
		t.Errorf("overflowing length: %v", err)
	}
}

// FuzzParseChannelBindings: the SEC_CHANNEL_BINDINGS parser never panics
// and what it accepts marshals back to an equal value.
func FuzzParseChannelBindings(f *testing.F) {
	cb, _ := TLSServerEndPoint(testCert(f))
	f.Add(cb.Marshal())
	f.Add((&ChannelBindings{InitiatorAddrType: 2, InitiatorAddress: []byte{127, 0, 0, 1}}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		cb, err := ParseChannelBindings(b)
		if err != nil {
			return
		}
		again, err := ParseChannelBindings(cb.Marshal())
		if err != nil || !again.Equal(cb) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}
