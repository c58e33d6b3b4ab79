package kerberos

// SharedRealmInfo gives the external tests (package kerberos_test) the
// throwaway realm TestMain started.
func SharedRealmInfo() (svcKeytab, user, password, realmName string) {
	return realm.svcKeytab, "alice", realm.userPW, realm.Name
}
