package kerberos

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// This file decodes the NDR (DCE RPC transfer syntax, NDR 2.0 little
// endian) structures of the PAC: KERB_VALIDATION_INFO (MS-PAC 2.5) and the
// claims of PAC_CLIENT_CLAIMS_INFO (MS-PAC 2.11, MS-ADTS 2.2.18), each
// wrapped in the type serialization version 1 headers of MS-RPCE 2.2.6.
// The PAC is decoded before its signature is checked (the signatures'
// places come from the decoding), so the decoder takes it as hostile:
// every count and offset is checked against what is left of the buffer
// before it is used, no allocation is larger than the buffer, and
// arithmetic stays within 32 bits where int is.

var errNDR = errors.New("kerberos: malformed NDR data in the PAC")

// ndrReader reads NDR 2.0 little-endian primitives with their alignment
// (relative to the start of the stream), and remembers the first
// overrun: after one, every read returns zero and bad is set.
type ndrReader struct {
	b   []byte
	off int
	bad bool
}

func (r *ndrReader) fail() { r.bad = true; r.off = len(r.b) }

func (r *ndrReader) align(n int) {
	if m := r.off % n; m != 0 {
		r.skip(n - m)
	}
}

func (r *ndrReader) skip(n int) {
	if n < 0 || len(r.b)-r.off < n {
		r.fail()
		return
	}
	r.off += n
}

func (r *ndrReader) bytes(n int) []byte {
	if n < 0 || len(r.b)-r.off < n {
		r.fail()
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *ndrReader) u16() uint16 {
	r.align(2)
	if b := r.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *ndrReader) u32() uint32 {
	r.align(4)
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// u64 is an 8-byte integer aligned to 8 (hyper).
func (r *ndrReader) u64() uint64 {
	r.align(8)
	if b := r.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// fileTime is a FILETIME: two 32-bit halves, aligned to 4.
func (r *ndrReader) fileTime() fileTime {
	lo := r.u32()
	hi := r.u32()
	return fileTime(uint64(hi)<<32 | uint64(lo))
}

// count reads a conformance (the element count of a conformant array) and
// checks that n elements of size bytes each can still be in the stream.
func (r *ndrReader) count(size int) int {
	n := r.u32()
	if r.bad || uint64(n)*uint64(size) > uint64(len(r.b)-r.off) {
		r.fail()
		return 0
	}
	return int(n)
}

// typeSerialization1 checks the headers of MS-RPCE 2.2.6 (common header:
// version 1, little endian, length 8; private header: the object buffer
// length) and returns a reader over the object buffer.
func typeSerialization1(b []byte) (*ndrReader, bool) {
	if len(b) < 16 || b[0] != 1 || b[1] != 0x10 || binary.LittleEndian.Uint16(b[2:]) != 8 {
		return nil, false
	}
	n := binary.LittleEndian.Uint32(b[8:])
	if uint64(n) > uint64(len(b)-16) {
		return nil, false
	}
	// Alignment counts from the start of the object buffer, which is 8
	// aligned within b; the reader runs on the object buffer alone.
	return &ndrReader{b: b[16 : 16+int(n)]}, true
}

// fileTime is a Windows FILETIME: 100 ns intervals since 1601-01-01 UTC.
type fileTime uint64

// fileTimeNever is the "never" (and "not set") value of MS-PAC 2.5.
const fileTimeNever fileTime = 0x7fffffffffffffff

const fileTimeUnixEpoch = 116444736000000000 // 1970-01-01 as a FILETIME

// Time returns the time, or the zero time for 0 and "never".
func (t fileTime) Time() time.Time {
	if t == 0 || t >= fileTimeNever {
		return time.Time{}
	}
	d := int64(t) - fileTimeUnixEpoch
	return time.Unix(d/1e7, d%1e7*100).UTC()
}

// fileTimeOf converts a time to a FILETIME (whole seconds, as the KDC
// writes PAC_CLIENT_INFO for a ticket's authtime).
func fileTimeOf(t time.Time) fileTime {
	return fileTime(t.Unix()*1e7 + fileTimeUnixEpoch + int64(t.Nanosecond()/100))
}

// unicodeString is the scalar part of RPC_UNICODE_STRING (MS-DTYP
// 2.3.10): lengths in bytes and the referent of its buffer.
type unicodeString struct {
	length, maxLength uint16
	ptr               uint32
}

func (r *ndrReader) unicodeString() unicodeString {
	return unicodeString{length: r.u16(), maxLength: r.u16(), ptr: r.u32()}
}

// deferredString reads the buffer of s (a conformant varying array of
// WCHAR) and returns it as UTF-8.
func (r *ndrReader) deferredString(s unicodeString) string {
	if s.ptr == 0 {
		if s.length != 0 {
			r.fail()
		}
		return ""
	}
	max, offset, actual := r.u32(), r.u32(), r.u32()
	if r.bad || offset != 0 || actual > max || uint64(actual)*2 != uint64(s.length) || s.length > s.maxLength {
		r.fail()
		return ""
	}
	return utf16LE(r.bytes(int(actual) * 2))
}

// utf16LE decodes little-endian UTF-16 (an odd trailing byte is dropped;
// unpaired surrogates become U+FFFD). ASCII takes the fast path.
func utf16LE(b []byte) string {
	n := len(b) / 2
	ascii := true
	for i := 0; i < n; i++ {
		if b[2*i+1] != 0 || b[2*i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		var sb strings.Builder
		sb.Grow(n)
		for i := 0; i < n; i++ {
			sb.WriteByte(b[2*i])
		}
		return sb.String()
	}
	u := make([]uint16, n)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	out := make([]byte, 0, n*3)
	for _, c := range utf16.Decode(u) {
		out = utf8.AppendRune(out, c)
	}
	return string(out)
}

// sidBytes is a SID in its binary form (MS-DTYP 2.4.2.2): revision,
// sub-authority count, 48-bit big-endian identifier authority, then the
// little-endian sub-authorities. It is a view into the PAC.
type sidBytes []byte

// maxSubAuthorities is the SID limit of MS-DTYP 2.4.2.
const maxSubAuthorities = 15

// parseSID checks a binary SID that must fill b exactly.
func parseSID(b []byte) (sidBytes, bool) {
	if len(b) < 8 || b[0] != 1 || b[1] > maxSubAuthorities || len(b) != 8+4*int(b[1]) {
		return nil, false
	}
	return sidBytes(b), true
}

// deferredSID reads an RPC_SID (MS-DTYP 2.4.2.3): the conformance (the
// sub-authority count) and the structure.
func (r *ndrReader) deferredSID() sidBytes {
	n := r.u32()
	if r.bad || n > maxSubAuthorities {
		r.fail()
		return nil
	}
	b := r.bytes(8 + 4*int(n))
	if b == nil || b[0] != 1 || uint32(b[1]) != n {
		r.fail()
		return nil
	}
	return sidBytes(b)
}

// appendString appends S-1-<authority>-<sub>... (MS-DTYP 2.4.2.1).
func (s sidBytes) appendString(dst []byte) []byte {
	if len(s) < 8 {
		return dst
	}
	dst = append(dst, "S-"...)
	dst = strconv.AppendUint(dst, uint64(s[0]), 10)
	var auth uint64
	for _, c := range s[2:8] {
		auth = auth<<8 | uint64(c)
	}
	dst = append(dst, '-')
	if auth >= 1<<32 {
		dst = append(dst, "0x"...)
		dst = strconv.AppendUint(dst, auth, 16)
	} else {
		dst = strconv.AppendUint(dst, auth, 10)
	}
	for i := 8; i+4 <= len(s); i += 4 {
		dst = append(dst, '-')
		dst = strconv.AppendUint(dst, uint64(binary.LittleEndian.Uint32(s[i:])), 10)
	}
	return dst
}

// String returns the SID's string form, or "" for none.
func (s sidBytes) String() string {
	if len(s) == 0 {
		return ""
	}
	return string(s.appendString(make([]byte, 0, 16+11*int(s[1]))))
}

// groupMembership is GROUP_MEMBERSHIP (MS-PAC 2.2.2): a RID in a domain.
type groupMembership struct {
	RelativeID, Attributes uint32
}

// sidAndAttributes is KERB_SID_AND_ATTRIBUTES (MS-PAC 2.2.1).
type sidAndAttributes struct {
	SID        sidBytes
	Attributes uint32
}

// The SE_GROUP_* attributes of MS-PAC 2.2.1 (MS-DTYP 2.4.2.4... for tokens).
const (
	seGroupMandatory        = 0x00000001
	seGroupEnabledByDefault = 0x00000002
	seGroupEnabled          = 0x00000004
	seGroupResource         = 0x20000000
)

func (r *ndrReader) deferredGroups(n uint32) []groupMembership {
	m := r.count(8)
	if r.bad || uint32(m) != n {
		r.fail()
		return nil
	}
	if m == 0 {
		return nil
	}
	g := make([]groupMembership, m)
	for i := range g {
		g[i] = groupMembership{r.u32(), r.u32()}
	}
	return g
}

// kerbValidationInfo is KERB_VALIDATION_INFO (MS-PAC 2.5), the PAC's
// logon information, as the KDC's NETLOGON_VALIDATION_SAM_INFO4 prefix.
type kerbValidationInfo struct {
	LogonTime, LogoffTime, KickOffTime                     fileTime
	PasswordLastSet, PasswordCanChange, PasswordMustChange fileTime
	EffectiveName, FullName, LogonScript, ProfilePath      string
	HomeDirectory, HomeDirectoryDrive                      string
	LogonCount, BadPasswordCount                           uint16
	UserID, PrimaryGroupID                                 uint32
	GroupIDs                                               []groupMembership
	UserFlags                                              uint32
	UserSessionKey                                         [16]byte
	LogonServer, LogonDomainName                           string
	LogonDomainID                                          sidBytes
	UserAccountControl, SubAuthStatus                      uint32
	LastSuccessfulILogon, LastFailedILogon                 fileTime
	FailedILogonCount                                      uint32
	ExtraSIDs                                              []sidAndAttributes
	ResourceGroupDomainSID                                 sidBytes
	ResourceGroupIDs                                       []groupMembership
}

// maxPACGroups bounds the SIDs a logon info may carry (Windows tokens
// stop at 1015 groups; MaxTokenSize allows a few thousand).
const maxPACGroups = 4096

// decodeKerbValidationInfo decodes the logon information buffer (type 1).
func decodeKerbValidationInfo(b []byte) (*kerbValidationInfo, error) {
	r, ok := typeSerialization1(b)
	if !ok {
		return nil, errNDR
	}
	if r.u32() == 0 { // the top-level unique pointer
		return nil, errNDR
	}
	v := &kerbValidationInfo{}
	v.LogonTime, v.LogoffTime, v.KickOffTime = r.fileTime(), r.fileTime(), r.fileTime()
	v.PasswordLastSet, v.PasswordCanChange, v.PasswordMustChange = r.fileTime(), r.fileTime(), r.fileTime()
	var strs [6]unicodeString
	for i := range strs {
		strs[i] = r.unicodeString()
	}
	v.LogonCount, v.BadPasswordCount = r.u16(), r.u16()
	v.UserID, v.PrimaryGroupID = r.u32(), r.u32()
	groupCount, groupPtr := r.u32(), r.u32()
	v.UserFlags = r.u32()
	copy(v.UserSessionKey[:], r.bytes(16))
	logonServer, logonDomain := r.unicodeString(), r.unicodeString()
	domainIDPtr := r.u32()
	r.skip(8) // Reserved1
	v.UserAccountControl, v.SubAuthStatus = r.u32(), r.u32()
	v.LastSuccessfulILogon, v.LastFailedILogon = r.fileTime(), r.fileTime()
	v.FailedILogonCount = r.u32()
	r.u32() // Reserved3
	sidCount, extraPtr := r.u32(), r.u32()
	resDomainPtr := r.u32()
	resCount, resPtr := r.u32(), r.u32()
	if r.bad || groupCount > maxPACGroups || sidCount > maxPACGroups || resCount > maxPACGroups ||
		(groupPtr == 0) != (groupCount == 0) || (extraPtr == 0) != (sidCount == 0) || (resPtr == 0) != (resCount == 0) {
		return nil, errNDR
	}

	// The deferred pointees, in the order of their pointers.
	dst := [6]*string{&v.EffectiveName, &v.FullName, &v.LogonScript, &v.ProfilePath, &v.HomeDirectory, &v.HomeDirectoryDrive}
	for i, s := range strs {
		*dst[i] = r.deferredString(s)
	}
	if groupPtr != 0 {
		v.GroupIDs = r.deferredGroups(groupCount)
	}
	v.LogonServer = r.deferredString(logonServer)
	v.LogonDomainName = r.deferredString(logonDomain)
	if domainIDPtr != 0 {
		v.LogonDomainID = r.deferredSID()
	}
	if extraPtr != 0 {
		n := r.count(8)
		if r.bad || uint32(n) != sidCount {
			return nil, errNDR
		}
		v.ExtraSIDs = make([]sidAndAttributes, n)
		ptrs := make([]uint32, n)
		for i := range v.ExtraSIDs {
			ptrs[i] = r.u32()
			v.ExtraSIDs[i].Attributes = r.u32()
		}
		for i, p := range ptrs {
			if p == 0 {
				return nil, errNDR // an entry without a SID
			}
			v.ExtraSIDs[i].SID = r.deferredSID()
		}
	}
	if resDomainPtr != 0 {
		v.ResourceGroupDomainSID = r.deferredSID()
	}
	if resPtr != 0 {
		v.ResourceGroupIDs = r.deferredGroups(resCount)
	}
	if r.bad || len(v.LogonDomainID) == 0 {
		return nil, errNDR
	}
	if len(v.ResourceGroupIDs) > 0 && len(v.ResourceGroupDomainSID) == 0 {
		return nil, errNDR
	}
	return v, nil
}
