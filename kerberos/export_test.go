package kerberos

import "testing"

// SharedRealmInfo gives the external tests (package kerberos_test) the
// throwaway realm, starting it on first use.
func SharedRealmInfo(t testing.TB) (svcKeytab, user, password, realmName string) {
	realm := liveRealm(t)
	return realm.svcKeytab, "alice", realm.userPW, realm.Name
}
