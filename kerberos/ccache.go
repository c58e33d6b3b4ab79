package kerberos

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// This file reads and writes MIT credential caches of the FILE type
// (format versions 3 and 4, big-endian; see MIT's ccache file format
// documentation). gokrb5 has a reader, but it indexes without bounds checks
// (a short or hostile file panics) and treats MIT's configuration entries
// (X-CACHECONF:) as tickets, so a fresh `kinit` cache fails to load; this
// reader is bounded and skips them.

// ccPrincipal is a principal as a ccache stores it.
type ccPrincipal struct {
	NameType   int32
	Realm      string
	Components []string
}

func (p ccPrincipal) String() string { return strings.Join(p.Components, "/") + "@" + p.Realm }

// ccCred is one credential of a ccache.
type ccCred struct {
	Client, Server ccPrincipal
	KeyType        int32
	Key            []byte
	AuthTime       time.Time
	StartTime      time.Time
	EndTime        time.Time
	RenewTill      time.Time
	IsSKey         bool
	Flags          uint32 // TicketFlags, bit 0 (reserved) in the most significant bit
	Ticket         []byte
	SecondTicket   []byte
}

// ccache is a parsed credential cache.
type ccache struct {
	Principal ccPrincipal
	Creds     []ccCred
}

var errCCache = errors.New("kerberos: malformed credential cache")

// maxCCacheSize bounds what loadCCache reads.
const maxCCacheSize = 8 << 20

type ccReader struct {
	b   []byte
	err bool
}

func (r *ccReader) u8() uint8 {
	if len(r.b) < 1 {
		r.err = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *ccReader) u16() uint16 {
	if len(r.b) < 2 {
		r.err = true
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *ccReader) u32() uint32 {
	if len(r.b) < 4 {
		r.err = true
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *ccReader) data() []byte {
	n := r.u32()
	if r.err || uint64(n) > uint64(len(r.b)) {
		r.err = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *ccReader) time() time.Time {
	v := r.u32()
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(int64(v), 0).UTC()
}

func (r *ccReader) principal() ccPrincipal {
	var p ccPrincipal
	p.NameType = int32(r.u32())
	n := r.u32()
	p.Realm = string(r.data())
	if n > 64 {
		r.err = true
		return p
	}
	for i := uint32(0); i < n && !r.err; i++ {
		p.Components = append(p.Components, string(r.data()))
	}
	return p
}

// parseCCache parses a FILE ccache image.
func parseCCache(b []byte) (*ccache, error) {
	if len(b) < 2 || b[0] != 5 || (b[1] != 3 && b[1] != 4) {
		return nil, errCCache
	}
	v := b[1]
	r := &ccReader{b: b[2:]}
	if v == 4 {
		hl := r.u16()
		if r.err || int(hl) > len(r.b) {
			return nil, errCCache
		}
		r.b = r.b[hl:]
	}
	c := &ccache{Principal: r.principal()}
	for len(r.b) > 0 && !r.err {
		cr := r.cred(v)
		if r.err {
			break
		}
		if cr.isConfig() {
			continue // configuration entry, not a ticket
		}
		c.Creds = append(c.Creds, cr)
	}
	if r.err {
		return nil, errCCache
	}
	return c, nil
}

// ccachePath resolves a ccache name to the file that holds it, as MIT
// does (krb5_cc_resolve; "ccache types" in MIT's documentation):
//   - "FILE:/path" or a bare path: that file;
//   - "DIR:/dir", a collection: the primary cache, named by the first line
//     of /dir/primary ("tkt" when there is none);
//   - "DIR::/dir/tktNAME": that cache of a collection.
//
// KEYRING:, KCM: and MEMORY: are no files and are errors here; see
// ccEnv.resolve (ccache_store.go).
func ccachePath(name string) (string, error) {
	switch {
	case strings.HasPrefix(name, "FILE:"):
		return name[len("FILE:"):], nil
	case strings.HasPrefix(name, "DIR::"):
		p := name[len("DIR::"):]
		if !filepath.IsAbs(p) || !strings.HasPrefix(filepath.Base(p), "tkt") {
			return "", errors.New("kerberos: DIR:: names a cache file of a collection, /dir/tkt...: " + name)
		}
		return p, nil
	case strings.HasPrefix(name, "DIR:"):
		dir := name[len("DIR:"):]
		if !filepath.IsAbs(dir) {
			return "", errors.New("kerberos: DIR: needs an absolute directory: " + name)
		}
		primary := "tkt"
		if b, err := readFileLimit(filepath.Join(dir, "primary"), 4097); err == nil {
			if primary, err = parseDIRPrimary(b); err != nil {
				return "", errors.New("kerberos: DIR: collection " + dir + " has a malformed primary file")
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		return filepath.Join(dir, primary), nil
	}
	if i := strings.IndexByte(name, ':'); i > 0 && !strings.HasPrefix(name, "/") {
		return "", errors.New("kerberos: credential cache type " + name[:i] + ": not a FILE: or DIR: cache")
	}
	return name, nil
}

// parseDIRPrimary reads a DIR collection's primary file: its first line
// is the primary cache's file name in the directory. MIT writes tkt...;
// anything else (a path, a name with a NUL) is not followed.
func parseDIRPrimary(b []byte) (string, error) {
	if len(b) > 4096 {
		return "", errCCache
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if line = strings.TrimSpace(line); !strings.HasPrefix(line, "tkt") || strings.ContainsAny(line, "/\\\x00") {
		return "", errCCache
	}
	return line, nil
}

// readFileLimit reads at most n bytes of a file (a primary that is a link
// to /dev/zero ends there).
func readFileLimit(p string, n int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// loadCCache reads a FILE or DIR cache by name.
func loadCCache(name string) (*ccache, error) {
	p, err := ccachePath(name)
	if err != nil {
		return nil, err
	}
	return loadCCacheFile(p)
}

// loadCCacheFile reads the FILE cache at path p.
func loadCCacheFile(p string) (*ccache, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxCCacheSize {
		return nil, errCCache
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return nil, err
	}
	return parseCCache(b)
}

// marshalCCache writes a version 4 FILE ccache.
func marshalCCache(c *ccache) []byte {
	b := appendCCPrincipal([]byte{5, 4, 0, 0}, c.Principal)
	for i := range c.Creds {
		b = appendCCCred(b, &c.Creds[i])
	}
	return b
}
