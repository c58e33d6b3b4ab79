//go:build linux

package addc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// step is one provisioning command: a program and its arguments, or, when
// ldif is set, an ldbmodify of sam.ldb with it.
type step struct {
	tool     string
	args     []string
	ldif     string
	controls string // ldbmodify --controls
}

// bypassPasswordHash is DSDB_CONTROL_BYPASS_PASSWORD_HASH_OID: it lets an
// offline ldbmodify write pwdLastSet, accountExpires and the password
// attributes themselves.
const bypassPasswordHash = "local_oid:1.3.6.1.4.1.7165.4.3.12:0"

func userDN(name string) string { return "CN=" + name + ",CN=Users," + baseDN }

// provisionSteps are the commands that make the domain in dir. Their text
// (with a placeholder dir) is part of the cache key.
func provisionSteps(dir string) []step {
	conf := filepath.Join(dir, "etc", "smb.conf")
	tool := func(args ...string) step {
		return step{tool: "samba-tool", args: append(args, "-s", conf)}
	}
	user := func(a Account, extra ...string) step {
		return tool(append([]string{"user", "create", a.Name, a.Password, "--use-username-as-cn"}, extra...)...)
	}
	opt := func(kv string) string { return "--option=" + kv }
	steps := []step{
		{tool: "samba-tool", args: []string{"domain", "provision",
			"--server-role=dc", "--dns-backend=SAMBA_INTERNAL", "--use-rfc2307",
			"--realm=" + Realm, "--domain=" + Domain, "--host-name=" + HostName,
			"--adminpass=" + AdminPassword, "--targetdir=" + dir,
			opt("interfaces=lo"), opt("bind interfaces only=yes"),
			// A forwarder that fails at once: no NTLM or LDAP call waits
			// on DNS.
			opt("dns forwarder=192.0.2.1"),
			opt("pid directory=" + filepath.Join(dir, "run")),
			opt("log file=" + filepath.Join(dir, "log.%m")),
			opt("ntlm auth=mschapv2-and-ntlmv2-only"),
		}},
		user(Alice), user(Bob), user(RC4Only), user(Disabled), user(Expired),
		user(MustChange, "--must-change-at-next-login"), user(AccountExpired), user(Service),
		tool("group", "add", GroupA), tool("group", "add", GroupB),
		tool("group", "addmembers", GroupA, Alice.Name),
		tool("group", "addmembers", GroupB, GroupA),
		tool("user", "disable", Disabled.Name),
		// pwdLastSet in 2020: older than the domain's maxPwdAge (42 days).
		// accountExpires in 2020 too.
		{ldif: fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: 132223104000000000\n\n"+
			"dn: %s\nchangetype: modify\nreplace: accountExpires\naccountExpires: 132223104000000000\n",
			userDN(Expired.Name), userDN(AccountExpired.Name)), controls: bypassPasswordHash},
		// Only the NT hash (unicodePwd) stays: without supplementalCredentials
		// the KDC has no AES key for the account, as for an account whose
		// password was last set before the domain had AES.
		{ldif: fmt.Sprintf("dn: %s\nchangetype: modify\ndelete: supplementalCredentials\n-\nreplace: msDS-SupportedEncryptionTypes\nmsDS-SupportedEncryptionTypes: 4\n",
			userDN(RC4Only.Name)), controls: bypassPasswordHash},
		// The service: an SPN, all three enctypes, the password set again
		// so that the keys exist for them, the keys exported under the SPN
		// and under the account's name.
		tool("spn", "add", SPN, Service.Name),
		{ldif: fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: msDS-SupportedEncryptionTypes\nmsDS-SupportedEncryptionTypes: 28\n", userDN(Service.Name))},
		tool("user", "setpassword", Service.Name, "--newpassword="+Service.Password),
		tool("domain", "exportkeytab", filepath.Join(dir, "service.keytab"), "--principal="+SPN),
		tool("domain", "exportkeytab", filepath.Join(dir, "service.keytab"), "--principal="+Service.Name),
		tool("domain", "exportkeytab", filepath.Join(dir, "alice.keytab"), "--principal="+Alice.Name),
		// The machine account (4.17 has no --computerpassword).
		tool("computer", "create", strings.TrimSuffix(Machine.Name, "$")),
		tool("user", "setpassword", Machine.Name, "--newpassword="+Machine.Password),
	}
	// S4U part: the delegation service accounts (s4u.go).
	steps = append(steps, s4uSteps(dir, tool)...)
	// PAC part: the accounts and groups of the PAC tests (pac.go).
	steps = append(steps, pacSteps(dir, tool)...)
	// Lockout part: an account under a PSO that locks it (lockout.go).
	steps = append(steps, lockoutSteps(tool)...)
	return steps
}

// provision runs the steps into dir.
func provision(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	env := os.Environ()
	for i, s := range provisionSteps(dir) {
		var out string
		var err error
		if s.ldif != "" {
			f := filepath.Join(dir, fmt.Sprintf("step%d.ldif", i))
			if err := os.WriteFile(f, []byte(s.ldif), 0o600); err != nil {
				return err
			}
			args := []string{"-H", filepath.Join(dir, "private", "sam.ldb")}
			if s.controls != "" {
				args = append(args, "--controls="+s.controls)
			}
			out, err = runTool(env, nil, "ldbmodify", append(args, f)...)
			os.Remove(f)
		} else {
			out, err = runTool(env, nil, s.tool, s.args...)
		}
		if err != nil {
			return fmt.Errorf("addc: provisioning step %d: %v\n%s", i, err, out)
		}
	}
	return nil
}
