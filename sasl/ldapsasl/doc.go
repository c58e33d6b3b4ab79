// Package ldapsasl binds go-ldap (github.com/go-ldap/ldap/v3) connections
// with gosspi's SASL mechanisms, and adds what go-ldap lacks: the SASL
// security layer after the bind (LDAP signing and sealing, RFC 4513 5.2.1.4,
// which Active Directory requires by default) and channel bindings
// (tls-server-end-point, RFC 5929) over LDAPS and StartTLS (LDAP channel
// binding, required by Windows Server 2025's defaults).
//
// Two ways in:
//
//   - GSSAPIClient implements ldap.GSSAPIClient, so that go-ldap's own
//     Conn.GSSAPIBind works with gosspi's Kerberos. Over plain LDAP, give it
//     the Conn that the ldap.Conn runs on (NewConn): it starts the
//     negotiated layer on it when the bind succeeds.
//   - Bind runs a GSSAPI or GSS-SPNEGO bind (Kerberos or NTLM through
//     Negotiate) on a raw connection before go-ldap sees it, and returns the
//     connection with the layer on, for ldap.NewConn. go-ldap cannot send a
//     GSS-SPNEGO bind itself.
//
// What go-ldap would need to do this itself: a SASL bind with any mechanism
// name and the server's final serverSaslCreds (it ignores them on success),
// a hook to replace its net.Conn after a bind that negotiated a security
// layer (as StartTLS does internally), and a way to pass the TLS state to
// the GSSAPI client for channel bindings.
package ldapsasl
