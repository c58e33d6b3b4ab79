package ntlmssp

import (
	"crypto/des"
	"crypto/md5"
	"encoding/binary"
	"strings"

	//lint:ignore SA1019 NTOWFv1 is MD4 by definition (MS-NLMP 3.3.1); no other hash interoperates.
	"golang.org/x/crypto/md4"
)

// This file holds the cryptography of MS-NLMP section 3.3 and 3.4.5: the
// one-way functions, the challenge responses, and the key derivations.

// NTOWFv1 is MD4(UNICODE(Passwd)) (MS-NLMP 3.3.1), the NT hash.
func NTOWFv1(password string) [16]byte {
	h := md4.New()
	h.Write(ToUTF16(password))
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// NTOWFv2 is HMAC_MD5(NTOWFv1(Passwd), UNICODE(Uppercase(User) ||
// UserDom)) (MS-NLMP 3.3.2), computed from the NT hash. It is also
// LMOWFv2.
func NTOWFv2(ntHash [16]byte, user, domain string) [16]byte {
	var buf [128]byte
	return HMACMD5(ntHash[:], appendUTF16(appendUTF16(buf[:0], strings.ToUpper(user)), domain))
}

// LMOWFv1 is the LM hash (MS-NLMP 3.3.1): DES of "KGS!@#$%" under the two
// halves of the uppercased, 14-byte padded OEM password.
func LMOWFv1(password string) [16]byte {
	p := make([]byte, 14)
	copy(p, strings.ToUpper(password))
	var out [16]byte
	desEncrypt(out[:8], p[:7], []byte("KGS!@#$%"))
	desEncrypt(out[8:], p[7:14], []byte("KGS!@#$%"))
	return out
}

// desKey expands 7 key bytes into a DES key (parity bits left zero, as DES
// ignores them).
func desKey(k []byte) []byte {
	return []byte{
		k[0] & 0xFE,
		(k[0]<<7 | k[1]>>1) & 0xFE,
		(k[1]<<6 | k[2]>>2) & 0xFE,
		(k[2]<<5 | k[3]>>3) & 0xFE,
		(k[3]<<4 | k[4]>>4) & 0xFE,
		(k[4]<<3 | k[5]>>5) & 0xFE,
		(k[5]<<2 | k[6]>>6) & 0xFE,
		k[6] << 1,
	}
}

func desEncrypt(dst, key7, src []byte) {
	c, err := des.NewCipher(desKey(key7))
	if err != nil {
		panic(err) // unreachable: the key is always 8 bytes
	}
	c.Encrypt(dst, src)
}

// desl is DESL(K, D) of MS-NLMP 6: three DES encryptions of D under the
// 16-byte key K padded to 21 bytes.
func desl(k [16]byte, d []byte) []byte {
	var k21 [21]byte
	copy(k21[:], k[:])
	out := make([]byte, 24)
	desEncrypt(out[0:8], k21[0:7], d)
	desEncrypt(out[8:16], k21[7:14], d)
	desEncrypt(out[16:24], k21[14:21], d)
	return out
}

// HMACMD5 is HMAC_MD5(K, M) of RFC 2104 over the concatenated parts, for
// the one-shot MACs of the handshake: MD5((K^opad) || MD5((K^ipad) || M)).
// crypto/hmac allocates two digests and their marshalled states per key;
// this works on one buffer (on the stack for short messages). The
// section 4.2 known answers and TestHMACMD5 check it; per-message signing,
// which reuses its state, keeps crypto/hmac.
func HMACMD5(key []byte, parts ...[]byte) [16]byte {
	if len(key) > md5.BlockSize {
		k := md5.Sum(key)
		key = k[:]
	}
	n := md5.BlockSize
	for _, p := range parts {
		n += len(p)
	}
	var stack [1024]byte
	buf := stack[:md5.BlockSize]
	if n > len(stack) {
		buf = make([]byte, md5.BlockSize, n)
	}
	var outer [md5.BlockSize + md5.Size]byte
	for i := range md5.BlockSize {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		buf[i] = k ^ 0x36
		outer[i] = k ^ 0x5c
	}
	for _, p := range parts {
		buf = append(buf, p...)
	}
	inner := md5.Sum(buf)
	copy(outer[md5.BlockSize:], inner[:])
	return md5.Sum(outer[:])
}

// NTLMv1Response computes the NTLMv1 responses and session base key of
// MS-NLMP 3.3.1. With ESS (NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) the
// NT response covers MD5(ServerChallenge || ClientChallenge) and the LM
// response is the client challenge padded with zeros.
func NTLMv1Response(ntHash, lmHash [16]byte, serverChallenge, clientChallenge [8]byte, ess bool) (lm, nt []byte, sessionBaseKey [16]byte) {
	if ess {
		d := md5.Sum(append(serverChallenge[:], clientChallenge[:]...))
		nt = desl(ntHash, d[:8])
		lm = make([]byte, 24)
		copy(lm, clientChallenge[:])
	} else {
		nt = desl(ntHash, serverChallenge[:])
		lm = desl(lmHash, serverChallenge[:])
	}
	sessionBaseKey = md4Sum(ntHash[:])
	return lm, nt, sessionBaseKey
}

func md4Sum(b []byte) [16]byte {
	h := md4.New()
	h.Write(b)
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// ntlmv2Temp builds "temp" of MS-NLMP 3.3.2: the NTLMv2_CLIENT_CHALLENGE
// with its trailing four zero bytes.
func ntlmv2Temp(timestamp uint64, clientChallenge [8]byte, avPairs []byte) []byte {
	return appendTemp(make([]byte, 0, 28+len(avPairs)+4), timestamp, clientChallenge, avPairs)
}

func appendTemp(b []byte, timestamp uint64, clientChallenge [8]byte, avPairs []byte) []byte {
	t := append(b, make([]byte, 28)...)[len(b):]
	t[0], t[1] = 1, 1 // RespType, HiRespType
	binary.LittleEndian.PutUint64(t[8:], timestamp)
	copy(t[16:], clientChallenge[:])
	t = append(t, avPairs...)
	return append(b, append(t, 0, 0, 0, 0)...)
}

// NTLMv2Response computes the NTLMv2 responses of MS-NLMP 3.3.2 from
// ResponseKeyNT (NTOWFv2). avPairs is the AV_PAIR list the client sends
// (with its MsvAvEOL). It returns LMv2 and NTLMv2_RESPONSE
// (NTProofStr || temp) and the SessionBaseKey.
func NTLMv2Response(responseKeyNT [16]byte, serverChallenge, clientChallenge [8]byte, timestamp uint64, avPairs []byte) (lm, nt []byte, sessionBaseKey [16]byte) {
	nt, sessionBaseKey = NTLMv2NT(responseKeyNT, serverChallenge, clientChallenge, timestamp, avPairs)
	return LMv2(responseKeyNT, serverChallenge, clientChallenge), nt, sessionBaseKey
}

func NTLMv2NT(responseKeyNT [16]byte, serverChallenge, clientChallenge [8]byte, timestamp uint64, avPairs []byte) (nt []byte, sessionBaseKey [16]byte) {
	nt = make([]byte, 16, 16+28+len(avPairs)+4)
	nt = append(nt, ntlmv2Temp(timestamp, clientChallenge, avPairs)...)
	proof := HMACMD5(responseKeyNT[:], serverChallenge[:], nt[16:])
	copy(nt, proof[:])
	return nt, HMACMD5(responseKeyNT[:], proof[:])
}

// LMv2 is LMv2_RESPONSE: HMAC_MD5(ResponseKeyLM, SC || CC) || CC.
func LMv2(responseKeyLM [16]byte, serverChallenge, clientChallenge [8]byte) []byte {
	p := HMACMD5(responseKeyLM[:], serverChallenge[:], clientChallenge[:])
	return append(p[:], clientChallenge[:]...)
}

// KXKEY is the key exchange key of MS-NLMP 3.4.5.1. For NTLMv2 it is the
// SessionBaseKey; for NTLMv1 it depends on ESS, LM_KEY and
// REQUEST_NON_NT_SESSION_KEY.
func KXKEY(flags uint32, v2 bool, sessionBaseKey [16]byte, lmResponse []byte, serverChallenge [8]byte, lmHash [16]byte) [16]byte {
	if v2 {
		return sessionBaseKey
	}
	switch {
	case flags&NegotiateExtendedSessionSecurity != 0:
		return HMACMD5(sessionBaseKey[:], serverChallenge[:], lmResponse[:8])
	case flags&NegotiateLMKey != 0:
		var out [16]byte
		desEncrypt(out[:8], lmHash[:7], lmResponse[:8])
		k := []byte{lmHash[7], 0xBD, 0xBD, 0xBD, 0xBD, 0xBD, 0xBD}
		desEncrypt(out[8:], k, lmResponse[:8])
		return out
	case flags&RequestNonNTSessionKey != 0:
		var out [16]byte
		copy(out[:8], lmHash[:8])
		return out
	}
	return sessionBaseKey
}

// RC4 encrypts src under key with a fresh RC4 state (MS-NLMP's
// RC4K), used for EncryptedRandomSessionKey. crypto/rc4 would put a 1 KiB
// state on the heap for these 16 bytes, twice per handshake; this keeps a
// 256-byte state on the stack. TestRC4Once checks it against crypto/rc4.
func RC4(key, src []byte) []byte {
	var s [256]byte
	for i := range s {
		s[i] = byte(i)
	}
	var j byte
	for i := 0; i < 256; i++ {
		j += s[i] + key[i%len(key)]
		s[i], s[j] = s[j], s[i]
	}
	out := make([]byte, len(src))
	var x, y byte
	for k, b := range src {
		x++
		y += s[x]
		s[x], s[y] = s[y], s[x]
		out[k] = b ^ s[s[x]+s[y]]
	}
	return out
}

const (
	clientSignMagic = "session key to client-to-server signing key magic constant\x00"
	serverSignMagic = "session key to server-to-client signing key magic constant\x00"
	clientSealMagic = "session key to client-to-server sealing key magic constant\x00"
	serverSealMagic = "session key to server-to-client sealing key magic constant\x00"
)

// SIGNKEY is MS-NLMP 3.4.5.2: with ESS, MD5 of the exported session key
// and the direction's magic constant; without ESS there is no signing key
// (nil).
func SIGNKEY(flags uint32, exportedSessionKey [16]byte, client bool) []byte {
	if flags&NegotiateExtendedSessionSecurity == 0 {
		return nil
	}
	magic := serverSignMagic
	if client {
		magic = clientSignMagic
	}
	s := md5.Sum(append(exportedSessionKey[:], magic...))
	return s[:]
}

// SEALKEY is MS-NLMP 3.4.5.3: with ESS the key is cut to 16, 7 or 5 bytes
// by NEGOTIATE_128/56 and hashed with the direction's magic constant;
// without ESS, LM_KEY (or DATAGRAM) cuts a 56- or 40-bit key padded with
// 0xA0 or 0xE538B0, and otherwise the exported session key is used.
func SEALKEY(flags uint32, exportedSessionKey [16]byte, client bool) []byte {
	k := exportedSessionKey[:]
	if flags&NegotiateExtendedSessionSecurity != 0 {
		switch {
		case flags&Negotiate128 != 0:
		case flags&Negotiate56 != 0:
			k = k[:7]
		default:
			k = k[:5]
		}
		magic := serverSealMagic
		if client {
			magic = clientSealMagic
		}
		s := md5.Sum(append(append([]byte{}, k...), magic...))
		return s[:]
	}
	if flags&(NegotiateLMKey|NegotiateDatagram) != 0 {
		if flags&Negotiate56 != 0 {
			return append(append([]byte{}, k[:7]...), 0xA0)
		}
		return append(append([]byte{}, k[:5]...), 0xE5, 0x38, 0xB0)
	}
	return append([]byte{}, k...)
}

// ComputeMIC is MS-NLMP 3.1.5.1.2: HMAC_MD5(ExportedSessionKey,
// NEGOTIATE || CHALLENGE || AUTHENTICATE), the MIC field zeroed.
func ComputeMIC(exportedSessionKey [16]byte, neg, chal, auth []byte) [16]byte {
	var zero [micSize]byte
	return HMACMD5(exportedSessionKey[:], neg, chal, auth[:MICOffset], zero[:], auth[MICOffset+micSize:])
}
