package kerberos

import (
	"strings"
	"sync"

	"github.com/jcmturner/gokrb5/v8/keytab"
)

// kdcKeys are the krbtgt keys of Config.KDCKeytab, loaded on first use.
type kdcKeys struct {
	once sync.Once
	kt   *keytab.Keytab
	err  error
}

// kdcKeysFor returns the function that verifyTicketPAC asks for krbtgt
// keys of realm, or nil when Config.KDCKeytab is empty. A keytab that
// cannot be read is an error: the acceptor was asked to check the KDC
// signature and cannot.
func (p *Package) kdcKeysFor(realm string) (func(etype int32) [][]byte, error) {
	if p.cfg.KDCKeytab == "" {
		return nil, nil
	}
	k := &p.kdc
	k.once.Do(func() { k.kt, k.err = keytab.Load(p.cfg.KDCKeytab) })
	if k.err != nil {
		return nil, k.err
	}
	return func(etype int32) [][]byte {
		var out [][]byte
		for _, e := range k.kt.Entries {
			n := strings.Join(e.Principal.Components, "/")
			if e.Principal.Realm != realm || e.Key.KeyType != etype || (n != "krbtgt" && n != "krbtgt/"+realm) {
				continue
			}
			out = append(out, e.Key.KeyValue)
		}
		return out
	}, nil
}
