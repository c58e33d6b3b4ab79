// Package httpauth is HTTP authentication with Negotiate (RFC 4559),
// Kerberos and NTLM over gosspi: a net/http middleware for servers and an
// http.RoundTripper for clients.
//
// # Server
//
// An Authenticator answers a request without credentials with 401 and a
// WWW-Authenticate challenge per configured scheme ("Negotiate", plus
// "NTLM" when configured). It runs each Authorization token through the
// acceptor of the scheme's package (AcceptSecurityContext) and:
//
//   - answers a leg that needs another with 401 and the output token
//     ("WWW-Authenticate: NTLM <CHALLENGE>");
//   - on success, calls the next handler with the identity in the request's
//     context (IdentityFromContext) and, when the package produced a last
//     token (Kerberos' AP-REP for mutual authentication, SPNEGO's
//     accept-completed with its mechListMIC), sends it on the response
//     ("WWW-Authenticate: Negotiate <token>" on the 200);
//   - on failure, answers 401 with the challenges again, and logs why (the
//     SSPI status; never a token, a password or a key).
//
// NTLM's handshake spans two requests that must arrive on one TCP
// connection. The middleware keeps the handshake in progress in the
// connection's state (http.Server's ConnContext hook), never in a global
// table keyed by something the client sends: a continuation token that
// arrives on another connection finds no handshake and gets 401. The state
// goes away when the connection closes (the ConnState hook). Install sets
// both hooks. A body sent with a leg that continues a handshake is read
// and dropped so that the connection survives it, up to 1 MiB and within
// 10 seconds (or Config.HandshakeTimeout, or the server's ReadTimeout, if
// shorter); a larger or slower body closes the connection instead.
//
// A handshake holds one of Config.MaxHandshakes slots only while it is
// parked on its connection between two legs, never while the middleware
// reads a request or writes an answer, and a slot older than
// Config.HandshakeTimeout is reclaimed when another handshake needs it,
// whatever its connection is doing. A handshake that completes in one leg
// (Kerberos) needs no slot. Set the http.Server's ReadHeaderTimeout,
// ReadTimeout and IdleTimeout as well: they bound what a slow client
// costs outside the middleware.
//
// Config.Persist keeps a connection authenticated after its first
// handshake (as IIS does), so later requests on it need no header.
//
// # HTTP/2 and proxies
//
// Over HTTP/2 every stream is a request of its own: a persisted identity
// never covers another stream, and a handshake that needs several legs on
// one connection (NTLM, raw or inside Negotiate) cannot complete: its
// first leg gets its 401 and CHALLENGE (on which curl and Chromium switch
// to HTTP/1.1) but nothing is kept, and a later leg gets 421 with a
// message asking for HTTP/1.1. (IIS resets the stream with
// HTTP_1_1_REQUIRED, which net/http's server cannot send.) Kerberos, which
// completes in one leg, works per request.
//
// NTLM's handshake and Config.Persist bind to the TCP connection, not to
// a client. A reverse proxy or load balancer in front of the server that
// pools its connections (sends requests of different clients over one
// connection) breaks that binding: do not use Config.Persist behind one,
// and run NTLM through such a proxy only if it dedicates a server
// connection to each client connection.
// Over HTTPS the tls-server-end-point bindings (RFC 5929 4.1) of the
// certificate the connection presented are given to the package, which
// checks the client's under the host's Extended Protection policy
// (gosspi.HostConfig.ChannelBindings: when-supported, off or required). A resumed TLS session presents no
// certificate; its bindings are those of the handshake that made the
// session, which the middleware keeps in the session ticket (see
// WrapTLSConfig). When the bindings of a TLS connection cannot be known
// the request gets 500, under "when-supported" too: going on without them
// would let a relayed client in. Config.MaxHeaderBytes (400 beyond it) and
// Config.MaxHandshakes (503 beyond it) bound what a client can make the
// server hold.
//
// # Client
//
// Transport answers 401 and 407 challenges for Negotiate, Kerberos and
// NTLM with the process's credentials (a Kerberos ticket cache, an NTLM
// credential file) or an explicit identity. It keeps a handshake on one
// connection, sends the request body again with each leg that may
// complete it (not with an NTLM NEGOTIATE, as curl and Windows), binds to the
// server's TLS certificate, and, when it asked for mutual authentication
// (the default, MutualAuthRequired), fails with ErrMutualAuth unless the
// server's final token proves the server's identity. MutualAuthOptional
// verifies the final token when there is one and accepts a response
// without (as requests-gssapi's OPTIONAL); MutualAuthDisabled does not ask.
// With Opportunistic, the first request already carries a token.
//
// # Authenticating proxies
//
// net/http makes the CONNECT of an HTTPS request through a proxy itself
// and cannot answer the proxy's 407. ProxyDialer makes the CONNECT,
// answers the 407 with Negotiate, Kerberos (for HTTP/PROXYHOST) or NTLM
// on one connection to the proxy and returns the tunnel;
// ProxyDialer.ConfigureTransport hands it to an http.Transport for TLS to
// the origin, and sends plain-HTTP requests to the proxy, whose 407s a
// Transport over it answers on the kept-alive connection.
//
// # Status codes
//
//   - 400: an Authorization header that is malformed (not base64, a scheme
//     without a token, several headers) or over Config.MaxHeaderBytes.
//   - 401: no credentials, an unknown scheme, a continuation token without
//     a handshake on this connection, or a failed authentication.
//   - 421: a leg that continues NTLM over HTTP/2 (retry over HTTP/1.1).
//   - 500: the channel bindings of a TLS connection are unknown (see
//     Config.Certificate).
//   - 503: a handshake that needs another leg while Config.MaxHandshakes
//     handshakes are already in progress (none of them stale).
package httpauth
