package httpauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/sspi"
)

// maxDrain bounds the request body read and dropped on a leg that
// continues a handshake.
const maxDrain = 4 << 20

// Defaults of Config.
const (
	DefaultMaxHeaderBytes   = 64 << 10
	DefaultMaxHandshakes    = 1024
	DefaultHandshakeTimeout = 30 * time.Second
)

// Config configures a server Authenticator.
type Config struct {
	// Table is the SSPI surface the server authenticates with, usually
	// (*gosspi.Host).FunctionTable. Required.
	Table *sspi.FunctionTable
	// Schemes are the schemes offered in the 401 challenge, in order:
	// SchemeNegotiate, SchemeNTLM, SchemeKerberos. Each is backed by the
	// security package of the same name. Empty means Negotiate alone.
	Schemes []string
	// Principal restricts the acceptor to one service principal
	// ("HTTP/host.example.com"); empty accepts any the keytab holds.
	Principal string
	// Flags are the ASC_REQ_* requirements; zero means
	// gosspi.DefaultServerFlags.
	Flags sspi.ASCReq
	// Persist keeps the identity on a keep-alive connection once it has
	// authenticated, so that later requests on that connection need no
	// Authorization header (IIS's authPersistNonNTLM; NTLM-style
	// connection authentication). A request that carries an
	// Authorization header still authenticates again.
	Persist bool
	// ChannelBindings is the Extended Protection policy over HTTPS. With
	// BindingsOff no bindings are given to the package; otherwise the
	// tls-server-end-point bindings of the server certificate are. The
	// packages enforce the policy: configure them with ApplyBindingPolicy.
	ChannelBindings BindingPolicy
	// Certificate is the server certificate for tls-server-end-point when
	// the middleware cannot learn it from the TLS handshake (see
	// Authenticator.Install). Optional.
	Certificate *x509.Certificate
	// MaxHeaderBytes bounds the Authorization header value; a larger one
	// gets 400. Zero means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxHandshakes bounds the handshakes in progress (connections that
	// started a multi-leg handshake and have not finished it). Beyond it a
	// new handshake gets 503. Zero means DefaultMaxHandshakes.
	MaxHandshakes int
	// HandshakeTimeout is how long a connection may take to finish a
	// handshake it started. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Now is the clock of handshake timeouts; nil is time.Now. Tests give
	// it the host's clock.
	Now func() time.Time
	// Proxy makes the Authenticator a proxy's: it reads
	// Proxy-Authorization and answers 407 with Proxy-Authenticate
	// (RFC 9110 11.7), for a forward proxy written in Go.
	Proxy bool
	// Logger receives one line per authentication event. Tokens,
	// passwords and keys are never logged. Nil means slog.Default().
	Logger *slog.Logger
}

// Authenticator is the server side of HTTP Negotiate/NTLM authentication
// (RFC 4559). Wrap handlers with Middleware and install its connection
// hooks in the http.Server with Install (or set ConnContext and ConnState
// yourself): NTLM's handshake spans several requests that must arrive on
// one TCP connection, and its state lives with that connection.
type Authenticator struct {
	cfg       Config
	schemes   []string
	challenge []string
	log       *slog.Logger
	creds     map[string]*sspi.CredHandle // by package name

	conns    sync.Map // net.Conn -> *connState
	byRaw    sync.Map // underlying net.Conn of a TLS conn -> *connState
	connSeq  atomic.Uint64
	inFlight atomic.Int64 // handshakes in progress
	warnOnce sync.Once
}

// connState is what the middleware keeps per TCP connection.
type connState struct {
	id     uint64
	remote string

	mu       sync.Mutex
	pending  *gosspi.Context // a handshake in progress
	scheme   string          // of pending
	started  time.Time
	identity *sspi.Identity // persisted identity (Config.Persist)
	cert     *x509.Certificate
	closed   bool
}

type connKey struct{}
type identityKey struct{}

// New returns an Authenticator. It acquires one inbound credential per
// scheme; a scheme whose package cannot supply one (no keytab, no account
// store) is an error.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Table == nil {
		return nil, errors.New("httpauth: Config.Table is nil")
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.MaxHandshakes <= 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.Flags == 0 {
		cfg.Flags = gosspi.DefaultServerFlags
	}
	cfg.Now = sysenv.Clock(cfg.Now)
	a := &Authenticator{cfg: cfg, log: cfg.Logger, creds: map[string]*sspi.CredHandle{}}
	if a.log == nil {
		a.log = slog.Default()
	}
	schemes := cfg.Schemes
	if len(schemes) == 0 {
		schemes = []string{SchemeNegotiate}
	}
	for _, s := range schemes {
		name := canonicalScheme(s)
		if name == "" {
			a.Close()
			return nil, fmt.Errorf("httpauth: unknown scheme %q", s)
		}
		if _, dup := a.creds[name]; dup {
			continue
		}
		var h sspi.CredHandle
		if st := cfg.Table.AcquireCredentialsHandle(cfg.Principal, name, sspi.SECPKG_CRED_INBOUND, nil, &h, nil); st.Failed() {
			a.Close()
			return nil, fmt.Errorf("httpauth: inbound %s credential: %w", name, st)
		}
		a.creds[name] = &h
		a.schemes = append(a.schemes, name)
		a.challenge = append(a.challenge, name)
	}
	return a, nil
}

// canonicalScheme maps a scheme name to its package name, or "".
func canonicalScheme(s string) string {
	for _, n := range []string{SchemeNegotiate, SchemeNTLM, SchemeKerberos} {
		if strings.EqualFold(s, n) {
			return n
		}
	}
	return ""
}

// Close frees the credentials. Handshakes still in progress are abandoned.
func (a *Authenticator) Close() error {
	for _, h := range a.creds {
		a.cfg.Table.FreeCredentialsHandle(h)
	}
	a.creds = map[string]*sspi.CredHandle{}
	a.conns.Range(func(k, v any) bool {
		a.dropConn(k.(net.Conn))
		return true
	})
	return nil
}

// Install sets the server's ConnContext and ConnState hooks (keeping any
// already set, which run after ours) and, for HTTPS, wraps the TLS
// certificate selection so that the middleware knows which certificate
// each connection presented (for tls-server-end-point). Call it before
// ListenAndServe/Serve, with the certificates in srv.TLSConfig
// (Certificates or GetCertificate); a server that loads them later, in
// ListenAndServeTLS(certFile, keyFile), must set Config.Certificate.
func (a *Authenticator) Install(srv *http.Server) {
	prevCtx, prevState := srv.ConnContext, srv.ConnState
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		ctx = a.ConnContext(ctx, c)
		if prevCtx != nil {
			ctx = prevCtx(ctx, c)
		}
		return ctx
	}
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		a.ConnState(c, s)
		if prevState != nil {
			prevState(c, s)
		}
	}
	if srv.TLSConfig != nil {
		a.WrapTLSConfig(srv.TLSConfig)
	}
}

// WrapTLSConfig makes cfg record the certificate it presents on each
// connection, for tls-server-end-point channel bindings. Install calls it
// for the server's TLSConfig; call it yourself for a listener made with
// tls.NewListener.
func (a *Authenticator) WrapTLSConfig(cfg *tls.Config) {
	get := cfg.GetCertificate
	certs := cfg.Certificates
	if get == nil && len(certs) == 0 {
		return
	}
	// crypto/tls calls GetCertificate only when Certificates is empty or
	// the client sent SNI: take the certificates over so that every
	// handshake comes through here.
	cfg.Certificates = nil
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		var c *tls.Certificate
		if get != nil && (len(certs) == 0 || hello.ServerName != "") {
			var err error
			if c, err = get(hello); err != nil {
				return nil, err
			}
		}
		if c == nil && len(certs) > 0 {
			// What crypto/tls does with Certificates: the first one the
			// client supports, else the first.
			c = &certs[0]
			for i := range certs {
				if hello.SupportsCertificate(&certs[i]) == nil {
					c = &certs[i]
					break
				}
			}
		}
		if c != nil && hello.Conn != nil {
			if v, ok := a.byRaw.Load(hello.Conn); ok {
				cs := v.(*connState)
				leaf := c.Leaf
				if leaf == nil && len(c.Certificate) > 0 {
					leaf, _ = x509.ParseCertificate(c.Certificate[0])
				}
				cs.mu.Lock()
				cs.cert = leaf
				cs.mu.Unlock()
			}
		}
		return c, nil
	}
}

// ConnContext is the http.Server ConnContext hook: it gives the connection
// its authentication state.
func (a *Authenticator) ConnContext(ctx context.Context, c net.Conn) context.Context {
	cs := &connState{id: a.connSeq.Add(1), remote: c.RemoteAddr().String()}
	a.conns.Store(c, cs)
	if tc, ok := c.(*tls.Conn); ok {
		a.byRaw.Store(tc.NetConn(), cs)
	}
	return context.WithValue(ctx, connKey{}, cs)
}

// ConnState is the http.Server ConnState hook: it drops the connection's
// state (a handshake in progress, a persisted identity) when the
// connection closes or is hijacked.
func (a *Authenticator) ConnState(c net.Conn, s http.ConnState) {
	if s == http.StateClosed || s == http.StateHijacked {
		a.dropConn(c)
	}
}

func (a *Authenticator) dropConn(c net.Conn) {
	v, ok := a.conns.LoadAndDelete(c)
	if !ok {
		return
	}
	if tc, ok := c.(*tls.Conn); ok {
		a.byRaw.Delete(tc.NetConn())
	}
	cs := v.(*connState)
	cs.mu.Lock()
	if cs.pending != nil {
		a.log.Debug("httpauth: connection closed during handshake", "conn", cs.id, "remote", cs.remote, "scheme", cs.scheme)
	}
	a.clearPending(cs)
	cs.identity = nil
	cs.closed = true
	cs.mu.Unlock()
}

// clearPending deletes the handshake in progress; cs.mu is held.
func (a *Authenticator) clearPending(cs *connState) {
	if cs.pending != nil {
		cs.pending.Close()
		cs.pending = nil
		cs.scheme = ""
		a.inFlight.Add(-1)
	}
}

// reapStale drops the handshakes in progress that are older than
// Config.HandshakeTimeout, on connections whose state is not in use.
func (a *Authenticator) reapStale() {
	a.conns.Range(func(_, v any) bool {
		cs := v.(*connState)
		if cs.mu.TryLock() {
			if cs.pending != nil && a.cfg.Now().Sub(cs.started) > a.cfg.HandshakeTimeout {
				a.log.Debug("httpauth: handshake timed out", "conn", cs.id, "remote", cs.remote, "scheme", cs.scheme)
				a.clearPending(cs)
			}
			cs.mu.Unlock()
		}
		return true
	})
}

// Handshakes returns the number of handshakes in progress.
func (a *Authenticator) Handshakes() int { return int(a.inFlight.Load()) }

// IdentityFromContext returns the identity the middleware authenticated,
// from a request's context.
//
// On a connection whose authentication persists (Config.Persist), the
// identity is the connection's.
func IdentityFromContext(ctx context.Context) (sspi.Identity, bool) {
	if id, ok := ctx.Value(identityKey{}).(*sspi.Identity); ok {
		return *id, true
	}
	if cs, ok := ctx.Value(connKey{}).(*connState); ok {
		cs.mu.Lock()
		id := cs.identity
		cs.mu.Unlock()
		if id != nil {
			return *id, true
		}
	}
	return sspi.Identity{}, false
}

// WithIdentity returns ctx carrying id, as the middleware does; for tests
// of handlers.
func WithIdentity(ctx context.Context, id sspi.Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, &id)
}

// Middleware returns next behind authentication: a request without valid
// credentials gets 401 with the challenges, and next sees the identity
// through IdentityFromContext.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r, next)
	})
}

func (a *Authenticator) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		a.warnOnce.Do(func() {
			a.log.Warn("httpauth: server lacks the ConnContext/ConnState hooks (Authenticator.Install); multi-leg handshakes (NTLM) cannot complete")
		})
	}
	vals := r.Header.Values(a.authHeader())
	if len(vals) == 0 {
		if cs != nil && a.cfg.Persist {
			cs.mu.Lock()
			id := cs.identity
			cs.mu.Unlock()
			if id != nil {
				// IdentityFromContext finds it in the connection's state.
				next.ServeHTTP(w, r)
				return
			}
		}
		if cs != nil {
			cs.mu.Lock()
			a.clearPending(cs)
			cs.mu.Unlock()
		}
		a.unauthorized(w, "")
		return
	}
	connID := uint64(0)
	if cs != nil {
		connID = cs.id
	}
	logger := a.log.With("conn", connID, "remote", r.RemoteAddr)
	if len(vals) > 1 {
		logger.Warn("httpauth: bad request: more than one " + a.authHeader() + " header")
		http.Error(w, "more than one "+a.authHeader()+" header", http.StatusBadRequest)
		return
	}
	if len(vals[0]) > a.cfg.MaxHeaderBytes {
		logger.Warn("httpauth: bad request: Authorization header too large", "bytes", len(vals[0]), "max", a.cfg.MaxHeaderBytes)
		http.Error(w, "Authorization header too large", http.StatusBadRequest)
		return
	}
	rawScheme, token, err := ParseAuthorization(vals[0])
	scheme := canonicalScheme(rawScheme)
	if err == nil && !a.offers(scheme) {
		logger.Warn("httpauth: unsupported authentication scheme", "scheme", truncate(rawScheme, 32))
		a.unauthorized(w, "")
		return
	}
	if err == nil && token == nil {
		err = fmt.Errorf("%w: %s without a token", ErrMalformed, scheme)
	}
	if err != nil {
		logger.Warn("httpauth: bad request: malformed Authorization header", "scheme", truncate(rawScheme, 32), "err", err)
		if cs != nil {
			cs.mu.Lock()
			a.clearPending(cs)
			cs.mu.Unlock()
		}
		http.Error(w, "malformed Authorization header", http.StatusBadRequest)
		return
	}
	logger = logger.With("scheme", scheme)
	if cs == nil {
		cs = &connState{remote: r.RemoteAddr} // this request only
	}
	// The connection's state is locked for the handshake step only, not
	// while next runs.
	id, out, ok := a.step(w, r, cs, connID, scheme, token, logger)
	if !ok {
		return
	}
	if len(out) > 0 {
		w.Header().Add(a.challengeHeader(), FormatAuthorization(scheme, out))
	}
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
}

// step runs one leg of the handshake on the connection's state. It answers
// the request itself unless the handshake completed (ok), in which case
// it returns the identity and the last output token.
func (a *Authenticator) step(w http.ResponseWriter, r *http.Request, cs *connState, connID uint64, scheme string, token []byte,
	logger *slog.Logger) (id *sspi.Identity, last []byte, ok bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		a.unauthorized(w, "")
		return nil, nil, false
	}
	var err error
	sc := cs.pending
	if sc != nil && (cs.scheme != scheme || startsHandshake(scheme, token) || a.cfg.Now().Sub(cs.started) > a.cfg.HandshakeTimeout) {
		if a.cfg.Now().Sub(cs.started) > a.cfg.HandshakeTimeout {
			logger.Warn("httpauth: handshake timed out; starting again")
		}
		a.clearPending(cs)
		sc = nil
	}
	if sc == nil {
		if !startsHandshake(scheme, token) {
			logger.Warn("httpauth: continuation token but no handshake in progress on this connection", "token_bytes", len(token))
			a.unauthorized(w, "")
			return nil, nil, false
		}
		if a.inFlight.Load() >= int64(a.cfg.MaxHandshakes) {
			a.reapStale()
		}
		if a.inFlight.Load() >= int64(a.cfg.MaxHandshakes) {
			logger.Warn("httpauth: too many handshakes in progress", "max", a.cfg.MaxHandshakes)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many authentications in progress", http.StatusServiceUnavailable)
			return nil, nil, false
		}
		scfg := gosspi.ServerConfig{Package: scheme, Credential: a.creds[scheme], Flags: a.cfg.Flags}
		if r.TLS != nil && a.cfg.ChannelBindings != BindingsOff {
			cb, err := a.bindings(cs)
			if err != nil {
				logger.Error("httpauth: no channel bindings for this TLS connection", "err", err)
				if a.cfg.ChannelBindings == BindingsRequired {
					http.Error(w, "channel bindings unavailable", http.StatusInternalServerError)
					return nil, nil, false
				}
			}
			scfg.ChannelBindings = cb
		}
		sc, err = gosspi.NewServer(r.Context(), a.cfg.Table, scfg)
		if err != nil {
			logger.Error("httpauth: AcceptSecurityContext setup failed", "err", err)
			http.Error(w, "authentication unavailable", http.StatusInternalServerError)
			return nil, nil, false
		}
		cs.pending, cs.scheme, cs.started = sc, scheme, a.cfg.Now()
		a.inFlight.Add(1)
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.HandshakeTimeout)
	out, done, err := sc.Step(ctx, token)
	cancel()
	if err != nil {
		logger.Warn("httpauth: authentication failed", "status", sspi.StatusOf(err).String(), "err", err)
		a.clearPending(cs)
		a.unauthorized(w, "")
		return nil, nil, false
	}
	if !done {
		if connID == 0 {
			logger.Error("httpauth: a multi-leg handshake needs the connection hooks (Authenticator.Install)")
			a.clearPending(cs)
			a.unauthorized(w, "")
			return nil, nil, false
		}
		logger.Debug("httpauth: handshake continues", "out_bytes", len(out))
		// The handshake is bound to this connection: read a body the
		// client sent with this leg (up to a bound; net/http alone
		// discards 256 KiB and then closes the connection).
		if r.ContentLength != 0 {
			io.CopyN(io.Discard, r.Body, maxDrain)
		}
		a.unauthorized(w, FormatAuthorization(scheme, out))
		return nil, nil, false
	}
	ident, err := sc.Identity()
	if err != nil {
		logger.Error("httpauth: no identity for an established context", "err", err)
		a.clearPending(cs)
		http.Error(w, "authentication failed", http.StatusInternalServerError)
		return nil, nil, false
	}
	if pkg := sc.Package(); pkg != "" {
		ident.Package = pkg
	}
	a.clearPending(cs)
	if a.cfg.Persist && connID != 0 {
		cs.identity = &ident
	}
	logger.Info("httpauth: authenticated", "user", ident.Principal, "package", ident.Package, "mutual_token", len(out) > 0)
	return &ident, out, true
}

func (a *Authenticator) offers(scheme string) bool {
	for _, s := range a.schemes {
		if s == scheme {
			return true
		}
	}
	return false
}

// unauthorized writes a 401 with the challenges, or with the one
// continuation challenge given.
func (a *Authenticator) unauthorized(w http.ResponseWriter, cont string) {
	h := w.Header()
	name := a.challengeHeader()
	if cont != "" {
		h.Set(name, cont)
	} else {
		h.Del(name)
		for _, s := range a.challenge {
			h.Add(name, s)
		}
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if a.cfg.Proxy {
		w.WriteHeader(http.StatusProxyAuthRequired)
		fmt.Fprintln(w, "407 Proxy Authentication Required")
		return
	}
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintln(w, "401 Unauthorized")
}

func (a *Authenticator) authHeader() string {
	if a.cfg.Proxy {
		return "Proxy-Authorization"
	}
	return "Authorization"
}

func (a *Authenticator) challengeHeader() string {
	if a.cfg.Proxy {
		return "Proxy-Authenticate"
	}
	return "WWW-Authenticate"
}

// startsHandshake reports whether token begins a new handshake of the
// scheme: an NTLM NEGOTIATE (or a single-leg AUTHENTICATE, which Windows
// clients never send first), or for Negotiate/Kerberos a GSS
// InitialContextToken (tag 0x60), a raw AP-REQ (0x6e, Kerberos) or a raw
// NTLM NEGOTIATE.
func startsHandshake(scheme string, token []byte) bool {
	ntlmType := func() uint32 {
		if len(token) >= 12 && string(token[:8]) == "NTLMSSP\x00" {
			return uint32(token[8]) | uint32(token[9])<<8 | uint32(token[10])<<16 | uint32(token[11])<<24
		}
		return 0
	}
	switch scheme {
	case SchemeNTLM:
		return ntlmType() == 1
	default:
		if len(token) > 0 && (token[0] == 0x60 || scheme == SchemeKerberos && token[0] == 0x6e) {
			return true
		}
		return ntlmType() == 1
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
