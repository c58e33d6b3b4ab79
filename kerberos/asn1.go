package kerberos

import (
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// This file decodes the messages the acceptor reads on every request (the
// AP-REQ, the Ticket, EncTicketPart and the Authenticator; RFC 4120
// section 5) and encodes the AP-REP, with cryptobyte instead of gokrb5's
// reflection-based ASN.1: it is bounded by construction, never panics and
// is several times faster, which the acceptor's throughput needs. gokrb5
// still decodes the rarer messages (AP-REP on the initiator, KRB-ERROR,
// KRB-CRED).

const tagGeneralString = cbasn1.Tag(27)

func appTag(n uint8) cbasn1.Tag { return cbasn1.Tag(n) | 0x40 | cbasn1.Tag(0x20) }

func ctxTag(n uint8) cbasn1.Tag { return cbasn1.Tag(n).ContextSpecific().Constructed() }

type principalName struct {
	NameType int32
	Names    []string
}

type encryptedData struct {
	EType  int32
	KVNO   int
	Cipher []byte
}

type encryptionKey struct {
	KeyType int32
	Value   []byte
}

type adEntry struct {
	Type int32
	Data []byte
}

type apReq struct {
	Options uint32 // APOptions, bit 0 most significant
	Realm   string // the ticket's realm
	SName   principalName
	TktEnc  encryptedData
	Auth    encryptedData
}

type encTicketPart struct {
	Flags     uint32
	Key       encryptionKey
	CRealm    string
	CName     principalName
	AuthTime  time.Time
	StartTime time.Time
	EndTime   time.Time
	RenewTill time.Time
	AuthData  []adEntry
}

type authenticator struct {
	CRealm    string
	CName     principalName
	CksumType int32
	Cksum     []byte
	HasCksum  bool
	Cusec     int
	CTime     time.Time
	Subkey    encryptionKey
	Seq       uint64
}

// explicit reads [n] EXPLICIT and hands the inner element to f.
func explicit(s *cryptobyte.String, n uint8, f func(*cryptobyte.String) bool) bool {
	var in cryptobyte.String
	return s.ReadASN1(&in, ctxTag(n)) && f(&in) && in.Empty()
}

// optExplicit is explicit for an OPTIONAL field.
func optExplicit(s *cryptobyte.String, n uint8, f func(*cryptobyte.String) bool) bool {
	if !s.PeekASN1Tag(ctxTag(n)) {
		return true
	}
	return explicit(s, n, f)
}

func readInt32(v *int32) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var i int64
		if !s.ReadASN1Int64WithTag(&i, cbasn1.INTEGER) || i < -1<<31 || i > 1<<32-1 {
			return false
		}
		*v = int32(i)
		return true
	}
}

func readInt(v *int) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var i int64
		if !s.ReadASN1Int64WithTag(&i, cbasn1.INTEGER) || i < -1<<31 || i > 1<<32-1 {
			return false
		}
		*v = int(i)
		return true
	}
}

func readGeneralString(v *string) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var b cryptobyte.String
		if !s.ReadASN1(&b, tagGeneralString) {
			return false
		}
		*v = string(b)
		return true
	}
}

func readOctets(v *[]byte) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var b cryptobyte.String
		if !s.ReadASN1(&b, cbasn1.OCTET_STRING) {
			return false
		}
		*v = b
		return true
	}
}

// readKerberosTime reads a GeneralizedTime "YYYYMMDDHHMMSSZ".
func readKerberosTime(v *time.Time) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var b cryptobyte.String
		if !s.ReadASN1(&b, cbasn1.GeneralizedTime) || len(b) != 15 || b[14] != 'Z' {
			return false
		}
		d := func(i, n int) int {
			x := 0
			for _, c := range b[i : i+n] {
				if c < '0' || c > '9' {
					return -1
				}
				x = x*10 + int(c-'0')
			}
			return x
		}
		y, mo, dd, h, mi, se := d(0, 4), d(4, 2), d(6, 2), d(8, 2), d(10, 2), d(12, 2)
		if y < 0 || mo < 1 || mo > 12 || dd < 1 || dd > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60 {
			return false
		}
		*v = time.Date(y, time.Month(mo), dd, h, mi, se, 0, time.UTC)
		return true
	}
}

func readFlags(v *uint32) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var bs cbasn1.Tag = cbasn1.BIT_STRING
		var b cryptobyte.String
		if !s.ReadASN1(&b, bs) || len(b) < 1 || b[0] > 7 {
			return false
		}
		var f [4]byte
		copy(f[:], b[1:])
		*v = uint32(f[0])<<24 | uint32(f[1])<<16 | uint32(f[2])<<8 | uint32(f[3])
		return true
	}
}

func readPrincipal(p *principalName) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var seq cryptobyte.String
		if !s.ReadASN1(&seq, cbasn1.SEQUENCE) {
			return false
		}
		if !explicit(&seq, 0, readInt32(&p.NameType)) {
			return false
		}
		return explicit(&seq, 1, func(in *cryptobyte.String) bool {
			var names cryptobyte.String
			if !in.ReadASN1(&names, cbasn1.SEQUENCE) {
				return false
			}
			for !names.Empty() {
				var n string
				if len(p.Names) >= 16 || !readGeneralString(&n)(&names) {
					return false
				}
				p.Names = append(p.Names, n)
			}
			return true
		}) && seq.Empty()
	}
}

func readEncryptedData(e *encryptedData) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var seq cryptobyte.String
		return s.ReadASN1(&seq, cbasn1.SEQUENCE) &&
			explicit(&seq, 0, readInt32(&e.EType)) &&
			optExplicit(&seq, 1, readInt(&e.KVNO)) &&
			explicit(&seq, 2, readOctets(&e.Cipher)) && seq.Empty()
	}
}

func readKey(k *encryptionKey) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var seq cryptobyte.String
		return s.ReadASN1(&seq, cbasn1.SEQUENCE) &&
			explicit(&seq, 0, readInt32(&k.KeyType)) &&
			explicit(&seq, 1, readOctets(&k.Value)) && seq.Empty()
	}
}

func readAuthData(ad *[]adEntry) func(*cryptobyte.String) bool {
	return func(s *cryptobyte.String) bool {
		var seq cryptobyte.String
		if !s.ReadASN1(&seq, cbasn1.SEQUENCE) {
			return false
		}
		for !seq.Empty() {
			var e adEntry
			var es cryptobyte.String
			if len(*ad) >= 64 || !seq.ReadASN1(&es, cbasn1.SEQUENCE) ||
				!explicit(&es, 0, readInt32(&e.Type)) || !explicit(&es, 1, readOctets(&e.Data)) || !es.Empty() {
				return false
			}
			*ad = append(*ad, e)
		}
		return true
	}
}

func skip(s *cryptobyte.String) bool {
	var tag cbasn1.Tag
	var v cryptobyte.String
	return s.ReadAnyASN1(&v, &tag)
}

// decodeAPReq decodes KRB_AP_REQ (RFC 4120 section 5.5.1).
func decodeAPReq(b []byte) (*apReq, bool) {
	s := cryptobyte.String(b)
	var body, seq cryptobyte.String
	if !s.ReadASN1(&body, appTag(14)) || !s.Empty() || !body.ReadASN1(&seq, cbasn1.SEQUENCE) || !body.Empty() {
		return nil, false
	}
	var r apReq
	var pvno, mt int
	ok := explicit(&seq, 0, readInt(&pvno)) && pvno == 5 &&
		explicit(&seq, 1, readInt(&mt)) && mt == 14 &&
		explicit(&seq, 2, readFlags(&r.Options)) &&
		explicit(&seq, 3, func(in *cryptobyte.String) bool {
			var tb, ts cryptobyte.String
			var vno int
			return in.ReadASN1(&tb, appTag(1)) && tb.ReadASN1(&ts, cbasn1.SEQUENCE) && tb.Empty() &&
				explicit(&ts, 0, readInt(&vno)) && vno == 5 &&
				explicit(&ts, 1, readGeneralString(&r.Realm)) &&
				explicit(&ts, 2, readPrincipal(&r.SName)) &&
				explicit(&ts, 3, readEncryptedData(&r.TktEnc)) && ts.Empty()
		}) &&
		explicit(&seq, 4, readEncryptedData(&r.Auth)) && seq.Empty()
	if !ok || len(r.SName.Names) == 0 {
		return nil, false
	}
	return &r, true
}

// decodeEncTicketPart decodes EncTicketPart (RFC 4120 section 5.3).
func decodeEncTicketPart(b []byte) (*encTicketPart, bool) {
	s := cryptobyte.String(b)
	var body, seq cryptobyte.String
	if !s.ReadASN1(&body, appTag(3)) || !body.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return nil, false
	}
	var e encTicketPart
	ok := explicit(&seq, 0, readFlags(&e.Flags)) &&
		explicit(&seq, 1, readKey(&e.Key)) &&
		explicit(&seq, 2, readGeneralString(&e.CRealm)) &&
		explicit(&seq, 3, readPrincipal(&e.CName)) &&
		explicit(&seq, 4, skip) && // transited
		explicit(&seq, 5, readKerberosTime(&e.AuthTime)) &&
		optExplicit(&seq, 6, readKerberosTime(&e.StartTime)) &&
		explicit(&seq, 7, readKerberosTime(&e.EndTime)) &&
		optExplicit(&seq, 8, readKerberosTime(&e.RenewTill)) &&
		optExplicit(&seq, 9, skip) && // caddr
		optExplicit(&seq, 10, readAuthData(&e.AuthData)) && seq.Empty()
	if !ok {
		return nil, false
	}
	return &e, true
}

// decodeAuthenticator decodes Authenticator (RFC 4120 section 5.5.1).
func decodeAuthenticator(b []byte) (*authenticator, bool) {
	s := cryptobyte.String(b)
	var body, seq cryptobyte.String
	if !s.ReadASN1(&body, appTag(2)) || !body.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return nil, false
	}
	var a authenticator
	var vno, seqNo int
	ok := explicit(&seq, 0, readInt(&vno)) && vno == 5 &&
		explicit(&seq, 1, readGeneralString(&a.CRealm)) &&
		explicit(&seq, 2, readPrincipal(&a.CName)) &&
		optExplicit(&seq, 3, func(in *cryptobyte.String) bool {
			var cs cryptobyte.String
			a.HasCksum = true
			return in.ReadASN1(&cs, cbasn1.SEQUENCE) && explicit(&cs, 0, readInt32(&a.CksumType)) &&
				explicit(&cs, 1, readOctets(&a.Cksum)) && cs.Empty()
		}) &&
		explicit(&seq, 4, readInt(&a.Cusec)) && a.Cusec >= 0 && a.Cusec < 1000000 &&
		explicit(&seq, 5, readKerberosTime(&a.CTime)) &&
		optExplicit(&seq, 6, readKey(&a.Subkey)) &&
		optExplicit(&seq, 7, readInt(&seqNo)) &&
		optExplicit(&seq, 8, skip) && seq.Empty()
	if !ok {
		return nil, false
	}
	a.Seq = uint64(uint32(seqNo))
	return &a, true
}

func addExplicit(b *cryptobyte.Builder, n uint8, f cryptobyte.BuilderContinuation) {
	b.AddASN1(ctxTag(n), f)
}

// encodeAPRep builds KRB_AP_REP around an EncAPRepPart encrypted in the
// session key (RFC 4120 section 5.5.2).
func encodeAPRep(sessionKey encryptionKey, ctime time.Time, cusec int, subkey *encryptionKey, seq uint64) ([]byte, error) {
	var pb cryptobyte.Builder
	pb.AddASN1(appTag(27), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addExplicit(b, 0, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.GeneralizedTime, func(b *cryptobyte.Builder) {
					b.AddBytes([]byte(ctime.UTC().Format("20060102150405Z")))
				})
			})
			addExplicit(b, 1, func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(cusec)) })
			if subkey != nil {
				addExplicit(b, 2, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						addExplicit(b, 0, func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(subkey.KeyType)) })
						addExplicit(b, 1, func(b *cryptobyte.Builder) { b.AddASN1OctetString(subkey.Value) })
					})
				})
			}
			addExplicit(b, 3, func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(seq)) })
		})
	})
	part, err := pb.Bytes()
	if err != nil {
		return nil, err
	}
	ed, err := encryptEncPart(part, toGokrb5Key(sessionKey), usageAPRepEncPart)
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(appTag(15), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addExplicit(b, 0, func(b *cryptobyte.Builder) { b.AddASN1Int64(5) })
			addExplicit(b, 1, func(b *cryptobyte.Builder) { b.AddASN1Int64(15) })
			addExplicit(b, 2, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					addExplicit(b, 0, func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(ed.EType)) })
					addExplicit(b, 2, func(b *cryptobyte.Builder) { b.AddASN1OctetString(ed.Cipher) })
				})
			})
		})
	})
	return b.Bytes()
}
