package kerberos

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gosspi/gosspi/sspi"
)

// TestCTSEncryptTail: the tail step of the in-place seal gives what the
// general CBC-CS3 encryption gives for every length it handles.
func TestCTSEncryptTail(t *testing.T) {
	blk, _ := aes.NewCipher(bytes.Repeat([]byte{7}, 32))
	for n := 17; n <= 32; n++ {
		var iv [16]byte
		rand.Read(iv[:])
		a := make([]byte, n)
		rand.Read(a)
		b := slices.Clone(a)
		ctsEncryptIV(blk, iv[:], a)
		(&aesSlot{ke: blk}).ctsEncryptTail(&iv, b)
		if !bytes.Equal(a, b) {
			t.Fatalf("%d bytes: %x, want %x", n, b, a)
		}
	}
}

// TestOverlaps: SealMessage writes its token into the caller's buffer only
// when that buffer does not overlap the data.
func TestOverlaps(t *testing.T) {
	b := make([]byte, 100)
	for _, tc := range []struct {
		x, y []byte
		want bool
	}{{b[:10], b[10:], false}, {b[:11], b[10:], true}, {b[20:30], b[:25], true}, {b[:0], b, false}, {b, make([]byte, 5), false}} {
		if got := overlaps(tc.x, tc.y); got != tc.want {
			t.Errorf("overlaps: %v, want %v", got, tc.want)
		}
	}
}

// boundSealer is the least any sealed RFC 4121 aes256-cts-hmac-sha1-96
// wrap must do for n bytes: AES-256-CBC over confounder || data || header
// (rounded up to whole blocks) and HMAC-SHA1 over the same bytes, keys and
// modes set up once, no framing, no confounder, no allocation.
type boundSealer struct {
	cbc cipher.BlockMode
	mac interface {
		Reset()
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
	buf []byte
	iv  [16]byte
	sum [20]byte
	n   int
}

func newBoundSealer(n int) *boundSealer {
	key := make([]byte, 32)
	rand.Read(key)
	blk, _ := aes.NewCipher(key)
	var iv [16]byte
	return &boundSealer{cbc: cipher.NewCBCEncrypter(blk, iv[:]), mac: hmac.New(sha1.New, key[:20]), buf: make([]byte, (n+32+15)/16*16), n: n}
}

func (s *boundSealer) seal() {
	s.cbc.(interface{ SetIV([]byte) }).SetIV(s.iv[:])
	s.cbc.CryptBlocks(s.buf, s.buf)
	s.mac.Reset()
	s.mac.Write(s.buf[:s.n+32])
	s.mac.Sum(s.sum[:0])
}

// BenchmarkWrapBound alternates SealMessage (in place, TOKEN + DATA, the
// confounder from the context's Config.Rand source) with the bound above in
// one loop, and reports each side's median time per message and the
// bound's time as a share of gosspi's.
func BenchmarkWrapBound(b *testing.B) {
	key, _ := randomKey(nil, etypeAES256SHA1)
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("%d", n), func(b *testing.B) {
			uc := &userContext{s: &session{msgState: *benchState(b, true, key)}}
			d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 0, 64)}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: make([]byte, n)})
			bs := newBoundSealer(n)
			// Batches of 16 messages per sample: a 64-byte seal is near
			// the clock's resolution.
			const batch = 16
			var tg, tb []time.Duration
			i := 0
			for b.Loop() {
				t0 := time.Now()
				if i%2 == 0 {
					for range batch {
						if err := uc.SealMessage(0, d, 0); err != nil {
							b.Fatal(err)
						}
					}
					t1 := time.Now()
					for range batch {
						bs.seal()
					}
					tg, tb = append(tg, t1.Sub(t0)), append(tb, time.Since(t1))
				} else {
					for range batch {
						bs.seal()
					}
					t1 := time.Now()
					for range batch {
						if err := uc.SealMessage(0, d, 0); err != nil {
							b.Fatal(err)
						}
					}
					tb, tg = append(tb, t1.Sub(t0)), append(tg, time.Since(t1))
				}
				i++
			}
			slices.Sort(tg)
			slices.Sort(tb)
			g, bd := float64(tg[len(tg)/2])/batch, float64(tb[len(tb)/2])/batch
			b.ReportMetric(g, "gosspi-ns/msg")
			b.ReportMetric(bd, "bound-ns/msg")
			b.ReportMetric(100*bd/g, "of-bound-%")
		})
	}
}
