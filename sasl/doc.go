// Package sasl implements the SASL (RFC 4422) mechanisms GSSAPI (RFC 4752)
// and GSS-SPNEGO on gosspi security contexts, client and server side, with
// the security layer that protects the traffic after the authentication.
//
// It is protocol-neutral: a Client produces the responses and consumes the
// challenges that the application protocol (LDAP, IMAP, SMTP, XMPP, Kafka)
// carries, a Server does the reverse, and both end with a Security, the
// negotiated layer. NewConn puts that layer on a connection: every write
// becomes a 4-octet big-endian length followed by a wrapped token (RFC 4422
// 3.7), every read opens one.
//
// The two mechanisms differ in how the layer is chosen:
//
//   - GSSAPI (RFC 4752) negotiates it after the Kerberos context is
//     established: the server sends a wrapped 4-octet offer (a bit mask of
//     layers and its maximum buffer), the client answers with its choice,
//     its own maximum buffer and an optional authorization identity.
//   - GSS-SPNEGO, as Windows and Cyrus SASL (2.1.28) do it, has no such step: the
//     layer is the one the context's flags give (confidentiality if the
//     context can seal, else integrity if it can sign, else none), which
//     is how an Active Directory DC signs and seals LDAP binds done with
//     Negotiate (Kerberos or NTLM). A DC seals every GSS-SPNEGO session
//     that signs (an NTLM session that negotiated only signing is sealed
//     all the same, and a Kerberos initiator always offers
//     confidentiality), so a Client that accepts integrity negotiates
//     confidentiality and its Security reports it.
//
// Wrapped tokens are what the package's Wrap produces: an RFC 4121 (or RFC
// 4757) wrap token for Kerberos, and for NTLM the 16-octet signature
// followed by the sealed data, or followed by the plain data when the layer
// is integrity only (MakeSignature), as Windows and Samba lay it out.
package sasl
