package kerberos

import (
	"fmt"
	"testing"

	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
)

// BenchmarkWrapSHA2: the sealed wrap with aes256-cts-hmac-sha384-192
// (RFC 8009) through the package's own profile, beside gokrb5's
// EncryptMessage (the path it replaced, which derives Ke and Ki again for
// every message) over the same bytes in the same run.
func BenchmarkWrapSHA2(b *testing.B) {
	key, _ := randomKey(nil, etypeAES256SHA384)
	e, err := krbcrypto.GetEtype(etypeAES256SHA384)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes {
		data := make([]byte, n)
		b.Run(fmt.Sprintf("gosspi/%d", n), func(b *testing.B) {
			m := &msgState{initiator: true, etype: etypeAES256SHA384, key: key, acceptorSubkey: true}
			m.recv = newSeqState(0, false, false, true)
			if err := m.init(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := m.wrap(data, true, false); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("gokrb5-EncryptMessage/%d", n), func(b *testing.B) {
			pt := make([]byte, n+16) // data and the wrap token header
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, _, err := e.EncryptMessage(key, pt, usageInitiatorSeal); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
