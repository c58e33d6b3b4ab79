//go:build linux

package addc

import "path/filepath"

// The LDAP part of the domain (sasl/ldapsasl's tests): Samba 4.17's
// "ldap server require strong auth" has three values (no,
// allow_sasl_over_tls, yes) and no LDAP channel-binding setting. Its
// default, yes, refuses every SASL bind over TLS (without a layer:
// strongerAuthRequired, "Sign or Seal are required"; with one:
// unwillingToPerform, "Sign or Seal are not allowed if TLS is used"), so
// the DC allows SASL binds without a layer over TLS, as a Windows DC does;
// plain LDAP still takes only signed or sealed binds.
func ldapSteps(dir string) []step {
	conf := filepath.Join(dir, "etc", "smb.conf")
	return []step{
		{tool: "sed", args: []string{"-i", `s/^\[global\]$/[global]\n\tldap server require strong auth = allow_sasl_over_tls/`, conf}},
	}
}
