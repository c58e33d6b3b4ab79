package netlogon

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"io"

	"github.com/gosspi/gosspi/internal/dcerpc"
)

// The Netlogon security provider of one sealed connection (MS-NRPC 3.3):
// the bind's NL_AUTH_MESSAGE and the NL_AUTH_SHA2_SIGNATURE of each PDU,
// with AES (the only algorithms this client negotiates).

// NL_AUTH_MESSAGE (MS-NRPC 2.2.1.3.1).
const (
	nlNegotiateRequest  = 0
	nlNegotiateResponse = 1

	nlFlagOEMNetBIOSDomain   = 0x01
	nlFlagOEMNetBIOSComputer = 0x02
)

// NL_AUTH_SHA2_SIGNATURE (MS-NRPC 2.2.1.3.3): SignatureAlgorithm HMAC-SHA256
// (0x0013), SealAlgorithm AES-128 (0x001A), Pad 0xFFFF, Flags 0; then the
// sequence number, the 8-byte checksum, the confounder and 24 reserved
// bytes.
const (
	sigSize        = 56
	sigSeqOff      = 8
	sigChecksumOff = 16
	sigConfOff     = 24
)

var sigHeader = [8]byte{0x13, 0x00, 0x1a, 0x00, 0xff, 0xff, 0x00, 0x00}

// errSignature is a response whose Netlogon signature does not verify
// (SEC_E_MESSAGE_ALTERED in MS-NRPC 3.3.4.2.2).
var errSignature = errors.New("netlogon: the DC's message fails the secure channel's signature or sequence check")

// schannel is the client side of a Netlogon-authenticated, sealed
// connection. Its sequence number counts the PDUs of both directions
// (MS-NRPC 3.3.4.2: each side increments it for a message sent and one
// received).
type schannel struct {
	sk       [16]byte
	seq      uint64
	domain   string // NetBIOS domain, OEM
	computer string // NetBIOS computer name, OEM
	rand     io.Reader
}

func (s *schannel) AuthType() uint8    { return dcerpc.AuthTypeNetlogon }
func (s *schannel) AuthLevel() uint8   { return dcerpc.AuthLevelPrivacy }
func (s *schannel) SignatureSize() int { return sigSize }

// BindToken is the NL_AUTH_MESSAGE negotiate request naming the domain and
// the computer (MS-NRPC 3.3.4.1.1).
func (s *schannel) BindToken() ([]byte, error) {
	b := binary.LittleEndian.AppendUint32(nil, nlNegotiateRequest)
	b = binary.LittleEndian.AppendUint32(b, nlFlagOEMNetBIOSDomain|nlFlagOEMNetBIOSComputer)
	b = append(b, s.domain...)
	b = append(b, 0)
	b = append(b, s.computer...)
	return append(b, 0), nil
}

// BindAck checks the NL_AUTH_MESSAGE negotiate response (MS-NRPC 3.3.4.1.2).
func (s *schannel) BindAck(tok []byte) error {
	if len(tok) < 8 || binary.LittleEndian.Uint32(tok) != nlNegotiateResponse {
		return errors.New("netlogon: the bind_ack carries no NL_AUTH_MESSAGE negotiate response")
	}
	return nil
}

// seqBytes is the 8-byte plaintext sequence number of a message
// (MS-NRPC 3.3.4.2.1 step 4): big-endian low and high halves, with the
// top bit set on the client's messages.
func (s *schannel) seqBytes(fromClient bool) [8]byte {
	var b [8]byte
	binary.BigEndian.PutUint32(b[0:], uint32(s.seq))
	hi := uint32(s.seq >> 32)
	if fromClient {
		hi |= 0x80000000
	}
	binary.BigEndian.PutUint32(b[4:], hi)
	return b
}

// checksum is the first 8 bytes of HMAC-SHA256 over the signature header,
// the plaintext confounder and the signed data (MS-NRPC 3.3.4.2.1 step 7).
func (s *schannel) checksum(confounder, signed []byte) [8]byte {
	m := hmac.New(sha256.New, s.sk[:])
	m.Write(sigHeader[:])
	m.Write(confounder)
	m.Write(signed)
	var c [8]byte
	copy(c[:], m.Sum(nil))
	return c
}

// sealKey is the session key XORed with 0xF0 (MS-NRPC 3.3.4.2.1 step 8).
func (s *schannel) sealKey() [16]byte {
	var k [16]byte
	for i, b := range s.sk {
		k[i] = b ^ 0xf0
	}
	return k
}

func doubled(b [8]byte) []byte { return append(b[:], b[:]...) }

// Seal signs and encrypts a request's stub (MS-NRPC 3.3.4.2.1).
func (s *schannel) Seal(data, signed []byte) ([]byte, error) { return s.sealAs(data, signed, true) }

// sealAs seals a message of the client, or (tests) of the server.
func (s *schannel) sealAs(data, signed []byte, fromClient bool) ([]byte, error) {
	seq := s.seqBytes(fromClient)
	var confounder [8]byte
	if _, err := io.ReadFull(s.rand, confounder[:]); err != nil {
		return nil, err
	}
	cksum := s.checksum(confounder[:], signed)
	k := s.sealKey()
	enc := newCFB8(k[:], doubled(seq), false)
	enc.XORKeyStream(confounder[:], confounder[:])
	enc.XORKeyStream(data, data)
	newCFB8(s.sk[:], doubled(cksum), false).XORKeyStream(seq[:], seq[:])
	s.seq++
	sig := make([]byte, sigSize)
	copy(sig, sigHeader[:])
	copy(sig[sigSeqOff:], seq[:])
	copy(sig[sigChecksumOff:], cksum[:])
	copy(sig[sigConfOff:], confounder[:])
	return sig, nil
}

// Unseal decrypts and verifies a response's stub (MS-NRPC 3.3.4.2.2): the
// header, the checksum over the decrypted data and the sequence number
// this side expects, each in constant time.
func (s *schannel) Unseal(data, signed, sig []byte) error {
	if len(sig) < sigSize {
		return errSignature
	}
	if subtle.ConstantTimeCompare(sig[:6], sigHeader[:6]) != 1 {
		return errSignature
	}
	seq := s.seqBytes(false)
	var confounder [8]byte
	copy(confounder[:], sig[sigConfOff:])
	k := s.sealKey()
	dec := newCFB8(k[:], doubled(seq), true)
	dec.XORKeyStream(confounder[:], confounder[:])
	dec.XORKeyStream(data, data)
	cksum := s.checksum(confounder[:], signed)
	if subtle.ConstantTimeCompare(cksum[:], sig[sigChecksumOff:sigChecksumOff+8]) != 1 {
		return errSignature
	}
	newCFB8(s.sk[:], doubled(cksum), false).XORKeyStream(seq[:], seq[:])
	if subtle.ConstantTimeCompare(seq[:], sig[sigSeqOff:sigSeqOff+8]) != 1 {
		return errSignature
	}
	s.seq++
	return nil
}
