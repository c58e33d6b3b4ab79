// Package netlogon verifies NTLM and MS-CHAP logons of domain users at an
// Active Directory domain controller, over the NETLOGON secure channel of
// a machine account (MS-NRPC), as a Windows member server's MSV1_0 and
// Samba's winbind do: NTLM pass-through, in pure Go.
//
// A Client implements ntlm.Verifier; set it as ntlm.Config.Verifier (or
// run `gosspi serve -dc` / `gosspi ntlm-auth -dc`) and the NTLM server
// hands the responses of an AUTHENTICATE message to the DC, which returns
// the user's SID, groups, canonical names and session key; the server
// derives the context's keys from that key and checks the MIC, channel
// bindings and timestamp itself, exactly as for a local account.
//
//	m, err := netlogon.LoadMachineAccount("/etc/gosspi/machine", "")
//	dc, err := netlogon.New(netlogon.Config{DC: "dc1.contoso.com", Domain: m.Domain,
//		DNSDomain: m.DNSDomain, Account: m.Account, NTHash: m.NTHash})
//	host, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Verifier: dc}})
//
// What it does, on DCE/RPC over TCP (ncacn_ip_tcp, internal/dcerpc):
//
//   - finds NETLOGON's port with the endpoint mapper (port 135), and the
//     DC with DNS (_ldap._tcp.dc._msdcs.DOMAIN) when none is given;
//   - sets up the secure channel: NetrServerReqChallenge and
//     NetrServerAuthenticate3 with AES session keys (HMAC-SHA256) and
//     AES-CFB8 credentials, refusing a DC that does not negotiate AES and
//     secure RPC, and confirms the negotiated flags over the sealed
//     channel with NetrLogonGetCapabilities and the authenticator chain
//     (MS-NRPC 3.1.4);
//   - binds further connections with the Netlogon security provider at the
//     privacy level: every PDU sealed with AES-CFB8 and signed with
//     HMAC-SHA256 (NL_AUTH_SHA2_SIGNATURE, with header signing when the DC
//     accepts it; MS-NRPC 3.3);
//   - logs users on with NetrLogonSamLogonEx (NetlogonNetworkTransitive-
//     Information, NETLOGON_VALIDATION_SAM_INFO4), at most
//     Config.MaxConcurrent at once, each bounded by Config.Timeout and the
//     caller's context, on idle sealed connections kept for reuse.
//
// Failures come as *sspi.Error, with the status Windows' NTLM package
// returns: SEC_E_NO_AUTHENTICATING_AUTHORITY when no DC answers or the DC
// refuses the machine account (wrong password, account removed: the
// trust has failed), SEC_E_LOGON_DENIED for a wrong password or an
// unknown user (the same for both), and the NTSTATUS of an account's
// state (sspi.STATUS_ACCOUNT_DISABLED, STATUS_PASSWORD_EXPIRED,
// STATUS_PASSWORD_MUST_CHANGE, STATUS_ACCOUNT_EXPIRED,
// STATUS_ACCOUNT_LOCKED_OUT...). A refused logon is never retried (a retry
// would push the account toward lockout); only a call the DC could not
// verify (ACCESS_DENIED: it restarted, or another process set up a secure
// channel for the same machine account) is retried, once, on a secure
// channel set up again.
package netlogon
