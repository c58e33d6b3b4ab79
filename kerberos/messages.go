package kerberos

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/sspi"
)

// RFC 4121 section 4.1: the two-octet TOK_ID in front of the Kerberos
// message inside the InitialContextToken framing.
var (
	tokAPReq    = [2]byte{0x01, 0x00}
	tokAPRep    = [2]byte{0x02, 0x00}
	tokKRBError = [2]byte{0x03, 0x00}
)

// Key usages (RFC 4120 section 7.5.1).
const (
	usageTicket        = 2
	usageAuthenticator = 11
	usageAPRepEncPart  = 12
	usageKRBCredEnc    = 14
)

// RFC 4121 section 4.1.1.1: the GSS checksum type and its flags.
const (
	cksumTypeGSS = 0x8003

	gssDelegFlag    = 0x01
	gssMutualFlag   = 0x02
	gssReplayFlag   = 0x04
	gssSequenceFlag = 0x08
	gssConfFlag     = 0x10
	gssIntegFlag    = 0x20
	gssDCEStyle     = 0x1000
	gssIdentify     = 0x2000
	gssExtendedErr  = 0x4000
)

// APOptions bits (RFC 4120 section 5.5.1).
const apOptMutualRequired = 2

// frameToken puts a Kerberos message inside the RFC 2743 framing with its
// TOK_ID.
func frameToken(id [2]byte, msg []byte) []byte {
	b := make([]byte, 0, gss.HeaderLen(gss.OIDKerberos, len(msg)+2)+len(msg)+2)
	b = gss.AppendHeader(b, gss.OIDKerberos, len(msg)+2)
	b = append(b, id[:]...)
	return append(b, msg...)
}

// unframeToken parses the framing and returns the TOK_ID, the message and
// the number of input bytes used. A token that arrives without the framing
// (a bare AP-REQ, [APPLICATION 14]) is accepted as an AP-REQ.
func unframeToken(b []byte) (id [2]byte, msg []byte, used int, err error) {
	if len(b) > 0 && b[0] == 0x6e {
		return tokAPReq, b, len(b), nil
	}
	t, n, err := gss.Parse(b)
	if err != nil {
		if inc, ok := err.(*gss.IncompleteError); ok {
			return id, nil, 0, &sspi.Error{Status: sspi.SEC_E_INCOMPLETE_MESSAGE, Detail: inc.Error()}
		}
		return id, nil, 0, tokenErr("bad GSS framing")
	}
	if !t.Mech.Equal(gss.OIDKerberos) && !t.Mech.Equal(gss.OIDKerberosMS) {
		return id, nil, 0, tokenErr("not a Kerberos mechanism token")
	}
	if len(t.Inner) < 2 {
		return id, nil, 0, tokenErr("short Kerberos token")
	}
	copy(id[:], t.Inner)
	return id, t.Inner[2:], n, nil
}

func tokenErr(detail string) error {
	return &sspi.Error{Status: sspi.SEC_E_INVALID_TOKEN, Detail: detail}
}

func statusErr(st sspi.Status, detail string) error {
	return &sspi.Error{Status: st, Detail: detail}
}

// gssChecksum is the RFC 4121 section 4.1.1 authenticator checksum.
type gssChecksum struct {
	Bindings [16]byte
	Flags    uint32
	Deleg    []byte // KRB-CRED, when Flags has gssDelegFlag and DlgOpt is 1
	Exts     []byte
}

func (c *gssChecksum) marshal() []byte {
	b := make([]byte, 24, 28+len(c.Deleg)+len(c.Exts))
	binary.LittleEndian.PutUint32(b[0:], 16)
	copy(b[4:20], c.Bindings[:])
	binary.LittleEndian.PutUint32(b[20:], c.Flags)
	if c.Flags&gssDelegFlag != 0 && c.Deleg != nil {
		b = binary.LittleEndian.AppendUint16(b, 1)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(c.Deleg)))
		b = append(b, c.Deleg...)
	}
	return append(b, c.Exts...)
}

func parseGSSChecksum(b []byte) (*gssChecksum, error) {
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 16 {
		return nil, tokenErr("bad GSS authenticator checksum")
	}
	c := &gssChecksum{Flags: binary.LittleEndian.Uint32(b[20:])}
	copy(c.Bindings[:], b[4:20])
	rest := b[24:]
	if c.Flags&gssDelegFlag != 0 && len(rest) >= 4 {
		opt := binary.LittleEndian.Uint16(rest)
		n := int(binary.LittleEndian.Uint16(rest[2:]))
		if opt == 1 {
			if len(rest) < 4+n {
				return nil, tokenErr("truncated delegation in GSS checksum")
			}
			c.Deleg = rest[4 : 4+n]
			rest = rest[4+n:]
		}
	}
	c.Exts = rest
	return c, nil
}

// safeUnmarshal runs a gokrb5 decoder and turns a panic on hostile input
// into an error.
func safeUnmarshal(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("kerberos: malformed message")
		}
	}()
	return f()
}

// encryptEncPart makes EncryptedData (without kvno).
// The RFC 3962 path takes its confounder from r; gokrb5's path draws its
// own.
func encryptEncPart(r io.Reader, pt []byte, key types.EncryptionKey, usage uint32) (types.EncryptedData, error) {
	if (key.KeyType == etypeAES128SHA1 && len(key.KeyValue) == 16) || (key.KeyType == etypeAES256SHA1 && len(key.KeyValue) == 32) {
		ct, err := (&aesSHA1{key: key.KeyValue, rand: r}).encrypt(usage, pt)
		return types.EncryptedData{EType: key.KeyType, Cipher: ct}, err
	}
	if key.KeyType == etypeAES128SHA256 || key.KeyType == etypeAES256SHA384 {
		a, err := newAESSHA2(key.KeyType, key.KeyValue, r)
		if err != nil {
			return types.EncryptedData{}, err
		}
		ct, err := a.encrypt(usage, pt)
		return types.EncryptedData{EType: key.KeyType, Cipher: ct}, err
	}
	if key.KeyType == etypeRC4HMAC && len(key.KeyValue) == 16 {
		ct, err := rc4HMACEncrypt(r, key.KeyValue, usage, pt)
		return types.EncryptedData{EType: key.KeyType, Cipher: ct}, err
	}
	return krbcrypto.GetEncryptedData(pt, key, usage, 0)
}

// parseAPRep decodes an AP-REP and decrypts its EncAPRepPart.
func parseAPRep(b []byte, sessionKey types.EncryptionKey) (*messages.EncAPRepPart, error) {
	var rep messages.APRep
	if err := safeUnmarshal(func() error { return rep.Unmarshal(b) }); err != nil {
		return nil, tokenErr("malformed AP-REP")
	}
	pt, err := decryptEncPart(rep.EncPart, sessionKey, usageAPRepEncPart)
	if err != nil {
		return nil, statusErr(sspi.SEC_E_MUTUAL_AUTH_FAILED, "cannot decrypt AP-REP")
	}
	var part messages.EncAPRepPart
	if err := safeUnmarshal(func() error { return part.Unmarshal(pt) }); err != nil {
		return nil, tokenErr("malformed EncAPRepPart")
	}
	return &part, nil
}

// decryptEncPart decrypts EncryptedData with length checks gokrb5 leaves
// out (it slices before checking).
func decryptEncPart(ed types.EncryptedData, key types.EncryptionKey, usage uint32) ([]byte, error) {
	if ed.EType != key.KeyType {
		return nil, errIntegrity
	}
	if (ed.EType == etypeAES128SHA1 && len(key.KeyValue) == 16) || (ed.EType == etypeAES256SHA1 && len(key.KeyValue) == 32) {
		// Our RFC 3962 path: no allocation-heavy key derivation.
		return (&aesSHA1{key: key.KeyValue}).decrypt(usage, ed.Cipher)
	}
	if ed.EType == etypeAES128SHA256 || ed.EType == etypeAES256SHA384 {
		a, err := newAESSHA2(ed.EType, key.KeyValue, nil)
		if err != nil {
			return nil, errIntegrity
		}
		return a.decrypt(usage, ed.Cipher)
	}
	e, err := krbcrypto.GetEtype(ed.EType)
	if err != nil {
		return nil, err
	}
	if len(ed.Cipher) < e.GetConfounderByteSize()+e.GetHMACBitLength()/8 || len(key.KeyValue) != keySize(e) {
		return nil, errIntegrity
	}
	var pt []byte
	err = safeUnmarshal(func() error {
		var err error
		pt, err = e.DecryptMessage(key.KeyValue, ed.Cipher, usage)
		return err
	})
	if err != nil {
		return nil, errIntegrity
	}
	return pt, nil
}

// parseKRBError decodes a KRB-ERROR.
func parseKRBError(b []byte) (*messages.KRBError, error) {
	var e messages.KRBError
	if err := safeUnmarshal(func() error { return e.Unmarshal(b) }); err != nil {
		return nil, tokenErr("malformed KRB-ERROR")
	}
	return &e, nil
}

// krbErrorStatus maps a Kerberos error code (RFC 4120 section 7.5.9) to the
// SSPI status Windows reports for it.
func krbErrorStatus(code int32) sspi.Status {
	switch code {
	case 6: // KDC_ERR_C_PRINCIPAL_UNKNOWN
		return sspi.SEC_E_NO_CREDENTIALS
	case 7: // KDC_ERR_S_PRINCIPAL_UNKNOWN
		return sspi.SEC_E_TARGET_UNKNOWN
	case 14: // KDC_ERR_ETYPE_NOSUPP
		return sspi.SEC_E_KDC_UNKNOWN_ETYPE
	case 13: // KDC_ERR_BADOPTION
		return sspi.SEC_E_DELEGATION_POLICY
	case 18, 23, 24, 36: // CLIENT_REVOKED, KEY_EXPIRED, PREAUTH_FAILED, BADMATCH
		return sspi.SEC_E_LOGON_DENIED
	case 31: // KRB_AP_ERR_BAD_INTEGRITY
		return sspi.SEC_E_MESSAGE_ALTERED
	case 32: // KRB_AP_ERR_TKT_EXPIRED
		return sspi.SEC_E_CONTEXT_EXPIRED
	case 33, 37: // TKT_NYV, SKEW
		return sspi.SEC_E_TIME_SKEW
	case 34: // KRB_AP_ERR_REPEAT
		return sspi.SEC_E_OUT_OF_SEQUENCE
	case 35: // KRB_AP_ERR_NOT_US
		return sspi.SEC_E_WRONG_PRINCIPAL
	case 41: // KRB_AP_ERR_MODIFIED
		return sspi.SEC_E_WRONG_PRINCIPAL
	case 44, 45: // BADKEYVER, NOKEY
		return sspi.SEC_E_NO_KERB_KEY
	case 68: // KDC_ERR_WRONG_REALM
		return sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY
	}
	return sspi.SEC_E_LOGON_DENIED
}

// statusKRBError is the reverse mapping, for the KRB-ERROR token an
// acceptor returns.
func statusKRBError(st sspi.Status) int32 {
	switch st {
	case sspi.SEC_E_TIME_SKEW:
		return 37
	case sspi.SEC_E_WRONG_PRINCIPAL:
		return 41
	case sspi.SEC_E_NO_KERB_KEY:
		return 44
	case sspi.SEC_E_CONTEXT_EXPIRED:
		return 32
	case sspi.SEC_E_OUT_OF_SEQUENCE:
		return 34
	case sspi.SEC_E_MESSAGE_ALTERED:
		return 31
	case sspi.SEC_E_LOGON_DENIED:
		return 36
	case sspi.SEC_E_ALGORITHM_MISMATCH:
		return 14 // KDC_ERR_ETYPE_NOSUPP
	}
	return 60 // KRB_ERR_GENERIC
}

// KRB-CRED encoding (RFC 4120 section 5.8), which gokrb5 only decodes.
type krbCredInfo struct {
	Key       types.EncryptionKey `asn1:"explicit,tag:0"`
	PRealm    string              `asn1:"generalstring,optional,explicit,tag:1"`
	PName     types.PrincipalName `asn1:"optional,explicit,tag:2"`
	Flags     asn1.BitString      `asn1:"optional,explicit,tag:3"`
	AuthTime  time.Time           `asn1:"generalized,optional,explicit,tag:4"`
	StartTime time.Time           `asn1:"generalized,optional,explicit,tag:5"`
	EndTime   time.Time           `asn1:"generalized,optional,explicit,tag:6"`
	RenewTill time.Time           `asn1:"generalized,optional,explicit,tag:7"`
	SRealm    string              `asn1:"generalstring,optional,explicit,tag:8"`
	SName     types.PrincipalName `asn1:"optional,explicit,tag:9"`
}

type encKrbCredPart struct {
	TicketInfo []krbCredInfo `asn1:"explicit,tag:0"`
}

type krbCred struct {
	PVNO    int                 `asn1:"explicit,tag:0"`
	MsgType int                 `asn1:"explicit,tag:1"`
	Tickets asn1.RawValue       // [2] SEQUENCE OF Ticket, tagged by the RawValue itself
	EncPart types.EncryptedData `asn1:"explicit,tag:3"`
}

// marshalKRBCred builds a KRB-CRED holding one ticket, encrypted in key
// with confounders from r.
func marshalKRBCred(r io.Reader, tkt messages.Ticket, info krbCredInfo, key types.EncryptionKey) ([]byte, error) {
	seq, err := messages.MarshalTicketSequence([]messages.Ticket{tkt})
	if err != nil {
		return nil, err
	}
	seq.Tag = 2 // gokrb5 leaves the context tag to the caller
	part, err := asn1.Marshal(encKrbCredPart{TicketInfo: []krbCredInfo{info}})
	if err != nil {
		return nil, err
	}
	part = asn1tools.AddASNAppTag(part, 29)
	ed, err := encryptEncPart(r, part, key, usageKRBCredEnc)
	if err != nil {
		return nil, err
	}
	m, err := asn1.Marshal(krbCred{PVNO: 5, MsgType: 22, Tickets: seq, EncPart: ed})
	if err != nil {
		return nil, err
	}
	return asn1tools.AddASNAppTag(m, 22), nil
}

// parseKRBCred decodes a KRB-CRED and decrypts its EncKrbCredPart with the
// first key that works (MIT uses the session key or, with no key, etype 0).
func parseKRBCred(b []byte, keys ...types.EncryptionKey) (*messages.KRBCred, error) {
	var c messages.KRBCred
	if err := safeUnmarshal(func() error { return c.Unmarshal(b) }); err != nil {
		return nil, tokenErr("malformed KRB-CRED")
	}
	var pt []byte
	if c.EncPart.EType == 0 {
		pt = c.EncPart.Cipher
	} else {
		for _, k := range keys {
			if p, err := decryptEncPart(c.EncPart, k, usageKRBCredEnc); err == nil {
				pt = p
				break
			}
		}
		if pt == nil {
			return nil, statusErr(sspi.SEC_E_MESSAGE_ALTERED, "cannot decrypt KRB-CRED")
		}
	}
	if err := safeUnmarshal(func() error { return c.DecryptedEncPart.Unmarshal(pt) }); err != nil {
		return nil, tokenErr("malformed EncKrbCredPart")
	}
	if len(c.Tickets) == 0 || len(c.Tickets) != len(c.DecryptedEncPart.TicketInfo) {
		return nil, tokenErr("KRB-CRED ticket count mismatch")
	}
	return &c, nil
}
