package sspi

// BufferType is a SecBuffer's BufferType: a SECBUFFER_* value, possibly with
// the SECBUFFER_READONLY or SECBUFFER_READONLY_WITH_CHECKSUM attribute bits.
type BufferType uint32

// SECBUFFER_* values from sspi.h.
const (
	SECBUFFER_EMPTY                           BufferType = 0
	SECBUFFER_DATA                            BufferType = 1
	SECBUFFER_TOKEN                           BufferType = 2
	SECBUFFER_PKG_PARAMS                      BufferType = 3
	SECBUFFER_MISSING                         BufferType = 4
	SECBUFFER_EXTRA                           BufferType = 5
	SECBUFFER_STREAM_TRAILER                  BufferType = 6
	SECBUFFER_STREAM_HEADER                   BufferType = 7
	SECBUFFER_NEGOTIATION_INFO                BufferType = 8
	SECBUFFER_PADDING                         BufferType = 9
	SECBUFFER_STREAM                          BufferType = 10
	SECBUFFER_MECHLIST                        BufferType = 11
	SECBUFFER_MECHLIST_SIGNATURE              BufferType = 12
	SECBUFFER_TARGET                          BufferType = 13
	SECBUFFER_CHANNEL_BINDINGS                BufferType = 14
	SECBUFFER_CHANGE_PASS_RESPONSE            BufferType = 15
	SECBUFFER_TARGET_HOST                     BufferType = 16
	SECBUFFER_ALERT                           BufferType = 17
	SECBUFFER_APPLICATION_PROTOCOLS           BufferType = 18
	SECBUFFER_SRTP_PROTECTION_PROFILES        BufferType = 19
	SECBUFFER_SRTP_MASTER_KEY_IDENTIFIER      BufferType = 20
	SECBUFFER_TOKEN_BINDING                   BufferType = 21
	SECBUFFER_PRESHARED_KEY                   BufferType = 22
	SECBUFFER_PRESHARED_KEY_IDENTITY          BufferType = 23
	SECBUFFER_DTLS_MTU                        BufferType = 24
	SECBUFFER_SEND_GENERIC_TLS_EXTENSION      BufferType = 25
	SECBUFFER_SUBSCRIBE_GENERIC_TLS_EXTENSION BufferType = 26
	SECBUFFER_FLAGS                           BufferType = 27
	SECBUFFER_TRAFFIC_SECRETS                 BufferType = 28
	SECBUFFER_CERTIFICATE_REQUEST_CONTEXT     BufferType = 29

	// Attribute bits.
	SECBUFFER_ATTRMASK               BufferType = 0xF0000000
	SECBUFFER_READONLY               BufferType = 0x80000000
	SECBUFFER_READONLY_WITH_CHECKSUM BufferType = 0x10000000
	SECBUFFER_RESERVED               BufferType = 0x60000000
)

// SECBUFFER_VERSION is the SecBufferDesc version.
const SECBUFFER_VERSION = 0

var bufferTypeNames = map[BufferType]string{
	0: "SECBUFFER_EMPTY", 1: "SECBUFFER_DATA", 2: "SECBUFFER_TOKEN", 3: "SECBUFFER_PKG_PARAMS",
	4: "SECBUFFER_MISSING", 5: "SECBUFFER_EXTRA", 6: "SECBUFFER_STREAM_TRAILER",
	7: "SECBUFFER_STREAM_HEADER", 8: "SECBUFFER_NEGOTIATION_INFO", 9: "SECBUFFER_PADDING",
	10: "SECBUFFER_STREAM", 11: "SECBUFFER_MECHLIST", 12: "SECBUFFER_MECHLIST_SIGNATURE",
	13: "SECBUFFER_TARGET", 14: "SECBUFFER_CHANNEL_BINDINGS", 15: "SECBUFFER_CHANGE_PASS_RESPONSE",
	16: "SECBUFFER_TARGET_HOST", 17: "SECBUFFER_ALERT", 18: "SECBUFFER_APPLICATION_PROTOCOLS",
	19: "SECBUFFER_SRTP_PROTECTION_PROFILES", 20: "SECBUFFER_SRTP_MASTER_KEY_IDENTIFIER",
	21: "SECBUFFER_TOKEN_BINDING", 22: "SECBUFFER_PRESHARED_KEY", 23: "SECBUFFER_PRESHARED_KEY_IDENTITY",
	24: "SECBUFFER_DTLS_MTU", 25: "SECBUFFER_SEND_GENERIC_TLS_EXTENSION",
	26: "SECBUFFER_SUBSCRIBE_GENERIC_TLS_EXTENSION", 27: "SECBUFFER_FLAGS",
	28: "SECBUFFER_TRAFFIC_SECRETS", 29: "SECBUFFER_CERTIFICATE_REQUEST_CONTEXT",
}

// Base returns the type without its attribute bits.
func (t BufferType) Base() BufferType { return t &^ SECBUFFER_ATTRMASK }

// ReadOnly reports whether the buffer is SECBUFFER_READONLY or
// SECBUFFER_READONLY_WITH_CHECKSUM: a package must not change it.
func (t BufferType) ReadOnly() bool {
	return t&(SECBUFFER_READONLY|SECBUFFER_READONLY_WITH_CHECKSUM) != 0
}

// String returns the SECBUFFER_* name, with "|SECBUFFER_READONLY" and the
// like for attribute bits.
func (t BufferType) String() string {
	n, ok := bufferTypeNames[t.Base()]
	if !ok {
		n = "SECBUFFER(" + formatFlags(uint32(t.Base()), nil) + ")"
	}
	if t&SECBUFFER_READONLY != 0 {
		n += "|SECBUFFER_READONLY"
	}
	if t&SECBUFFER_READONLY_WITH_CHECKSUM != 0 {
		n += "|SECBUFFER_READONLY_WITH_CHECKSUM"
	}
	return n
}

// SecBuffer is one buffer of a SecBufferDesc.
//
// Buffer holds the bytes. For SECBUFFER_MISSING, which carries a count and
// no data, Count holds the number of bytes still needed; for
// SECBUFFER_EXTRA, Buffer is the unconsumed tail of the input and Count is
// its length, as cbBuffer would be on Windows.
type SecBuffer struct {
	BufferType BufferType
	Buffer     []byte
	Count      int
}

// Size returns cbBuffer: len(Buffer), or Count for a buffer that carries a
// count without data.
func (b *SecBuffer) Size() int {
	if b.Buffer == nil {
		return b.Count
	}
	return len(b.Buffer)
}

// SecBufferDesc is an array of SecBuffers (SecBufferDesc).
type SecBufferDesc struct {
	Version uint32 // SECBUFFER_VERSION
	Buffers []SecBuffer
}

// NewDesc returns a descriptor holding bufs.
func NewDesc(bufs ...SecBuffer) *SecBufferDesc {
	return &SecBufferDesc{Version: SECBUFFER_VERSION, Buffers: bufs}
}

// Find returns the first buffer whose base type is t, or nil.
func (d *SecBufferDesc) Find(t BufferType) *SecBuffer {
	if d == nil {
		return nil
	}
	for i := range d.Buffers {
		if d.Buffers[i].BufferType.Base() == t {
			return &d.Buffers[i]
		}
	}
	return nil
}

// Token returns the bytes of the first SECBUFFER_TOKEN, or nil.
func (d *SecBufferDesc) Token() []byte {
	if b := d.Find(SECBUFFER_TOKEN); b != nil {
		return b.Buffer
	}
	return nil
}

// Clone returns a deep copy of d, so that it can cross the host boundary
// without aliasing the caller's memory.
func (d *SecBufferDesc) Clone() *SecBufferDesc {
	if d == nil {
		return nil
	}
	c := &SecBufferDesc{Version: d.Version, Buffers: make([]SecBuffer, len(d.Buffers))}
	for i, b := range d.Buffers {
		c.Buffers[i] = b
		if b.Buffer != nil {
			c.Buffers[i].Buffer = append([]byte(nil), b.Buffer...)
		}
	}
	return c
}

// Data representation (TargetDataRep).
const (
	SECURITY_NETWORK_DREP uint32 = 0x00000000
	SECURITY_NATIVE_DREP  uint32 = 0x00000010
)

// CredentialUse is fCredentialUse of AcquireCredentialsHandle.
type CredentialUse uint32

// SECPKG_CRED_* values.
const (
	SECPKG_CRED_INBOUND  CredentialUse = 0x1
	SECPKG_CRED_OUTBOUND CredentialUse = 0x2
	SECPKG_CRED_BOTH     CredentialUse = 0x3
)

// String returns the SECPKG_CRED_* name.
func (u CredentialUse) String() string {
	switch u {
	case SECPKG_CRED_INBOUND:
		return "SECPKG_CRED_INBOUND"
	case SECPKG_CRED_OUTBOUND:
		return "SECPKG_CRED_OUTBOUND"
	case SECPKG_CRED_BOTH:
		return "SECPKG_CRED_BOTH"
	}
	return "SECPKG_CRED(" + formatFlags(uint32(u), nil) + ")"
}

// Quality-of-protection values for EncryptMessage.
const (
	SECQOP_WRAP_NO_ENCRYPT uint32 = 0x80000001
	SECQOP_WRAP_OOB_DATA   uint32 = 0x40000000
	KERB_WRAP_NO_ENCRYPT   uint32 = 0x80000001
)
