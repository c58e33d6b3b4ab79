// Package pactest edits the PAC of a real service ticket for tests: it
// decrypts the ticket of an AP-REQ with the service key, changes the PAC
// (a group added, the client info changed), signs it again with the keys
// the test holds, and puts the ticket back into the AP-REQ, as someone who
// stole the service's keytab (or only the ticket) would. It also makes
// fresh authenticators for a recorded AP-REQ, so that benchmarks can feed
// acceptors with replay caches.
//
// It is written apart from the kerberos package's decoder (byte surgery
// on the wire format and gokrb5's checksums), so that a test of the
// decoder does not check it against itself. Test code only.
package pactest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf16"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/gosspi/gosspi/internal/gss"
)

// Key usages (RFC 4120 section 7.5.1, MS-PAC 2.8).
const (
	usageTicket        = 2
	usageAuthenticator = 11
	usagePACChecksum   = 17
)

func ctx(n int) cbasn1.Tag { return cbasn1.Tag(n).ContextSpecific().Constructed() }

func app(n int) cbasn1.Tag { return cbasn1.Tag(n) | 0x40 | 0x20 }

// Inner returns the AP-REQ inside a GSS InitialContextToken (RFC 4121
// 4.1), or b itself when it is a bare AP-REQ.
func Inner(b []byte) ([]byte, error) {
	if len(b) > 0 && b[0] == 0x6e {
		return b, nil
	}
	tok, _, err := gss.Parse(b)
	if err != nil || len(tok.Inner) < 2 || tok.Inner[0] != 1 || tok.Inner[1] != 0 {
		return nil, errors.New("pactest: not a Kerberos AP-REQ token")
	}
	return tok.Inner[2:], nil
}

// Frame puts an AP-REQ into a GSS InitialContextToken.
func Frame(apreq []byte) []byte {
	return gss.Frame(gss.OIDKerberos, append([]byte{1, 0}, apreq...))
}

// fields splits the SEQUENCE inside an outer tag into its elements.
func fields(b []byte, outer cbasn1.Tag) ([]cryptobyte.String, error) {
	s := cryptobyte.String(b)
	var in, seq cryptobyte.String
	if outer != 0 {
		if !s.ReadASN1(&in, outer) || !s.Empty() {
			return nil, errors.New("pactest: bad outer tag")
		}
	} else {
		in = s
	}
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, errors.New("pactest: not a SEQUENCE")
	}
	var out []cryptobyte.String
	for !seq.Empty() {
		var e cryptobyte.String
		if !seq.ReadAnyASN1Element(&e, nil) {
			return nil, errors.New("pactest: bad element")
		}
		out = append(out, e)
	}
	return out, nil
}

// tagOf is the tag of a DER element.
func tagOf(e cryptobyte.String) cbasn1.Tag { return cbasn1.Tag(e[0]) }

// content is the content of an explicit [n] element's inner element.
func content(e cryptobyte.String) []byte {
	var in, inner cryptobyte.String
	var tag cbasn1.Tag
	e.ReadAnyASN1(&in, &tag)
	in.ReadAnyASN1Element(&inner, nil)
	return inner
}

func build(outer cbasn1.Tag, elems [][]byte) []byte {
	var b cryptobyte.Builder
	seq := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, e := range elems {
				b.AddBytes(e)
			}
		})
	}
	if outer != 0 {
		b.AddASN1(outer, seq)
	} else {
		seq(&b)
	}
	return b.BytesOrPanic()
}

func explicit(n int, inner []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(ctx(n), func(b *cryptobyte.Builder) { b.AddBytes(inner) })
	return b.BytesOrPanic()
}

func octets(v []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1OctetString(v)
	return b.BytesOrPanic()
}

func integer(v int64) []byte {
	var b cryptobyte.Builder
	b.AddASN1Int64(v)
	return b.BytesOrPanic()
}

func generalizedTime(t time.Time) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.GeneralizedTime, func(b *cryptobyte.Builder) { b.AddBytes([]byte(t.UTC().Format("20060102150405Z"))) })
	return b.BytesOrPanic()
}

// encryptedData reads EncryptedData (RFC 4120 5.2.9).
func encryptedData(b []byte) (etype int32, kvno int, cipher []byte, err error) {
	fs, err := fields(b, 0)
	if err != nil {
		return 0, 0, nil, err
	}
	for _, f := range fs {
		c := cryptobyte.String(content(f))
		switch tagOf(f) {
		case ctx(0):
			var v int64
			c.ReadASN1Int64WithTag(&v, cbasn1.INTEGER)
			etype = int32(v)
		case ctx(1):
			var v int64
			c.ReadASN1Int64WithTag(&v, cbasn1.INTEGER)
			kvno = int(v)
		case ctx(2):
			var o cryptobyte.String
			c.ReadASN1(&o, cbasn1.OCTET_STRING)
			cipher = o
		}
	}
	return etype, kvno, cipher, nil
}

func encodeEncryptedData(etype int32, kvno int, cipher []byte) []byte {
	elems := [][]byte{explicit(0, integer(int64(etype)))}
	if kvno != 0 {
		elems = append(elems, explicit(1, integer(int64(kvno))))
	}
	return build(0, append(elems, explicit(2, octets(cipher))))
}

// APReq is an AP-REQ taken apart: the ticket's encrypted part and the
// authenticator are what the tests change.
type APReq struct {
	fields  []cryptobyte.String // of the AP-REQ
	ticket  []cryptobyte.String // of the Ticket
	encPart int                 // index in ticket
	auth    int                 // index in fields
}

// ParseAPReq takes an AP-REQ (bare or GSS-framed) apart.
func ParseAPReq(tok []byte) (*APReq, error) {
	inner, err := Inner(tok)
	if err != nil {
		return nil, err
	}
	a := &APReq{encPart: -1, auth: -1}
	if a.fields, err = fields(inner, app(14)); err != nil {
		return nil, err
	}
	for i, f := range a.fields {
		switch tagOf(f) {
		case ctx(3):
			if a.ticket, err = fields(content(f), app(1)); err != nil {
				return nil, err
			}
		case ctx(4):
			a.auth = i
		}
	}
	for i, f := range a.ticket {
		if tagOf(f) == ctx(3) {
			a.encPart = i
		}
	}
	if a.encPart < 0 || a.auth < 0 {
		return nil, errors.New("pactest: AP-REQ without a ticket or authenticator")
	}
	return a, nil
}

// Ticket decrypts the ticket's EncTicketPart with the service key.
func (a *APReq) Ticket(key types.EncryptionKey) ([]byte, error) {
	et, _, c, err := encryptedData(content(a.ticket[a.encPart]))
	if err != nil {
		return nil, err
	}
	if et != key.KeyType {
		return nil, fmt.Errorf("pactest: ticket enctype %d, key %d", et, key.KeyType)
	}
	return crypto.DecryptMessage(c, key, usageTicket)
}

// SetTicket encrypts an EncTicketPart with the service key into the
// ticket (the kvno stays).
func (a *APReq) SetTicket(encTicketPart []byte, key types.EncryptionKey) error {
	_, kvno, _, err := encryptedData(content(a.ticket[a.encPart]))
	if err != nil {
		return err
	}
	ed, err := crypto.GetEncryptedData(encTicketPart, key, usageTicket, kvno)
	if err != nil {
		return err
	}
	a.ticket[a.encPart] = explicit(3, encodeEncryptedData(ed.EType, kvno, ed.Cipher))
	return nil
}

// Authenticator decrypts the authenticator with the ticket's session key.
func (a *APReq) Authenticator(sessionKey types.EncryptionKey) ([]byte, error) {
	_, _, c, err := encryptedData(content(a.fields[a.auth]))
	if err != nil {
		return nil, err
	}
	return crypto.DecryptMessage(c, sessionKey, usageAuthenticator)
}

// SetAuthenticator encrypts an authenticator with the session key.
func (a *APReq) SetAuthenticator(auth []byte, sessionKey types.EncryptionKey) error {
	ed, err := crypto.GetEncryptedData(auth, sessionKey, usageAuthenticator, 0)
	if err != nil {
		return err
	}
	a.fields[a.auth] = explicit(4, encodeEncryptedData(ed.EType, 0, ed.Cipher))
	return nil
}

// Bytes re-encodes the AP-REQ, GSS-framed.
func (a *APReq) Bytes() []byte {
	tf := make([][]byte, len(a.ticket))
	for i, f := range a.ticket {
		tf[i] = f
	}
	af := make([][]byte, len(a.fields))
	for i, f := range a.fields {
		af[i] = f
		if tagOf(f) == ctx(3) {
			af[i] = explicit(3, build(app(1), tf))
		}
	}
	return Frame(build(app(14), af))
}

// SessionKey reads the session key of an EncTicketPart.
func SessionKey(encTicketPart []byte) (types.EncryptionKey, error) {
	fs, err := fields(encTicketPart, app(3))
	if err != nil {
		return types.EncryptionKey{}, err
	}
	for _, f := range fs {
		if tagOf(f) != ctx(1) {
			continue
		}
		ks, err := fields(content(f), 0)
		if err != nil {
			return types.EncryptionKey{}, err
		}
		var k types.EncryptionKey
		for _, e := range ks {
			c := cryptobyte.String(content(e))
			switch tagOf(e) {
			case ctx(0):
				var v int64
				c.ReadASN1Int64WithTag(&v, cbasn1.INTEGER)
				k.KeyType = int32(v)
			case ctx(1):
				var o cryptobyte.String
				c.ReadASN1(&o, cbasn1.OCTET_STRING)
				k.KeyValue = append([]byte(nil), o...)
			}
		}
		return k, nil
	}
	return types.EncryptionKey{}, errors.New("pactest: EncTicketPart without a key")
}

// SetTimes replaces the explicit GeneralizedTime fields [tag]=time of a
// SEQUENCE inside outer (EncTicketPart: [5] authtime, [6] starttime, [7]
// endtime, [8] renew-till; Authenticator: [5] ctime) and the INTEGER
// fields of ints ([4] cusec of an Authenticator).
func SetTimes(b []byte, outer int, times map[int]time.Time, ints map[int]int64) ([]byte, error) {
	fs, err := fields(b, app(outer))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(fs))
	for i, f := range fs {
		out[i] = f
		for n, t := range times {
			if tagOf(f) == ctx(n) {
				out[i] = explicit(n, generalizedTime(t))
			}
		}
		for n, v := range ints {
			if tagOf(f) == ctx(n) {
				out[i] = explicit(n, integer(v))
			}
		}
	}
	return build(app(outer), out), nil
}

// PAC returns the PAC of an EncTicketPart (AD-WIN2K-PAC inside
// AD-IF-RELEVANT).
func PAC(encTicketPart []byte) ([]byte, error) {
	var found []byte
	_, err := editPAC(encTicketPart, func(p []byte) ([]byte, error) { found = p; return p, nil })
	if err == nil && found == nil {
		err = errors.New("pactest: ticket has no PAC")
	}
	return found, err
}

// SetPAC replaces the PAC of an EncTicketPart.
func SetPAC(encTicketPart, pac []byte) ([]byte, error) {
	return editPAC(encTicketPart, func([]byte) ([]byte, error) { return pac, nil })
}

func editPAC(encTicketPart []byte, edit func([]byte) ([]byte, error)) ([]byte, error) {
	fs, err := fields(encTicketPart, app(3))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(fs))
	for i, f := range fs {
		out[i] = f
		if tagOf(f) != ctx(10) {
			continue
		}
		ad, err := editAD(content(f), func(typ int64, data []byte) ([]byte, error) {
			if typ != 1 {
				return data, nil
			}
			return editAD(data, func(typ int64, data []byte) ([]byte, error) {
				if typ != 128 {
					return data, nil
				}
				return edit(data)
			})
		})
		if err != nil {
			return nil, err
		}
		out[i] = explicit(10, ad)
	}
	return build(app(3), out), nil
}

// editAD rewrites the ad-data of each entry of AuthorizationData.
func editAD(b []byte, edit func(int64, []byte) ([]byte, error)) ([]byte, error) {
	entries, err := fields(b, 0)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(entries))
	for i, e := range entries {
		fs, err := fields(e, 0)
		if err != nil || len(fs) != 2 {
			return nil, errors.New("pactest: bad AuthorizationData entry")
		}
		var typ int64
		c := cryptobyte.String(content(fs[0]))
		c.ReadASN1Int64WithTag(&typ, cbasn1.INTEGER)
		var data cryptobyte.String
		d := cryptobyte.String(content(fs[1]))
		d.ReadASN1(&data, cbasn1.OCTET_STRING)
		nd, err := edit(typ, data)
		if err != nil {
			return nil, err
		}
		out[i] = build(0, [][]byte{fs[0], explicit(1, octets(nd))})
	}
	return build(0, out), nil
}

// The PAC: byte surgery on PACTYPE (MS-PAC 2.3).

type buffer struct {
	typ, size uint32
	off       uint64
}

func buffers(pac []byte) ([]buffer, error) {
	if len(pac) < 8 {
		return nil, errors.New("pactest: short PAC")
	}
	n := int(binary.LittleEndian.Uint32(pac))
	if len(pac) < 8+16*n {
		return nil, errors.New("pactest: short PAC")
	}
	bs := make([]buffer, n)
	for i := range bs {
		e := pac[8+16*i:]
		bs[i] = buffer{binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint64(e[8:])}
		if bs[i].off+uint64(bs[i].size) > uint64(len(pac)) {
			return nil, errors.New("pactest: PAC buffer out of bounds")
		}
	}
	return bs, nil
}

// Buffer returns the buffer of a type (MS-PAC 2.4), or nil.
func Buffer(pac []byte, typ uint32) []byte {
	bs, err := buffers(pac)
	if err != nil {
		return nil
	}
	for _, b := range bs {
		if b.typ == typ {
			return pac[b.off : b.off+uint64(b.size)]
		}
	}
	return nil
}

// ReplaceBuffer replaces the buffer of a type with data and lays the PAC
// out again (each buffer 8-aligned, in the original order).
func ReplaceBuffer(pac []byte, typ uint32, data []byte) ([]byte, error) {
	bs, err := buffers(pac)
	if err != nil {
		return nil, err
	}
	hdr := 8 + 16*len(bs)
	out := make([]byte, hdr)
	copy(out, pac[:8])
	found := false
	for i, b := range bs {
		d := pac[b.off : b.off+uint64(b.size)]
		if b.typ == typ {
			d, found = data, true
		}
		for len(out)%8 != 0 {
			out = append(out, 0)
		}
		e := out[8+16*i:]
		binary.LittleEndian.PutUint32(e, b.typ)
		binary.LittleEndian.PutUint32(e[4:], uint32(len(d)))
		binary.LittleEndian.PutUint64(e[8:], uint64(len(out)))
		out = append(out, d...)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	if !found {
		return nil, fmt.Errorf("pactest: PAC has no buffer of type %d", typ)
	}
	return out, nil
}

// The logon info (KERB_VALIDATION_INFO, MS-PAC 2.5) offsets, within the
// NDR object buffer after the 16-byte type serialization headers and the
// 4-byte top-level referent.
const (
	ndrHeaders     = 16
	offGroupCount  = ndrHeaders + 4 + 6*8 + 6*8 + 2*2 + 2*4 // after the times, strings, counts, RIDs
	offGroupIDsPtr = offGroupCount + 4
)

// AddGroup adds a RID to the logon info's GroupIds (MS-PAC 2.2.2) of a
// PAC: 8 bytes inserted after the last GROUP_MEMBERSHIP, GroupCount and
// the array's conformance raised, the object buffer length too. The
// signatures are left as they were.
func AddGroup(pac []byte, rid, attrs uint32) ([]byte, error) {
	li := Buffer(pac, 1)
	if li == nil || len(li) < offGroupIDsPtr+4 {
		return nil, errors.New("pactest: PAC without a logon info")
	}
	count := binary.LittleEndian.Uint32(li[offGroupCount:])
	if count == 0 {
		return nil, errors.New("pactest: logon info without groups")
	}
	// The GroupIds array follows the six strings' buffers: find its
	// conformance by walking them (each: max, offset, actual, 2*actual
	// bytes, 4-aligned).
	p := ndrHeaders + 4 + kerbValidationInfoFixed
	for i := 0; i < 6; i++ {
		ptr := binary.LittleEndian.Uint32(li[ndrHeaders+4+6*8+8*i+4:])
		if ptr == 0 {
			continue
		}
		actual := int(binary.LittleEndian.Uint32(li[p+8:]))
		p += 12 + 2*actual
		p = (p + 3) &^ 3
	}
	if binary.LittleEndian.Uint32(li[p:]) != count {
		return nil, errors.New("pactest: GroupIds conformance not where expected")
	}
	end := p + 4 + 8*int(count)
	n := append([]byte(nil), li[:end]...)
	n = binary.LittleEndian.AppendUint32(n, rid)
	n = binary.LittleEndian.AppendUint32(n, attrs)
	n = append(n, li[end:]...)
	binary.LittleEndian.PutUint32(n[offGroupCount:], count+1)
	binary.LittleEndian.PutUint32(n[p:], count+1)
	binary.LittleEndian.PutUint32(n[8:], binary.LittleEndian.Uint32(li[8:])+8)
	return ReplaceBuffer(pac, 1, n)
}

// kerbValidationInfoFixed is the size of KERB_VALIDATION_INFO's scalars
// in NDR (MS-PAC 2.5): six FILETIMEs, six RPC_UNICODE_STRINGs, two
// USHORTs, the RIDs, counts, pointers, flags, session key, two more
// strings, the domain SID pointer, reserved words, UAC, sub-auth status,
// two FILETIMEs, counts and pointers of the SIDs and resource groups.
const kerbValidationInfoFixed = 6*8 + 6*8 + 2*2 + 4*4 + 4 + 16 + 2*8 + 4 + 2*4 + 4 + 4 + 2*8 + 4 + 4 + 4 + 4 + 4 + 4 + 4

// SetClientInfo replaces PAC_CLIENT_INFO (MS-PAC 2.7).
func SetClientInfo(pac []byte, name string, authtime time.Time) ([]byte, error) {
	u := utf16.Encode([]rune(name))
	d := make([]byte, 10, 10+2*len(u))
	binary.LittleEndian.PutUint64(d, uint64(authtime.Unix()*1e7+116444736000000000))
	binary.LittleEndian.PutUint16(d[8:], uint16(2*len(u)))
	for _, c := range u {
		d = binary.LittleEndian.AppendUint16(d, c)
	}
	return ReplaceBuffer(pac, 10, d)
}

// signature finds PAC_SIGNATURE_DATA of a type: its checksum type and
// where its Signature lies in the PAC.
func signature(pac []byte, typ uint32) (cksum int32, off, n int, err error) {
	bs, err := buffers(pac)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, b := range bs {
		if b.typ != typ || b.size < 4 {
			continue
		}
		cksum = int32(binary.LittleEndian.Uint32(pac[b.off:]))
		n = int(b.size) - 4
		switch cksum {
		case 15, 16:
			n = 12
		case -138:
			n = 16
		}
		return cksum, int(b.off) + 4, n, nil
	}
	return 0, 0, 0, fmt.Errorf("pactest: PAC has no signature of type %d", typ)
}

// SignServer computes the server signature (MS-PAC 2.8.1) again with the
// service key, as a forger holding it would, and leaves the KDC
// signature as it was. The checksum is gokrb5's.
func SignServer(pac []byte, key types.EncryptionKey) ([]byte, error) {
	cs, so, sn, err := signature(pac, 6)
	if err != nil {
		return nil, err
	}
	_, ko, kn, err := signature(pac, 7)
	if err != nil {
		return nil, err
	}
	z := append([]byte(nil), pac...)
	clear(z[so : so+sn])
	clear(z[ko : ko+kn])
	et, err := crypto.GetChksumEtype(cs)
	if err != nil {
		return nil, err
	}
	sum, err := et.GetChecksumHash(key.KeyValue, z, usagePACChecksum)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), pac...)
	copy(out[so:so+sn], sum)
	return out, nil
}

// SignKDC computes the KDC signature (MS-PAC 2.8.2) again, over the
// server signature, with the krbtgt key.
func SignKDC(pac []byte, krbtgt types.EncryptionKey) ([]byte, error) {
	_, so, sn, err := signature(pac, 6)
	if err != nil {
		return nil, err
	}
	cs, ko, kn, err := signature(pac, 7)
	if err != nil {
		return nil, err
	}
	et, err := crypto.GetChksumEtype(cs)
	if err != nil {
		return nil, err
	}
	sum, err := et.GetChecksumHash(krbtgt.KeyValue, pac[so:so+sn], usagePACChecksum)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), pac...)
	copy(out[ko:ko+kn], sum)
	return out, nil
}
