package ntlm

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/gosspi/gosspi/internal/ctxdata"
	"github.com/gosspi/gosspi/internal/ntlmssp"
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
	groups      []string // group SIDs, from a domain controller
	start       time.Time
	expiry      time.Time
	sendSeq     uint32
	recvSeq     uint32
	// Bytes of keystream consumed per direction (for export); without ESS
	// both directions share sendStream.
	sendStream, recvStream uint64
}

// ContextData tags. The fixed-size state travels in one field, so that a
// blob has few fields (and parses without allocating much).
const (
	tagState       uint16 = 1 // flags, ctxFlags, seqs, keystream counts, client, anonymous
	tagKey         uint16 = 2
	tagUser        uint16 = 3
	tagDomain      uint16 = 4
	tagWorkstation uint16 = 5 // omitted when empty
	tagTarget      uint16 = 6 // omitted when empty
	tagSID         uint16 = 7 // omitted when empty
	tagLifetime    uint16 = 8 // start, expiry: Unix nanoseconds
	tagGroups      uint16 = 9 // group SIDs, comma-separated; omitted when none

	stateSize = 4 + 4 + 4 + 4 + 8 + 8 + 1 + 1
)

func unixNano(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}

func fromUnixNano(n uint64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

func (s *session) marshal() []byte {
	var st [stateSize]byte
	binary.BigEndian.PutUint32(st[0:], s.flags)
	binary.BigEndian.PutUint32(st[4:], uint32(s.ctxFlags))
	binary.BigEndian.PutUint32(st[8:], s.sendSeq)
	binary.BigEndian.PutUint32(st[12:], s.recvSeq)
	binary.BigEndian.PutUint64(st[16:], s.sendStream)
	binary.BigEndian.PutUint64(st[24:], s.recvStream)
	if s.client {
		st[32] = 1
	}
	if s.anonymous {
		st[33] = 1
	}
	var lt [16]byte
	binary.BigEndian.PutUint64(lt[0:], unixNano(s.start))
	binary.BigEndian.PutUint64(lt[8:], unixNano(s.expiry))
	w := ctxdata.NewWriter(PackageName).
		Bytes(tagState, st[:]).
		Bytes(tagKey, s.key[:]).
		String(tagUser, s.user).
		String(tagDomain, s.domain).
		Bytes(tagLifetime, lt[:])
	for _, f := range []struct {
		tag uint16
		v   string
	}{{tagWorkstation, s.workstation}, {tagTarget, s.target}, {tagSID, s.sid}, {tagGroups, strings.Join(s.groups, ",")}} {
		if f.v != "" {
			w.String(f.tag, f.v)
		}
	}
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
	st, key, lt := r.Bytes(tagState), r.Bytes(tagKey), r.Bytes(tagLifetime)
	if len(st) != stateSize || len(key) != 16 || len(lt) != 16 {
		return nil, bad
	}
	s := &session{
		flags:      binary.BigEndian.Uint32(st[0:]),
		ctxFlags:   sspi.ContextFlags(binary.BigEndian.Uint32(st[4:])),
		sendSeq:    binary.BigEndian.Uint32(st[8:]),
		recvSeq:    binary.BigEndian.Uint32(st[12:]),
		sendStream: binary.BigEndian.Uint64(st[16:]),
		recvStream: binary.BigEndian.Uint64(st[24:]),
		client:     st[32] == 1,
		anonymous:  st[33] == 1,
		start:      fromUnixNano(binary.BigEndian.Uint64(lt[0:])),
		expiry:     fromUnixNano(binary.BigEndian.Uint64(lt[8:])),
	}
	if s.sendStream > maxStreamReplay || s.recvStream > maxStreamReplay {
		return nil, bad
	}
	copy(s.key[:], key)
	clear(key) // the reader's copy
	s.user, s.domain = r.String(tagUser), r.String(tagDomain)
	s.workstation, s.target, s.sid = r.String(tagWorkstation), r.String(tagTarget), r.String(tagSID)
	if g := r.String(tagGroups); g != "" {
		s.groups = strings.Split(g, ",")
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
	if flags&(ntlmssp.NegotiateSign|ntlmssp.NegotiateSeal) != 0 {
		f |= sspi.FlagIntegrity | sspi.FlagReplayDetect | sspi.FlagSequenceDetect
	}
	if flags&ntlmssp.NegotiateSeal != 0 {
		f |= sspi.FlagConfidentiality
	}
	if flags&ntlmssp.NegotiateIdentify != 0 {
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
			SID: s.sid, Groups: append([]string(nil), s.groups...), Anonymous: s.anonymous}, nil
	}
	return nil, errUnsupportedAttr
}
