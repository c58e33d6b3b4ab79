package kerberos

import (
	"io"
	"time"

	"github.com/gosspi/gosspi/internal/gss"

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

// field reads [n] EXPLICIT and returns its content (the inner element).
func field(s *cryptobyte.String, n uint8) (cryptobyte.String, bool) {
	var in cryptobyte.String
	ok := s.ReadASN1(&in, ctxTag(n))
	return in, ok
}

// optField reads an OPTIONAL [n] EXPLICIT; present is false when absent.
func optField(s *cryptobyte.String, n uint8) (in cryptobyte.String, present, ok bool) {
	if !s.PeekASN1Tag(ctxTag(n)) {
		return nil, false, true
	}
	in, ok = field(s, n)
	return in, true, ok
}

// intOf reads an INTEGER that fits Int32 or UInt32, and nothing else.
func intOf(s cryptobyte.String) (int64, bool) {
	var i int64
	if !s.ReadASN1Int64WithTag(&i, cbasn1.INTEGER) || !s.Empty() || i < -1<<31 || i > 1<<32-1 {
		return 0, false
	}
	return i, true
}

func stringOf(s cryptobyte.String) (string, bool) {
	var b cryptobyte.String
	if !s.ReadASN1(&b, tagGeneralString) || !s.Empty() {
		return "", false
	}
	return string(b), true
}

func octetsOf(s cryptobyte.String) ([]byte, bool) {
	var b cryptobyte.String
	if !s.ReadASN1(&b, cbasn1.OCTET_STRING) || !s.Empty() {
		return nil, false
	}
	return b, true
}

// timeOf reads a KerberosTime, GeneralizedTime "YYYYMMDDHHMMSSZ".
func timeOf(s cryptobyte.String) (time.Time, bool) {
	var b cryptobyte.String
	if !s.ReadASN1(&b, cbasn1.GeneralizedTime) || !s.Empty() || len(b) != 15 || b[14] != 'Z' {
		return time.Time{}, false
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
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), dd, h, mi, se, 0, time.UTC), true
}

// flagsOf reads KerberosFlags (a BIT STRING) into a uint32, bit 0 as the
// most significant.
func flagsOf(s cryptobyte.String) (uint32, bool) {
	var b cryptobyte.String
	if !s.ReadASN1(&b, cbasn1.BIT_STRING) || !s.Empty() || len(b) < 1 || b[0] > 7 {
		return 0, false
	}
	var f [4]byte
	copy(f[:], b[1:])
	return uint32(f[0])<<24 | uint32(f[1])<<16 | uint32(f[2])<<8 | uint32(f[3]), true
}

func principalOf(s cryptobyte.String) (principalName, bool) {
	var p principalName
	var seq, names cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return p, false
	}
	f0, ok0 := field(&seq, 0)
	f1, ok1 := field(&seq, 1)
	if !ok0 || !ok1 || !seq.Empty() || !f1.ReadASN1(&names, cbasn1.SEQUENCE) || !f1.Empty() {
		return p, false
	}
	nt, ok := intOf(f0)
	if !ok {
		return p, false
	}
	p.NameType = int32(nt)
	for !names.Empty() {
		var n cryptobyte.String
		if len(p.Names) >= 16 || !names.ReadASN1(&n, tagGeneralString) {
			return p, false
		}
		p.Names = append(p.Names, string(n))
	}
	return p, true
}

func encryptedDataOf(s cryptobyte.String) (encryptedData, bool) {
	var e encryptedData
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return e, false
	}
	f0, ok0 := field(&seq, 0)
	f1, has1, ok1 := optField(&seq, 1)
	f2, ok2 := field(&seq, 2)
	if !ok0 || !ok1 || !ok2 || !seq.Empty() {
		return e, false
	}
	et, ok := intOf(f0)
	if !ok {
		return e, false
	}
	e.EType = int32(et)
	if has1 {
		kv, ok := intOf(f1)
		if !ok {
			return e, false
		}
		e.KVNO = int(kv)
	}
	e.Cipher, ok = octetsOf(f2)
	return e, ok
}

func keyOf(s cryptobyte.String) (encryptionKey, bool) {
	var k encryptionKey
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return k, false
	}
	f0, ok0 := field(&seq, 0)
	f1, ok1 := field(&seq, 1)
	if !ok0 || !ok1 || !seq.Empty() {
		return k, false
	}
	kt, ok := intOf(f0)
	if !ok {
		return k, false
	}
	k.KeyType = int32(kt)
	k.Value, ok = octetsOf(f1)
	return k, ok
}

func authDataOf(s cryptobyte.String) ([]adEntry, bool) {
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, false
	}
	var ad []adEntry
	for !seq.Empty() {
		var es cryptobyte.String
		if len(ad) >= 64 || !seq.ReadASN1(&es, cbasn1.SEQUENCE) {
			return nil, false
		}
		f0, ok0 := field(&es, 0)
		f1, ok1 := field(&es, 1)
		if !ok0 || !ok1 || !es.Empty() {
			return nil, false
		}
		t, ok := intOf(f0)
		if !ok {
			return nil, false
		}
		d, ok := octetsOf(f1)
		if !ok {
			return nil, false
		}
		ad = append(ad, adEntry{Type: int32(t), Data: d})
	}
	return ad, true
}

// decodeAPReq decodes KRB_AP_REQ (RFC 4120 section 5.5.1).
func decodeAPReq(b []byte) (*apReq, bool) {
	s := cryptobyte.String(b)
	var body, seq cryptobyte.String
	if !s.ReadASN1(&body, appTag(14)) || !s.Empty() || !body.ReadASN1(&seq, cbasn1.SEQUENCE) || !body.Empty() {
		return nil, false
	}
	var r apReq
	f0, ok0 := field(&seq, 0)
	f1, ok1 := field(&seq, 1)
	f2, ok2 := field(&seq, 2)
	f3, ok3 := field(&seq, 3)
	f4, ok4 := field(&seq, 4)
	if !ok0 || !ok1 || !ok2 || !ok3 || !ok4 || !seq.Empty() {
		return nil, false
	}
	if v, ok := intOf(f0); !ok || v != 5 {
		return nil, false
	}
	if v, ok := intOf(f1); !ok || v != 14 {
		return nil, false
	}
	var ok bool
	if r.Options, ok = flagsOf(f2); !ok {
		return nil, false
	}
	// Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0], realm [1], sname [2], enc-part [3] }
	var tb, ts cryptobyte.String
	if !f3.ReadASN1(&tb, appTag(1)) || !f3.Empty() || !tb.ReadASN1(&ts, cbasn1.SEQUENCE) || !tb.Empty() {
		return nil, false
	}
	t0, okA := field(&ts, 0)
	t1, okB := field(&ts, 1)
	t2, okC := field(&ts, 2)
	t3, okD := field(&ts, 3)
	if !okA || !okB || !okC || !okD || !ts.Empty() {
		return nil, false
	}
	if v, ok := intOf(t0); !ok || v != 5 {
		return nil, false
	}
	if r.Realm, ok = stringOf(t1); !ok {
		return nil, false
	}
	if r.SName, ok = principalOf(t2); !ok || len(r.SName.Names) == 0 {
		return nil, false
	}
	if r.TktEnc, ok = encryptedDataOf(t3); !ok {
		return nil, false
	}
	if r.Auth, ok = encryptedDataOf(f4); !ok {
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
	f0, ok0 := field(&seq, 0)
	f1, ok1 := field(&seq, 1)
	f2, ok2 := field(&seq, 2)
	f3, ok3 := field(&seq, 3)
	_, ok4 := field(&seq, 4) // transited
	f5, ok5 := field(&seq, 5)
	f6, has6, ok6 := optField(&seq, 6)
	f7, ok7 := field(&seq, 7)
	f8, has8, ok8 := optField(&seq, 8)
	_, _, ok9 := optField(&seq, 9) // caddr
	f10, has10, ok10 := optField(&seq, 10)
	if !(ok0 && ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8 && ok9 && ok10) || !seq.Empty() {
		return nil, false
	}
	var ok bool
	if e.Flags, ok = flagsOf(f0); !ok {
		return nil, false
	}
	if e.Key, ok = keyOf(f1); !ok {
		return nil, false
	}
	if e.CRealm, ok = stringOf(f2); !ok {
		return nil, false
	}
	if e.CName, ok = principalOf(f3); !ok {
		return nil, false
	}
	if e.AuthTime, ok = timeOf(f5); !ok {
		return nil, false
	}
	if has6 {
		if e.StartTime, ok = timeOf(f6); !ok {
			return nil, false
		}
	}
	if e.EndTime, ok = timeOf(f7); !ok {
		return nil, false
	}
	if has8 {
		if e.RenewTill, ok = timeOf(f8); !ok {
			return nil, false
		}
	}
	if has10 {
		if e.AuthData, ok = authDataOf(f10); !ok {
			return nil, false
		}
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
	f0, ok0 := field(&seq, 0)
	f1, ok1 := field(&seq, 1)
	f2, ok2 := field(&seq, 2)
	f3, has3, ok3 := optField(&seq, 3)
	f4, ok4 := field(&seq, 4)
	f5, ok5 := field(&seq, 5)
	f6, has6, ok6 := optField(&seq, 6)
	f7, has7, ok7 := optField(&seq, 7)
	_, _, ok8 := optField(&seq, 8)
	if !(ok0 && ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8) || !seq.Empty() {
		return nil, false
	}
	if v, ok := intOf(f0); !ok || v != 5 {
		return nil, false
	}
	var ok bool
	if a.CRealm, ok = stringOf(f1); !ok {
		return nil, false
	}
	if a.CName, ok = principalOf(f2); !ok {
		return nil, false
	}
	if has3 {
		var cs cryptobyte.String
		if !f3.ReadASN1(&cs, cbasn1.SEQUENCE) || !f3.Empty() {
			return nil, false
		}
		c0, okA := field(&cs, 0)
		c1, okB := field(&cs, 1)
		if !okA || !okB || !cs.Empty() {
			return nil, false
		}
		t, ok := intOf(c0)
		if !ok {
			return nil, false
		}
		a.CksumType = int32(t)
		if a.Cksum, ok = octetsOf(c1); !ok {
			return nil, false
		}
		a.HasCksum = true
	}
	us, ok := intOf(f4)
	if !ok || us < 0 || us >= 1000000 {
		return nil, false
	}
	a.Cusec = int(us)
	if a.CTime, ok = timeOf(f5); !ok {
		return nil, false
	}
	if has6 {
		if a.Subkey, ok = keyOf(f6); !ok {
			return nil, false
		}
	}
	if has7 {
		sq, ok := intOf(f7)
		if !ok {
			return nil, false
		}
		a.Seq = uint64(uint32(sq))
	}
	return &a, true
}

// der appends a DER TLV (short tags only) to b.
func der(b []byte, tag byte, content []byte) []byte {
	b = gss.AppendLength(append(b, tag), len(content))
	return append(b, content...)
}

// derInt is a DER INTEGER.
func derInt(v int64) []byte {
	var c [9]byte
	i := 8
	for {
		c[i] = byte(v)
		v >>= 8
		if (v == 0 && c[i]&0x80 == 0) || (v == -1 && c[i]&0x80 != 0) {
			break
		}
		i--
	}
	return der(nil, 0x02, c[i:])
}

// explicitTag is the [n] EXPLICIT context tag byte.
func explicitTag(n byte) byte { return 0xa0 | n }

// encodeAPRep builds KRB_AP_REP around an EncAPRepPart encrypted in the
// session key (RFC 4120 section 5.5.2).
func encodeAPRep(random io.Reader, sessionKey encryptionKey, ctime time.Time, cusec int, subkey *encryptionKey, seq uint64) ([]byte, error) {
	var body []byte
	body = der(body, explicitTag(0), der(nil, 0x18, []byte(ctime.UTC().Format("20060102150405Z"))))
	body = der(body, explicitTag(1), derInt(int64(cusec)))
	if subkey != nil {
		var k []byte
		k = der(k, explicitTag(0), derInt(int64(subkey.KeyType)))
		k = der(k, explicitTag(1), der(nil, 0x04, subkey.Value))
		body = der(body, explicitTag(2), der(nil, 0x30, k))
	}
	body = der(body, explicitTag(3), derInt(int64(seq)))
	part := der(nil, 0x7b, der(nil, 0x30, body)) // [APPLICATION 27]
	ed, err := encryptEncPart(random, part, toGokrb5Key(sessionKey), usageAPRepEncPart)
	if err != nil {
		return nil, err
	}
	var e []byte
	e = der(e, explicitTag(0), derInt(int64(ed.EType)))
	e = der(e, explicitTag(2), der(nil, 0x04, ed.Cipher))
	var r []byte
	r = der(r, explicitTag(0), derInt(5))
	r = der(r, explicitTag(1), derInt(15))
	r = der(r, explicitTag(2), der(nil, 0x30, e))
	return der(nil, 0x6f, der(nil, 0x30, r)), nil // [APPLICATION 15]
}

func derPrincipal(p principalName) []byte {
	var names []byte
	for _, n := range p.Names {
		names = der(names, 0x1b, []byte(n)) // GeneralString
	}
	var b []byte
	b = der(b, explicitTag(0), derInt(int64(p.NameType)))
	b = der(b, explicitTag(1), der(nil, 0x30, names))
	return der(nil, 0x30, b)
}

func derEncryptedData(e encryptedData) []byte {
	var b []byte
	b = der(b, explicitTag(0), derInt(int64(e.EType)))
	if e.KVNO != 0 {
		b = der(b, explicitTag(1), derInt(int64(e.KVNO)))
	}
	b = der(b, explicitTag(2), der(nil, 0x04, e.Cipher))
	return der(nil, 0x30, b)
}

func derTime(t time.Time) []byte {
	return der(nil, 0x18, []byte(t.UTC().Format("20060102150405Z")))
}

// encodeAuthenticator encodes an Authenticator (RFC 4120 section 5.5.1).
func encodeAuthenticator(a *authenticator) []byte {
	var b []byte
	b = der(b, explicitTag(0), derInt(5))
	b = der(b, explicitTag(1), der(nil, 0x1b, []byte(a.CRealm)))
	b = der(b, explicitTag(2), derPrincipal(a.CName))
	if a.HasCksum {
		var c []byte
		c = der(c, explicitTag(0), derInt(int64(a.CksumType)))
		c = der(c, explicitTag(1), der(nil, 0x04, a.Cksum))
		b = der(b, explicitTag(3), der(nil, 0x30, c))
	}
	b = der(b, explicitTag(4), derInt(int64(a.Cusec)))
	b = der(b, explicitTag(5), derTime(a.CTime))
	if len(a.Subkey.Value) > 0 {
		var k []byte
		k = der(k, explicitTag(0), derInt(int64(a.Subkey.KeyType)))
		k = der(k, explicitTag(1), der(nil, 0x04, a.Subkey.Value))
		b = der(b, explicitTag(6), der(nil, 0x30, k))
	}
	b = der(b, explicitTag(7), derInt(int64(a.Seq)))
	return der(nil, 0x62, der(nil, 0x30, b)) // [APPLICATION 2]
}

// encodeAPReq encodes KRB_AP_REQ around a ticket already in DER.
func encodeAPReq(options uint32, ticket []byte, auth encryptedData) []byte {
	var b []byte
	b = der(b, explicitTag(0), derInt(5))
	b = der(b, explicitTag(1), derInt(14))
	b = der(b, explicitTag(2), der(nil, 0x03, []byte{0, byte(options >> 24), byte(options >> 16), byte(options >> 8), byte(options)}))
	b = der(b, explicitTag(3), ticket)
	b = der(b, explicitTag(4), derEncryptedData(auth))
	return der(nil, 0x6e, der(nil, 0x30, b)) // [APPLICATION 14]
}
