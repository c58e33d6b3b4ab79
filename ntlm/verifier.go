package ntlm

import "context"

// Verifier checks the responses of an AUTHENTICATE message for accounts
// that the server does not hold itself, as Windows' MSV1_0 passes a
// domain user's responses to a domain controller over the NETLOGON secure
// channel. Package netlogon is such a Verifier; Config.Verifier installs
// one beside (after) Config.Accounts.
//
// The server checks everything else locally, exactly as for an account of
// its own: the NTLMv2 timestamp, the channel bindings and target name
// before it asks the Verifier, and the MIC, with the keys derived from the
// returned session key, after.
//
// VerifyResponse returns an error carrying the sspi.Status the server
// reports: SEC_E_LOGON_DENIED for a wrong password or an unknown user
// (the same for both), SEC_E_NO_AUTHENTICATING_AUTHORITY when the domain
// cannot be reached, or the NTSTATUS of an account's state
// (sspi.STATUS_ACCOUNT_DISABLED and the like). An error without a status
// is SEC_E_NO_AUTHENTICATING_AUTHORITY. Implementations must be safe for
// concurrent use and honour ctx.
type Verifier interface {
	VerifyResponse(ctx context.Context, r *VerifyRequest) (*VerifiedLogon, error)
}

// VerifyRequest is an NTLM or MS-CHAP logon to verify: the names and
// responses of the AUTHENTICATE message and the server challenge they
// answer.
type VerifyRequest struct {
	User, Domain, Workstation string
	// ServerChallenge is the challenge the responses answer: the
	// CHALLENGE message's, or for NTLMv1 with extended session security
	// the first 8 bytes of MD5(ServerChallenge || ClientChallenge).
	ServerChallenge [8]byte
	NTResponse      []byte
	LMResponse      []byte
	// MSCHAP marks an MS-CHAP response (v1, or v2 with the challenge its
	// client and peer challenges give), which a DC that refuses NTLMv1
	// accepts (MSV1_0_ALLOW_MSVCHAPV2).
	MSCHAP bool
}

// VerifiedLogon is what a Verifier learned from a successful logon.
type VerifiedLogon struct {
	// User and Domain are the account's canonical names: the DC's
	// spelling (its EffectiveName and LogonDomainName), whatever the
	// client typed.
	User, Domain string
	SID          string   // the user's SID
	Groups       []string // group SIDs: the primary group, global groups, extra SIDs
	// SessionKey is the user session key: the NTLM SessionBaseKey
	// (MS-NLMP 3.3) from which the server derives the context's keys.
	SessionKey [16]byte
	// DNSDomain and UPN are the DNS name of the logon domain and the
	// user's principal name, when the DC says.
	DNSDomain, UPN string
}
