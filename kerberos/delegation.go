package kerberos

import (
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gosspi/gosspi/sspi"
)

// Delegation from the initiator (RFC 4121 section 4.1.1): with
// ISC_REQ_DELEGATE, the authenticator's GSS checksum carries (Dlgth,
// Deleg) a KRB-CRED holding a forwarded TGT, encrypted in the ticket
// session key.
//
// As Windows does by default, the TGT is delegated only to a service whose
// ticket has the ok-as-delegate flag (RFC 4120 section 2.8: the KDC sets it
// for services trusted for delegation, TRUSTED_FOR_DELEGATION in AD), and
// only when the TGT is forwardable; otherwise the context is made without
// delegation and without ISC_RET_DELEGATE (FlagDelegate), which the caller
// checks. MIT's GSS_C_DELEG_POLICY_FLAG is the same policy.
// Config.DelegateAlways delegates to any service, as MIT's GSS_C_DELEG_FLAG
// does. The TGT of an S4U credential is the service's and is never
// delegated.

// mayDelegate reports whether the initiator delegates to a service whose
// ticket has these flags.
func (ic *initiatorContext) mayDelegate(ticketFlags asn1.BitString) bool {
	if ic.req&sspi.ISC_REQ_DELEGATE == 0 || !ic.cred.tgtFwd {
		return false
	}
	return ic.cred.pkg.cfg.DelegateAlways || types.IsFlagSet(&ticketFlags, flags.OKAsDelegate)
}
