// Package sshauth is SSH user authentication with Kerberos over gosspi:
// the "gssapi-with-mic" method of RFC 4462 for golang.org/x/crypto/ssh, on
// both sides.
//
// A Client is an ssh.GSSAPIClient: with ssh.GSSAPIWithMICAuthMethod it
// logs a Go SSH client in to OpenSSH's sshd (GSSAPIAuthentication yes)
// with the user's Kerberos ticket, as `ssh -K` does. A Server is an
// ssh.GSSAPIServer: it lets an x/crypto/ssh server accept `ssh -o
// GSSAPIAuthentication=yes` from MIT or Heimdal clients with the host's
// keytab (the service principal host/HOSTNAME).
//
// The mechanism is Kerberos V5 (OID 1.2.840.113554.1.2.2, RFC 1964 and
// RFC 4121), the only one OpenSSH and x/crypto/ssh speak: the contexts
// are gosspi "Kerberos" contexts, whose tokens are the framed GSS-API
// tokens of RFC 2743 section 3.1. After the context is established the
// client signs the SSH session (RFC 4462 section 3.5: the session
// identifier, SSH_MSG_USERAUTH_REQUEST, the user name, the service and
// "gssapi-with-mic") with GSS_GetMIC, and the server verifies it, which
// binds the Kerberos authentication to this SSH connection: an AP-REQ
// replayed into another connection has no MIC that verifies there.
//
// # Who may log in
//
// Kerberos says who the client is (its principal, in the KDC's spelling:
// srcName, the second argument of ssh.GSSAPIWithMICConfig.AllowLogin, is
// "alice@EXAMPLE.COM"), not which local account it may use. AllowLogin
// decides that; LocalUser is the rule of MIT's krb5_kuserok without a
// .k5login (a principal of the default realm with one component logs in
// as the account of that name), and Server.Peer gives the full identity
// (with the PAC's SIDs and groups from an Active Directory KDC) inside the
// callback.
//
// # One Server per connection
//
// ssh.GSSAPIServer has no connection argument, so a Server holds the
// context of one connection at a time: give each connection its own
// ssh.ServerConfig with its own Server (Acceptor.Config makes both parts
// of it), and share the Acceptor, which holds the host's inbound
// credential (the keytab, read once), between them.
package sshauth
