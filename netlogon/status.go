package netlogon

import (
	"fmt"
	"strings"

	"github.com/gosspi/gosspi/sspi"
)

// NTSTATUS values of the NETLOGON calls (MS-ERREF 2.3.1).
const (
	statusSuccess                    = 0x00000000
	statusAccessDenied               = 0xC0000022
	statusInvalidParameter           = 0xC000000D
	statusNoSuchUser                 = 0xC0000064
	statusWrongPassword              = 0xC000006A
	statusLogonFailure               = 0xC000006D
	statusNoLogonServers             = 0xC000005E
	statusNoSuchDomain               = 0xC00000DF
	statusInvalidInfoClass           = 0xC0000003
	statusNoTrustSAMAccount          = 0xC000018B
	statusTrustedDomainFailure       = 0xC000018C
	statusTrustedRelationshipFailure = 0xC000018D
	statusTrustFailure               = 0xC0000190
	statusNetlogonNotStarted         = 0xC0000192
	statusDomainControllerNotFound   = 0xC0000233
	statusDowngradeDetected          = 0xC0000388
)

var statusNames = map[uint32]string{
	statusSuccess:                    "STATUS_SUCCESS",
	statusAccessDenied:               "STATUS_ACCESS_DENIED",
	statusInvalidParameter:           "STATUS_INVALID_PARAMETER",
	statusInvalidInfoClass:           "STATUS_INVALID_INFO_CLASS",
	statusNoSuchUser:                 "STATUS_NO_SUCH_USER",
	statusWrongPassword:              "STATUS_WRONG_PASSWORD",
	statusLogonFailure:               "STATUS_LOGON_FAILURE",
	statusNoLogonServers:             "STATUS_NO_LOGON_SERVERS",
	statusNoSuchDomain:               "STATUS_NO_SUCH_DOMAIN",
	statusNoTrustSAMAccount:          "STATUS_NO_TRUST_SAM_ACCOUNT",
	statusTrustedDomainFailure:       "STATUS_TRUSTED_DOMAIN_FAILURE",
	statusTrustedRelationshipFailure: "STATUS_TRUSTED_RELATIONSHIP_FAILURE",
	statusTrustFailure:               "STATUS_TRUST_FAILURE",
	statusNetlogonNotStarted:         "STATUS_NETLOGON_NOT_STARTED",
	statusDomainControllerNotFound:   "STATUS_DOMAIN_CONTROLLER_NOT_FOUND",
	statusDowngradeDetected:          "STATUS_DOWNGRADE_DETECTED",
}

// statusName is the name of an NTSTATUS, or its value in hex.
func statusName(s uint32) string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	if n := sspi.Status(s).String(); strings.HasPrefix(n, "STATUS_") { // named by package sspi
		return n
	}
	return fmt.Sprintf("NTSTATUS 0x%08X", s)
}

// logonStatus maps the NTSTATUS of a refused NetrLogonSamLogonEx to what
// Windows' NTLM package returns from AcceptSecurityContext: a wrong
// password and an unknown user are the same SEC_E_LOGON_DENIED (MSV1_0
// folds both into STATUS_LOGON_FAILURE); the state of an account
// (disabled, locked out, expired, must change its password, restrictions)
// comes through as the NTSTATUS itself; a domain or trust failure is
// SEC_E_NO_AUTHENTICATING_AUTHORITY; a request the DC cannot parse is
// SEC_E_INVALID_TOKEN.
func logonStatus(s uint32) (sspi.Status, string) {
	switch s {
	case statusWrongPassword, statusNoSuchUser, statusLogonFailure:
		return sspi.SEC_E_LOGON_DENIED, "the domain controller refused the logon (STATUS_LOGON_FAILURE)"
	case uint32(sspi.STATUS_ACCOUNT_DISABLED), uint32(sspi.STATUS_ACCOUNT_LOCKED_OUT), uint32(sspi.STATUS_PASSWORD_EXPIRED),
		uint32(sspi.STATUS_PASSWORD_MUST_CHANGE), uint32(sspi.STATUS_ACCOUNT_EXPIRED), uint32(sspi.STATUS_INVALID_LOGON_HOURS),
		uint32(sspi.STATUS_INVALID_WORKSTATION), uint32(sspi.STATUS_ACCOUNT_RESTRICTION), uint32(sspi.STATUS_LOGON_TYPE_NOT_GRANTED),
		uint32(sspi.STATUS_NOLOGON_INTERDOMAIN_TRUST_ACCOUNT), uint32(sspi.STATUS_NOLOGON_WORKSTATION_TRUST_ACCOUNT),
		uint32(sspi.STATUS_NOLOGON_SERVER_TRUST_ACCOUNT):
		return sspi.Status(s), "the domain controller refused the logon (" + statusName(s) + ")"
	case statusNoLogonServers, statusNoSuchDomain, statusTrustedDomainFailure, statusTrustedRelationshipFailure,
		statusTrustFailure, statusNetlogonNotStarted, statusDomainControllerNotFound, statusNoTrustSAMAccount, statusAccessDenied:
		return sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY, "the domain controller cannot authenticate the logon (" + statusName(s) + ")"
	case statusInvalidParameter, statusInvalidInfoClass:
		return sspi.SEC_E_INVALID_TOKEN, "the domain controller refused the request (" + statusName(s) + ")"
	}
	return sspi.SEC_E_LOGON_DENIED, "the domain controller refused the logon (" + statusName(s) + ")"
}
