//go:build linux

package addc

import "strconv"

// The lockout part of the domain: Locked is bound by a fine-grained
// password policy (a PSO, MS-ADTS 3.1.1.5.3.6) that locks it after
// LockoutThreshold bad passwords, so that a test can lock it out without
// changing the domain's policy for the other accounts.
var Locked = Account{"lockeduser", "Lock-Pass-1!"}

// LockoutThreshold is the number of bad passwords that lock Locked out.
const LockoutThreshold = 2

// lockoutPSO is the name of Locked's password settings object.
const lockoutPSO = "gosspi-lockout"

func lockoutSteps(tool func(args ...string) step) []step {
	return []step{
		tool("user", "create", Locked.Name, Locked.Password, "--use-username-as-cn"),
		tool("domain", "passwordsettings", "pso", "create", lockoutPSO, "1",
			"--account-lockout-threshold="+strconv.Itoa(LockoutThreshold), "--account-lockout-duration=30", "--reset-account-lockout-after=30"),
		tool("domain", "passwordsettings", "pso", "apply", lockoutPSO, Locked.Name),
	}
}
