package sspi

import (
	"errors"
	"fmt"
)

// Status is a SECURITY_STATUS: the value every SSPI call returns. The
// constants keep the names and numeric values of winerror.h.
//
// Failure codes (severity bit set) are errors: Status implements error so
// that errors.Is(err, SEC_E_LOGON_DENIED) works on any error that wraps one.
// Success and informational codes (SEC_E_OK, SEC_I_*) are not errors; use
// Err to turn a Status into an error value that is nil for them.
type Status uint32

// Security status codes, with their winerror.h values.
const (
	SEC_E_OK Status = 0x00000000

	SEC_E_INSUFFICIENT_MEMORY           Status = 0x80090300
	SEC_E_INVALID_HANDLE                Status = 0x80090301
	SEC_E_UNSUPPORTED_FUNCTION          Status = 0x80090302
	SEC_E_TARGET_UNKNOWN                Status = 0x80090303
	SEC_E_INTERNAL_ERROR                Status = 0x80090304
	SEC_E_SECPKG_NOT_FOUND              Status = 0x80090305
	SEC_E_NOT_OWNER                     Status = 0x80090306
	SEC_E_CANNOT_INSTALL                Status = 0x80090307
	SEC_E_INVALID_TOKEN                 Status = 0x80090308
	SEC_E_CANNOT_PACK                   Status = 0x80090309
	SEC_E_QOP_NOT_SUPPORTED             Status = 0x8009030A
	SEC_E_NO_IMPERSONATION              Status = 0x8009030B
	SEC_E_LOGON_DENIED                  Status = 0x8009030C
	SEC_E_UNKNOWN_CREDENTIALS           Status = 0x8009030D
	SEC_E_NO_CREDENTIALS                Status = 0x8009030E
	SEC_E_MESSAGE_ALTERED               Status = 0x8009030F
	SEC_E_OUT_OF_SEQUENCE               Status = 0x80090310
	SEC_E_NO_AUTHENTICATING_AUTHORITY   Status = 0x80090311
	SEC_E_BAD_PKGID                     Status = 0x80090316
	SEC_E_CONTEXT_EXPIRED               Status = 0x80090317
	SEC_E_INCOMPLETE_MESSAGE            Status = 0x80090318
	SEC_E_INCOMPLETE_CREDENTIALS        Status = 0x80090320
	SEC_E_BUFFER_TOO_SMALL              Status = 0x80090321
	SEC_E_WRONG_PRINCIPAL               Status = 0x80090322
	SEC_E_TIME_SKEW                     Status = 0x80090324
	SEC_E_UNTRUSTED_ROOT                Status = 0x80090325
	SEC_E_ILLEGAL_MESSAGE               Status = 0x80090326
	SEC_E_CERT_UNKNOWN                  Status = 0x80090327
	SEC_E_CERT_EXPIRED                  Status = 0x80090328
	SEC_E_ENCRYPT_FAILURE               Status = 0x80090329
	SEC_E_DECRYPT_FAILURE               Status = 0x80090330
	SEC_E_ALGORITHM_MISMATCH            Status = 0x80090331
	SEC_E_SECURITY_QOS_FAILED           Status = 0x80090332
	SEC_E_UNFINISHED_CONTEXT_DELETED    Status = 0x80090333
	SEC_E_NO_TGT_REPLY                  Status = 0x80090334
	SEC_E_NO_IP_ADDRESSES               Status = 0x80090335
	SEC_E_WRONG_CREDENTIAL_HANDLE       Status = 0x80090336
	SEC_E_CRYPTO_SYSTEM_INVALID         Status = 0x80090337
	SEC_E_MAX_REFERRALS_EXCEEDED        Status = 0x80090338
	SEC_E_MUST_BE_KDC                   Status = 0x80090339
	SEC_E_STRONG_CRYPTO_NOT_SUPPORTED   Status = 0x8009033A
	SEC_E_TOO_MANY_PRINCIPALS           Status = 0x8009033B
	SEC_E_NO_PA_DATA                    Status = 0x8009033C
	SEC_E_PKINIT_NAME_MISMATCH          Status = 0x8009033D
	SEC_E_SMARTCARD_LOGON_REQUIRED      Status = 0x8009033E
	SEC_E_SHUTDOWN_IN_PROGRESS          Status = 0x8009033F
	SEC_E_KDC_INVALID_REQUEST           Status = 0x80090340
	SEC_E_KDC_UNABLE_TO_REFER           Status = 0x80090341
	SEC_E_KDC_UNKNOWN_ETYPE             Status = 0x80090342
	SEC_E_UNSUPPORTED_PREAUTH           Status = 0x80090343
	SEC_E_DELEGATION_REQUIRED           Status = 0x80090345
	SEC_E_BAD_BINDINGS                  Status = 0x80090346
	SEC_E_MULTIPLE_ACCOUNTS             Status = 0x80090347
	SEC_E_NO_KERB_KEY                   Status = 0x80090348
	SEC_E_CERT_WRONG_USAGE              Status = 0x80090349
	SEC_E_DOWNGRADE_DETECTED            Status = 0x80090350
	SEC_E_SMARTCARD_CERT_REVOKED        Status = 0x80090351
	SEC_E_ISSUING_CA_UNTRUSTED          Status = 0x80090352
	SEC_E_REVOCATION_OFFLINE_C          Status = 0x80090353
	SEC_E_PKINIT_CLIENT_FAILURE         Status = 0x80090354
	SEC_E_SMARTCARD_CERT_EXPIRED        Status = 0x80090355
	SEC_E_NO_S4U_PROT_SUPPORT           Status = 0x80090356
	SEC_E_CROSSREALM_DELEGATION_FAILURE Status = 0x80090357
	SEC_E_REVOCATION_OFFLINE_KDC        Status = 0x80090358
	SEC_E_ISSUING_CA_UNTRUSTED_KDC      Status = 0x80090359
	SEC_E_KDC_CERT_EXPIRED              Status = 0x8009035A
	SEC_E_KDC_CERT_REVOKED              Status = 0x8009035B
	SEC_E_INVALID_PARAMETER             Status = 0x8009035D
	SEC_E_DELEGATION_POLICY             Status = 0x8009035E
	SEC_E_POLICY_NLTM_ONLY              Status = 0x8009035F
	SEC_E_NO_CONTEXT                    Status = 0x80090361
	SEC_E_PKU2U_CERT_FAILURE            Status = 0x80090362
	SEC_E_MUTUAL_AUTH_FAILED            Status = 0x80090363
	SEC_E_ONLY_HTTPS_ALLOWED            Status = 0x80090365
	SEC_E_APPLICATION_PROTOCOL_MISMATCH Status = 0x80090367
	SEC_E_INVALID_UPN_NAME              Status = 0x80090369
	SEC_E_EXT_BUFFER_TOO_SMALL          Status = 0x8009036A
	SEC_E_INSUFFICIENT_BUFFERS          Status = 0x8009036B

	SEC_I_CONTINUE_NEEDED            Status = 0x00090312
	SEC_I_COMPLETE_NEEDED            Status = 0x00090313
	SEC_I_COMPLETE_AND_CONTINUE      Status = 0x00090314
	SEC_I_LOCAL_LOGON                Status = 0x00090315
	SEC_I_GENERIC_EXTENSION_RECEIVED Status = 0x00090316
	SEC_I_CONTEXT_EXPIRED            Status = 0x00090317
	SEC_I_INCOMPLETE_CREDENTIALS     Status = 0x00090320
	SEC_I_RENEGOTIATE                Status = 0x00090321
	SEC_I_NO_LSA_CONTEXT             Status = 0x00090323
	SEC_I_SIGNATURE_NEEDED           Status = 0x0009035C
	SEC_I_NO_RENEGOTIATION           Status = 0x00090360
	SEC_I_MESSAGE_FRAGMENT           Status = 0x00090364
	SEC_I_CONTINUE_NEEDED_MESSAGE_OK Status = 0x00090366
	SEC_I_ASYNC_CALL_PENDING         Status = 0x00090368
)

var statusNames = map[Status]string{
	SEC_E_OK:                            "SEC_E_OK",
	SEC_E_INSUFFICIENT_MEMORY:           "SEC_E_INSUFFICIENT_MEMORY",
	SEC_E_INVALID_HANDLE:                "SEC_E_INVALID_HANDLE",
	SEC_E_UNSUPPORTED_FUNCTION:          "SEC_E_UNSUPPORTED_FUNCTION",
	SEC_E_TARGET_UNKNOWN:                "SEC_E_TARGET_UNKNOWN",
	SEC_E_INTERNAL_ERROR:                "SEC_E_INTERNAL_ERROR",
	SEC_E_SECPKG_NOT_FOUND:              "SEC_E_SECPKG_NOT_FOUND",
	SEC_E_NOT_OWNER:                     "SEC_E_NOT_OWNER",
	SEC_E_CANNOT_INSTALL:                "SEC_E_CANNOT_INSTALL",
	SEC_E_INVALID_TOKEN:                 "SEC_E_INVALID_TOKEN",
	SEC_E_CANNOT_PACK:                   "SEC_E_CANNOT_PACK",
	SEC_E_QOP_NOT_SUPPORTED:             "SEC_E_QOP_NOT_SUPPORTED",
	SEC_E_NO_IMPERSONATION:              "SEC_E_NO_IMPERSONATION",
	SEC_E_LOGON_DENIED:                  "SEC_E_LOGON_DENIED",
	SEC_E_UNKNOWN_CREDENTIALS:           "SEC_E_UNKNOWN_CREDENTIALS",
	SEC_E_NO_CREDENTIALS:                "SEC_E_NO_CREDENTIALS",
	SEC_E_MESSAGE_ALTERED:               "SEC_E_MESSAGE_ALTERED",
	SEC_E_OUT_OF_SEQUENCE:               "SEC_E_OUT_OF_SEQUENCE",
	SEC_E_NO_AUTHENTICATING_AUTHORITY:   "SEC_E_NO_AUTHENTICATING_AUTHORITY",
	SEC_E_BAD_PKGID:                     "SEC_E_BAD_PKGID",
	SEC_E_CONTEXT_EXPIRED:               "SEC_E_CONTEXT_EXPIRED",
	SEC_E_INCOMPLETE_MESSAGE:            "SEC_E_INCOMPLETE_MESSAGE",
	SEC_E_INCOMPLETE_CREDENTIALS:        "SEC_E_INCOMPLETE_CREDENTIALS",
	SEC_E_BUFFER_TOO_SMALL:              "SEC_E_BUFFER_TOO_SMALL",
	SEC_E_WRONG_PRINCIPAL:               "SEC_E_WRONG_PRINCIPAL",
	SEC_E_TIME_SKEW:                     "SEC_E_TIME_SKEW",
	SEC_E_UNTRUSTED_ROOT:                "SEC_E_UNTRUSTED_ROOT",
	SEC_E_ILLEGAL_MESSAGE:               "SEC_E_ILLEGAL_MESSAGE",
	SEC_E_CERT_UNKNOWN:                  "SEC_E_CERT_UNKNOWN",
	SEC_E_CERT_EXPIRED:                  "SEC_E_CERT_EXPIRED",
	SEC_E_ENCRYPT_FAILURE:               "SEC_E_ENCRYPT_FAILURE",
	SEC_E_DECRYPT_FAILURE:               "SEC_E_DECRYPT_FAILURE",
	SEC_E_ALGORITHM_MISMATCH:            "SEC_E_ALGORITHM_MISMATCH",
	SEC_E_SECURITY_QOS_FAILED:           "SEC_E_SECURITY_QOS_FAILED",
	SEC_E_UNFINISHED_CONTEXT_DELETED:    "SEC_E_UNFINISHED_CONTEXT_DELETED",
	SEC_E_NO_TGT_REPLY:                  "SEC_E_NO_TGT_REPLY",
	SEC_E_NO_IP_ADDRESSES:               "SEC_E_NO_IP_ADDRESSES",
	SEC_E_WRONG_CREDENTIAL_HANDLE:       "SEC_E_WRONG_CREDENTIAL_HANDLE",
	SEC_E_CRYPTO_SYSTEM_INVALID:         "SEC_E_CRYPTO_SYSTEM_INVALID",
	SEC_E_MAX_REFERRALS_EXCEEDED:        "SEC_E_MAX_REFERRALS_EXCEEDED",
	SEC_E_MUST_BE_KDC:                   "SEC_E_MUST_BE_KDC",
	SEC_E_STRONG_CRYPTO_NOT_SUPPORTED:   "SEC_E_STRONG_CRYPTO_NOT_SUPPORTED",
	SEC_E_TOO_MANY_PRINCIPALS:           "SEC_E_TOO_MANY_PRINCIPALS",
	SEC_E_NO_PA_DATA:                    "SEC_E_NO_PA_DATA",
	SEC_E_PKINIT_NAME_MISMATCH:          "SEC_E_PKINIT_NAME_MISMATCH",
	SEC_E_SMARTCARD_LOGON_REQUIRED:      "SEC_E_SMARTCARD_LOGON_REQUIRED",
	SEC_E_SHUTDOWN_IN_PROGRESS:          "SEC_E_SHUTDOWN_IN_PROGRESS",
	SEC_E_KDC_INVALID_REQUEST:           "SEC_E_KDC_INVALID_REQUEST",
	SEC_E_KDC_UNABLE_TO_REFER:           "SEC_E_KDC_UNABLE_TO_REFER",
	SEC_E_KDC_UNKNOWN_ETYPE:             "SEC_E_KDC_UNKNOWN_ETYPE",
	SEC_E_UNSUPPORTED_PREAUTH:           "SEC_E_UNSUPPORTED_PREAUTH",
	SEC_E_DELEGATION_REQUIRED:           "SEC_E_DELEGATION_REQUIRED",
	SEC_E_BAD_BINDINGS:                  "SEC_E_BAD_BINDINGS",
	SEC_E_MULTIPLE_ACCOUNTS:             "SEC_E_MULTIPLE_ACCOUNTS",
	SEC_E_NO_KERB_KEY:                   "SEC_E_NO_KERB_KEY",
	SEC_E_CERT_WRONG_USAGE:              "SEC_E_CERT_WRONG_USAGE",
	SEC_E_DOWNGRADE_DETECTED:            "SEC_E_DOWNGRADE_DETECTED",
	SEC_E_SMARTCARD_CERT_REVOKED:        "SEC_E_SMARTCARD_CERT_REVOKED",
	SEC_E_ISSUING_CA_UNTRUSTED:          "SEC_E_ISSUING_CA_UNTRUSTED",
	SEC_E_REVOCATION_OFFLINE_C:          "SEC_E_REVOCATION_OFFLINE_C",
	SEC_E_PKINIT_CLIENT_FAILURE:         "SEC_E_PKINIT_CLIENT_FAILURE",
	SEC_E_SMARTCARD_CERT_EXPIRED:        "SEC_E_SMARTCARD_CERT_EXPIRED",
	SEC_E_NO_S4U_PROT_SUPPORT:           "SEC_E_NO_S4U_PROT_SUPPORT",
	SEC_E_CROSSREALM_DELEGATION_FAILURE: "SEC_E_CROSSREALM_DELEGATION_FAILURE",
	SEC_E_REVOCATION_OFFLINE_KDC:        "SEC_E_REVOCATION_OFFLINE_KDC",
	SEC_E_ISSUING_CA_UNTRUSTED_KDC:      "SEC_E_ISSUING_CA_UNTRUSTED_KDC",
	SEC_E_KDC_CERT_EXPIRED:              "SEC_E_KDC_CERT_EXPIRED",
	SEC_E_KDC_CERT_REVOKED:              "SEC_E_KDC_CERT_REVOKED",
	SEC_E_INVALID_PARAMETER:             "SEC_E_INVALID_PARAMETER",
	SEC_E_DELEGATION_POLICY:             "SEC_E_DELEGATION_POLICY",
	SEC_E_POLICY_NLTM_ONLY:              "SEC_E_POLICY_NLTM_ONLY",
	SEC_E_NO_CONTEXT:                    "SEC_E_NO_CONTEXT",
	SEC_E_PKU2U_CERT_FAILURE:            "SEC_E_PKU2U_CERT_FAILURE",
	SEC_E_MUTUAL_AUTH_FAILED:            "SEC_E_MUTUAL_AUTH_FAILED",
	SEC_E_ONLY_HTTPS_ALLOWED:            "SEC_E_ONLY_HTTPS_ALLOWED",
	SEC_E_APPLICATION_PROTOCOL_MISMATCH: "SEC_E_APPLICATION_PROTOCOL_MISMATCH",
	SEC_E_INVALID_UPN_NAME:              "SEC_E_INVALID_UPN_NAME",
	SEC_E_EXT_BUFFER_TOO_SMALL:          "SEC_E_EXT_BUFFER_TOO_SMALL",
	SEC_E_INSUFFICIENT_BUFFERS:          "SEC_E_INSUFFICIENT_BUFFERS",

	SEC_I_CONTINUE_NEEDED:            "SEC_I_CONTINUE_NEEDED",
	SEC_I_COMPLETE_NEEDED:            "SEC_I_COMPLETE_NEEDED",
	SEC_I_COMPLETE_AND_CONTINUE:      "SEC_I_COMPLETE_AND_CONTINUE",
	SEC_I_LOCAL_LOGON:                "SEC_I_LOCAL_LOGON",
	SEC_I_GENERIC_EXTENSION_RECEIVED: "SEC_I_GENERIC_EXTENSION_RECEIVED",
	SEC_I_CONTEXT_EXPIRED:            "SEC_I_CONTEXT_EXPIRED",
	SEC_I_INCOMPLETE_CREDENTIALS:     "SEC_I_INCOMPLETE_CREDENTIALS",
	SEC_I_RENEGOTIATE:                "SEC_I_RENEGOTIATE",
	SEC_I_NO_LSA_CONTEXT:             "SEC_I_NO_LSA_CONTEXT",
	SEC_I_SIGNATURE_NEEDED:           "SEC_I_SIGNATURE_NEEDED",
	SEC_I_NO_RENEGOTIATION:           "SEC_I_NO_RENEGOTIATION",
	SEC_I_MESSAGE_FRAGMENT:           "SEC_I_MESSAGE_FRAGMENT",
	SEC_I_CONTINUE_NEEDED_MESSAGE_OK: "SEC_I_CONTINUE_NEEDED_MESSAGE_OK",
	SEC_I_ASYNC_CALL_PENDING:         "SEC_I_ASYNC_CALL_PENDING",
}

// String returns the Windows name of the status, such as
// "SEC_E_LOGON_DENIED", or its hexadecimal value when it has no name here.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("SECURITY_STATUS(0x%08X)", uint32(s))
}

// Error implements error. It is meant for failure codes; see Err.
func (s Status) Error() string {
	return fmt.Sprintf("%s (0x%08X)", s.String(), uint32(s))
}

// Failed reports whether s is a failure code (the FAILED macro: the
// severity bit is set).
func (s Status) Failed() bool { return s&0x80000000 != 0 }

// Succeeded reports whether s is SEC_E_OK or an informational SEC_I_* code.
func (s Status) Succeeded() bool { return !s.Failed() }

// Err returns nil for success and informational codes, and s itself for a
// failure code, so that callers can write `if err := st.Err(); err != nil`.
func (s Status) Err() error {
	if s.Failed() {
		return s
	}
	return nil
}

// Error is a failure Status with the name of the call that failed and a
// short detail for logs. Detail never holds secrets. errors.Is(err,
// SEC_E_LOGON_DENIED) matches an *Error carrying that status.
type Error struct {
	Op     string // the SSPI call, such as "AcceptSecurityContext"
	Status Status // the failure code
	Detail string // why, in words; never key material or passwords
	// Err is the underlying cause, when there is one (a network error, a
	// context.DeadlineExceeded, a parse error). errors.Is and errors.As
	// see both it and Status.
	Err error
}

// Error formats the call, the status and the detail.
func (e *Error) Error() string {
	s := e.Op
	if s != "" {
		s += ": "
	}
	s += e.Status.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		// A cause that the detail already spells out is not repeated.
		if m := e.Err.Error(); m != e.Detail {
			s += ": " + m
		}
	}
	return s
}

// Is matches another *Error with the same Status and Detail (whatever its
// Op), so errors.Is(err, ErrContextBusy) holds for any call's copy of it.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && t.Detail == e.Detail
}

// Unwrap returns the Status and the cause, for errors.Is and errors.As:
// errors.Is(err, SEC_E_TIME_SKEW) and errors.Is(err,
// context.DeadlineExceeded) can both hold.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Status, e.Err}
	}
	return []error{e.Status}
}

// StatusOf returns the Status carried by err: err itself when it is a
// Status, the one inside an *Error, SEC_E_OK for nil, and
// SEC_E_INTERNAL_ERROR for any other error.
func StatusOf(err error) Status {
	if err == nil {
		return SEC_E_OK
	}
	var s Status
	if errors.As(err, &s) {
		return s
	}
	return SEC_E_INTERNAL_ERROR
}

// ErrContextBusy is returned when a call arrives on a context (or an
// SspiAsyncContext) while another call on it is still in flight. Contexts
// are used from one goroutine at a time; the second call is refused rather
// than allowed to race. errors.Is(err, SEC_E_INVALID_PARAMETER) holds.
var ErrContextBusy = &Error{Status: SEC_E_INVALID_PARAMETER, Detail: "another call is in flight on this context"}
