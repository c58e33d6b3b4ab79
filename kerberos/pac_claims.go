package kerberos

import (
	"encoding/binary"
	"errors"

	"github.com/gosspi/gosspi/sspi"
)

// Claims of PAC_CLIENT_CLAIMS_INFO (MS-PAC 2.11): a CLAIMS_SET_METADATA
// (MS-ADTS 2.2.18.8) whose ClaimsSet is a CLAIMS_SET (2.2.18.7), NDR
// encoded and, above a few hundred bytes, compressed with LZ77+Huffman
// (MS-XCA 2.1, COMPRESSION_FORMAT_XPRESS_HUFF), as Windows and Samba
// compress it.

// CLAIMS_COMPRESSION_FORMAT (MS-ADTS 2.2.18.4).
const (
	claimsCompressionNone       = 0
	claimsCompressionXpressHuff = 4
)

// CLAIM_TYPE (MS-ADTS 2.2.18.2).
const (
	claimTypeInt64   = 1
	claimTypeUint64  = 2
	claimTypeString  = 3
	claimTypeBoolean = 6
)

// maxClaimsSet bounds an uncompressed claims set: one LZ77+Huffman block
// (64 KiB), far more than a ticket's PAC carries.
const maxClaimsSet = 1 << 16

// maxClaimValues bounds the claims, and the values, of one claims set.
const maxClaimValues = 4096

var errClaims = errors.New("kerberos: malformed claims in the PAC")

// decodeClientClaims decodes PAC_CLIENT_CLAIMS_INFO into claims.
func decodeClientClaims(b []byte) ([]sspi.Claim, error) {
	r, ok := typeSerialization1(b)
	if !ok || r.u32() == 0 {
		return nil, errClaims
	}
	size, setPtr := r.u32(), r.u32()
	format := r.u16()
	uncompressed := r.u32()
	r.u16() // usReservedType
	resSize, resPtr := r.u32(), r.u32()
	var set []byte
	if setPtr != 0 {
		n := r.count(1)
		if uint32(n) != size {
			return nil, errClaims
		}
		set = r.bytes(n)
	}
	if resPtr != 0 {
		if n := r.count(1); uint32(n) != resSize {
			return nil, errClaims
		}
		r.skip(int(resSize))
	}
	if r.bad {
		return nil, errClaims
	}
	if set == nil {
		return nil, nil
	}
	switch format {
	case claimsCompressionNone:
	case claimsCompressionXpressHuff:
		if uncompressed > maxClaimsSet {
			return nil, errClaims
		}
		var err error
		if set, err = lzxpressHuffmanDecompress(set, int(uncompressed)); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("kerberos: claims compressed in an unsupported format")
	}
	return decodeClaimsSet(set)
}

// decodeClaimsSet decodes an NDR CLAIMS_SET (MS-ADTS 2.2.18.7).
func decodeClaimsSet(b []byte) ([]sspi.Claim, error) {
	r, ok := typeSerialization1(b)
	if !ok || r.u32() == 0 {
		return nil, errClaims
	}
	arrays, arraysPtr := r.u32(), r.u32()
	r.u16() // usReservedType
	resSize, resPtr := r.u32(), r.u32()
	if r.bad || (arraysPtr == 0) != (arrays == 0) || arrays > maxClaimValues {
		return nil, errClaims
	}
	type claimsArray struct {
		source     uint16
		count, ptr uint32
	}
	var arr []claimsArray
	if arraysPtr != 0 {
		n := r.count(12)
		if uint32(n) != arrays {
			return nil, errClaims
		}
		arr = make([]claimsArray, n)
		for i := range arr {
			arr[i].source = r.u16()
			arr[i].count, arr[i].ptr = r.u32(), r.u32()
		}
	}
	var out []sspi.Claim
	total := 0
	for _, a := range arr {
		if (a.ptr == 0) != (a.count == 0) {
			return nil, errClaims
		}
		if a.ptr == 0 {
			continue
		}
		total += int(a.count)
		if total > maxClaimValues {
			return nil, errClaims
		}
		claims, err := r.claimEntries(a.count, a.source)
		if err != nil {
			return nil, err
		}
		out = append(out, claims...)
	}
	if resPtr != 0 {
		if n := r.count(1); uint32(n) != resSize {
			return nil, errClaims
		}
		r.skip(int(resSize))
	}
	if r.bad {
		return nil, errClaims
	}
	return out, nil
}

// claimEntries reads a deferred array of CLAIM_ENTRY (MS-ADTS 2.2.18.3):
// the entries' scalars (the Id pointer, the type, and the union of the
// values: its discriminant, the count and the values pointer), then
// their pointees in order.
func (r *ndrReader) claimEntries(count uint32, source uint16) ([]sspi.Claim, error) {
	n := r.count(16)
	if r.bad || uint32(n) != count {
		return nil, errClaims
	}
	type entry struct {
		idPtr      uint32
		typ, disc  uint16
		valueCount uint32
		valuesPtr  uint32
	}
	es := make([]entry, n)
	for i := range es {
		es[i] = entry{idPtr: r.u32(), typ: r.u16(), disc: r.u16(), valueCount: r.u32(), valuesPtr: r.u32()}
		if es[i].typ != es[i].disc || es[i].idPtr == 0 || (es[i].valuesPtr == 0) != (es[i].valueCount == 0) || es[i].valueCount > maxClaimValues {
			return nil, errClaims
		}
	}
	out := make([]sspi.Claim, n)
	for i, e := range es {
		out[i] = sspi.Claim{ID: r.stringz(), Source: source}
		if e.valuesPtr == 0 {
			continue
		}
		m := r.count(4)
		if uint32(m) != e.valueCount {
			return nil, errClaims
		}
		vals := make([]any, m)
		switch e.typ {
		case claimTypeInt64:
			for j := range vals {
				vals[j] = int64(r.u64())
			}
		case claimTypeUint64:
			for j := range vals {
				vals[j] = r.u64()
			}
		case claimTypeBoolean:
			for j := range vals {
				vals[j] = r.u64() != 0
			}
		case claimTypeString:
			ptrs := make([]uint32, m)
			for j := range ptrs {
				ptrs[j] = r.u32()
			}
			for j, p := range ptrs {
				if p == 0 {
					vals[j] = ""
					continue
				}
				vals[j] = r.stringz()
			}
		default:
			return nil, errClaims
		}
		out[i].Values = vals
		if r.bad {
			return nil, errClaims
		}
	}
	return out, nil
}

// stringz reads a deferred [string] wchar_t* (a conformant varying array
// ending in a NUL, which is dropped).
func (r *ndrReader) stringz() string {
	max, offset, actual := r.u32(), r.u32(), r.u32()
	if r.bad || offset != 0 || actual > max || actual == 0 || uint64(actual)*2 > uint64(len(r.b)-r.off) {
		r.fail()
		return ""
	}
	b := r.bytes(int(actual) * 2)
	if b[len(b)-2] != 0 || b[len(b)-1] != 0 {
		r.fail()
		return ""
	}
	return utf16LE(b[:len(b)-2])
}

// lzxpressHuffmanDecompress decompresses one LZ77+Huffman block (MS-XCA
// 2.2.4) into exactly size bytes: a table of 512 4-bit code lengths,
// then the Huffman-coded literals and matches in 16-bit little-endian
// words, read most significant bit first.
func lzxpressHuffmanDecompress(in []byte, size int) ([]byte, error) {
	if size < 0 || size > maxClaimsSet || len(in) < 256+4 {
		return nil, errClaims
	}
	var lengths [512]uint8
	for i := range lengths {
		lengths[i] = in[i/2] >> (4 * (i % 2)) & 0xf
	}
	// The canonical decoding table of MS-XCA 2.2.4: 2^15 entries, a
	// symbol of bit length l filling 2^(15-l) of them, by length then
	// symbol.
	table := make([]uint16, 1<<15)
	next := 0
	for l := uint8(1); l <= 15; l++ {
		for sym := range lengths {
			if lengths[sym] != l {
				continue
			}
			n := 1 << (15 - l)
			if next+n > len(table) {
				return nil, errClaims
			}
			for k := 0; k < n; k++ {
				table[next+k] = uint16(sym)
			}
			next += n
		}
	}
	if next != len(table) {
		return nil, errClaims
	}
	pos := 256
	read16 := func() uint32 {
		if pos+2 > len(in) {
			pos += 2
			return 0 // past the end reads zeros; the output bound stops it
		}
		v := uint32(binary.LittleEndian.Uint16(in[pos:]))
		pos += 2
		return v
	}
	bits := read16()<<16 | read16()
	extra := 16
	consume := func(n int) {
		bits <<= uint(n)
		extra -= n
		if extra < 0 {
			bits |= read16() << uint(-extra)
			extra += 16
		}
	}
	out := make([]byte, 0, size)
	for len(out) < size {
		if pos > len(in)+4 {
			return nil, errClaims // ran out of input
		}
		sym := table[bits>>17]
		consume(int(lengths[sym]))
		if sym < 256 {
			out = append(out, byte(sym))
			continue
		}
		sym -= 256
		length := int(sym & 0xf)
		offBits := int(sym >> 4)
		if length == 15 {
			if pos >= len(in) {
				return nil, errClaims
			}
			length = int(in[pos])
			pos++
			if length == 255 {
				if pos+2 > len(in) {
					return nil, errClaims
				}
				length = int(binary.LittleEndian.Uint16(in[pos:]))
				pos += 2
				if length == 0 {
					if pos+4 > len(in) {
						return nil, errClaims
					}
					l32 := binary.LittleEndian.Uint32(in[pos:])
					pos += 4
					if l32 > maxClaimsSet {
						return nil, errClaims
					}
					length = int(l32)
				}
				if length < 15 {
					return nil, errClaims
				}
				length -= 15
			}
			length += 15
		}
		length += 3
		off := int(1) << offBits
		if offBits > 0 {
			off += int(bits >> (32 - uint(offBits)))
		}
		consume(offBits)
		if off > len(out) || length > size-len(out) {
			return nil, errClaims
		}
		for k := 0; k < length; k++ { // may overlap: byte by byte
			out = append(out, out[len(out)-off])
		}
	}
	return out, nil
}
