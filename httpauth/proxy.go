package httpauth

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/sspi"
)

// DefaultProxyTimeout bounds a CONNECT handshake (the dial, the legs of
// the authentication and, for ConfigureTransport, the TLS handshake with
// the origin) whose context has no deadline.
const DefaultProxyTimeout = 60 * time.Second

// DefaultMaxProxyHeaderBytes bounds the status line and header of each
// answer of a proxy to CONNECT.
const DefaultMaxProxyHeaderBytes = 64 << 10

// maxProxyBody bounds the body of a 407 that is read and dropped so that
// the connection carries the next leg; a longer body ends the connection.
const maxProxyBody = 1 << 20

// ErrProxyHeaderTooLarge is returned when a proxy's answer to CONNECT
// has a header over ProxyDialer.MaxHeaderBytes.
var ErrProxyHeaderTooLarge = errors.New("httpauth: the proxy's response header is too large")

// ProxyError is the failure of a CONNECT through a proxy: the proxy
// refused the tunnel with StatusCode (407 when the authentication failed
// or could not be answered, 403, 502...), or the handshake failed. Err is
// the cause: a refused authentication is SEC_E_LOGON_DENIED (errors.Is
// with gosspi.ErrLogonDenied), or the reason the proxy's reject token
// gave.
type ProxyError struct {
	Proxy      string // the proxy's host:port
	Target     string // the host:port of the CONNECT
	StatusCode int    // the proxy's last status code, 0 when none came
	Status     string // the proxy's last status line ("407 Proxy Authentication Required")
	Scheme     string // the scheme that was answered, "" when none
	Err        error
}

// Error says which tunnel failed, with the proxy's status and the cause.
func (e *ProxyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "httpauth: CONNECT %s through proxy %s", e.Target, e.Proxy)
	if e.Status != "" {
		fmt.Fprintf(&b, ": %s", e.Status)
	}
	if e.Scheme != "" {
		fmt.Fprintf(&b, " (%s)", e.Scheme)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ProxyError) Unwrap() error { return e.Err }

// ProxyDialer opens connections through an HTTP proxy with CONNECT
// (RFC 9110 section 9.3.6) and answers the proxy's 407 challenges
// (Proxy-Authenticate) with Negotiate, Kerberos or NTLM, all on one
// connection to the proxy, as curl --proxy-negotiate / --proxy-ntlm and
// browsers do. net/http makes the CONNECT of an HTTPS request itself and
// cannot answer such a challenge; ConfigureTransport hands the tunnel
// that ProxyDialer made to an http.Transport, which runs TLS to the
// origin inside it.
//
// The proxy's service principal is HTTP/PROXYHOST (SPN changes it): a
// Kerberos ticket is for the proxy, not for the origin. Each answer of the
// proxy is read within MaxHeaderBytes, the whole handshake within the
// context's deadline (DefaultProxyTimeout without one), and the
// connection is closed on any failure. A tunnel's connection is the
// caller's to close.
//
// Mutual authentication of the proxy is not required by default: Squid,
// like most proxies, never sends its final Negotiate token on the 200 of
// the CONNECT. A final token that does come is verified (a token that
// does not verify fails); RequireMutualAuth fails a tunnel without one.
// The origin's identity is TLS's to check.
//
// A ProxyDialer is safe for concurrent use; Close frees its credentials.
type ProxyDialer struct {
	// Host is the package host the client authenticates with. Required.
	Host *gosspi.Host
	// Proxy is the proxy: http://host:port, or https://host:port for a
	// proxy reached over TLS (then its certificate's channel bindings
	// go with the authentication). Userinfo in it is ignored. Required.
	Proxy *url.URL
	// Identity is the credential: nil means the packages' defaults (the
	// Kerberos ccache of KRB5CCNAME, NTLM_USER_FILE). A request's
	// WithCredentials does not apply to the proxy.
	Identity *gosspi.Identity
	// Schemes are the schemes answered, in order of preference; empty
	// means Negotiate, Kerberos, NTLM.
	Schemes []string
	// SPN returns the service principal of the proxy host; nil means
	// "HTTP/" + host.
	SPN func(proxyHost string) string
	// Flags are the requirements of each context; zero means
	// gosspi.DefaultFlags.
	Flags gosspi.Flags
	// RequireMutualAuth fails a tunnel whose 200 does not carry the
	// proxy's final token (a Kerberos AP-REP) that verifies.
	RequireMutualAuth bool
	// Dial connects to the proxy; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is the TLS configuration to an https:// proxy; nil means
	// the defaults with the proxy's host name.
	TLSConfig *tls.Config
	// Header holds extra header fields of each CONNECT (User-Agent...).
	Header http.Header
	// MaxHeaderBytes bounds each response header of the proxy; zero
	// means DefaultMaxProxyHeaderBytes.
	MaxHeaderBytes int
	// Logger gets a debug line per leg (never a token or a password);
	// nil means slog.Default().
	Logger *slog.Logger

	once sync.Once
	auth *Transport // the credentials and the context making of Transport
}

func (d *ProxyDialer) authenticator() *Transport {
	d.once.Do(func() {
		d.auth = &Transport{Host: d.Host, Identity: d.Identity, Schemes: d.Schemes, SPN: d.SPN, Flags: d.Flags, Logger: d.Logger}
	})
	return d.auth
}

// Close frees the credentials the dialer acquired. Tunnels already made
// go on working.
func (d *ProxyDialer) Close() error {
	return d.authenticator().Close()
}

// proxyAddr is the host:port of the proxy.
func (d *ProxyDialer) proxyAddr() (string, error) {
	if d.Proxy == nil || d.Proxy.Host == "" {
		return "", errors.New("httpauth: ProxyDialer.Proxy is not set")
	}
	port := d.Proxy.Port()
	switch d.Proxy.Scheme {
	case "http", "":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
	default:
		return "", fmt.Errorf("httpauth: unsupported proxy scheme %q", d.Proxy.Scheme)
	}
	return net.JoinHostPort(d.Proxy.Hostname(), port), nil
}

// ConfigureTransport makes tr reach HTTPS origins through the proxy with
// the dialer's CONNECT (tr.DialTLSContext: CONNECT, then TLS to the
// origin with tr.TLSClientConfig, over HTTP/1.1) and send plain-HTTP
// requests to the proxy (tr.Proxy), whose 407s an httpauth.Transport
// over tr answers on the kept-alive connection (Negotiate on each
// request, NTLM once per connection). tr.Proxy is replaced.
func (d *ProxyDialer) ConfigureTransport(tr *http.Transport) {
	proxy := d.Proxy
	tr.Proxy = func(req *http.Request) (*url.URL, error) {
		if req.URL.Scheme == "http" {
			return proxy, nil
		}
		return nil, nil // CONNECT is the dialer's
	}
	base := tr.TLSClientConfig
	tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		var cfg *tls.Config
		if base != nil {
			cfg = base.Clone()
		} else {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				conn.Close()
				return nil, err
			}
			cfg.ServerName = host
		}
		// HTTP/1.1 only: the connection is handed to net/http as an
		// already negotiated TLS connection.
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(conn, cfg)
		hctx, cancel := handshakeContext(ctx)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			tc.Close()
			return nil, err
		}
		return tc, nil
	}
}

// handshakeContext is ctx with DefaultProxyTimeout when it has no
// deadline.
func handshakeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultProxyTimeout)
}

// DialContext connects to addr (host:port) through the proxy: a CONNECT,
// answered 407s, and the tunnel once the proxy says 200. The returned
// connection carries the bytes to and from addr. network must be "tcp",
// "tcp4" or "tcp6".
func (d *ProxyDialer) DialContext(ctx context.Context, network, addr string) (conn net.Conn, err error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("httpauth: CONNECT carries TCP, not %q", network)
	}
	if d.Host == nil {
		return nil, errors.New("httpauth: ProxyDialer.Host is nil")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("httpauth: CONNECT target: %w", err)
	}
	paddr, err := d.proxyAddr()
	if err != nil {
		return nil, err
	}
	ctx, cancel := handshakeContext(ctx)
	defer cancel()
	// The proxy's credential is Identity's, never a request's
	// (WithCredentials, which reaches here through net/http's dial).
	ctx = context.WithValue(ctx, credentialsKey{}, (*gosspi.Identity)(nil))
	h := &proxyHandshake{d: d, ctx: ctx, proxy: paddr, target: addr,
		log: d.authenticator().logger().With("proxy", paddr, "target", addr)}
	defer func() {
		if err != nil {
			h.close()
			// The connection's deadline is the context's: its expiry is
			// the context's, whichever fired first.
			cerr := ctx.Err()
			if _, ok := ctx.Deadline(); cerr == nil && ok && errors.Is(err, os.ErrDeadlineExceeded) {
				cerr = context.DeadlineExceeded
			}
			if cerr != nil && !errors.Is(err, cerr) {
				err = fmt.Errorf("%w (%w)", err, cerr)
			}
		}
	}()
	return h.run()
}

// proxyHandshake is one CONNECT with its authentication legs.
type proxyHandshake struct {
	d             *ProxyDialer
	ctx           context.Context
	proxy, target string
	log           *slog.Logger

	conn  net.Conn      // the connection to the proxy, or nil
	br    *bufio.Reader // reads conn through limit
	limit *limitedReader
	stop  func() bool // ends the cancellation watch of conn
	cb    *gosspi.ChannelBindings
	dials int
}

// limitedReader reads at most n more bytes, then fails with err.
type limitedReader struct {
	r   io.Reader
	n   int64
	err error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, l.err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func (h *proxyHandshake) close() {
	if h.conn != nil {
		h.stop()
		h.conn.Close()
		h.conn = nil
	}
}

// dial opens a (new) connection to the proxy, TLS for an https:// proxy.
func (h *proxyHandshake) dial() error {
	h.close()
	h.dials++
	dial := h.d.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	c, err := dial(h.ctx, "tcp", h.proxy)
	if err != nil {
		return err
	}
	if h.d.Proxy.Scheme == "https" {
		cfg := h.d.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = h.d.Proxy.Hostname()
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(h.ctx); err != nil {
			c.Close()
			return err
		}
		if st := tc.ConnectionState(); len(st.PeerCertificates) > 0 {
			h.cb, _ = sspi.TLSServerEndPoint(st.PeerCertificates[0])
		}
		c = tc
	}
	// The context's deadline and cancellation reach blocked reads and
	// writes.
	if dl, ok := h.ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	h.stop = context.AfterFunc(h.ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	h.conn = c
	h.limit = &limitedReader{r: c}
	h.br = bufio.NewReaderSize(h.limit, 4096)
	return nil
}

// leg sends a CONNECT with the authorization value (none when empty) and
// reads the proxy's answer; a non-2xx answer's body is read and dropped
// (up to maxProxyBody) so that the connection can carry the next leg.
func (h *proxyHandshake) leg(authorization string) (*http.Response, error) {
	if h.conn == nil {
		if err := h.dial(); err != nil {
			return nil, err
		}
	}
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: h.target},
		Host:   h.target,
		Header: http.Header{},
	}
	for k, vs := range h.d.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Proxy-Connection", "Keep-Alive")
	if authorization != "" {
		req.Header.Set("Proxy-Authorization", authorization)
	}
	if err := req.Write(h.conn); err != nil {
		return nil, err
	}
	return h.readResponse(req)
}

// readResponse reads the proxy's answer to req within the header bound.
func (h *proxyHandshake) readResponse(req *http.Request) (*http.Response, error) {
	max := h.d.MaxHeaderBytes
	if max <= 0 {
		max = DefaultMaxProxyHeaderBytes
	}
	return readProxyResponse(h.br, h.limit, int64(max), req)
}

// readProxyResponse reads a response to a CONNECT from br, which reads
// through limit: the header within max bytes, then, for a non-2xx
// answer, its body (dropped) within maxProxyBody.
func readProxyResponse(br *bufio.Reader, limit *limitedReader, max int64, req *http.Request) (*http.Response, error) {
	limit.n, limit.err = max-int64(br.Buffered()), ErrProxyHeaderTooLarge
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if errors.Is(err, ErrProxyHeaderTooLarge) {
			return nil, ErrProxyHeaderTooLarge
		}
		return nil, fmt.Errorf("httpauth: reading the proxy's answer: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		// The tunnel: no body, and nothing more to bound.
		limit.n, limit.err = 1<<62, io.EOF
		resp.Body = http.NoBody
		return resp, nil
	}
	limit.n, limit.err = maxProxyBody+int64(br.Buffered()), errProxyBodyTooLarge
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp.Body = http.NoBody
	if err != nil {
		// The body did not end cleanly: the connection cannot carry
		// another leg.
		resp.Close = true
	}
	return resp, nil
}

var errProxyBodyTooLarge = errors.New("httpauth: the proxy's response body is too large")

// tunnel returns the connection of a 200, with what the proxy already
// sent through the tunnel (a server that speaks first) in front.
func (h *proxyHandshake) tunnel() net.Conn {
	c := h.conn
	h.stop()
	c.SetDeadline(time.Time{})
	h.conn = nil
	if n := h.br.Buffered(); n > 0 {
		early, _ := h.br.Peek(n)
		return &prefixConn{Conn: c, early: append([]byte(nil), early...)}
	}
	return c
}

// prefixConn is a net.Conn whose first bytes are early.
type prefixConn struct {
	net.Conn
	early []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (h *proxyHandshake) fail(resp *http.Response, scheme string, err error) error {
	e := &ProxyError{Proxy: h.proxy, Target: h.target, Scheme: scheme, Err: err}
	if resp != nil {
		e.StatusCode, e.Status = resp.StatusCode, resp.Status
	}
	return e
}

// run makes the tunnel: a CONNECT without credentials, then, on 407,
// the legs of the first offered scheme that has a credential.
func (h *proxyHandshake) run() (net.Conn, error) {
	resp, err := h.leg("")
	if err != nil {
		return nil, h.fail(nil, "", err)
	}
	switch {
	case resp.StatusCode/100 == 2:
		return h.tunnel(), nil
	case resp.StatusCode != http.StatusProxyAuthRequired:
		return nil, h.fail(resp, "", errors.New("the proxy refused the tunnel"))
	}
	challenges, err := ParseChallenges(resp.Header.Values("Proxy-Authenticate"))
	if err != nil {
		return nil, h.fail(resp, "", err)
	}
	offered := map[string]bool{}
	for _, c := range challenges {
		if s := canonicalScheme(c.Scheme); s != "" {
			offered[s] = true
		}
	}
	a := h.d.authenticator()
	spn := a.spn(h.d.Proxy.Hostname())
	flags := a.flags()
	if h.conn == nil || resp.Close {
		// The proxy ends the connection of its first 407: the legs go
		// on a new one, dialed before the context is made so that its
		// channel bindings (an https:// proxy) are known.
		if err := h.dial(); err != nil {
			return nil, h.fail(resp, "", err)
		}
	}
	var firstErr error
	for _, s := range a.schemes() {
		scheme := canonicalScheme(s)
		if scheme == "" || !offered[scheme] {
			continue
		}
		sc, out, done, release, err := a.start(h.ctx, scheme, spn, h.cb, flags, h.log)
		if err != nil {
			if errors.Is(err, errNewClient) {
				return nil, h.fail(resp, scheme, err)
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		c, err := h.authenticate(sc, scheme, out, done, flags)
		sc.Close()
		release()
		return c, err
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("no scheme to answer (the proxy offers %q)", resp.Header.Values("Proxy-Authenticate"))
	}
	return nil, h.fail(resp, "", firstErr)
}

// authenticate runs the legs of one scheme, all on one connection.
func (h *proxyHandshake) authenticate(sc *gosspi.SecurityContext, scheme string, out []byte, done bool, flags gosspi.Flags) (net.Conn, error) {
	dials := h.dials
	for leg := 1; ; leg++ {
		h.log.Debug("httpauth: CONNECT with token", "scheme", scheme, "leg", leg, "bytes", len(out))
		resp, err := h.leg(FormatAuthorization(scheme, out))
		if err != nil {
			return nil, h.fail(nil, scheme, err)
		}
		if h.dials != dials {
			return nil, h.fail(resp, scheme, ErrConnectionChanged)
		}
		var tok []byte
		if cs, err := ParseChallenges(resp.Header.Values("Proxy-Authenticate")); err == nil {
			for _, c := range cs {
				if canonicalScheme(c.Scheme) == scheme && c.Token != nil {
					tok = c.Token
					break
				}
			}
		}
		switch {
		case resp.StatusCode == http.StatusProxyAuthRequired:
			if done || tok == nil || leg >= maxLegs {
				return nil, h.fail(resp, scheme, &sspi.Error{Op: "httpauth", Status: sspi.SEC_E_LOGON_DENIED,
					Detail: fmt.Sprintf("the proxy answered the %s token of leg %d with 407 and no reason", scheme, leg)})
			}
			next, nextDone, err := sc.Step(h.ctx, tok)
			if err != nil {
				return nil, h.fail(resp, scheme, err)
			}
			if resp.Close {
				// The token continues a handshake bound to this
				// connection, which the proxy closes.
				return nil, h.fail(resp, scheme, ErrConnectionChanged)
			}
			out, done = next, nextDone
		case resp.StatusCode/100 == 2:
			mutual := flags&gosspi.FlagMutualAuth != 0
			if tok != nil && !done && !noProof(tok) {
				if _, done, err = sc.Step(h.ctx, tok); err != nil {
					return nil, h.fail(resp, scheme, fmt.Errorf("%w: the proxy's final token does not verify: %w", ErrMutualAuth, err))
				}
			}
			if mutual && h.d.RequireMutualAuth && !done {
				return nil, h.fail(resp, scheme, fmt.Errorf("%w: the proxy's 200 does not finish the %s handshake", ErrMutualAuth, scheme))
			}
			h.log.Debug("httpauth: tunnel open", "scheme", scheme, "package", sc.Package())
			return h.tunnel(), nil
		default:
			return nil, h.fail(resp, scheme, errors.New("the proxy refused the tunnel"))
		}
	}
}
