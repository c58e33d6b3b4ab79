package ntlm

import (
	"time"

	"github.com/gosspi/gosspi/internal/ctxdata"
	"github.com/gosspi/gosspi/sspi"
)

// session is what an established context knows, on either side: the
// negotiated flags, the exported session key and the names. It is what
// ContextData carries to the user-mode half.
type session struct {
	client      bool
	flags       uint32 // negotiated NTLMSSP flags
	ctxFlags    sspi.ContextFlags
	key         [16]byte // ExportedSessionKey
	user        string
	domain      string
	workstation string
	target      string
	anonymous   bool
	sid         string
	start       time.Time
	expiry      time.Time
	sendSeq     uint32
	recvSeq     uint32
	// Bytes of keystream consumed per direction (for export); without ESS
	// both directions share sendStream.
	sendStream, recvStream uint64
}

// ContextData tags.
const (
	tagFlags uint16 = iota + 1
	tagCtxFlags
	tagClient
	tagKey
	tagSendSeq
	tagRecvSeq
	tagUser
	tagDomain
	tagWorkstation
	tagTarget
	tagAnonymous
	tagSID
	tagStart
	tagExpiry
	tagSendStream
	tagRecvStream
)

func (s *session) marshal() []byte {
	w := ctxdata.NewWriter(PackageName).
		Uint64(tagFlags, uint64(s.flags)).
		Uint64(tagCtxFlags, uint64(s.ctxFlags)).
		Bool(tagClient, s.client).
		Bytes(tagKey, s.key[:]).
		Uint64(tagSendSeq, uint64(s.sendSeq)).
		Uint64(tagRecvSeq, uint64(s.recvSeq)).
		String(tagUser, s.user).
		String(tagDomain, s.domain).
		String(tagWorkstation, s.workstation).
		String(tagTarget, s.target).
		Bool(tagAnonymous, s.anonymous).
		String(tagSID, s.sid).
		Time(tagStart, s.start).
		Time(tagExpiry, s.expiry).
		Uint64(tagSendStream, s.sendStream).
		Uint64(tagRecvStream, s.recvStream)
	return w.Finish()
}

// maxStreamReplay bounds how much RC4 keystream an import regenerates.
const maxStreamReplay = 1 << 34

func parseSession(b []byte) (*session, error) {
	bad := &sspi.Error{Op: "InitUserModeContext", Status: sspi.SEC_E_INVALID_TOKEN, Detail: "malformed NTLM context data"}
	r, err := ctxdata.Parse(b)
	if err != nil || r.Package != PackageName {
		return nil, bad
	}
	s := &session{}
	var u [6]uint64
	for i, tag := range []uint16{tagFlags, tagCtxFlags, tagSendSeq, tagRecvSeq, tagSendStream, tagRecvStream} {
		if u[i], err = r.Uint64(tag); err != nil {
			return nil, bad
		}
	}
	if u[0] > 0xFFFFFFFF || u[1] > 0xFFFFFFFF || u[2] > 0xFFFFFFFF || u[3] > 0xFFFFFFFF ||
		u[4] > maxStreamReplay || u[5] > maxStreamReplay {
		return nil, bad
	}
	s.flags, s.ctxFlags, s.sendSeq, s.recvSeq = uint32(u[0]), sspi.ContextFlags(u[1]), uint32(u[2]), uint32(u[3])
	s.sendStream, s.recvStream = u[4], u[5]
	key := r.Bytes(tagKey)
	if len(key) != 16 {
		return nil, bad
	}
	copy(s.key[:], key)
	s.client = r.Bool(tagClient)
	s.user, s.domain = r.String(tagUser), r.String(tagDomain)
	s.workstation, s.target = r.String(tagWorkstation), r.String(tagTarget)
	s.anonymous, s.sid = r.Bool(tagAnonymous), r.String(tagSID)
	if s.start, err = r.Time(tagStart); err != nil {
		return nil, bad
	}
	if s.expiry, err = r.Time(tagExpiry); err != nil {
		return nil, bad
	}
	return s, nil
}

// principal is DOMAIN\user.
func (s *session) principal() string {
	if s.anonymous {
		return `NT AUTHORITY\ANONYMOUS LOGON`
	}
	if s.domain == "" {
		return s.user
	}
	return s.domain + `\` + s.user
}

// contextFlags maps negotiated NTLMSSP flags to SSPI attributes.
func contextFlags(flags uint32, anonymous bool) sspi.ContextFlags {
	f := sspi.FlagConnection
	if flags&(NegotiateSign|NegotiateSeal) != 0 {
		f |= sspi.FlagIntegrity | sspi.FlagReplayDetect | sspi.FlagSequenceDetect
	}
	if flags&NegotiateSeal != 0 {
		f |= sspi.FlagConfidentiality
	}
	if flags&NegotiateIdentify != 0 {
		f |= sspi.FlagIdentify
	}
	if anonymous {
		f |= sspi.FlagNullSession
	}
	return f
}

var errUnsupportedAttr = &sspi.Error{Op: "QueryContextAttributes", Status: sspi.SEC_E_UNSUPPORTED_FUNCTION, Detail: "attribute not supported by NTLM"}

// attribute answers QueryContextAttributes for an established context.
func (s *session) attribute(attr sspi.ContextAttribute) (any, error) {
	switch attr {
	case sspi.SECPKG_ATTR_SIZES:
		return sspi.SecPkgContextSizes{MaxToken: MaxToken, MaxSignature: SignatureSize, BlockSize: 0, SecurityTrailer: SignatureSize}, nil
	case sspi.SECPKG_ATTR_NAMES:
		return sspi.SecPkgContextNames{UserName: s.principal()}, nil
	case sspi.SECPKG_ATTR_NATIVE_NAMES:
		return sspi.SecPkgContextNativeNames{ClientName: s.principal(), ServerName: s.target}, nil
	case sspi.SECPKG_ATTR_LIFESPAN:
		return sspi.SecPkgContextLifespan{Start: s.start, Expiry: s.expiry}, nil
	case sspi.SECPKG_ATTR_SESSION_KEY:
		return sspi.SecPkgContextSessionKey{SessionKey: append([]byte(nil), s.key[:]...)}, nil
	case sspi.SECPKG_ATTR_FLAGS:
		return sspi.SecPkgContextFlags{Flags: s.ctxFlags}, nil
	case sspi.SECPKG_ATTR_PACKAGE_INFO:
		return sspi.SecPkgContextPackageInfo{PackageInfo: Info()}, nil
	case sspi.SECPKG_ATTR_NEGOTIATION_INFO:
		return sspi.SecPkgContextNegotiationInfo{PackageInfo: Info(), NegotiationState: sspi.SECPKG_NEGOTIATION_COMPLETE}, nil
	case sspi.SECPKG_ATTR_GOSSPI_IDENTITY:
		return sspi.Identity{Package: PackageName, User: s.user, Domain: s.domain, Principal: s.principal(),
			SID: s.sid, Anonymous: s.anonymous}, nil
	}
	return nil, errUnsupportedAttr
}
