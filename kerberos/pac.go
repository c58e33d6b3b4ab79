package kerberos

import (
	"crypto/aes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"hash"
	"strconv"
	"strings"
	"time"

	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
	"golang.org/x/crypto/cryptobyte"
)

// This file reads the Privilege Attribute Certificate that an Active
// Directory KDC puts in every ticket (MS-PAC), verifies its server
// signature with the service key (and, with Config.KDCKeytab, its KDC,
// ticket and full signatures with the krbtgt key) and checks it against
// the ticket. The acceptor believes what a verified PAC says of the
// client: its SIDs, its account and domain names as the domain controller
// spells them, its UPN and DNS domain, its logon time and its claims. The
// package documentation says what the server signature proves and what
// verifying the KDC signatures needs.

// The PAC buffer types of MS-PAC 2.4.
const (
	pacLogonInfo        = 1
	pacCredentialsInfo  = 2
	pacServerChecksum   = 6
	pacPrivSvrChecksum  = 7
	pacClientInfo       = 10
	pacDelegationInfo   = 11
	pacUPNDNSInfo       = 12
	pacClientClaims     = 13
	pacDeviceInfo       = 14
	pacDeviceClaims     = 15
	pacTicketChecksum   = 16
	pacAttributesInfo   = 17
	pacRequestor        = 18
	pacFullPACChecksum  = 19
	maxPACBuffers       = 64
	adIfRelevant        = 1   // RFC 4120 section 5.2.6.1
	adWin2kPAC          = 128 // MS-PAC 1.1
	keyUsagePACChecksum = 17  // KERB_NON_KERB_CKSUM_SALT (MS-PAC 2.8)
)

// Checksum types of PAC_SIGNATURE_DATA (MS-PAC 2.8; RFC 3962, RFC 4757,
// RFC 8009).
const (
	cksumHMACSHA196AES128   = 15
	cksumHMACSHA196AES256   = 16
	cksumHMACSHA256AES128   = 19
	cksumHMACSHA384AES256   = 20
	cksumHMACMD5            = -138
	rodcIdentifierSize      = 2
	pacSignatureHeaderBytes = 4
)

var (
	errPACFormat   = errors.New("PAC does not decode")
	errPACChecksum = errors.New("PAC server signature does not verify with the service key")
)

// pacInfoBuffer is PAC_INFO_BUFFER (MS-PAC 2.4).
type pacInfoBuffer struct {
	Type uint32
	Size uint32
	Off  uint64
}

// pacSignature is PAC_SIGNATURE_DATA (MS-PAC 2.8): where its Signature
// field sits within the PAC, for zeroing and checking.
type pacSignature struct {
	Type           int32
	Sig            []byte // a view into the PAC
	Off            int    // of Sig within the PAC
	RODCIdentifier uint16
}

// pacClientInfoData is PAC_CLIENT_INFO (MS-PAC 2.7).
type pacClientInfoData struct {
	ClientID fileTime
	Name     string
}

// upnDNSInfo is UPN_DNS_INFO (MS-PAC 2.10), with the extension of the S
// flag: the account's SAM name and SID.
type upnDNSInfo struct {
	UPN, DNSDomainName string
	Flags              uint32
	SAMName            string
	SID                sidBytes
}

// UPN_DNS_INFO flags.
const (
	upnNoUPNAttribute = 1 // U: the UPN was made from the SAM name and DNS domain
	upnExtended       = 2 // S: SamName and Sid follow
)

// pacType is a decoded PACTYPE (MS-PAC 2.3).
type pacType struct {
	raw     []byte
	buffers []pacInfoBuffer

	logonInfo  *kerbValidationInfo
	clientInfo *pacClientInfoData
	upnDNS     *upnDNSInfo
	server     *pacSignature
	kdc        *pacSignature
	full       *pacSignature // PAC_FULL_CHECKSUM, made with the krbtgt key
	ticket     *pacSignature // PAC_TICKET_CHECKSUM, likewise (pac_ticket.go)
	claims     []byte        // PAC_CLIENT_CLAIMS_INFO, undecoded
	attributes uint32        // PAC_ATTRIBUTES_INFO's first word
	requestor  sidBytes
}

// buffer returns the bytes of a PAC_INFO_BUFFER, bounds-checked.
func (p *pacType) buffer(ib pacInfoBuffer) ([]byte, bool) {
	hdr := 8 + 16*uint64(len(p.buffers))
	if ib.Off < hdr || ib.Off%8 != 0 || ib.Off > uint64(len(p.raw)) || uint64(ib.Size) > uint64(len(p.raw))-ib.Off {
		return nil, false
	}
	o := int(ib.Off)
	return p.raw[o : o+int(ib.Size) : o+int(ib.Size)], true
}

// decodePAC decodes a PACTYPE and the buffers the acceptor uses; the
// other buffers are bounds-checked and left alone. A buffer type the
// acceptor uses appearing twice is an error: which one counts would be a
// guess.
func decodePAC(b []byte) (*pacType, error) {
	if len(b) < 8 {
		return nil, errPACFormat
	}
	n := binary.LittleEndian.Uint32(b)
	if binary.LittleEndian.Uint32(b[4:]) != 0 || n == 0 || n > maxPACBuffers || uint64(len(b)) < 8+16*uint64(n) {
		return nil, errPACFormat
	}
	p := &pacType{raw: b, buffers: make([]pacInfoBuffer, n)}
	for i := range p.buffers {
		e := b[8+16*i:]
		p.buffers[i] = pacInfoBuffer{binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint64(e[8:])}
	}
	var seen uint32 // of the types below 32
	for _, ib := range p.buffers {
		data, ok := p.buffer(ib)
		if !ok {
			return nil, errPACFormat
		}
		if ib.Type < 32 {
			if seen&(1<<ib.Type) != 0 {
				return nil, errors.New("PAC has two buffers of type " + strconv.Itoa(int(ib.Type)))
			}
			seen |= 1 << ib.Type
		}
		var err error
		switch ib.Type {
		case pacLogonInfo:
			p.logonInfo, err = decodeKerbValidationInfo(data)
		case pacClientInfo:
			p.clientInfo, err = decodePACClientInfo(data)
		case pacUPNDNSInfo:
			p.upnDNS, err = decodeUPNDNSInfo(data)
		case pacServerChecksum:
			p.server, err = decodePACSignature(data, int(ib.Off), false)
		case pacPrivSvrChecksum:
			p.kdc, err = decodePACSignature(data, int(ib.Off), true)
		case pacFullPACChecksum:
			p.full, err = decodePACSignature(data, int(ib.Off), true)
		case pacTicketChecksum:
			p.ticket, err = decodePACSignature(data, int(ib.Off), true)
		case pacClientClaims:
			if len(data) > 0 {
				p.claims = data
			}
		case pacAttributesInfo:
			// MS-PAC 2.14: FlagsLength in bits, then the flag words.
			if len(data) < 8 || uint64(binary.LittleEndian.Uint32(data)) > 32*uint64(len(data)/4-1) {
				err = errPACFormat
			} else {
				p.attributes = binary.LittleEndian.Uint32(data[4:])
			}
		case pacRequestor:
			// MS-PAC 2.15: PAC_REQUESTOR, a binary SID.
			var ok bool
			if p.requestor, ok = parseSID(data); !ok {
				err = errPACFormat
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// decodePACClientInfo decodes PAC_CLIENT_INFO (MS-PAC 2.7).
func decodePACClientInfo(b []byte) (*pacClientInfoData, error) {
	if len(b) < 10 {
		return nil, errPACFormat
	}
	n := int(binary.LittleEndian.Uint16(b[8:]))
	if n%2 != 0 || len(b)-10 < n {
		return nil, errPACFormat
	}
	return &pacClientInfoData{ClientID: fileTime(binary.LittleEndian.Uint64(b)), Name: utf16LE(b[10 : 10+n])}, nil
}

// decodeUPNDNSInfo decodes UPN_DNS_INFO (MS-PAC 2.10). Offsets are from
// the start of the structure.
func decodeUPNDNSInfo(b []byte) (*upnDNSInfo, error) {
	if len(b) < 12 {
		return nil, errPACFormat
	}
	field := func(lenAt int) ([]byte, bool) {
		l, o := int(binary.LittleEndian.Uint16(b[lenAt:])), int(binary.LittleEndian.Uint16(b[lenAt+2:]))
		if l == 0 {
			return nil, true
		}
		if o > len(b) || l > len(b)-o {
			return nil, false
		}
		return b[o : o+l], true
	}
	u := &upnDNSInfo{Flags: binary.LittleEndian.Uint32(b[8:])}
	upn, ok1 := field(0)
	dns, ok2 := field(4)
	if !ok1 || !ok2 || len(upn)%2 != 0 || len(dns)%2 != 0 {
		return nil, errPACFormat
	}
	u.UPN, u.DNSDomainName = utf16LE(upn), utf16LE(dns)
	if u.Flags&upnExtended != 0 {
		if len(b) < 20 {
			return nil, errPACFormat
		}
		sam, ok1 := field(12)
		sid, ok2 := field(16)
		if !ok1 || !ok2 || len(sam)%2 != 0 {
			return nil, errPACFormat
		}
		u.SAMName = utf16LE(sam)
		if len(sid) > 0 {
			var ok bool
			if u.SID, ok = parseSID(sid); !ok {
				return nil, errPACFormat
			}
		}
	}
	return u, nil
}

// pacChecksumSize is the size of the Signature of a checksum type, or 0
// for a type this package does not know.
func pacChecksumSize(t int32) int {
	switch t {
	case cksumHMACSHA196AES128, cksumHMACSHA196AES256:
		return 12
	case cksumHMACMD5, cksumHMACSHA256AES128:
		return 16
	case cksumHMACSHA384AES256:
		return 24
	}
	return 0
}

// decodePACSignature decodes PAC_SIGNATURE_DATA (MS-PAC 2.8) at offset
// off of the PAC. The KDC signature may end with an RODCIdentifier; for a
// KDC checksum type this package does not know, everything after the
// type is taken as the signature (as Heimdal and Samba do).
func decodePACSignature(b []byte, off int, kdc bool) (*pacSignature, error) {
	if len(b) < pacSignatureHeaderBytes {
		return nil, errPACFormat
	}
	s := &pacSignature{Type: int32(binary.LittleEndian.Uint32(b)), Off: off + pacSignatureHeaderBytes}
	n := pacChecksumSize(s.Type)
	rest := len(b) - pacSignatureHeaderBytes
	switch {
	case n == 0 && kdc && rest > 0:
		n = rest
	case n == 0:
		return nil, errors.New("PAC server signature of an unknown checksum type " + strconv.Itoa(int(s.Type)))
	case rest == n:
	case kdc && rest == n+rodcIdentifierSize:
		s.RODCIdentifier = binary.LittleEndian.Uint16(b[pacSignatureHeaderBytes+n:])
	default:
		return nil, errPACFormat
	}
	s.Sig = b[pacSignatureHeaderBytes : pacSignatureHeaderBytes+n]
	return s, nil
}

// pacChecksumType is the checksum type of a key's enctype: the one the
// KDC signs the PAC with for that key (MS-PAC 2.8.1).
func pacChecksumType(etype int32) int32 {
	switch etype {
	case etypeAES128SHA1:
		return cksumHMACSHA196AES128
	case etypeAES256SHA1:
		return cksumHMACSHA196AES256
	case etypeRC4HMAC:
		return cksumHMACMD5
	case etypeAES128SHA256:
		return cksumHMACSHA256AES128
	case etypeAES256SHA384:
		return cksumHMACSHA384AES256
	}
	return 0
}

// verifyServerSignature checks the server signature (MS-PAC 2.8.1): the
// checksum, keyed with the service key and key usage 17, over the whole
// PAC with the Signature fields of the server and KDC signatures zeroed.
// The comparison is in constant time.
func (p *pacType) verifyServerSignature(etype int32, key []byte) error {
	if p.server == nil || p.kdc == nil {
		return errors.New("PAC has no server or no KDC signature")
	}
	if p.server.Type != pacChecksumType(etype) {
		return errors.New("PAC server signature is not of the service key's checksum type")
	}
	parts, ok := p.zeroed(p.server, p.kdc)
	if !ok {
		return errPACFormat
	}
	if !pacChecksumOK(p.server, etype, key, parts) {
		return errPACChecksum
	}
	return nil
}

// zeroed returns the PAC as the parts between the Signature fields of
// sigs, with zeros in their place: what a signature covers, without a
// copy of the PAC.
func (p *pacType) zeroed(sigs ...*pacSignature) ([][]byte, bool) {
	var zeros [64]byte
	var parts [][]byte
	at := 0
	for _, s := range sortedSigs(sigs) {
		if s.Off < at || len(s.Sig) > len(zeros) || s.Off+len(s.Sig) > len(p.raw) {
			return nil, false // overlapping or out of bounds
		}
		parts = append(parts, p.raw[at:s.Off], zeros[:len(s.Sig)])
		at = s.Off + len(s.Sig)
	}
	return append(parts, p.raw[at:]), true
}

func sortedSigs(sigs []*pacSignature) []*pacSignature {
	out := make([]*pacSignature, 0, len(sigs))
	for _, s := range sigs {
		if s == nil {
			continue
		}
		i := len(out)
		out = append(out, s)
		for ; i > 0 && out[i-1].Off > s.Off; i-- {
			out[i] = out[i-1]
		}
		out[i] = s
	}
	return out
}

// pacChecksumOK computes the keyed checksum of sig's type over parts with
// key (of enctype etype) and compares it with sig in constant time.
func pacChecksumOK(sig *pacSignature, etype int32, key []byte, parts [][]byte) bool {
	var sum []byte
	switch sig.Type {
	case cksumHMACSHA196AES128, cksumHMACSHA196AES256:
		if (etype == etypeAES128SHA1 && len(key) != 16) || (etype == etypeAES256SHA1 && len(key) != 32) {
			return false
		}
		base, err := aes.NewCipher(key)
		if err != nil {
			return false
		}
		kc := aesDK(base, len(key), keyUsagePACChecksum, 0x99)
		mac := hmac.New(sha1.New, kc)
		wipeDK(kc)
		var buf [sha1.Size]byte
		sum = macParts(mac, buf[:0], parts)[:12]
	case cksumHMACMD5:
		if len(key) != 16 {
			return false
		}
		sum = hmacMD5Checksum(key, keyUsagePACChecksum, parts)
	case cksumHMACSHA256AES128, cksumHMACSHA384AES256:
		e, err := krbcrypto.GetEtype(etype)
		if err != nil || len(key) != keySize(e) {
			return false
		}
		var all []byte
		for _, pt := range parts {
			all = append(all, pt...)
		}
		if sum, err = e.GetChecksumHash(key, all, keyUsagePACChecksum); err != nil {
			return false
		}
		if len(sum) > len(sig.Sig) {
			sum = sum[:len(sig.Sig)]
		}
	default:
		return false
	}
	return len(sum) == len(sig.Sig) && subtle.ConstantTimeCompare(sum, sig.Sig) == 1
}

// verifyKDCSignatures checks the KDC signature (MS-PAC 2.8.2: over the
// server signature's Signature) and, where the KDC wrote them, the full
// PAC signature (PAC_FULL_CHECKSUM, 2.8.5: over the PAC with the server,
// KDC and full signatures zeroed) and the ticket signature (2.8.3, over
// etb, the ticket's EncTicketPart), with the krbtgt keys that keys returns
// for an enctype. Only a holder of the krbtgt key (a DC) can do this.
func (p *pacType) verifyKDCSignatures(keys func(etype int32) [][]byte, etb []byte) error {
	if p.server == nil || p.kdc == nil {
		return errors.New("PAC has no server or no KDC signature")
	}
	check := func(sig *pacSignature, parts [][]byte) bool {
		et := checksumEtype(sig.Type)
		for _, k := range keys(et) {
			if pacChecksumOK(sig, et, k, parts) {
				return true
			}
		}
		return false
	}
	if !check(p.kdc, [][]byte{p.server.Sig}) {
		return errors.New("PAC KDC signature does not verify with the krbtgt key")
	}
	if p.full != nil {
		parts, ok := p.zeroed(p.server, p.kdc, p.full)
		if !ok || !check(p.full, parts) {
			return errors.New("PAC full signature does not verify with the krbtgt key")
		}
	}
	return p.verifyTicketSignature(etb, keys)
}

// checksumEtype is the enctype of the key a PAC checksum type is made
// with (the inverse of pacChecksumType).
func checksumEtype(t int32) int32 {
	for _, e := range []int32{etypeAES256SHA1, etypeAES128SHA1, etypeRC4HMAC, etypeAES128SHA256, etypeAES256SHA384} {
		if pacChecksumType(e) == t {
			return e
		}
	}
	return 0
}

func macParts(h hash.Hash, dst []byte, parts [][]byte) []byte {
	for _, pt := range parts {
		h.Write(pt)
	}
	return h.Sum(dst)
}

// hmacMD5Checksum is the keyed checksum of the RC4 enctype
// (KERB_CHECKSUM_HMAC_MD5, RFC 4757 section 4): HMAC-MD5 with
// Ksign = HMAC-MD5(key, "signaturekey\0") over MD5(usage || data).
func hmacMD5Checksum(key []byte, usage uint32, parts [][]byte) []byte {
	ks := hmac.New(md5.New, key)
	ks.Write([]byte("signaturekey\x00"))
	ksign := ks.Sum(nil)
	defer clear(ksign)
	d := md5.New()
	var u [4]byte
	binary.LittleEndian.PutUint32(u[:], usage)
	d.Write(u[:])
	tmp := macParts(d, nil, parts)
	m := hmac.New(md5.New, ksign)
	m.Write(tmp)
	return m.Sum(nil)
}

// checkClient ties the PAC to the ticket (MS-PAC 2.7, MS-KILE 3.4.5.3):
// PAC_CLIENT_INFO names the ticket's client and its authtime. The name is
// the client principal without its realm (or with it, as MIT writes it
// for some cross-realm tickets), compared as AD compares account names,
// without regard to case.
func (p *pacType) checkClient(cname principalName, crealm string, authtime time.Time) error {
	ci := p.clientInfo
	if ci == nil {
		return errors.New("PAC has no client info")
	}
	if ci.ClientID != fileTimeOf(authtime.Truncate(time.Second)) {
		return errors.New("PAC client info time is not the ticket's authtime")
	}
	name := strings.Join(cname.Names, "/")
	got := ci.Name
	if strings.ContainsRune(got, '\\') {
		// MIT's unparsed form escapes '@' and '/' in components.
		got = strings.NewReplacer(`\@`, "@", `\/`, "/", `\\`, `\`).Replace(got)
	}
	if !strings.EqualFold(got, name) && !strings.EqualFold(got, name+"@"+crealm) {
		return errors.New("PAC client info names another client than the ticket")
	}
	return nil
}

// ticketPAC finds the PAC in a ticket's authorization data (AD-WIN2K-PAC
// inside AD-IF-RELEVANT, MS-PAC 1.1), or nil when there is none. Two PACs
// are an error.
func ticketPAC(ad []adEntry) ([]byte, error) {
	var found []byte
	for _, e := range ad {
		if e.Type != adIfRelevant {
			continue
		}
		inner, ok := authDataOf(cryptobyte.String(e.Data))
		if !ok {
			return nil, errors.New("AD-IF-RELEVANT does not decode")
		}
		for _, ie := range inner {
			if ie.Type != adWin2kPAC {
				continue
			}
			if found != nil {
				return nil, errors.New("ticket carries two PACs")
			}
			found = ie.Data
		}
	}
	return found, nil
}

// serverVerifiedPAC finds the PAC in a ticket's authorization data,
// decodes it and verifies its server signature with the service key
// (MS-PAC 2.8.1); nil, nil when the ticket has none.
func serverVerifiedPAC(ad []adEntry, etype int32, key []byte) (*pacType, error) {
	raw, err := ticketPAC(ad)
	if err != nil || raw == nil {
		return nil, err
	}
	p, err := decodePAC(raw)
	if err != nil {
		return nil, err
	}
	if err := p.verifyServerSignature(etype, key); err != nil {
		return nil, err
	}
	return p, nil
}

// verifyTicketPAC decodes the PAC of a ticket, verifies its server
// signature with the service key and checks it names the ticket's client
// (MS-KILE 3.4.5.3). It returns what the PAC says of the client, or nil
// when the ticket has no PAC (a KDC that issues none, such as MIT's
// without a KDB module that adds one). A PAC that does not decode, is
// not signed with the service key, or was made for another ticket is an
// error: the ticket is refused rather than accepted with less identity.
//
// With kdcKeys (Config.KDCKeytab) the KDC signatures are checked too,
// the ticket signature over etb, the decrypted EncTicketPart.
func verifyTicketPAC(ad []adEntry, etype int32, key []byte, cname principalName, crealm string, authtime time.Time, kdcKeys func(int32) [][]byte, etb []byte) (*pacIdentity, error) {
	p, err := serverVerifiedPAC(ad, etype, key)
	if err != nil || p == nil {
		return nil, err
	}
	if kdcKeys != nil {
		if err := p.verifyKDCSignatures(kdcKeys, etb); err != nil {
			return nil, err
		}
	}
	if err := p.checkClient(cname, crealm, authtime); err != nil {
		return nil, err
	}
	return p.identity(), nil
}
