//go:build linux

package kerberos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The keyctl calls of the KEYRING cache type (the layout is in
// ccache_keyring.go).
//
// Linux keeps the thread and process keyrings, and the possession that
// links into them give, per thread: a keyring an MIT process reaches from
// every thread is only reachable from the thread that linked it in a Go
// program, whose goroutines change threads. So every keyctl call runs on
// one OS thread locked for it (onKeyringThread). The "process" and "thread"
// anchors are that thread's keyrings: private to the process, as MIT's
// process anchor is, and shared by its goroutines (Go has no stable threads
// to give each its own).

var krThread struct {
	once sync.Once
	ch   chan func()
}

// onKeyringThread runs f on the keyring thread.
func onKeyringThread(f func()) {
	krThread.once.Do(func() {
		krThread.ch = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread is the keyrings'
			for f := range krThread.ch {
				f()
			}
		}()
	})
	done := make(chan struct{})
	krThread.ch <- func() { defer close(done); f() }
	<-done
}

// keyringErr says when the kernel keyring is not available: a
// container's seccomp profile (Docker's default blocks keyctl and add_key
// with EPERM) or a kernel without keys (ENOSYS).
func keyringErr(op string, err error) error {
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		return fmt.Errorf("kerberos: KEYRING: the kernel keyring is not available here (%s: %w): a container's seccomp profile or a kernel without keys support blocks the keyctl system calls; use a FILE:, DIR: or KCM: credential cache", op, err)
	}
	return fmt.Errorf("kerberos: KEYRING: %s: %w", op, err)
}

// keyringCC is one cache of a keyring collection.
type keyringCC struct {
	n   keyringName // the collection; n.subsidiary is the cache when hasSub
	env ccEnv
}

// keyringCollection is a keyring collection.
type keyringCollection struct {
	n   keyringName
	env ccEnv
}

func (e ccEnv) resolveKeyring(residual string) (ccStore, ccCollection, error) {
	n, err := parseKeyringResidual(residual)
	if err != nil {
		return nil, nil, err
	}
	return &keyringCC{n: n, env: e}, &keyringCollection{n: n, env: e}, nil
}

func (k *keyringCC) fullName() string {
	if k.n.hasSub {
		return k.n.cacheName(k.n.subsidiary)
	}
	// The primary is read when the cache is; the name of the
	// collection stands for it until then.
	if k.n.anchor == "legacy" && k.n.collection != "" {
		return "KEYRING:" + k.n.collection
	}
	return "KEYRING:" + k.n.anchor + ":" + k.n.collection
}

// keyctl wrappers; they run on the keyring thread.

func krSearch(ring int, typ, desc string, dest int) (int, error) {
	return unix.KeyctlSearch(ring, typ, desc, dest)
}

func krAdd(typ, desc string, payload []byte, ring int) (int, error) {
	return unix.AddKey(typ, desc, payload, ring)
}

// krRead reads a key's payload, at most krMaxPayload bytes; a buffer
// outgrown is wiped.
func krRead(id int) ([]byte, error) {
	buf := make([]byte, 4096)
	for {
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		if err != nil {
			clear(buf)
			return nil, err
		}
		if n <= len(buf) {
			return buf[:n], nil
		}
		clear(buf)
		if n > krMaxPayload {
			return nil, errCCache
		}
		buf = make([]byte, n)
	}
}

// krSessionWriteAnchor is the keyring the session anchor writes to: the
// user session keyring when the process has no session keyring of its
// own, as MIT does (session_write_anchor), so that other processes of the
// user see the keys.
func krSessionWriteAnchor() int {
	s, err1 := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	u, err2 := unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_SESSION_KEYRING, false)
	if err1 == nil && err2 == nil && s == u {
		return unix.KEY_SPEC_USER_SESSION_KEYRING
	}
	return unix.KEY_SPEC_SESSION_KEYRING
}

// krFindOrCreate finds the keyring name in parent (linking it into
// possess, when not 0, for possession rights), or with create makes it
// (find_or_create_keyring). Without create, a missing keyring is
// errNoCCache.
func krFindOrCreate(parent, possess int, name string, create bool) (int, error) {
	key, err := krSearch(parent, "keyring", name, possess)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, unix.ENOKEY) && !errors.Is(err, unix.EKEYEXPIRED) && !errors.Is(err, unix.EKEYREVOKED) {
		return 0, keyringErr("search "+name, err)
	}
	if !create {
		return 0, errNoCCache
	}
	if possess != 0 {
		key, err = krAdd("keyring", name, nil, possess)
		if err != nil {
			return 0, keyringErr("add_key "+name, err)
		}
		if _, err := unix.KeyctlInt(unix.KEYCTL_LINK, key, parent, 0, 0); err != nil {
			return 0, keyringErr("link "+name, err)
		}
		return key, nil
	}
	key, err = krAdd("keyring", name, nil, parent)
	if err != nil {
		return 0, keyringErr("add_key "+name, err)
	}
	return key, nil
}

// krCollection returns the collection keyring of n (get_collection).
func krCollection(n keyringName, create bool) (int, error) {
	if _, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false); errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		return 0, keyringErr("keyctl", err)
	}
	possess := 0
	var anchor int
	switch n.anchor {
	case "persistent":
		uid := os.Geteuid()
		if n.collection != "" {
			u, err := strconv.ParseUint(n.collection, 10, 31)
			if err != nil {
				return 0, errors.New("kerberos: KEYRING: invalid UID in persistent keyring name")
			}
			uid = int(u)
		}
		p, err := unix.KeyctlInt(unix.KEYCTL_GET_PERSISTENT, uid, unix.KEY_SPEC_PROCESS_KEYRING, 0, 0)
		if errors.Is(err, unix.EOPNOTSUPP) && uid == os.Geteuid() {
			p, err = unix.KEY_SPEC_USER_KEYRING, nil // no persistent keyrings: MIT falls back so
		}
		if err != nil {
			return 0, keyringErr("get_persistent", err)
		}
		return krFindOrCreate(p, unix.KEY_SPEC_PROCESS_KEYRING, krPersistentName, create)
	case "process":
		anchor = unix.KEY_SPEC_PROCESS_KEYRING
	case "thread":
		anchor = unix.KEY_SPEC_THREAD_KEYRING
	case "session", "legacy":
		anchor = krSessionWriteAnchor()
	case "user":
		// The user keyring gives no possession: the process keyring does.
		anchor, possess = unix.KEY_SPEC_USER_KEYRING, unix.KEY_SPEC_PROCESS_KEYRING
	default:
		return 0, errKeyringName
	}
	return krFindOrCreate(anchor, possess, krCollPrefix+n.collection, create)
}

// krPrimary returns the primary cache name of collection col; with
// create, a collection without one gets its default, and a legacy
// collection adopts an old cache of that name from the session keyring
// (get_primary_name).
func krPrimary(n keyringName, col int, create bool) (string, error) {
	id, err := krSearch(col, "user", krPrimaryKey, 0)
	if err == nil {
		b, err := krRead(id)
		if err != nil {
			return "", keyringErr("read "+krPrimaryKey, err)
		}
		return parseKeyringPrimary(b)
	}
	if !errors.Is(err, unix.ENOKEY) {
		return "", keyringErr("search "+krPrimaryKey, err)
	}
	sub := n.defaultSubsidiary()
	if !create {
		return sub, nil
	}
	if _, err := krAdd("user", krPrimaryKey, keyringPrimaryPayload(sub), col); err != nil {
		return "", keyringErr("add_key "+krPrimaryKey, err)
	}
	if n.anchor == "legacy" {
		if old, err := krSearch(unix.KEY_SPEC_SESSION_KEYRING, "keyring", sub, 0); err == nil {
			if _, err := unix.KeyctlInt(unix.KEYCTL_LINK, old, col, 0, 0); err != nil {
				return "", keyringErr("link "+sub, err)
			}
		}
	}
	return sub, nil
}

// locate finds the collection and the cache's name and keyring (0 when
// the cache keyring does not exist and create is false).
func (k *keyringCC) locate(create bool) (col int, sub string, cache int, err error) {
	if col, err = krCollection(k.n, create); err != nil {
		return 0, "", 0, err
	}
	sub = k.n.subsidiary
	if !k.n.hasSub {
		if sub, err = krPrimary(k.n, col, create); err != nil {
			return 0, "", 0, err
		}
	}
	cache, err = krFindOrCreate(col, 0, sub, create)
	if errors.Is(err, errNoCCache) {
		return col, sub, 0, nil
	}
	return col, sub, cache, err
}

// load reads the principal key and every credential key of the cache
// (krcc_get_principal, krcc_next_cred).
func (k *keyringCC) load(context.Context) (c *ccache, err error) {
	onKeyringThread(func() { c, err = k.loadOnThread() })
	return c, err
}

func (k *keyringCC) loadOnThread() (*ccache, error) {
	_, sub, cache, err := k.locate(false)
	if err == nil {
		k.n.subsidiary, k.n.hasSub = sub, true
	}
	if errors.Is(err, errNoCCache) || err == nil && cache == 0 {
		return nil, fmt.Errorf("%w: %s", errNoCCache, k.n.cacheName(sub))
	} else if err != nil {
		return nil, err
	}
	princID, err := krSearch(cache, "user", krPrincKey, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", errNoCCache, k.n.cacheName(sub))
	}
	b, err := krRead(princID)
	if err != nil {
		return nil, keyringErr("read "+krPrincKey, err)
	}
	p, err := parseCCPrincipal(b)
	if err != nil {
		return nil, err
	}
	offsets, _ := krSearch(cache, "user", krTimeOffsetsKey, 0)
	list, err := krRead(cache)
	if err != nil {
		return nil, keyringErr("read the cache keyring", err)
	}
	ids := parseKeySerials(list)
	if len(ids) > krMaxKeys {
		return nil, errCCache
	}
	c := &ccache{Principal: p}
	total := 0
	for _, id := range ids {
		if int(id) == princID || offsets != 0 && int(id) == offsets {
			continue
		}
		b, err := krRead(int(id))
		if total += len(b); total > maxCCacheSize {
			clear(b)
			c.wipe()
			return nil, errCCache // as a FILE cache, 8 MiB at most
		}
		if errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EKEYEXPIRED) || errors.Is(err, unix.EKEYREVOKED) {
			continue // unlinked or expired meanwhile, as MIT skips them
		} else if err != nil {
			c.wipe()
			return nil, keyringErr("read a credential", err)
		}
		cr, err := parseCCCred(b)
		if err != nil {
			clear(b)
			c.wipe()
			return nil, err
		}
		if cr.isConfig() {
			clear(b)
			continue
		}
		c.Creds = append(c.Creds, cr)
	}
	return c, nil
}

// store clears the cache keyring and adds the principal key and a key per
// credential, each expiring with its credential, and the keyring with the
// last of them (krcc_initialize, krcc_store).
func (k *keyringCC) store(_ context.Context, c *ccache) (err error) {
	onKeyringThread(func() { err = k.storeOnThread(c) })
	return err
}

func (k *keyringCC) storeOnThread(c *ccache) error {
	_, sub, cache, err := k.locate(true)
	if err != nil {
		return err
	}
	k.n.subsidiary, k.n.hasSub = sub, true
	if k.n.isLegacyCache(sub) {
		unix.KeyctlInt(unix.KEYCTL_LINK, cache, krSessionWriteAnchor(), 0, 0)
	}
	if _, err := unix.KeyctlInt(unix.KEYCTL_CLEAR, cache, 0, 0, 0); err != nil {
		return keyringErr("clear", err)
	}
	if _, err := krAdd("user", krPrincKey, appendCCPrincipal(nil, c.Principal), cache); err != nil {
		return keyringErr("add_key "+krPrincKey, err)
	}
	now := k.env.now()
	var last time.Time
	for i := range c.Creds {
		cr := &c.Creds[i]
		b := appendCCCred(nil, cr)
		id, err := krAdd("big_key", cr.Server.unparse(), b, cache)
		if k.n.anchor == "legacy" || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENODEV) {
			// Legacy caches, and kernels without big_key, take user keys.
			id, err = krAdd("user", cr.Server.unparse(), b, cache)
		}
		clear(b)
		if err != nil {
			return keyringErr("add_key "+cr.Server.unparse(), err)
		}
		if cr.EndTime.After(now) {
			krSetTimeout(id, cr.EndTime.Sub(now))
		}
		if cr.EndTime.After(last) {
			last = cr.EndTime
		}
	}
	if !last.IsZero() {
		// Zero would mean no timeout: an expired cache gets one second.
		d := max(last.Sub(now), time.Second)
		krSetTimeout(cache, d)
	}
	return nil
}

func krSetTimeout(id int, d time.Duration) {
	s := int64(d / time.Second)
	if s <= 0 {
		s = 1
	}
	if s > 1<<31-1 {
		s = 1<<31 - 1
	}
	unix.KeyctlInt(unix.KEYCTL_SET_TIMEOUT, id, int(s), 0, 0)
}

func (k *keyringCC) destroy(context.Context) (err error) {
	onKeyringThread(func() {
		var col, cache int
		var sub string
		col, sub, cache, err = k.locate(false)
		if err == nil && cache == 0 {
			err = fmt.Errorf("%w: %s", errNoCCache, k.n.cacheName(sub))
		}
		if err != nil {
			return
		}
		if _, err = unix.KeyctlInt(unix.KEYCTL_CLEAR, cache, 0, 0, 0); err != nil {
			err = keyringErr("clear", err)
			return
		}
		if _, err = unix.KeyctlInt(unix.KEYCTL_UNLINK, cache, col, 0, 0); err != nil {
			err = keyringErr("unlink", err)
		}
		if k.n.isLegacyCache(sub) {
			unix.KeyctlInt(unix.KEYCTL_UNLINK, cache, krSessionWriteAnchor(), 0, 0)
		}
	})
	return err
}

// caches lists the primary cache, when it exists, then the collection's
// other cache keyrings (krcc_ptcursor_next).
func (kc *keyringCollection) caches(context.Context) (out []ccStore, err error) {
	onKeyringThread(func() { out, err = kc.cachesOnThread() })
	return out, err
}

func (kc *keyringCollection) sub(name string) *keyringCC {
	n := kc.n
	n.subsidiary, n.hasSub = name, true
	return &keyringCC{n: n, env: kc.env}
}

func (kc *keyringCollection) cachesOnThread() ([]ccStore, error) {
	col, err := krCollection(kc.n, false)
	if errors.Is(err, errNoCCache) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	first := kc.n.subsidiary
	if !kc.n.hasSub {
		if first, err = krPrimary(kc.n, col, false); err != nil {
			return nil, err
		}
	}
	var out []ccStore
	if _, err := krSearch(col, "keyring", first, 0); err == nil {
		out = append(out, kc.sub(first))
	}
	if kc.n.hasSub {
		return out, nil // a subsidiary cursor yields that cache alone
	}
	list, err := krRead(col)
	if err != nil {
		return nil, keyringErr("read the collection keyring", err)
	}
	ids := parseKeySerials(list)
	if len(ids) > krMaxKeys {
		return nil, errCCache
	}
	for _, id := range ids {
		d, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, int(id))
		if err != nil {
			continue
		}
		if typ, name, ok := parseKeyDescription(d); ok && typ == "keyring" && name != first {
			out = append(out, kc.sub(name))
		}
	}
	return out, nil
}

// newUnique makes a cache keyring krb_ccache_ and 8 random characters in
// the collection (unique_keyring).
func (kc *keyringCollection) newUnique(context.Context) (s ccStore, err error) {
	if kc.n.hasSub {
		return nil, errors.New("kerberos: KEYRING: cannot make a new cache: the default cache " + kc.n.cacheName(kc.n.subsidiary) + " is already one cache of a collection")
	}
	onKeyringThread(func() {
		var col int
		if col, err = krCollection(kc.n, true); err != nil {
			return
		}
		for range 100 {
			var name string
			if name, err = randomName(kc.env.rand, krUniquePrefix, 8); err != nil {
				return
			}
			if _, serr := krSearch(col, "keyring", name, 0); serr == nil {
				continue
			}
			if _, err = krAdd("keyring", name, nil, col); err != nil {
				err = keyringErr("add_key "+name, err)
				return
			}
			s = kc.sub(name)
			return
		}
		err = errors.New("kerberos: KEYRING: cannot make a unique cache name")
	})
	return s, err
}

// switchTo writes the collection's primary key (krcc_switch_to).
func (kc *keyringCollection) switchTo(_ context.Context, s ccStore) (err error) {
	k, ok := s.(*keyringCC)
	if !ok || !k.n.hasSub || k.n.anchor != kc.n.anchor || k.n.collection != kc.n.collection {
		return errors.New("kerberos: KEYRING: the cache is not of the collection")
	}
	onKeyringThread(func() {
		var col int
		if col, err = krCollection(kc.n, true); err != nil {
			return
		}
		if _, err = krAdd("user", krPrimaryKey, keyringPrimaryPayload(k.n.subsidiary), col); err != nil {
			err = keyringErr("add_key "+krPrimaryKey, err)
		}
	})
	return err
}
