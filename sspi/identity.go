package sspi

// AuthIdentity is the pAuthData of AcquireCredentialsHandle
// (SEC_WINNT_AUTH_IDENTITY_EX and its package-specific extensions). It
// crosses the host boundary, so it holds only plain data.
//
// Packages keep the least secret form that works: NTLM derives the NT hash
// at once and drops the password.
type AuthIdentity struct {
	User     string // user name; may be written DOMAIN\user or user@domain
	Domain   string // domain or realm; may be empty
	Password string // plaintext password; may be empty
	// NTHash is an NT one-way function of the password (MD4 of UTF-16LE),
	// usable by NTLM instead of Password.
	NTHash []byte
	// PackageList filters Negotiate's mechanisms, as on Windows:
	// "kerberos,!ntlm" prefers Kerberos and excludes NTLM.
	PackageList string
	// Options holds package-specific settings by name, such as
	// "keytab" = "/etc/krb5.keytab" or "ccache" = "FILE:/tmp/krb5cc_0".
	// Packages document the names they read.
	Options map[string]string
}
