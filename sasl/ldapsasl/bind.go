package ldapsasl

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/sasl"
)

// maxRounds bounds the bind's round trips (GSS-SPNEGO with NTLM takes
// two, GSSAPI three or four).
const maxRounds = 8

// Bind runs the SASL bind of c (GSSAPI or GSS-SPNEGO) on conn, a plain or
// TLS connection to an LDAP server that nothing else reads yet, and
// returns the connection to give ldap.NewConn: with the negotiated layer
// on it (a *sasl.Conn), or conn itself when the layer is none. A refused
// bind returns go-ldap's *ldap.Error (ldap.IsErrorWithCode(err,
// ldap.LDAPResultStrongAuthRequired)...). ctx bounds the whole bind.
func Bind(ctx context.Context, conn net.Conn, c *sasl.Client) (net.Conn, *sasl.Security, error) {
	defer watch(ctx, conn)()
	creds, err := c.Start(ctx)
	if err != nil {
		return nil, nil, err
	}
	for id := int64(1); id <= maxRounds; id++ {
		r, err := roundTrip(conn, id, bindRequest(id, c.Mechanism(), creds))
		if err != nil {
			return nil, nil, ctxErr(ctx, err)
		}
		switch r.code {
		case ldap.LDAPResultSaslBindInProgress:
			if creds, err = c.Next(ctx, r.creds); err != nil {
				return nil, nil, err
			}
			continue
		case ldap.LDAPResultSuccess:
			sec, err := c.Finish(ctx, r.creds)
			if err != nil {
				return nil, nil, err
			}
			if sec.Layer() == sasl.LayerNone {
				return conn, sec, nil
			}
			return sasl.NewConn(conn, sec), sec, nil
		}
		return nil, nil, r.err()
	}
	return nil, nil, errors.New("ldapsasl: the bind does not end")
}

// roundTrip sends one request and reads its response.
func roundTrip(conn net.Conn, id int64, req []byte) (*response, error) {
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	msg, err := readMessage(conn)
	if err != nil {
		return nil, err
	}
	r, err := parseResponse(msg)
	if err != nil {
		return nil, err
	}
	if r.id != id {
		return nil, errors.New("ldapsasl: a response to another request")
	}
	return r, nil
}

// StartTLS runs the StartTLS extended operation (RFC 4511 4.14) on conn
// and the TLS handshake, and returns the TLS connection to bind on (with
// channel bindings from ChannelBindings).
func StartTLS(ctx context.Context, conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	defer watch(ctx, conn)()
	r, err := roundTrip(conn, 1, startTLSRequest(1))
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	if r.op != ldap.ApplicationExtendedResponse {
		return nil, errMessage
	}
	if err := r.err(); err != nil {
		return nil, err
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// ChannelBindings returns the tls-server-end-point channel bindings (RFC
// 5929 4) of a TLS connection's server certificate, for
// gosspi.ClientConfig.ChannelBindings: what Active Directory's LDAP
// channel binding checks over LDAPS and StartTLS.
func ChannelBindings(cs tls.ConnectionState) (*gosspi.ChannelBindings, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("ldapsasl: the TLS connection has no server certificate")
	}
	return gosspi.TLSServerEndPoint(cs.PeerCertificates[0])
}

// watch applies ctx's deadline and cancellation to conn until the
// returned function is called.
func watch(ctx context.Context, conn net.Conn) func() {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return func() {
		stop()
		conn.SetDeadline(time.Time{})
	}
}

// ctxErr prefers ctx's error to the I/O error its deadline caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
