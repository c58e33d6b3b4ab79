package kerberos

import (
	"encoding/binary"
	"errors"
	"strings"
)

// KEYRING: caches live in the Linux kernel's keyrings, in MIT's layout
// (src/lib/krb5/ccache/cc_keyring.c):
//
//   - a name is KEYRING:anchor:collection[:subsidiary], or the legacy
//     KEYRING:name (the anchor "legacy", the session keyring);
//   - the anchor is a keyring of the caller: "persistent" (the per-UID
//     persistent keyring, the collection being the UID, empty for the
//     caller's), "session", "user", "process" or "thread" (and "legacy");
//   - the collection is a keyring "_krb_COLLECTION" linked from the anchor
//     ("_krb" in the persistent keyring), holding a user key
//     "krb_ccache:primary" that names the primary cache (version 1, the
//     name's length, the name; 32-bit big-endian numbers), and the caches;
//   - a cache is a keyring in the collection holding a user key
//     "__krb5_princ__" (the default principal, FILE format version 4) and one
//     key per credential (a "big_key", or "user" where the kernel has no
//     big_key; the FILE version 4 encoding of one credential), named after
//     the credential's server principal; a key "__krb5_time_offsets__" holds
//     the KDC time offset.
//
// This file has the encodings; ccache_keyring_linux.go the keyctl calls.

const (
	krPrincKey       = "__krb5_princ__"
	krTimeOffsetsKey = "__krb5_time_offsets__"
	krPrimaryKey     = "krb_ccache:primary"
	krCollPrefix     = "_krb_"
	krPersistentName = "_krb"
	krUniquePrefix   = "krb_ccache_"
	krCollVersion    = 1
	// krMaxPayload bounds what is read from a key (big_key holds up to
	// 1 MiB).
	krMaxPayload = 1 << 20
	// krMaxKeys bounds the keys of a cache or collection read.
	krMaxKeys = 4096
)

// keyringName is a parsed KEYRING residual (cc_keyring.c, parse_residual).
type keyringName struct {
	anchor, collection, subsidiary string
	hasSub                         bool
}

var errKeyringName = errors.New("kerberos: KEYRING: malformed cache name")

func parseKeyringResidual(residual string) (keyringName, error) {
	var n keyringName
	if residual == "" || strings.IndexByte(residual, 0) >= 0 || len(residual) > 4096 {
		return n, errKeyringName
	}
	a, rest, ok := strings.Cut(residual, ":")
	if !ok {
		n.anchor, n.collection = "legacy", residual
		return n, nil
	}
	n.anchor = a
	n.collection, n.subsidiary, n.hasSub = strings.Cut(rest, ":")
	switch n.anchor {
	case "persistent", "process", "thread", "session", "user", "legacy":
	default:
		return n, errors.New("kerberos: KEYRING: unknown anchor " + n.anchor + " (persistent, session, user, process, thread or legacy)")
	}
	if n.hasSub && n.subsidiary == "" {
		return n, errKeyringName // a key cannot be named with the empty string
	}
	return n, nil
}

// defaultSubsidiary is the primary name of a collection that has none
// yet: the collection name, or "tkt" for the empty one (get_primary_name).
func (n keyringName) defaultSubsidiary() string {
	if n.collection == "" {
		return "tkt"
	}
	return n.collection
}

// cacheName is the full name of the cache sub of the collection
// (make_subsidiary_residual).
func (n keyringName) cacheName(sub string) string {
	return "KEYRING:" + n.anchor + ":" + n.collection + ":" + sub
}

// isLegacyCache reports the initial cache of a legacy collection, which
// is also linked from the session keyring for old readers
// (is_legacy_cache_name).
func (n keyringName) isLegacyCache(sub string) bool {
	return n.anchor == "legacy" && sub == n.collection
}

// keyringPrimaryPayload is the "krb_ccache:primary" payload naming sub.
func keyringPrimaryPayload(sub string) []byte {
	b := binary.BigEndian.AppendUint32(nil, krCollVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(sub)))
	return append(b, sub...)
}

// parseKeyringPrimary parses a "krb_ccache:primary" payload (parse_index);
// a version other than 1 is an error, as MIT's KRB5_KCC_UNKNOWN_VERSION.
func parseKeyringPrimary(b []byte) (string, error) {
	if len(b) < 8 {
		return "", errors.New("kerberos: KEYRING: malformed primary key")
	}
	v, n := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	if uint64(n) > uint64(len(b)-8) {
		return "", errors.New("kerberos: KEYRING: malformed primary key")
	}
	if v != krCollVersion {
		return "", errors.New("kerberos: KEYRING: unknown keyring collection version")
	}
	name := string(b[8 : 8+n])
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return "", errors.New("kerberos: KEYRING: malformed primary key")
	}
	return name, nil
}

// parseKeyDescription splits what KEYCTL_DESCRIBE returns,
// "type;uid;gid;perm;description", into the type and the description
// (which may itself hold ';').
func parseKeyDescription(d string) (typ, desc string, ok bool) {
	parts := strings.SplitN(d, ";", 5)
	if len(parts) != 5 || parts[0] == "" {
		return "", "", false
	}
	return parts[0], parts[4], true
}

// parseKeySerials reads what KEYCTL_READ returns for a keyring: the
// serials of its keys, 32-bit in the machine's byte order.
func parseKeySerials(b []byte) []int32 {
	out := make([]int32, 0, len(b)/4)
	for ; len(b) >= 4; b = b[4:] {
		out = append(out, int32(binary.NativeEndian.Uint32(b)))
	}
	return out
}
