package httpauth

import (
	"bytes"
	"container/list"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// maxDrain bounds the request body read and dropped on a leg that
// continues a handshake, and maxDrainTime the time it may take (at most
// Config.HandshakeTimeout). A body that is larger or slower closes the
// connection instead.
const (
	maxDrain     = 1 << 20
	maxDrainTime = 10 * time.Second
)

// Defaults of Config.
const (
	DefaultMaxHeaderBytes   = 64 << 10
	DefaultMaxHandshakes    = 1024
	DefaultHandshakeTimeout = 30 * time.Second
)

// Config configures a server Authenticator.
type Config struct {
	// Host is the package host the server authenticates with. Required.
	// Its channel-binding policy (gosspi.HostConfig.ChannelBindings) is
	// the server's Extended Protection over HTTPS.
	Host *gosspi.Host
	// Schemes are the schemes offered in the 401 challenge, in order:
	// SchemeNegotiate, SchemeNTLM, SchemeKerberos. Each is backed by the
	// security package of the same name. Empty means Negotiate alone.
	Schemes []string
	// Principal restricts the acceptor to one service principal
	// ("HTTP/host.example.com"); empty accepts any the keytab holds.
	Principal string
	// Flags are the requirements of each context; zero means
	// gosspi.DefaultFlags.
	Flags gosspi.Flags
	// Persist keeps the identity on a keep-alive HTTP/1.1 connection once
	// it has authenticated, so that later requests on that connection
	// need no Authorization header (IIS's authPersistNonNTLM; NTLM-style
	// connection authentication). A request that carries an
	// Authorization header still authenticates again. The identity is
	// never persisted across the streams of an HTTP/2 connection.
	//
	// Persist binds the identity to the TCP connection, not to a client:
	// do not use it behind a reverse proxy or load balancer that pools its
	// connections to this server (sends requests of different clients
	// over one connection), or every client on that connection gets the
	// first one's identity.
	Persist bool
	// Certificate is the server certificate for tls-server-end-point when
	// the middleware cannot learn it from the TLS handshake (see
	// Authenticator.Install and WrapTLSConfig), as before Go 1.27 for a
	// server without the hooks or whose certificate comes from
	// ListenAndServeTLS's files. Optional; a request whose bindings are
	// unknown gets 500 under either policy.
	Certificate *x509.Certificate
	// MaxHeaderBytes bounds the Authorization header value; a larger one
	// gets 400. Zero means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxHandshakes bounds the handshakes in progress (connections that
	// started a multi-leg handshake and have not finished it). Beyond it a
	// new handshake that needs another leg gets 503; one that completes
	// in a single leg (Kerberos) needs no slot. Zero means
	// DefaultMaxHandshakes.
	MaxHandshakes int
	// HandshakeTimeout is how long a connection may take to finish a
	// handshake it started; an older handshake's slot is reclaimed when
	// another handshake needs it. It also bounds one leg's processing and
	// the reading of a leg's body. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Now is the clock of handshake timeouts; nil is time.Now. Tests give
	// it the host's clock.
	Now func() time.Time
	// Proxy makes the Authenticator a proxy's: it reads
	// Proxy-Authorization and answers 407 with Proxy-Authenticate
	// (RFC 9110 11.7), for a forward proxy written in Go.
	Proxy bool
	// Logger receives one line per authentication event. Tokens,
	// passwords and keys are never logged, nor the name of a scheme that
	// is not registered (a client may send a bare secret as the whole
	// Authorization value). Nil means slog.Default().
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
	creds     map[string]*gosspi.Credential // by package name

	conns    sync.Map // net.Conn -> *connState
	byRaw    sync.Map // underlying net.Conn of a TLS conn -> *connState
	connSeq  atomic.Uint64
	slots    slotTable // handshakes in progress
	warnOnce sync.Once

	endPoints     sync.Map // DER certificate -> *sspi.ChannelBindings
	endPointCount atomic.Int32

	sharedMu        sync.Mutex
	shared          []byte // see learnEndPoint
	sharedAmbiguous bool
}

// connState is what the middleware keeps per TCP connection. Its lock is
// held for bookkeeping only, never while reading from or writing to the
// network, so that a slow peer cannot make anyone wait on it.
type connState struct {
	id     uint64
	remote string

	mu       sync.Mutex
	pending  *gosspi.SecurityContext // a handshake parked between two legs
	scheme   string                  // of pending
	slot     *slot                   // of pending
	identity *gosspi.PeerIdentity    // persisted identity (Config.Persist)
	cert     *x509.Certificate       // TLS: presented in the full handshake
	resumed  *sspi.ChannelBindings   // TLS: of a resumed session, from its ticket
	closed   bool
}

// slotTable accounts the handshakes in progress: a handshake holds a slot
// while it is parked on a connection waiting for its next leg. Slots are
// kept in the order they were taken, oldest first, so that the stale ones
// are found at the front without a scan; and the table is locked on its
// own, so that reclaiming a stale slot never waits for the connection that
// holds it, whatever that connection is doing.
type slotTable struct {
	mu   sync.Mutex
	list list.List // of *slot
}

type slot struct {
	cs        *connState
	started   time.Time
	elem      *list.Element // nil once released or reclaimed; under slotTable.mu
	reclaimed atomic.Bool
}

// acquire takes a slot for cs, first reclaiming the slots older than
// timeout; it fails when max slots are still taken. The reclaimed slots
// are returned for their connections' contexts to be closed.
func (t *slotTable) acquire(cs *connState, now time.Time, timeout time.Duration, max int) (s *slot, reclaimed []*slot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	reclaimed = t.reapLocked(now, timeout)
	if t.list.Len() >= max {
		return nil, reclaimed
	}
	s = &slot{cs: cs, started: now}
	s.elem = t.list.PushBack(s)
	return s, reclaimed
}

// reapLocked removes the slots older than timeout from the front.
func (t *slotTable) reapLocked(now time.Time, timeout time.Duration) []*slot {
	var out []*slot
	for e := t.list.Front(); e != nil; e = t.list.Front() {
		s := e.Value.(*slot)
		if now.Sub(s.started) <= timeout {
			break
		}
		t.list.Remove(e)
		s.elem = nil
		s.reclaimed.Store(true)
		out = append(out, s)
	}
	return out
}

// release gives a slot back; a nil or reclaimed slot is a no-op.
func (t *slotTable) release(s *slot) {
	if s == nil {
		return
	}
	t.mu.Lock()
	if s.elem != nil {
		t.list.Remove(s.elem)
		s.elem = nil
	}
	t.mu.Unlock()
}

func (t *slotTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.list.Len()
}

type connKey struct{}
type identityKey struct{}

// New returns an Authenticator. It acquires one inbound credential per
// scheme; a scheme whose package cannot supply one (no keytab, a keytab
// without the principal, no account store) is an error that says what the
// package reported and what it needs (for Negotiate, for each package in
// it); errors.Is finds the package's Status in it. A package inside
// Negotiate that cannot accept is logged (Negotiate offers the others).
func New(cfg Config) (*Authenticator, error) {
	if cfg.Host == nil {
		return nil, errors.New("httpauth: Config.Host is nil")
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
	cfg.Now = sysenv.Clock(cfg.Now)
	a := &Authenticator{cfg: cfg, log: cfg.Logger, creds: map[string]*gosspi.Credential{}}
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
		h, err := acquireInbound(cfg.Host, cfg.Principal, name)
		if err != nil {
			a.Close()
			return nil, credentialFailure(cfg.Host, cfg.Principal, name, err)
		}
		if name == SchemeNegotiate {
			logInner(a.log, cfg.Host, cfg.Principal)
		}
		a.creds[name] = h
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
	for _, c := range a.creds {
		c.Close()
	}
	a.creds = map[string]*gosspi.Credential{}
	a.conns.Range(func(k, v any) bool {
		a.dropConn(k.(net.Conn))
		return true
	})
	return nil
}

// Install sets the server's ConnContext and ConnState hooks (keeping any
// already set, which run after ours) and, for HTTPS, hooks the TLS
// configuration so that the middleware knows which certificate each
// connection presented (for tls-server-end-point), on resumed sessions too
// (see WrapTLSConfig). Call it before ListenAndServe/Serve, with the
// certificates in srv.TLSConfig (Certificates or GetCertificate), or
// with ListenAndServeTLS(certFile, keyFile) and its one certificate.
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
	if a.cfg.Host.ChannelBindings() == gosspi.BindingsOff {
		return
	}
	if srv.TLSConfig == nil {
		// For ListenAndServeTLS(certFile, keyFile), which copies it. With
		// "h2" listed, net/http still sets HTTP/2 up in Serve as it does
		// for a nil TLSConfig (a listener made with tls.NewListener may
		// hand it HTTP/2 connections).
		srv.TLSConfig = &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	}
	a.wrapTLSConfig(srv.TLSConfig, srv)
}

// WrapTLSConfig hooks cfg so that the middleware learns the certificate
// each connection presented, for tls-server-end-point channel bindings
// (RFC 5929 4.1). Install calls it for the server's TLSConfig; call it
// yourself for a listener made with tls.NewListener, before the listener
// accepts.
//
// A resumed TLS session presents no certificate: crypto/tls skips
// certificate selection and ConnectionState has none. The bindings of a
// resumed session are those of the certificate of the handshake that
// made the session (the one the client still holds), so the hooks write
// them into the session ticket (tls.SessionState.Extra, which the server
// alone can read) and read them back when the session resumes, through a
// per-connection copy of cfg returned by GetConfigForClient (any
// GetConfigForClient, WrapSession and UnwrapSession already set are kept).
// A ticket without them is not resumed: the client does a full handshake.
func (a *Authenticator) WrapTLSConfig(cfg *tls.Config) { a.wrapTLSConfig(cfg, nil) }

// ticketBindingsTag starts the tls.SessionState.Extra entry that carries a
// session's channel bindings.
const ticketBindingsTag = "gosspi-httpauth-bindings\x00"

func (a *Authenticator) wrapTLSConfig(cfg *tls.Config, srv *http.Server) {
	if a.cfg.Host.ChannelBindings() == gosspi.BindingsOff {
		return
	}
	base := cfg
	prevConfig := cfg.GetConfigForClient
	prevWrap, prevUnwrap := cfg.WrapSession, cfg.UnwrapSession
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		var c *tls.Config
		if prevConfig != nil {
			var err error
			if c, err = prevConfig(hello); err != nil {
				return nil, err
			}
		}
		v, ok := a.byRaw.Load(hello.Conn)
		if !ok {
			return c, nil // the base hooks below apply
		}
		cs := v.(*connState)
		if c != nil {
			return a.connTLSConfig(c, c, c.WrapSession, c.UnwrapSession, cs), nil
		}
		if len(base.Certificates) == 0 && base.GetCertificate == nil {
			// The certificates are ListenAndServeTLS's files, in a copy of
			// base this hook cannot reach.
			return nil, nil
		}
		pc := a.connTLSConfig(base, base, prevWrap, prevUnwrap, cs)
		if srv != nil {
			pc.NextProtos = serverNextProtos(srv, base.NextProtos)
		}
		return pc, nil
	}
	// A connection without its own copy of the configuration (no
	// connection hooks, or ListenAndServeTLS's certificate files, which
	// this hook cannot see) cannot be told the bindings its ticket
	// carries. Its session resumes only when they are known anyway: those
	// of Config.Certificate, or else those of the one certificate such
	// connections have ever presented (the server's file).
	cfg.WrapSession = func(st tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		var data []byte
		if der := localLeaf(&st); der != nil {
			if cb, err := a.endPoint(der); err == nil {
				data = cb.ApplicationData
				a.learnEndPoint(data)
			}
		} else if st.DidResume {
			data = a.sharedEndPoint()
		}
		if data != nil {
			ss.Extra = append(ss.Extra, append([]byte(ticketBindingsTag), data...))
		}
		if prevWrap != nil {
			return prevWrap(st, ss)
		}
		return base.EncryptTicket(st, ss)
	}
	cfg.UnwrapSession = func(identity []byte, st tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := unwrapTicket(base, prevUnwrap, identity, st)
		if err != nil || ss == nil {
			return nil, err
		}
		data := ticketBindings(ss)
		var want []byte
		if a.cfg.Certificate != nil {
			if data == nil {
				return ss, nil // a ticket of before Go 1.27: Config.Certificate's
			}
			cb, err := sspi.TLSServerEndPoint(a.cfg.Certificate)
			if err != nil {
				return nil, nil
			}
			want = cb.ApplicationData
		} else {
			want = a.sharedEndPoint()
		}
		if data == nil || want == nil || !bytes.Equal(data, want) {
			return nil, nil // bindings unknown: a full handshake instead
		}
		return ss, nil
	}
}

// ticketBindings returns the channel bindings a session ticket carries,
// or nil.
func ticketBindings(ss *tls.SessionState) []byte {
	for _, e := range ss.Extra {
		if data, ok := bytes.CutPrefix(e, []byte(ticketBindingsTag)); ok {
			return data
		}
	}
	return nil
}

// learnEndPoint notes the bindings of a certificate presented on a
// connection without a configuration of its own.
func (a *Authenticator) learnEndPoint(data []byte) {
	a.sharedMu.Lock()
	defer a.sharedMu.Unlock()
	switch {
	case a.sharedAmbiguous:
	case a.shared == nil:
		a.shared = bytes.Clone(data)
	case !bytes.Equal(a.shared, data):
		a.sharedAmbiguous = true
	}
}

// sharedEndPoint returns the bindings of the one certificate connections
// without a configuration of their own have presented, or nil when there
// is none yet or more than one.
func (a *Authenticator) sharedEndPoint() []byte {
	a.sharedMu.Lock()
	defer a.sharedMu.Unlock()
	if a.sharedAmbiguous {
		return nil
	}
	return a.shared
}

// connTLSConfig returns the configuration of one connection: a copy of
// src whose certificate selection records the certificate on cs, and
// whose session tickets carry the bindings of the session. Tickets are
// sealed with keys' session ticket keys, unless wrap and unwrap (the
// configuration's own) are set.
func (a *Authenticator) connTLSConfig(src, keys *tls.Config, wrap func(tls.ConnectionState, *tls.SessionState) ([]byte, error),
	unwrap func([]byte, tls.ConnectionState) (*tls.SessionState, error), cs *connState) *tls.Config {
	c := src.Clone()
	c.GetConfigForClient = nil
	get, certs := src.GetCertificate, src.Certificates
	if get != nil || len(certs) > 0 {
		// crypto/tls calls GetCertificate only when Certificates is empty
		// or the client sent SNI: take the certificates over so that every
		// full handshake comes through here.
		c.Certificates = nil
		c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, err := selectCertificate(get, certs, hello)
			if err != nil || cert == nil {
				return cert, err
			}
			leaf := cert.Leaf
			if leaf == nil && len(cert.Certificate) > 0 {
				leaf, _ = x509.ParseCertificate(cert.Certificate[0])
			}
			cs.mu.Lock()
			cs.cert = leaf
			cs.mu.Unlock()
			return cert, nil
		}
	}
	c.WrapSession = func(st tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		cs.mu.Lock()
		cb, err := a.connBindings(cs, &st)
		cs.mu.Unlock()
		if err == nil {
			ss.Extra = append(ss.Extra, append([]byte(ticketBindingsTag), cb.ApplicationData...))
		}
		if wrap != nil {
			return wrap(st, ss)
		}
		return keys.EncryptTicket(st, ss)
	}
	c.UnwrapSession = func(identity []byte, st tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := unwrapTicket(keys, unwrap, identity, st)
		if err != nil || ss == nil {
			return nil, err
		}
		if data := ticketBindings(ss); data != nil {
			cs.mu.Lock()
			cs.resumed = &sspi.ChannelBindings{ApplicationData: bytes.Clone(data)}
			cs.mu.Unlock()
			return ss, nil
		}
		return nil, nil // bindings unknown: a full handshake instead
	}
	return c
}

func unwrapTicket(keys *tls.Config, unwrap func([]byte, tls.ConnectionState) (*tls.SessionState, error), identity []byte,
	st tls.ConnectionState) (*tls.SessionState, error) {
	if unwrap != nil {
		return unwrap(identity, st)
	}
	return keys.DecryptTicket(identity, st)
}

// selectCertificate is crypto/tls's choice between GetCertificate and
// Certificates: GetCertificate when there are no Certificates or the
// client sent SNI, else the first certificate the client supports, else
// the first.
func selectCertificate(get func(*tls.ClientHelloInfo) (*tls.Certificate, error), certs []tls.Certificate,
	hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if get != nil && (len(certs) == 0 || hello.ServerName != "") {
		c, err := get(hello)
		if c != nil || err != nil {
			return c, err
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("httpauth: no certificate for this connection")
	}
	if len(certs) == 1 {
		return &certs[0], nil
	}
	for i := range certs {
		if hello.SupportsCertificate(&certs[i]) == nil {
			return &certs[i], nil
		}
	}
	return &certs[0], nil
}

// serverNextProtos is the ALPN list net/http's ServeTLS gives its copy of
// the server's TLS configuration (which a configuration returned by
// GetConfigForClient replaces): the configured protocols, then "h2" when
// the server serves HTTP/2 and "http/1.1" unless Protocols turned it off.
func serverNextProtos(srv *http.Server, protos []string) []string {
	_, h2 := srv.TLSNextProto["h2"]
	h1 := true
	if p := srv.Protocols; p != nil && (p.HTTP1() || p.HTTP2() || p.UnencryptedHTTP2()) {
		h1, h2 = p.HTTP1(), h2 && p.HTTP2()
	}
	out := slices.DeleteFunc(slices.Clone(protos), func(s string) bool { return s == "h2" || s == "http/1.1" })
	if h2 {
		out = append(out, "h2")
	}
	if h1 {
		out = append(out, "http/1.1")
	}
	return out
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
	sc, sl := cs.detachLocked()
	cs.identity = nil
	cs.closed = true
	cs.mu.Unlock()
	a.abandon(sc, sl)
}

// detachLocked takes the parked handshake off the connection; cs.mu is
// held.
func (cs *connState) detachLocked() (*gosspi.SecurityContext, *slot) {
	sc, sl := cs.pending, cs.slot
	cs.pending, cs.slot, cs.scheme = nil, nil, ""
	return sc, sl
}

// clearPending abandons the handshake parked on cs, if any.
func (a *Authenticator) clearPending(cs *connState) {
	cs.mu.Lock()
	sc, sl := cs.detachLocked()
	cs.mu.Unlock()
	a.abandon(sc, sl)
}

// abandon deletes a handshake and gives its slot back.
func (a *Authenticator) abandon(sc *gosspi.SecurityContext, sl *slot) {
	if sc != nil {
		sc.Close()
	}
	a.slots.release(sl)
}

// closeReclaimed deletes the contexts of slots the table reclaimed. A
// connection whose state is in use at this moment finds its slot reclaimed
// when it next looks, and deletes the context then (or when it closes).
func (a *Authenticator) closeReclaimed(reclaimed []*slot) {
	for _, s := range reclaimed {
		cs := s.cs
		a.log.Debug("httpauth: handshake timed out; slot reclaimed", "conn", cs.id, "remote", cs.remote)
		if !cs.mu.TryLock() {
			continue
		}
		var sc *gosspi.SecurityContext
		if cs.slot == s {
			sc, _ = cs.detachLocked()
		}
		cs.mu.Unlock()
		if sc != nil {
			sc.Close()
		}
	}
}

// Handshakes returns the number of handshakes in progress.
func (a *Authenticator) Handshakes() int { return a.slots.len() }

// IdentityFromContext returns the identity the middleware authenticated,
// from a request's context.
//
// On a connection whose authentication persists (Config.Persist), the
// identity is the connection's.
func IdentityFromContext(ctx context.Context) (gosspi.PeerIdentity, bool) {
	if id, ok := ctx.Value(identityKey{}).(*gosspi.PeerIdentity); ok {
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
	return gosspi.PeerIdentity{}, false
}

// WithIdentity returns ctx carrying id, as the middleware does; for tests
// of handlers.
func WithIdentity(ctx context.Context, id gosspi.PeerIdentity) context.Context {
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
		if cs != nil && a.cfg.Persist && r.ProtoMajor < 2 {
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
			a.clearPending(cs)
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
		logger.Warn("httpauth: unsupported authentication scheme", "scheme", schemeForLog(rawScheme))
		a.unauthorized(w, "")
		return
	}
	if err == nil && token == nil {
		err = fmt.Errorf("%w: %s without a token", ErrMalformed, scheme)
	}
	if err != nil {
		logger.Warn("httpauth: bad request: malformed Authorization header", "scheme", schemeForLog(rawScheme), "err", err)
		if cs != nil {
			a.clearPending(cs)
		}
		http.Error(w, "malformed Authorization header", http.StatusBadRequest)
		return
	}
	logger = logger.With("scheme", scheme)
	if cs == nil {
		cs = &connState{remote: r.RemoteAddr} // this request only
	}
	id, out, ok := a.step(w, r, cs, connID, scheme, token, logger)
	if !ok {
		return
	}
	if len(out) > 0 {
		w.Header().Add(a.challengeHeader(), FormatAuthorization(scheme, out))
	}
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
}

// step runs one leg of the handshake. It answers the request itself unless
// the handshake completed (ok), in which case it returns the identity and
// the last output token.
//
// The handshake is taken off the connection for the leg and parked on it
// again only once the leg's body has been read: neither the connection's
// lock nor a handshake slot is held while the client sends its body or
// reads the answer, so a client that stalls holds nothing but its own
// connection.
func (a *Authenticator) step(w http.ResponseWriter, r *http.Request, cs *connState, connID uint64, scheme string, token []byte,
	logger *slog.Logger) (id *gosspi.PeerIdentity, last []byte, ok bool) {
	multiplexed := r.ProtoMajor >= 2
	if multiplexed {
		// The streams of an HTTP/2 connection are requests of their own:
		// nothing is parked on the connection or persisted across them.
		// What the TLS handshake told of the connection holds for all.
		cs.mu.Lock()
		stream := &connState{id: cs.id, remote: cs.remote, cert: cs.cert, resumed: cs.resumed}
		cs.mu.Unlock()
		cs = stream
	}
	sc, sl, closed := a.takePending(cs, scheme, token, logger)
	if closed {
		a.unauthorized(w, "")
		return nil, nil, false
	}
	if sc == nil {
		if multiplexed && !startsHandshake(scheme, token) {
			a.refuseMultiplexed(w, logger)
			return nil, nil, false
		}
		if !startsHandshake(scheme, token) {
			logger.Warn("httpauth: continuation token but no handshake in progress on this connection", "token_bytes", len(token))
			a.unauthorized(w, "")
			return nil, nil, false
		}
		var status int
		if sc, status = a.newContext(r, cs, scheme, logger); sc == nil {
			http.Error(w, http.StatusText(status), status)
			return nil, nil, false
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.HandshakeTimeout)
	out, done, err := sc.Step(ctx, token)
	cancel()
	if err != nil {
		logger.Warn("httpauth: authentication failed", "status", sspi.StatusOf(err).String(), "err", err)
		a.abandon(sc, sl)
		// A package's error token (an SPNEGO reject carrying a KRB-ERROR
		// such as KRB_AP_ERR_SKEW, MS-KILE 3.4.5) goes back with the 401,
		// as IIS sends it: the client learns why.
		if len(out) > 0 {
			a.unauthorized(w, FormatAuthorization(scheme, out))
		} else {
			a.unauthorized(w, "")
		}
		return nil, nil, false
	}
	if !done {
		if multiplexed {
			// The answer carries the output token, so that clients
			// switch to HTTP/1.1 as they do for NTLM over HTTP/2 (curl,
			// Chromium), but nothing is kept to continue it.
			a.abandon(sc, sl)
			logger.Warn("httpauth: connection-based authentication over HTTP/2 cannot complete; the client must retry over HTTP/1.1")
			a.challengeWith(w, FormatAuthorization(scheme, out), multiplexedRefusal)
			return nil, nil, false
		}
		if connID == 0 {
			logger.Error("httpauth: a multi-leg handshake needs the connection hooks (Authenticator.Install)")
			a.abandon(sc, sl)
			a.unauthorized(w, "")
			return nil, nil, false
		}
		// The handshake is bound to this connection: read a body the
		// client sent with this leg, so that the connection survives it.
		if !a.drainBody(w, r) {
			logger.Warn("httpauth: body of a handshake leg too large or too slow; closing the connection",
				"content_length", r.ContentLength, "max", maxDrain)
			a.abandon(sc, sl)
			w.Header().Set("Connection", "close")
			a.unauthorized(w, "")
			return nil, nil, false
		}
		if status := a.park(cs, sc, sl, scheme, logger); status != 0 {
			if status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "too many authentications in progress", status)
			} else {
				a.unauthorized(w, "")
			}
			return nil, nil, false
		}
		logger.Debug("httpauth: handshake continues", "out_bytes", len(out))
		a.unauthorized(w, FormatAuthorization(scheme, out))
		return nil, nil, false
	}
	ident, err := sc.Identity()
	pkg := sc.Package()
	a.abandon(sc, sl)
	if err != nil {
		logger.Error("httpauth: no identity for an established context", "err", err)
		http.Error(w, "authentication failed", http.StatusInternalServerError)
		return nil, nil, false
	}
	if pkg != "" {
		ident.Package = pkg
	}
	if a.cfg.Persist && connID != 0 && !multiplexed {
		cs.mu.Lock()
		cs.identity = &ident
		cs.mu.Unlock()
	}
	logger.Info("httpauth: authenticated", "user", ident.Principal, "package", ident.Package, "mutual_token", len(out) > 0)
	return &ident, out, true
}

// multiplexedRefusal is the body of the answers to NTLM over HTTP/2.
const multiplexedRefusal = "NTLM authentication is bound to a connection and needs HTTP/1.1: retry the request over HTTP/1.1"

// refuseMultiplexed answers a leg that continues a handshake needing
// several legs on one connection (NTLM, raw or inside SPNEGO) over HTTP/2,
// whose connection multiplexes streams. IIS resets the stream with
// HTTP_1_1_REQUIRED (RFC 9113 7, 0xd) so that the client retries over
// HTTP/1.1; net/http's server cannot reset a stream with a code of the
// handler's choosing, so the answer is 421 Misdirected Request (RFC 9110
// 15.5.20: the client may retry on another connection) with a message
// that says why. The first leg gets its 401 and output token (see step):
// curl and Chromium switch to HTTP/1.1 on it, and curl gives up on a 421
// or a 401 without a token there.
func (a *Authenticator) refuseMultiplexed(w http.ResponseWriter, logger *slog.Logger) {
	logger.Warn("httpauth: connection-based authentication over HTTP/2 refused; the client must retry over HTTP/1.1")
	http.Error(w, multiplexedRefusal, http.StatusMisdirectedRequest)
}

// takePending takes the handshake parked on cs off it, when the token
// continues it; otherwise the parked handshake is abandoned. closed
// reports a connection the Authenticator has let go of.
func (a *Authenticator) takePending(cs *connState, scheme string, token []byte, logger *slog.Logger) (sc *gosspi.SecurityContext, sl *slot, closed bool) {
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		return nil, nil, true
	}
	prev := cs.scheme
	sc, sl = cs.detachLocked()
	cs.mu.Unlock()
	if sc == nil {
		return nil, nil, false
	}
	stale := sl == nil || sl.reclaimed.Load() || a.cfg.Now().Sub(sl.started) > a.cfg.HandshakeTimeout
	if stale || prev != scheme || startsHandshake(scheme, token) {
		if stale {
			logger.Warn("httpauth: handshake timed out; starting again")
		}
		a.abandon(sc, sl)
		return nil, nil, false
	}
	return sc, sl, false
}

// newContext starts the server side of a handshake, or returns the status
// to answer with.
func (a *Authenticator) newContext(r *http.Request, cs *connState, scheme string, logger *slog.Logger) (*gosspi.SecurityContext, int) {
	scfg := gosspi.ServerConfig{Package: scheme, Credential: a.creds[scheme], Flags: a.cfg.Flags}
	if r.TLS != nil && a.cfg.Host.ChannelBindings() != gosspi.BindingsOff {
		cs.mu.Lock()
		cb, err := a.connBindings(cs, r.TLS)
		cs.mu.Unlock()
		if err != nil {
			// Going on without bindings would let a client whose
			// bindings are wrong (a relay) through under either policy.
			logger.Error("httpauth: no channel bindings for this TLS connection", "err", err, "resumed", r.TLS.DidResume)
			return nil, http.StatusInternalServerError
		}
		scfg.ChannelBindings = cb
	}
	sc, err := a.cfg.Host.NewServer(r.Context(), scfg)
	if err != nil {
		logger.Error("httpauth: AcceptSecurityContext setup failed", "err", err)
		return nil, http.StatusInternalServerError
	}
	return sc, 0
}

// park leaves a handshake that continues on its connection for the next
// leg, in a slot (the one it holds, or a new one). It returns 0, or the
// status to answer with when it cannot.
func (a *Authenticator) park(cs *connState, sc *gosspi.SecurityContext, sl *slot, scheme string, logger *slog.Logger) int {
	if sl == nil {
		var reclaimed []*slot
		sl, reclaimed = a.slots.acquire(cs, a.cfg.Now(), a.cfg.HandshakeTimeout, a.cfg.MaxHandshakes)
		a.closeReclaimed(reclaimed)
		if sl == nil {
			logger.Warn("httpauth: too many handshakes in progress", "max", a.cfg.MaxHandshakes)
			sc.Close()
			return http.StatusServiceUnavailable
		}
	} else if sl.reclaimed.Load() {
		logger.Warn("httpauth: handshake timed out")
		sc.Close()
		return http.StatusUnauthorized
	}
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		a.abandon(sc, sl)
		return http.StatusUnauthorized
	}
	oldSC, oldSlot := cs.detachLocked()
	cs.pending, cs.slot, cs.scheme = sc, sl, scheme
	cs.mu.Unlock()
	a.abandon(oldSC, oldSlot)
	return 0
}

// drainBody reads and drops the body of a leg that continues a handshake
// (some clients send the body with every leg; net/http alone would close
// the connection after 256 KiB): at most maxDrain bytes, within
// maxDrainTime or Config.HandshakeTimeout, whichever is shorter. It
// reports whether the whole body was read; when it was not, the caller
// closes the connection. The read deadline is the only network deadline
// the middleware sets; it is measured on the real clock.
func (a *Authenticator) drainBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return true
	}
	if r.ContentLength > maxDrain {
		return false
	}
	d := min(maxDrainTime, a.cfg.HandshakeTimeout)
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ReadTimeout > 0 {
		d = min(d, srv.ReadTimeout) // never looser than the server's own bound
	}
	rc := http.NewResponseController(w)
	// Without a deadline (a ResponseWriter that does not unwrap to the
	// server's), the server's ReadTimeout bounds the read.
	deadline := rc.SetReadDeadline(sysenv.Deadline(d)) == nil
	n, err := io.CopyN(io.Discard, r.Body, maxDrain+1)
	if err == io.EOF && n <= maxDrain {
		if deadline {
			rc.SetReadDeadline(time.Time{})
		}
		return true
	}
	if deadline {
		// Keep the deadline in the past, so that net/http does not wait
		// for the rest of the body either before it closes the
		// connection.
		rc.SetReadDeadline(time.Unix(1, 0))
	}
	return false
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
	a.challengeWith(w, cont, "")
}

// challengeWith is unauthorized with a body of its own, when msg is set.
func (a *Authenticator) challengeWith(w http.ResponseWriter, cont, msg string) {
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
	code := http.StatusUnauthorized
	if a.cfg.Proxy {
		code = http.StatusProxyAuthRequired
	}
	if msg == "" {
		msg = fmt.Sprintf("%d %s", code, http.StatusText(code))
	}
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
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
// scheme: an NTLM NEGOTIATE, or for Negotiate/Kerberos a GSS
// InitialContextToken (RFC 2743 3.1, whatever its mechanism), a raw AP-REQ
// (Kerberos) or a raw NTLM NEGOTIATE.
func startsHandshake(scheme string, token []byte) bool {
	k := secpkg.RecognizeToken(token)
	switch scheme {
	case SchemeNTLM:
		return k == secpkg.TokenNTLMNegotiate
	default:
		return k.Framed() || scheme == SchemeKerberos && k == secpkg.TokenKerberosAPReq || k == secpkg.TokenNTLMNegotiate
	}
}

// knownSchemes are the authentication schemes whose names are logged as
// the client sent them: IANA's HTTP Authentication Scheme Registry (RFC
// 9110 16.4) and the Windows ones.
var knownSchemes = []string{"Basic", "Bearer", "Digest", "DPoP", "HOBA", "Mutual", "Negotiate", "NTLM", "Kerberos",
	"OAuth", "PrivateToken", "SCRAM-SHA-1", "SCRAM-SHA-256", "vapid", "Concealed", "AWS4-HMAC-SHA256"}

// schemeForLog is what a log line says of the scheme of a header the
// middleware does not accept. Some clients send a bare secret (an API
// key) as the whole Authorization value, which parses as a scheme name:
// only a registered scheme's name is logged, anything else by its length.
func schemeForLog(s string) string {
	for _, k := range knownSchemes {
		if strings.EqualFold(s, k) {
			return k
		}
	}
	if s == "" {
		return "(none)"
	}
	return fmt.Sprintf("(unregistered, %d bytes)", len(s))
}
