package kerberos

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"

	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/gosspi/gosspi/sspi"
)

// The S4U pre-authentication data of MS-SFU and MS-KILE, encoded and
// decoded here (gokrb5 has none of them).

const (
	paForUser     = 129 // PA-FOR-USER (MS-SFU 2.2.1)
	paS4UX509User = 130 // PA-S4U-X509-USER (MS-SFU 2.2.2)
	paPACOptions  = 167 // PA-PAC-OPTIONS (MS-KILE 2.2.10)

	// usagePAForUser is the key usage of the PA-FOR-USER checksum: 17,
	// KERB_NON_KERB_CKSUM_SALT (MS-SFU 2.2.1).
	usagePAForUser = 17
	// usageS4UUserRequest and usageS4UUserReply are the key usages of the
	// PA-S4U-X509-USER checksum in the TGS-REQ and, when the request's
	// options ask for it (s4uOptReplyKeyUsage), in the TGS-REP (MS-SFU
	// 2.2.2; RFC 3961 usages 26 and 27).
	usageS4UUserRequest = 26
	usageS4UUserReply   = 27

	// PA-FOR-USER's checksum is cksumHMACMD5 (KERB_CHECKSUM_HMAC_MD5,
	// RFC 4757; pac.go) whatever the key's enctype.

	// s4uOptReplyKeyUsage is the signed-with-kun-27 bit of S4UUserID's
	// options (MS-SFU 2.2.2): the KDC signs its reply's copy with usage 27.
	s4uOptReplyKeyUsage = 0x20000000

	// pacOptionRBCD is the resource-based-constrained-delegation bit (3)
	// of PA-PAC-OPTIONS (MS-KILE 2.2.10, MS-SFU 3.1.5.2.1).
	pacOptionRBCD = 1 << (31 - 3)

	// kdcOptCNameInAddlTkt is KDC option 14, cname-in-addl-tkt (MS-SFU
	// 2.2.3): the client of an S4U2Proxy request is that of the
	// additional ticket.
	kdcOptCNameInAddlTkt = 14

	// authPackageKerberos is PA-FOR-USER's auth-package.
	authPackageKerberos = "Kerberos"
)

// s4uUser is the user of an S4U2Self request: a name and its realm.
type s4uUser struct {
	name  principalName
	realm string
}

// forUserChecksum is the PA-FOR-USER checksum (MS-SFU 2.2.1): the HMAC-MD5
// checksum of RFC 4757 section 4 (Ksign = HMAC-MD5(key, "signaturekey\0"),
// then HMAC-MD5(Ksign, MD5(usage || data))) with key usage 17, over the
// S4UByteArray: the name type (four bytes, little-endian), the name's
// components, the realm and the auth-package, concatenated. The key is the
// TGT session key, of whatever enctype.
func forUserChecksum(key []byte, u s4uUser, authPackage string) []byte {
	h := md5.New()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], usagePAForUser)
	h.Write(b[:])
	binary.LittleEndian.PutUint32(b[:], uint32(u.name.NameType))
	h.Write(b[:])
	for _, n := range u.name.Names {
		h.Write([]byte(n))
	}
	h.Write([]byte(u.realm))
	h.Write([]byte(authPackage))
	ksign := hmacMD5(key, []byte("signaturekey\x00"))
	defer clear(ksign)
	return hmacMD5(ksign, h.Sum(nil))
}

// encodePAForUser encodes PA-FOR-USER (MS-SFU 2.2.1).
func encodePAForUser(key []byte, u s4uUser) []byte {
	var c []byte
	c = der(c, explicitTag(0), derInt(cksumHMACMD5))
	c = der(c, explicitTag(1), der(nil, 0x04, forUserChecksum(key, u, authPackageKerberos)))
	var b []byte
	b = der(b, explicitTag(0), derPrincipal(u.name))
	b = der(b, explicitTag(1), der(nil, 0x1b, []byte(u.realm)))
	b = der(b, explicitTag(2), der(nil, 0x30, c))
	b = der(b, explicitTag(3), der(nil, 0x1b, []byte(authPackageKerberos)))
	return der(nil, 0x30, b)
}

// s4uUserID is S4UUserID (MS-SFU 2.2.2) without a certificate request:
// the certificate is kept when a reply carries one.
type s4uUserID struct {
	nonce   uint32
	cname   principalName
	hasName bool
	crealm  string
	cert    []byte
	options uint32
	hasOpts bool
}

// encodeS4UUserID encodes S4UUserID.
func encodeS4UUserID(u *s4uUserID) []byte {
	var b []byte
	b = der(b, explicitTag(0), derInt(int64(u.nonce)))
	if u.hasName {
		b = der(b, explicitTag(1), derPrincipal(u.cname))
	}
	b = der(b, explicitTag(2), der(nil, 0x1b, []byte(u.crealm)))
	if u.cert != nil {
		b = der(b, explicitTag(3), der(nil, 0x04, u.cert))
	}
	if u.hasOpts {
		o := u.options
		b = der(b, explicitTag(4), der(nil, 0x03, []byte{0, byte(o >> 24), byte(o >> 16), byte(o >> 8), byte(o)}))
	}
	return der(nil, 0x30, b)
}

// s4uChecksum is a checksum of PA-S4U-X509-USER: the mandatory checksum
// of the key's enctype (RFC 3961; hmac-sha1-96-aes for the AES enctypes,
// HMAC-MD5 for rc4-hmac, as MIT and Heimdal make it) with usage.
func s4uChecksum(key types.EncryptionKey, usage uint32, data []byte) (int32, []byte, error) {
	et, err := krbcrypto.GetEtype(key.KeyType)
	if err != nil {
		return 0, nil, statusErr(sspi.SEC_E_ALGORITHM_MISMATCH, "S4U checksum in a key of "+enctypeName(key.KeyType))
	}
	var ck []byte
	err = safeUnmarshal(func() error {
		var err error
		ck, err = et.GetChecksumHash(key.KeyValue, data, usage)
		return err
	})
	if err != nil {
		return 0, nil, statusErr(sspi.SEC_E_INTERNAL_ERROR, "S4U checksum")
	}
	return et.GetHashID(), ck, nil
}

// encodePAS4UX509User encodes PA-S4U-X509-USER (MS-SFU 2.2.2) with its
// checksum under key (the TGT session key) and usage 26.
func encodePAS4UX509User(key types.EncryptionKey, u *s4uUserID) ([]byte, error) {
	id := encodeS4UUserID(u)
	ct, ck, err := s4uChecksum(key, usageS4UUserRequest, id)
	if err != nil {
		return nil, err
	}
	return marshalPAS4UX509User(id, ct, ck), nil
}

// marshalPAS4UX509User encodes PA-S4U-X509-USER around the DER of an
// S4UUserID and its checksum.
func marshalPAS4UX509User(id []byte, cksumType int32, cksum []byte) []byte {
	var c []byte
	c = der(c, explicitTag(0), derInt(int64(cksumType)))
	c = der(c, explicitTag(1), der(nil, 0x04, cksum))
	var b []byte
	b = der(b, explicitTag(0), id)
	b = der(b, explicitTag(1), der(nil, 0x30, c))
	return der(nil, 0x30, b)
}

// s4uX509User is a decoded PA-S4U-X509-USER: the user-id, its DER (what
// the checksum covers) and the checksum.
type s4uX509User struct {
	id        s4uUserID
	idDER     []byte
	cksumType int32
	cksum     []byte
}

// maxS4UCert bounds the subject-certificate of a PA-S4U-X509-USER reply.
const maxS4UCert = 64 << 10

// parsePAS4UX509User decodes PA-S4U-X509-USER (MS-SFU 2.2.2). Unknown
// trailing fields of S4UUserID (its extension marker) are skipped.
func parsePAS4UX509User(b []byte) (*s4uX509User, bool) {
	var p s4uX509User
	s := cryptobyte.String(b)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, false
	}
	f0, ok0 := field(&seq, 0)
	f1, ok1 := field(&seq, 1)
	if !ok0 || !ok1 || !seq.Empty() {
		return nil, false
	}
	p.idDER = append([]byte(nil), f0...)
	var id cryptobyte.String
	if !f0.ReadASN1(&id, cbasn1.SEQUENCE) || !f0.Empty() {
		return nil, false
	}
	n0, ok := field(&id, 0)
	if !ok {
		return nil, false
	}
	nonce, ok := intOf(n0)
	if !ok || nonce < 0 {
		return nil, false
	}
	p.id.nonce = uint32(nonce)
	n1, has, ok := optField(&id, 1)
	if !ok {
		return nil, false
	}
	if has {
		if p.id.cname, ok = principalOf(n1); !ok {
			return nil, false
		}
		p.id.hasName = true
	}
	n2, ok := field(&id, 2)
	if !ok {
		return nil, false
	}
	if p.id.crealm, ok = stringOf(n2); !ok {
		return nil, false
	}
	n3, has, ok := optField(&id, 3)
	if !ok {
		return nil, false
	}
	if has {
		if p.id.cert, ok = octetsOf(n3); !ok || len(p.id.cert) > maxS4UCert {
			return nil, false
		}
		p.id.cert = append([]byte{}, p.id.cert...)
	}
	n4, has, ok := optField(&id, 4)
	if !ok {
		return nil, false
	}
	if has {
		if p.id.options, ok = flagsOf(n4); !ok {
			return nil, false
		}
		p.id.hasOpts = true
	}
	// "...": later fields of a newer KDC, each a context-tagged element.
	for !id.Empty() {
		var tag cbasn1.Tag
		var skip cryptobyte.String
		if !id.ReadAnyASN1(&skip, &tag) || tag&0xc0 != 0x80 {
			return nil, false
		}
	}
	var ck cryptobyte.String
	if !f1.ReadASN1(&ck, cbasn1.SEQUENCE) || !f1.Empty() {
		return nil, false
	}
	c0, ok0 := field(&ck, 0)
	c1, ok1 := field(&ck, 1)
	if !ok0 || !ok1 || !ck.Empty() {
		return nil, false
	}
	ct, ok := intOf(c0)
	if !ok {
		return nil, false
	}
	p.cksumType = int32(ct)
	if p.cksum, ok = octetsOf(c1); !ok {
		return nil, false
	}
	p.cksum = append([]byte(nil), p.cksum...)
	return &p, true
}

// verifyS4UReply checks the PA-S4U-X509-USER of an S4U2Self reply (MS-SFU
// 3.1.5.1.2): it decodes, its checksum (the mandatory type of the key's
// enctype) verifies under key with the usage our options asked for, and
// it names the user and nonce we asked for.
func verifyS4UReply(b []byte, key types.EncryptionKey, sent *s4uUserID) error {
	p, ok := parsePAS4UX509User(b)
	if !ok {
		return statusErr(sspi.SEC_E_INTERNAL_ERROR, "S4U2Self: malformed PA-S4U-X509-USER in the TGS-REP")
	}
	usage := uint32(usageS4UUserRequest)
	if sent.options&s4uOptReplyKeyUsage != 0 {
		usage = usageS4UUserReply
	}
	ct, want, err := s4uChecksum(key, usage, p.idDER)
	if err != nil {
		return err
	}
	if p.cksumType != ct || subtle.ConstantTimeCompare(p.cksum, want) != 1 {
		return statusErr(sspi.SEC_E_MESSAGE_ALTERED, "S4U2Self: the PA-S4U-X509-USER checksum of the TGS-REP does not verify")
	}
	if p.id.nonce != sent.nonce || !p.id.hasName || !sameName(p.id.cname, sent.cname) || !equalFoldASCII(p.id.crealm, sent.crealm) {
		return statusErr(sspi.SEC_E_MESSAGE_ALTERED, "S4U2Self: the TGS-REP's PA-S4U-X509-USER is not for the user we asked for")
	}
	return nil
}

// encodePAPACOptions encodes PA-PAC-OPTIONS (MS-KILE 2.2.10): a SEQUENCE
// of [0] KerberosFlags.
func encodePAPACOptions(flags uint32) []byte {
	bits := der(nil, 0x03, []byte{0, byte(flags >> 24), byte(flags >> 16), byte(flags >> 8), byte(flags)})
	return der(nil, 0x30, der(nil, explicitTag(0), bits))
}

// sameName compares principal names component by component, ignoring
// ASCII case (AD names are case-insensitive; the KDC answers with the
// account's spelling), and not the name type.
func sameName(a, b principalName) bool {
	if len(a.Names) != len(b.Names) {
		return false
	}
	for i := range a.Names {
		if !equalFoldASCII(a.Names[i], b.Names[i]) {
			return false
		}
	}
	return true
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
