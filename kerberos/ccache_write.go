package kerberos

import (
	"context"
	"encoding/binary"
	"errors"
	"sort"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// StoreCCache writes the TGT and the service tickets of an outbound
// credential (from a password or a keytab: AcquireCredentialsHandle) into
// a credential cache, as MIT's kinit does, for MIT's tools and libraries
// (klist, GSSAPI programs) and for later credentials of this package. It
// returns the name of the cache written, such as "DIR::/run/user/0/krb5cc/tktAbC123".
//
// A name (kinit -c NAME) is the cache written: FILE:/path, DIR:/dir (the
// collection's primary cache), DIR::/dir/tktNAME, KEYRING:anchor:collection
// (its primary cache; anchors persistent, session, user, process and
// thread), KEYRING:anchor:collection:name, KCM: (the KCM daemon's default
// cache), KCM:name or MEMORY:name. The cache's old contents are replaced.
//
// With no name, the cache is chosen as kinit chooses it in the collection
// of the default cache name (KRB5CCNAME, else krb5.conf's
// default_ccache_name, else FILE:/tmp/krb5cc_UID): the collection's cache
// that already holds the credential's principal; else, when the default
// cache holds another principal, a new cache of the collection; in both
// cases that cache becomes the collection's primary. Otherwise (an empty
// default cache, or a type without collections: FILE, MEMORY) the default
// cache itself.
//
// The KCM daemon's socket is krb5.conf's kcm_socket (KRB5_KCM_SOCKET
// overrides it), else /var/run/.heim_org.h5l.kcm-socket. Where the kernel
// keyring is not available (a container's seccomp profile), a KEYRING:
// name fails with an error saying so. ctx bounds the talk with the KCM
// daemon. The keys copied for the write are wiped when it is done.
func (p *Package) StoreCCache(ctx context.Context, cred secpkg.LsaCredential, name string) (string, error) {
	c, ok := cred.(*credential)
	if !ok || c == nil || c.pkg != p {
		return "", sspi.SEC_E_INVALID_HANDLE
	}
	cc, err := c.toCCache()
	if err != nil {
		return "", err
	}
	defer cc.wipe()
	ld, err := p.libdefaults()
	if err != nil {
		return "", err
	}
	env := p.ccEnv(ld)
	var s ccStore
	if name != "" {
		if s, _, err = env.resolve(ctx, name); err == nil {
			err = s.store(ctx, cc)
		}
	} else {
		s, err = env.storeDefault(ctx, defaultCCacheName(ld), cc)
	}
	if err != nil {
		return "", &sspi.Error{Status: sspi.SEC_E_INTERNAL_ERROR, Detail: "cannot store the credentials in the credential cache", Err: err}
	}
	return s.fullName(), nil
}

// DestroyCCache destroys the credential cache named name (or, when name
// is empty, the default cache), as kdestroy does: the file is removed,
// the keyring unlinked, the KCM daemon told, a MEMORY cache's keys wiped.
// A cache that does not exist is SEC_E_NO_CREDENTIALS.
func (p *Package) DestroyCCache(ctx context.Context, name string) error {
	ld, err := p.libdefaults()
	if err != nil {
		return err
	}
	if name == "" {
		name = defaultCCacheName(ld)
	}
	s, _, err := p.ccEnv(ld).resolve(ctx, name)
	if err == nil {
		err = s.destroy(ctx)
	}
	if errors.Is(err, errNoCCache) {
		return &sspi.Error{Status: sspi.SEC_E_NO_CREDENTIALS, Detail: "no credential cache " + name, Err: err}
	} else if err != nil {
		return &sspi.Error{Status: sspi.SEC_E_INTERNAL_ERROR, Detail: "cannot destroy the credential cache " + name, Err: err}
	}
	return nil
}

// toCCache copies the credential's tickets into a cache: the principal,
// the TGT of its realm first (MIT's tools take the first TGT), the other
// TGTs, then the service tickets, each sorted by server name. The keys are
// copies; the caller wipes them.
func (c *credential) toCCache() (*ccache, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.outbound || c.freed {
		return nil, statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential has no outbound part")
	}
	me := ccPrincipal{NameType: c.cname.NameType, Realm: c.realm, Components: append([]string(nil), c.cname.NameString...)}
	cc := &ccache{Principal: me}
	add := func(t *kdcTicket) {
		if t == nil {
			return
		}
		var f [4]byte
		copy(f[:], t.flags.Bytes)
		cc.Creds = append(cc.Creds, ccCred{
			Client:    me,
			Server:    ccPrincipal{NameType: t.ticket.SName.NameType, Realm: t.ticket.Realm, Components: append([]string(nil), t.ticket.SName.NameString...)},
			KeyType:   t.key.KeyType,
			Key:       append([]byte(nil), t.key.KeyValue...),
			AuthTime:  t.authTime,
			StartTime: t.startTime,
			EndTime:   t.endTime,
			RenewTill: t.renewTill,
			Flags:     binary.BigEndian.Uint32(f[:]),
			Ticket:    append([]byte(nil), t.der...),
		})
	}
	add(c.tgts[c.realm])
	for _, k := range sortedKeys(c.tgts) {
		if k != c.realm {
			add(c.tgts[k])
		}
	}
	for _, k := range sortedKeys(c.tickets) {
		add(c.tickets[k])
	}
	if len(cc.Creds) == 0 || c.tgts[c.realm] == nil {
		cc.wipe()
		return nil, statusErr(sspi.SEC_E_NO_CREDENTIALS, "credential has no TGT")
	}
	return cc, nil
}

func sortedKeys(m map[string]*kdcTicket) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
