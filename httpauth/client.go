package httpauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// DefaultMaxReplayBody bounds the request body Transport buffers when the
// request has no GetBody.
const DefaultMaxReplayBody = 16 << 20

// maxLegs bounds the requests of one handshake.
const maxLegs = 8

// maxIdlePins bounds the idle authenticated connections kept per host.
const maxIdlePins = 4

// ErrMutualAuth is returned when the client asked for mutual
// authentication and the server's final response did not prove who it is.
var ErrMutualAuth = errors.New("httpauth: server did not complete mutual authentication")

// MutualAuthMode is what Transport requires of the server's proof of its
// identity (the final token of the handshake: a Kerberos AP-REP, or the
// SPNEGO token around it), as requests-gssapi's mutual_authentication.
type MutualAuthMode int

const (
	// MutualAuthRequired, the default, asks for mutual authentication and
	// fails a response below 400 that does not carry a final token that
	// verifies, with ErrMutualAuth.
	MutualAuthRequired MutualAuthMode = iota
	// MutualAuthOptional asks for mutual authentication and verifies the
	// final token when the server sends one (a token that does not verify
	// fails with ErrMutualAuth), but accepts a response without one, or
	// with an SPNEGO accept-completed that carries no mechanism token (as
	// gokrb5's SPNEGO handler sends).
	MutualAuthOptional
	// MutualAuthDisabled does not ask for mutual authentication
	// (gosspi.FlagMutualAuth is taken out of the flags) and does not look at
	// the server's final token.
	MutualAuthDisabled
)

// String returns "REQUIRED", "OPTIONAL" or "DISABLED".
func (m MutualAuthMode) String() string {
	switch m {
	case MutualAuthRequired:
		return "REQUIRED"
	case MutualAuthOptional:
		return "OPTIONAL"
	case MutualAuthDisabled:
		return "DISABLED"
	}
	return fmt.Sprintf("MutualAuthMode(%d)", int(m))
}

// ErrConnectionChanged is returned when the server closed the connection
// in the middle of a multi-leg handshake, which binds to the connection.
var ErrConnectionChanged = errors.New("httpauth: connection closed in the middle of the handshake")

// Transport is an http.RoundTripper that answers 401 (WWW-Authenticate)
// and 407 (Proxy-Authenticate) challenges for Negotiate, Kerberos and
// NTLM, like curl --negotiate or a browser:
//
//   - every request runs on a connection of its own (HTTP/1.1, kept alive
//     and reused by later requests to the same host), so that NTLM's legs
//     stay on one connection and a server with persistent authentication
//     lets later requests through without a new handshake;
//   - the body is sent again with each leg: GetBody is used when set,
//     otherwise the body is buffered (up to MaxReplayBody);
//   - with gosspi.FlagMutualAuth (the default flags), the final response must
//     carry the server's token and it must verify, otherwise RoundTrip
//     fails with ErrMutualAuth; MutualAuth relaxes this (OPTIONAL) or turns
//     it off (DISABLED);
//   - with Opportunistic, the first request already carries a token, so
//     that a server that takes it answers without a 401 first;
//   - over HTTPS the tls-server-end-point channel bindings of the server's
//     certificate are sent (Extended Protection).
//
// A response that is still 401 or 407 after the handshake is returned as
// it is. A 407 is answered for plain-HTTP requests through a proxy (the
// proxy's SPN, HTTP/PROXYHOST, from Base.Proxy); the CONNECT of an HTTPS
// request through a proxy is made by net/http and cannot be answered
// here: ProxyDialer.ConfigureTransport on Base makes it with the
// dialer's CONNECT instead. Transport is safe for concurrent use.
type Transport struct {
	// Host is the package host the client authenticates with. Required.
	Host *gosspi.Host
	// Base is the transport connections are made with (TLS settings,
	// proxy, dialer); nil means a clone of http.DefaultTransport. It must
	// be an *http.Transport because Transport pins connections.
	Base *http.Transport
	// Identity is the credential: nil means the packages' defaults (the
	// Kerberos ccache of KRB5CCNAME, NTLM_USER_FILE).
	Identity *gosspi.Identity
	// Schemes are the schemes the client answers, in order of preference;
	// empty means Negotiate, Kerberos, NTLM.
	Schemes []string
	// SPN returns the service principal for a host; nil means "HTTP/host".
	SPN func(host string) string
	// Flags are the requirements of each context; zero means
	// gosspi.DefaultFlags (which asks for mutual authentication).
	Flags gosspi.Flags
	// MutualAuth is what a response must prove of the server: REQUIRED
	// (the zero value), OPTIONAL or DISABLED. REQUIRED and OPTIONAL apply
	// when Flags asks for gosspi.FlagMutualAuth (the default flags do);
	// Flags without it is DISABLED.
	MutualAuth MutualAuthMode
	// Opportunistic sends a token with the first request of each
	// RoundTrip, for the first of Schemes that has a credential, instead
	// of waiting for a 401 (requests-gssapi's opportunistic_auth). The
	// token carries no channel bindings (the server's certificate is not
	// known yet); a 401 to it is answered as usual. Only the origin server
	// is answered this way, not a proxy.
	Opportunistic bool
	// NoChannelBindings leaves the tls-server-end-point bindings out.
	NoChannelBindings bool
	// RequireProxyMutualAuth applies MutualAuth to a proxy's 407
	// challenges too. Without it a proxy's final token is verified when
	// it comes but not required, as curl does: Squid never sends it.
	RequireProxyMutualAuth bool
	// MaxReplayBody bounds the body buffered for replay; zero means
	// DefaultMaxReplayBody.
	MaxReplayBody int64
	// Logger gets a debug line per leg: never a token, a password or a
	// URL's userinfo and query. Nil means slog.Default().
	Logger *slog.Logger

	mu    sync.Mutex
	creds map[string]*gosspi.Credential
	idle  map[string][]*pin
}

// pin is a transport with at most one connection.
type pin struct {
	rt    *http.Transport
	dials atomic.Int32
	key   string
	// id is the per-request identity the pin's connections authenticated
	// as (WithCredentials), kept so its address, part of key, is not reused.
	id *gosspi.Identity
}

type credentialsKey struct{}

// WithCredentials returns a context under which a Transport's requests
// authenticate as id instead of Transport.Identity: one Transport can serve
// many users (a proxy or a gateway acting for each of its callers). The
// credential is acquired for each handshake and freed after it, and a
// connection authenticated for one identity is never reused for a request
// of another (connections are kept per *gosspi.Identity value: pass the same
// pointer for the same user to reuse them).
func WithCredentials(ctx context.Context, id *gosspi.Identity) context.Context {
	return context.WithValue(ctx, credentialsKey{}, id)
}

// identityOf returns the per-request identity of ctx, if any.
func identityOf(ctx context.Context) *gosspi.Identity {
	id, _ := ctx.Value(credentialsKey{}).(*gosspi.Identity)
	return id
}

func (t *Transport) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.Default()
}

func (t *Transport) schemes() []string {
	if len(t.Schemes) > 0 {
		return t.Schemes
	}
	return []string{SchemeNegotiate, SchemeKerberos, SchemeNTLM}
}

// CloseIdleConnections closes the idle authenticated connections.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, ps := range idle {
		for _, p := range ps {
			p.rt.CloseIdleConnections()
		}
	}
}

// Close closes idle connections and frees the credentials.
func (t *Transport) Close() error {
	t.CloseIdleConnections()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.creds {
		c.Close()
	}
	t.creds = nil
	return nil
}

// credential returns the shared outbound credential of a package (one per
// package for the Transport's life) and a function to call when the
// handshake is over.
func (t *Transport) credential(ctx context.Context, pkg string) (*gosspi.Credential, func(), error) {
	if id := identityOf(ctx); id != nil {
		// Per request: acquired now, freed when the handshake is over.
		c, err := t.Host.AcquireCredential(ctx, gosspi.CredentialConfig{Package: pkg, Identity: id})
		if err != nil {
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.creds[pkg]; c != nil {
		return c, func() {}, nil
	}
	c, err := t.Host.AcquireCredential(ctx, gosspi.CredentialConfig{Package: pkg, Identity: t.Identity})
	if err != nil {
		return nil, nil, err
	}
	if t.creds == nil {
		t.creds = map[string]*gosspi.Credential{}
	}
	t.creds[pkg] = c
	return c, func() {}, nil
}

func (t *Transport) getPin(key string) *pin {
	t.mu.Lock()
	if ps := t.idle[key]; len(ps) > 0 {
		p := ps[len(ps)-1]
		t.idle[key] = ps[:len(ps)-1]
		t.mu.Unlock()
		return p
	}
	t.mu.Unlock()
	base := t.Base
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	p := &pin{key: key}
	rt := base.Clone()
	rt.MaxConnsPerHost = 1
	rt.MaxIdleConnsPerHost = 1
	rt.ForceAttemptHTTP2 = false
	// HTTP/1.1 only: NTLM binds to a connection, which HTTP/2 would
	// multiplex. A non-nil empty TLSNextProto turns HTTP/2 off even in a
	// clone of a transport that already set it up.
	var protos http.Protocols
	protos.SetHTTP1(true)
	rt.Protocols = &protos
	rt.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	if rt.TLSClientConfig != nil {
		var np []string
		for _, p := range rt.TLSClientConfig.NextProtos {
			if p != "h2" {
				np = append(np, p)
			}
		}
		rt.TLSClientConfig.NextProtos = np
	}
	dial := rt.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	rt.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		p.dials.Add(1)
		return dial(ctx, network, addr)
	}
	if dt := rt.DialTLSContext; dt != nil {
		rt.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			p.dials.Add(1)
			return dt(ctx, network, addr)
		}
	}
	p.rt = rt
	return p
}

func (t *Transport) putPin(p *pin) {
	t.mu.Lock()
	if t.idle == nil {
		t.idle = map[string][]*pin{}
	}
	if len(t.idle[p.key]) < maxIdlePins {
		t.idle[p.key] = append(t.idle[p.key], p)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	p.rt.CloseIdleConnections()
}

// pinnedBody returns the pin to the idle pool when the body is closed.
type pinnedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

// refusedBody carries why the server refused an authentication.
type refusedBody struct {
	io.ReadCloser
	why error
}

// Refusal returns why the server refused the authentication that resp (a
// 401 or 407 the Transport could not get past) ends, where the protocol
// gives a reason: the reject token's error, such as a Kerberos KRB-ERROR
// (KRB_AP_ERR_SKEW, KRB_AP_ERR_MODIFIED) or an SPNEGO reject, with its
// SEC_E_* status (errors.Is works). A refusal without a reason (an NTLM
// AUTHENTICATE answered with a bare 401) is SEC_E_LOGON_DENIED. It returns
// nil for a response that is not such a refusal.
func Refusal(resp *http.Response) error {
	if resp == nil {
		return nil
	}
	body := resp.Body
	if p, ok := body.(*pinnedBody); ok {
		body = p.ReadCloser
	}
	if r, ok := body.(*refusedBody); ok {
		return r.why
	}
	return nil
}

// refused marks resp as the server's refusal, for Refusal.
func refused(resp *http.Response, why error) *http.Response {
	resp.Body = &refusedBody{ReadCloser: resp.Body, why: why}
	return resp
}

func (b *pinnedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Host == nil {
		return nil, errors.New("httpauth: Transport.Host is nil")
	}
	getBody, err := t.replayableBody(req)
	if err != nil {
		return nil, err
	}
	key := req.URL.Scheme + "://" + req.URL.Host
	id := identityOf(req.Context())
	if id != nil {
		// Connections authenticated for one identity stay with it.
		key += fmt.Sprintf("\x00id:%p", id)
	}
	p := t.getPin(key)
	if id != nil {
		p.id = id
	}
	var resp *http.Response
	if t.Opportunistic {
		resp, err = t.opportunistic(req, getBody, p)
	}
	if resp == nil && err == nil {
		resp, err = p.send(req, getBody, "", "")
	}
	if err != nil {
		p.rt.CloseIdleConnections()
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusProxyAuthRequired {
		resp, err = t.authenticate(req, getBody, p, resp)
		if err != nil {
			p.rt.CloseIdleConnections()
			return nil, err
		}
	}
	resp.Body = &pinnedBody{ReadCloser: resp.Body, done: func() {
		if resp.Close {
			p.rt.CloseIdleConnections()
			return
		}
		t.putPin(p)
	}}
	return resp, nil
}

// replayableBody returns a function that yields a fresh copy of the body.
func (t *Transport) replayableBody(req *http.Request) (func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody != nil {
		first := true
		return func() (io.ReadCloser, error) {
			if first {
				first = false
				return req.Body, nil
			}
			return req.GetBody()
		}, nil
	}
	max := t.MaxReplayBody
	if max <= 0 {
		max = DefaultMaxReplayBody
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, max+1))
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("httpauth: request body over %d bytes and no GetBody: cannot replay it", max)
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, nil
}

// send sends a copy of req on the pin, with an authorization header when
// header is not empty.
func (p *pin) send(req *http.Request, getBody func() (io.ReadCloser, error), header, value string) (*http.Response, error) {
	r := req.Clone(req.Context())
	if getBody != nil && header != "" && !sendBody(value) {
		r.Body, r.GetBody, r.ContentLength = http.NoBody, nil, 0
	} else if getBody != nil {
		b, err := getBody()
		if err != nil {
			return nil, err
		}
		r.Body = b
		r.GetBody = getBody
	}
	if header != "" {
		r.Header.Set(header, value)
	}
	return p.rt.RoundTrip(r)
}

// sendBody reports whether a leg carrying the authorization value should
// carry the request body. An NTLM NEGOTIATE (raw, or as the optimistic
// token of a NegTokenInit) is always answered with 401 and a CHALLENGE,
// so that leg goes without the body, as curl and Windows send it: a large
// body is not sent for nothing, and the server, which does not read it,
// need not drop the connection the handshake is bound to.
func sendBody(value string) bool {
	_, tok, err := ParseAuthorization(value)
	if err != nil || tok == nil {
		return true
	}
	if secpkg.RecognizeToken(tok) == secpkg.TokenNTLMNegotiate {
		return false
	}
	if init, _, err := spnego.ParseToken(tok); err == nil && init != nil && init.MechToken != nil && secpkg.RecognizeToken(init.MechToken) == secpkg.TokenNTLMNegotiate {
		return false
	}
	return true
}

// urlForLog is a request's URL as the Transport logs it: without the
// userinfo, the query and the fragment, which may carry secrets
// (passwords, access tokens).
func urlForLog(u *url.URL) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath, Opaque: u.Opaque}
	if u.Opaque != "" {
		v.Opaque, _, _ = strings.Cut(u.Opaque, "?")
	}
	return v.String()
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// authenticate answers the challenge of resp (a 401 or 407) on the pin.
func (t *Transport) authenticate(req *http.Request, getBody func() (io.ReadCloser, error), p *pin, resp *http.Response) (*http.Response, error) {
	code := resp.StatusCode
	challengeHdr, authHdr := "WWW-Authenticate", "Authorization"
	host := req.URL.Hostname()
	if code == http.StatusProxyAuthRequired {
		challengeHdr, authHdr = "Proxy-Authenticate", "Proxy-Authorization"
		if t.Base != nil && t.Base.Proxy != nil {
			if u, err := t.Base.Proxy(req); err == nil && u != nil {
				host = u.Hostname()
			}
		} else if u, err := http.ProxyFromEnvironment(req); err == nil && u != nil {
			host = u.Hostname()
		}
	}
	challenges, err := ParseChallenges(resp.Header.Values(challengeHdr))
	if err != nil {
		return resp, nil // not ours to answer
	}
	offered := map[string]bool{}
	for _, c := range challenges {
		if s := canonicalScheme(c.Scheme); s != "" {
			offered[s] = true
		}
	}
	spn := t.spn(host)
	var cb *sspi.ChannelBindings
	if code == http.StatusUnauthorized && !t.NoChannelBindings && resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		cb, _ = sspi.TLSServerEndPoint(resp.TLS.PeerCertificates[0])
	}
	flags := t.flags()
	log := t.logger().With("url", urlForLog(req.URL))
	var firstErr error
	for _, s := range t.schemes() {
		scheme := canonicalScheme(s)
		if scheme == "" || !offered[scheme] {
			continue
		}
		sc, out, done, release, err := t.start(req.Context(), scheme, spn, cb, flags, log)
		if err != nil {
			if errors.Is(err, errNewClient) {
				return nil, err
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		drain(resp)
		r, err := t.handshake(req, getBody, p, sc, scheme, authHdr, challengeHdr, code, out, done, flags, log)
		sc.Close()
		release()
		return r, err
	}
	if firstErr != nil && len(offered) > 0 {
		drain(resp)
		return nil, fmt.Errorf("httpauth: cannot answer %s challenge: %w", strings.Join(keys(offered), ", "), firstErr)
	}
	return resp, nil
}

// errNewClient marks a failure to make the security context itself
// (not a missing credential or a package that cannot start).
var errNewClient = errors.New("httpauth: cannot make a security context")

// start makes the client context of a scheme and its first token.
func (t *Transport) start(ctx context.Context, scheme, spn string, cb *gosspi.ChannelBindings, flags gosspi.Flags, log *slog.Logger) (*gosspi.SecurityContext, []byte, bool, func(), error) {
	cred, release, err := t.credential(ctx, scheme)
	if err != nil {
		log.Debug("httpauth: no credential", "scheme", scheme, "err", err)
		return nil, nil, false, nil, err
	}
	sc, err := t.Host.NewClient(ctx, gosspi.ClientConfig{
		Package: scheme, Target: spn, Credential: cred, Flags: flags, ChannelBindings: cb,
	})
	if err != nil {
		release()
		return nil, nil, false, nil, fmt.Errorf("%w: %w", errNewClient, err)
	}
	out, done, err := sc.Step(ctx, nil)
	if err != nil {
		sc.Close()
		release()
		log.Debug("httpauth: cannot start", "scheme", scheme, "spn", spn, "err", err)
		return nil, nil, false, func() {}, err
	}
	return sc, out, done, release, nil
}

// opportunistic sends the request with a first token of the first scheme
// that can start one, and runs the handshake from there. It returns a nil
// response and error when no scheme could start.
func (t *Transport) opportunistic(req *http.Request, getBody func() (io.ReadCloser, error), p *pin) (*http.Response, error) {
	flags := t.flags()
	spn := t.spn(req.URL.Hostname())
	log := t.logger().With("url", urlForLog(req.URL))
	for _, s := range t.schemes() {
		scheme := canonicalScheme(s)
		if scheme == "" {
			continue
		}
		sc, out, done, release, err := t.start(req.Context(), scheme, spn, nil, flags, log)
		if err != nil {
			if errors.Is(err, errNewClient) {
				return nil, err
			}
			continue
		}
		log.Debug("httpauth: opportunistic token", "scheme", scheme, "spn", spn)
		r, err := t.handshake(req, getBody, p, sc, scheme, "Authorization", "WWW-Authenticate", http.StatusUnauthorized, out, done, flags, log)
		sc.Close()
		release()
		return r, err
	}
	return nil, nil
}

// spn is the service principal of a host.
func (t *Transport) spn(host string) string {
	if t.SPN != nil {
		return t.SPN(host)
	}
	return "HTTP/" + host
}

// flags are the requirements of a handshake: Flags or the defaults,
// without gosspi.FlagMutualAuth under MutualAuthDisabled.
func (t *Transport) flags() gosspi.Flags {
	f := t.Flags
	if f == 0 {
		f = gosspi.DefaultFlags
	}
	if t.MutualAuth == MutualAuthDisabled {
		if f &^= gosspi.FlagMutualAuth; f == 0 {
			f = gosspi.DefaultFlags &^ gosspi.FlagMutualAuth // zero would mean the defaults
		}
	}
	return f
}

// noProof reports whether a final token is an SPNEGO accept-completed
// with neither a mechanism token nor a MIC: the server says it is done
// but proves nothing (gokrb5's SPNEGO handler answers so).
func noProof(tok []byte) bool {
	_, resp, err := spnego.ParseToken(tok)
	return err == nil && resp != nil && resp.NegState == spnego.AcceptCompleted && len(resp.ResponseToken) == 0 && len(resp.MechListMIC) == 0
}

func keys(m map[string]bool) []string {
	var out []string
	for _, s := range []string{SchemeNegotiate, SchemeKerberos, SchemeNTLM} {
		if m[s] {
			out = append(out, s)
		}
	}
	return out
}

func (t *Transport) handshake(req *http.Request, getBody func() (io.ReadCloser, error), p *pin, sc *gosspi.SecurityContext,
	scheme, authHdr, challengeHdr string, code int, out []byte, done bool, flags gosspi.Flags, log *slog.Logger) (*http.Response, error) {
	var dials int32 // connections made when the first leg was answered
	for leg := 1; ; leg++ {
		log.Debug("httpauth: sending token", "scheme", scheme, "leg", leg, "bytes", len(out))
		resp, err := p.send(req, getBody, authHdr, FormatAuthorization(scheme, out))
		if err != nil {
			return nil, err
		}
		// The first leg may open a new connection (the server closed the
		// one of its first 401); the later ones must use that one.
		if leg == 1 {
			dials = p.dials.Load()
		} else if p.dials.Load() != dials {
			drain(resp)
			return nil, ErrConnectionChanged
		}
		var tok []byte
		if cs, err := ParseChallenges(resp.Header.Values(challengeHdr)); err == nil {
			for _, c := range cs {
				if canonicalScheme(c.Scheme) == scheme && c.Token != nil {
					tok = c.Token
					break
				}
			}
		} else if resp.StatusCode != code {
			drain(resp)
			return nil, fmt.Errorf("httpauth: final response: %w", err)
		}
		if resp.StatusCode == code {
			if done || tok == nil || leg >= maxLegs {
				// Refused: the caller sees the 401/407, and Refusal says
				// what the protocol said (here, nothing more).
				return refused(resp, &sspi.Error{Op: "httpauth", Status: sspi.SEC_E_LOGON_DENIED,
					Detail: fmt.Sprintf("%s: the server answered the %s token of leg %d with %d and no reason", urlForLog(req.URL), scheme, leg, resp.StatusCode)}), nil
			}
			next, nextDone, err := sc.Step(req.Context(), tok)
			if err != nil {
				// A reject token (wrong password, clock skew, no common
				// mechanism): the caller sees the server's 401/407, and
				// Refusal gives the reason the token carried.
				log.Debug("httpauth: server refused", "scheme", scheme, "leg", leg+1, "err", err)
				return refused(resp, err), nil
			}
			drain(resp)
			out, done = next, nextDone
			continue
		}
		mutual := flags&gosspi.FlagMutualAuth != 0
		mode := t.MutualAuth
		if code == http.StatusProxyAuthRequired && mode == MutualAuthRequired && !t.RequireProxyMutualAuth {
			mode = MutualAuthOptional // a proxy's proof is verified when it comes (see ProxyDialer)
		}
		switch {
		case done || tok == nil:
		case mutual && mode == MutualAuthOptional && noProof(tok):
			log.Debug("httpauth: the server's final token proves nothing; accepted (MutualAuthOptional)", "scheme", scheme)
		case mutual && mode == MutualAuthRequired && noProof(tok) && resp.StatusCode < 400:
			drain(resp)
			return nil, fmt.Errorf("%w: the final %s token of the %d response of %s is an accept-completed without the server's AP-REP, which proves nothing "+
				"(set Transport.MutualAuth to MutualAuthOptional for servers that send none)", ErrMutualAuth, scheme, resp.StatusCode, urlForLog(req.URL))
		default:
			if _, done, err = sc.Step(req.Context(), tok); err != nil {
				drain(resp)
				return nil, fmt.Errorf("%w: the server's final token does not verify: %w", ErrMutualAuth, err)
			}
		}
		if !done && mutual && mode == MutualAuthRequired && resp.StatusCode < 400 {
			drain(resp)
			if tok == nil {
				return nil, fmt.Errorf("%w: the %d response of %s has no final %s token (set Transport.MutualAuth to MutualAuthOptional for servers that send none)",
					ErrMutualAuth, resp.StatusCode, urlForLog(req.URL), scheme)
			}
			return nil, fmt.Errorf("%w: the final %s token of the %d response of %s does not finish the handshake (set Transport.MutualAuth to MutualAuthOptional for servers that prove nothing)",
				ErrMutualAuth, scheme, resp.StatusCode, urlForLog(req.URL))
		}
		log.Debug("httpauth: authenticated", "scheme", scheme, "package", sc.Package(), "status", resp.StatusCode)
		return resp, nil
	}
}
