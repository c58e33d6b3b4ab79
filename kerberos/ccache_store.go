package kerberos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gosspi/gosspi/internal/sysenv"
)

// Credential caches of every type MIT has on Unix, by name (krb5_cc_resolve;
// "ccache types" and "KRB5CCNAME" in MIT's documentation):
//
//	FILE:/path or /path   one cache in a file
//	DIR:/dir              a collection of FILE caches; resolves to its primary
//	DIR::/dir/tktNAME     one cache of a DIR collection
//	KEYRING:...           the Linux kernel keyring (ccache_keyring.go)
//	KCM:[name]            the KCM daemon, sssd-kcm or Heimdal's kcm (ccache_kcm.go)
//	MEMORY:name           this process's memory (ccache_memory.go)
//
// A collection (DIR, KEYRING, KCM) holds several caches, one of them the
// primary; kinit picks or creates a cache in the collection of the default
// cache name for the principal it logs on (storeDefault).

// ccStore is one credential cache.
type ccStore interface {
	// fullName is the name of this cache alone: "DIR::/d/tktX",
	// "KEYRING:session:c:s", "KCM:0:12345", "FILE:/p", "MEMORY:x".
	fullName() string
	// load reads the cache; an error wrapping errNoCCache when it does
	// not exist or was never initialized.
	load(ctx context.Context) (*ccache, error)
	// store replaces the cache's principal and credentials (MIT's
	// krb5_cc_initialize, then krb5_cc_store for each credential).
	store(ctx context.Context, c *ccache) error
	// destroy removes the cache (krb5_cc_destroy).
	destroy(ctx context.Context) error
}

// ccCollection is the collection of a cache type that has them.
type ccCollection interface {
	// caches lists the collection's caches, the primary first.
	caches(ctx context.Context) ([]ccStore, error)
	// newUnique makes a new cache with a unique name (krb5_cc_new_unique).
	newUnique(ctx context.Context) (ccStore, error)
	// switchTo makes s the primary cache (krb5_cc_switch).
	switchTo(ctx context.Context, s ccStore) error
}

// errNoCCache is wrapped by a load of a cache that does not exist.
var errNoCCache = errors.New("kerberos: credential cache not found")

// ccEnv is what resolving and writing caches needs from the package.
type ccEnv struct {
	kcmSocket string // the KCM daemon's socket; "-" for none
	now       func() time.Time
	rand      io.Reader
}

// ccEnv returns the environment of the package's caches, with krb5.conf's
// libdefaults ld.
func (p *Package) ccEnv(ld libdefaults) ccEnv {
	e := ccEnv{kcmSocket: defaultKCMSocket, now: p.now, rand: p.cfg.Rand}
	if s := os.Getenv("KRB5_KCM_SOCKET"); s != "" {
		e.kcmSocket = s
	} else if ld.kcmSocket != nil {
		e.kcmSocket = *ld.kcmSocket
	}
	return e
}

// defaultCCacheName is krb5_cc_default_name: KRB5CCNAME, else krb5.conf's
// default_ccache_name (with MIT's path parameters), else MIT's built-in
// FILE:/tmp/krb5cc_%{uid}.
func defaultCCacheName(ld libdefaults) string {
	if n := os.Getenv("KRB5CCNAME"); n != "" {
		return n
	}
	if ld.defaultCCache != nil && *ld.defaultCCache != "" {
		return expandKrb5Path(*ld.defaultCCache)
	}
	return expandKrb5Path("FILE:/tmp/krb5cc_%{uid}")
}

// resolve turns a cache name into its cache and, for a type with
// collections, the collection: for a collection name (DIR:/dir, KCM:,
// KEYRING:anchor:collection) the cache is its primary, and for the name of
// one cache of a collection the collection holds that cache alone and
// cannot make new ones (as MIT's cursors over a subsidiary name do).
func (e ccEnv) resolve(ctx context.Context, name string) (ccStore, ccCollection, error) {
	typ, residual, ok := strings.Cut(name, ":")
	if !ok || strings.HasPrefix(name, "/") {
		return &fileCC{path: name}, nil, nil
	}
	switch typ {
	case "FILE":
		if residual == "" {
			return nil, nil, errors.New("kerberos: FILE: credential cache name without a path")
		}
		return &fileCC{path: residual}, nil, nil
	case "DIR":
		p, err := ccachePath(name)
		if err != nil {
			return nil, nil, err
		}
		if sub, ok := strings.CutPrefix(residual, ":"); ok {
			return &fileCC{path: p, dir: true}, &dirCollection{dir: filepath.Dir(sub), single: p, env: e}, nil
		}
		return &fileCC{path: p, dir: true}, &dirCollection{dir: residual, env: e}, nil
	case "KEYRING":
		return e.resolveKeyring(residual)
	case "KCM":
		return e.resolveKCM(ctx, residual)
	case "MEMORY":
		return memoryCC(residual), nil, nil
	}
	return nil, nil, fmt.Errorf("kerberos: credential cache type %s is not supported (FILE, DIR, KEYRING, KCM and MEMORY are)", typ)
}

// load reads the cache a name resolves to.
func (e ccEnv) load(ctx context.Context, name string) (*ccache, error) {
	return e.loadFor(ctx, name, nil)
}

// loadFor reads the cache a name resolves to, or with a principal and a
// collection name, the collection's cache of that principal (MIT's
// krb5_cc_cache_match, as gss_acquire_cred does for a desired name).
func (e ccEnv) loadFor(ctx context.Context, name string, p *ccPrincipal) (*ccache, error) {
	s, col, err := e.resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	if p != nil && col != nil {
		m, err := cacheMatch(ctx, col, *p)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return nil, fmt.Errorf("%w: no cache of %s in the collection %s", errNoCCache, p.String(), name)
		}
		s = m
	}
	return s.load(ctx)
}

// storeDefault writes c into the default cache name defname as kinit does
// when no -c is given (kinit.c, k5_begin): in a collection, the cache
// that already holds c's principal, made the primary; else, when the
// default cache holds another principal, a new cache of the collection,
// made the primary; else the default cache itself. It returns the cache
// written.
func (e ccEnv) storeDefault(ctx context.Context, defname string, c *ccache) (ccStore, error) {
	s, col, err := e.resolve(ctx, defname)
	if err != nil {
		return nil, err
	}
	if col == nil {
		return s, s.store(ctx, c)
	}
	target, doSwitch := s, false
	if m, err := cacheMatch(ctx, col, c.Principal); err != nil {
		return nil, err
	} else if m != nil {
		target, doSwitch = m, true
	} else if cur, err := s.load(ctx); err == nil {
		cur.wipe()
		if target, err = col.newUnique(ctx); err != nil {
			return nil, err
		}
		doSwitch = true
	} // else the default cache holds no principal it can tell: kinit writes it

	if err := target.store(ctx, c); err != nil {
		return nil, err
	}
	if doSwitch {
		if err := col.switchTo(ctx, target); err != nil {
			return nil, err
		}
	}
	return target, nil
}

// cacheMatch is krb5_cc_cache_match: the cache of the collection whose
// principal is p, or nil.
func cacheMatch(ctx context.Context, col ccCollection, p ccPrincipal) (ccStore, error) {
	all, err := col.caches(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		c, err := s.load(ctx)
		if err != nil {
			continue // not initialized, or unreadable: not a match
		}
		c.wipe()
		if c.Principal.equal(p) {
			return s, nil
		}
	}
	return nil, nil
}

// fileCC is a FILE cache, or one cache of a DIR collection.
type fileCC struct {
	path string
	dir  bool // a cache of a DIR collection: named DIR::path
}

func (f *fileCC) fullName() string {
	if f.dir {
		return "DIR::" + f.path
	}
	return "FILE:" + f.path
}

func (f *fileCC) load(context.Context) (*ccache, error) {
	c, err := loadCCacheFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", errNoCCache, f.fullName())
	}
	return c, err
}

// store writes the cache to a new file beside the old one, mode 0600, and
// renames it over the old one, so that a reader sees the old cache or the
// new one, never a part; a symbolic link at the path is replaced, not
// followed. A DIR collection's directory is made (0700) if missing, as
// MIT does.
func (f *fileCC) store(_ context.Context, c *ccache) error {
	dir := filepath.Dir(f.path)
	if f.dir {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	b := marshalCCache(c)
	defer clear(b)
	// Not named tkt...: a DIR collection ignores the file meanwhile.
	tmp, err := os.CreateTemp(dir, ".gosspi-cc-")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

func (f *fileCC) destroy(context.Context) error {
	err := os.Remove(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s", errNoCCache, f.fullName())
	}
	return err
}

// dirCollection is a DIR: collection: FILE caches named tkt* in a
// directory, the primary named by the first line of its file "primary".
type dirCollection struct {
	dir    string
	single string // for a DIR:: name, the one cache
	env    ccEnv
}

func (d *dirCollection) caches(context.Context) ([]ccStore, error) {
	if d.single != "" {
		return []ccStore{&fileCC{path: d.single, dir: true}}, nil
	}
	primary, err := ccachePath("DIR:" + d.dir)
	if err != nil {
		return nil, err
	}
	out := []ccStore{&fileCC{path: primary, dir: true}}
	ents, err := os.ReadDir(d.dir)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	} else if err != nil {
		return nil, err
	}
	for _, e := range ents { // sorted by name
		p := filepath.Join(d.dir, e.Name())
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), "tkt") && p != primary {
			out = append(out, &fileCC{path: p, dir: true})
		}
	}
	return out, nil
}

// newUnique makes an empty file tkt + 6 random letters and digits (MIT:
// mkstemp of tktXXXXXX), mode 0600.
func (d *dirCollection) newUnique(context.Context) (ccStore, error) {
	if d.single != "" {
		return nil, errors.New("kerberos: cannot make a new cache: the default cache DIR::" + d.single + " names one cache of a collection")
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, err
	}
	for range 100 {
		name, err := randomName(d.env.rand, "tkt", 6)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(d.dir, name)
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		f.Close()
		return &fileCC{path: p, dir: true}, nil
	}
	return nil, errors.New("kerberos: cannot make a unique cache name in " + d.dir)
}

// switchTo writes the primary file (the cache's file name and a newline)
// through a temporary file and a rename, as MIT does.
func (d *dirCollection) switchTo(_ context.Context, s ccStore) error {
	f, ok := s.(*fileCC)
	if !ok || filepath.Dir(f.path) != filepath.Clean(d.dir) {
		return errors.New("kerberos: the cache is not of the DIR collection " + d.dir)
	}
	tmp, err := os.CreateTemp(d.dir, "primary-")
	if err != nil {
		return err
	}
	_, werr := tmp.WriteString(filepath.Base(f.path) + "\n")
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.dir, "primary")); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

const nameChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomName is prefix and n characters of [A-Za-z0-9] from r.
func randomName(r io.Reader, prefix string, n int) (string, error) {
	b := make([]byte, n)
	if err := sysenv.Read(r, b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = nameChars[int(b[i])%len(nameChars)]
	}
	return prefix + string(b), nil
}
