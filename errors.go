package gosspi

import (
	"errors"

	"github.com/gosspi/gosspi/sspi"
)

// ErrClosed is returned by calls on a closed SecurityContext or
// Credential.
var ErrClosed = errors.New("gosspi: closed")

// Errors of this package's calls carry the SSPI status of the failure,
// which errors.Is finds with these (or with any sspi.SEC_E_* value), and
// their cause: errors.Is(err, context.DeadlineExceeded) works too.
var (
	// ErrLogonDenied: the credentials were refused (wrong password,
	// unknown user, a disabled or expired account).
	ErrLogonDenied error = sspi.SEC_E_LOGON_DENIED
	// ErrNoCredentials: there is no credential to use (no ticket in the
	// ccache, no keytab entry, no account store).
	ErrNoCredentials error = sspi.SEC_E_NO_CREDENTIALS
	// ErrTargetUnknown: the KDC does not know the target service.
	ErrTargetUnknown error = sspi.SEC_E_TARGET_UNKNOWN
	// ErrNoAuthority: no domain controller or KDC could be reached.
	ErrNoAuthority error = sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY
	// ErrBadBindings: the channel bindings were missing or differ.
	ErrBadBindings error = sspi.SEC_E_BAD_BINDINGS
	// ErrTimeSkew: the clocks of client and server differ too much.
	ErrTimeSkew error = sspi.SEC_E_TIME_SKEW
	// ErrUnsupported: a requirement (Flags) cannot be met.
	ErrUnsupported error = sspi.SEC_E_UNSUPPORTED_FUNCTION
	// ErrMessageAltered: a message's signature does not verify.
	ErrMessageAltered error = sspi.SEC_E_MESSAGE_ALTERED
	// ErrOutOfSequence: a message was replayed or came out of order.
	ErrOutOfSequence error = sspi.SEC_E_OUT_OF_SEQUENCE
	// ErrContextExpired: the context (or its ticket) has expired.
	ErrContextExpired error = sspi.SEC_E_CONTEXT_EXPIRED
)
