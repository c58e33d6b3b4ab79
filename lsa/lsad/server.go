// Package lsad is gosspi's privilege-separated package host: a daemon that
// runs the LSA-mode halves of the packages (as LSASS does on Windows and
// gssproxy does for Kerberos on Linux), holds every long-term secret
// (keytabs, NT hashes, service passwords, TGTs, the replay cache), and
// serves the sspi.Host boundary on a Unix socket (protocol:
// internal/lsarpc). Applications reach it with package lsa/remote, or
// gosspi.HostConfig.LSA; they receive only ContextData.
//
// The caller's uid, gid and pid come from SO_PEERCRED; a policy (the
// Services of FileConfig) says what each caller may use. Handles belong to
// the connection that made them, a disconnect frees them, and per-uid
// quotas bound what one caller can hold.
package lsad

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gosspi/gosspi/internal/lsarpc"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/negotiate"
	"github.com/gosspi/gosspi/netlogon"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server.
type Config struct {
	// File is the parsed configuration file (LoadConfig).
	File *FileConfig
	// Logger receives one line per call (caller uid, package, status;
	// never secrets). Nil discards them.
	Logger *slog.Logger
	// Registerer receives the daemon's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Packages, when set, replace the standard packages (Negotiate,
	// Kerberos, NTLM): a program that hosts packages of its own.
	Packages []secpkg.LsaModePackage
	// Now and Rand are the daemon's clock and random source (handle
	// keys, handshake timeouts, latency); nil means the system's.
	Now  func() time.Time
	Rand io.Reader
}

// Server is the daemon: a package host and the connections to it.
type Server struct {
	cfg      Config
	file     *FileConfig
	host     *lsa.Host
	log      *slog.Logger
	met      *metrics
	now      func() time.Time
	maxFrame int

	mu     sync.Mutex
	conns  map[*conn]struct{}
	quotas map[uint32]*quota
	lns    []net.Listener
	closed bool
	wg     sync.WaitGroup

	// peerOf reads a connection's caller (SO_PEERCRED); released, when
	// set, is called after a closed connection's handles are freed. Both
	// are for tests.
	peerOf   func(net.Conn) (Peer, error)
	released func(Peer)

	work *workers

	netlogon *netlogon.Client // NETLOGON pass-through, or nil
}

// quota counts what one caller uid holds over all its connections.
type quota struct {
	creds, handshakes, contexts, conns int
}

// New starts the package host of the daemon.
func New(cfg Config) (*Server, error) {
	if cfg.File == nil {
		return nil, errors.New("lsad: no configuration")
	}
	f := cfg.File
	// A configuration made in code gets the checks and defaults (quotas)
	// a parsed file gets.
	if err := f.check(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ht := 2 * time.Minute
	if f.HandshakeTimeout != "" {
		d, err := time.ParseDuration(f.HandshakeTimeout)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("lsad: config: handshake_timeout %q: not a positive duration", f.HandshakeTimeout)
		}
		ht = d
	}
	pkgs := cfg.Packages
	var nl *netlogon.Client
	if len(pkgs) == 0 {
		var v ntlm.Verifier
		if f.NETLOGON != nil {
			var err error
			if nl, err = f.NETLOGON.client(); err != nil {
				return nil, err
			}
			v = nl
		}
		var err error
		if pkgs, err = standardPackages(f, log, cfg.Now, cfg.Rand, v); err != nil {
			if nl != nil {
				nl.Close()
			}
			return nil, err
		}
	}
	host, err := lsa.New(lsa.Config{HandshakeTimeout: ht, Logger: log, Now: cfg.Now, Rand: cfg.Rand}, pkgs...)
	if err != nil {
		return nil, err
	}
	for _, svc := range f.Services {
		for _, p := range svc.Packages {
			if _, err := host.QuerySecurityPackageInfo(context.Background(), p); err != nil {
				host.Close()
				return nil, fmt.Errorf("lsad: config: service %q: unknown package %q", svc.Name, p)
			}
		}
	}
	s := &Server{
		cfg: cfg, file: f, host: host, log: log, now: sysenv.Clock(cfg.Now),
		maxFrame: f.MaxFrame, conns: make(map[*conn]struct{}), quotas: make(map[uint32]*quota),
		peerOf: peerOf, work: newWorkers(), netlogon: nl,
	}
	if s.maxFrame <= 0 {
		s.maxFrame = lsarpc.DefaultMaxFrame
	}
	if s.maxFrame > lsarpc.MaxFrameLimit {
		s.maxFrame = lsarpc.MaxFrameLimit
	}
	s.met = newMetrics(cfg.Registerer, s)
	return s, nil
}

// standardPackages are Negotiate, Kerberos and NTLM with nothing taken
// from the daemon's environment: the keytabs and account files come from
// the policy, per caller, through credential options.
func standardPackages(f *FileConfig, log *slog.Logger, now func() time.Time, rnd io.Reader, v ntlm.Verifier) ([]secpkg.LsaModePackage, error) {
	krb5conf := f.Krb5Conf
	if krb5conf == "" {
		krb5conf = "/etc/krb5.conf"
	}
	kc := kerberos.Config{Krb5Conf: krb5conf, Logger: log, Now: now, Rand: rnd}
	if f.ReplayCacheSize > 0 {
		kc.ReplayCache = kerberos.NewMemoryReplayCacheWithClock(f.ReplayCacheSize, sysenv.Clock(now))
	}
	krb := kerberos.New(kc)
	nt := ntlm.New(ntlm.Config{Now: now, Rand: rnd, AllowReflection: f.AllowNTLMReflection, Verifier: v})
	// Negotiate's LSA half needs the inner user-mode halves to build its
	// own ContextData; their clock and random source are the daemon's.
	env := sspi.Env{Now: now, Rand: rnd}
	nego, err := negotiate.New(negotiate.Config{Packages: []secpkg.LsaModePackage{krb, nt},
		UserPackages: []sspi.UserModePackage{kerberos.NewUserMode(env), ntlm.NewUserMode(env)}})
	if err != nil {
		return nil, err
	}
	return []secpkg.LsaModePackage{nego, krb, nt}, nil
}

// SetPolicy replaces the policy (the Services of f) for connections made
// from now on; connections already open keep the section they matched.
func (s *Server) SetPolicy(f *FileConfig) error {
	if err := f.check(); err != nil {
		return err
	}
	s.mu.Lock()
	s.file.Services = f.Services
	s.mu.Unlock()
	return nil
}

// Host returns the daemon's package host.
func (s *Server) Host() *lsa.Host { return s.host }

// Stats counts what the daemon holds.
type Stats struct {
	Connections int
	lsa.Stats
}

// Stats returns the connection count and the host's table sizes.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	return Stats{Connections: n, Stats: s.host.Stats()}
}

// Serve accepts connections on ln until Close. It returns nil after
// Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
		}()
	}
}

// Close stops the listeners, closes every connection (freeing its
// handles) and stops the host.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.work.stop()
	err := s.host.Close()
	if s.netlogon != nil {
		s.netlogon.Close()
	}
	return err
}

// conn is one client connection and the handles it owns.
type conn struct {
	s    *Server
	nc   net.Conn
	peer Peer
	svc  *Service

	w *lsarpc.Writer // frames to the socket

	mu      sync.Mutex
	creds   map[sspi.CredHandle]string // handle -> package
	ctxs    map[sspi.CtxtHandle]*ctxRec
	pending map[uint64]context.CancelFunc
	gone    bool
}

// ctxRec is a context owned by a connection. Once a context is mapped,
// the daemon deletes its LSA half (and with it the keys) and keeps only
// the non-secret attributes it answers for.
type ctxRec struct {
	pkg         string
	established bool
	mapped      bool // the LSA half is gone; attrs answers
	attrs       map[sspi.ContextAttribute]any
}

// helloTimeout bounds how long a new connection may take to say hello.
const helloTimeout = 5 * time.Second

// inFlightBytes bounds the frames of one connection's calls in flight;
// with the per-uid connection quota it bounds what one caller can make the
// daemon hold. When it is reached the daemon stops reading the connection
// (the caller's writes then wait: backpressure).
const inFlightBytes = 8 << 20

// byteBudget is a counting semaphore in bytes.
type byteBudget struct {
	mu   sync.Mutex
	cond *sync.Cond
	used int
	max  int
}

func newByteBudget(max int) *byteBudget {
	b := &byteBudget{max: max}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire waits until n more bytes fit (a frame larger than the budget
// waits for an empty budget).
func (b *byteBudget) acquire(n int) {
	b.mu.Lock()
	for b.used > 0 && b.used+n > b.max {
		b.cond.Wait()
	}
	b.used += n
	b.mu.Unlock()
}

func (b *byteBudget) release(n int) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}

// maxInFlight is the default bound on the calls running at once for one
// connection; the reader stops reading when it is reached.
const maxInFlight = 256

func (s *Server) serveConn(nc net.Conn) {
	defer nc.Close()
	peer, err := s.peerOf(nc)
	if err != nil {
		s.log.Warn("lsad: no peer credentials; connection refused", "err", err)
		return
	}
	c := &conn{s: s, nc: nc, w: lsarpc.NewWriter(nc), peer: peer, creds: map[sspi.CredHandle]string{}, ctxs: map[sspi.CtxtHandle]*ctxRec{}, pending: map[uint64]context.CancelFunc{}}
	if !c.hello() {
		if c.svc != nil { // counted, but the reply did not go out
			s.dropConn(peer.UID)
		}
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.dropConn(peer.UID)
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.met.conns.Inc()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.met.conns.Dec()
		c.release()
		if s.released != nil {
			s.released(peer)
		}
	}()

	br := bufio.NewReaderSize(nc, 64<<10)
	inFlight := s.file.MaxInFlight
	if inFlight <= 0 {
		inFlight = maxInFlight
	}
	sem := make(chan struct{}, inFlight)
	// Requests in flight hold their decoded buffers: at most
	// inFlightBytes of frames per connection.
	budget := newByteBudget(inFlightBytes)
	var wg sync.WaitGroup
	defer wg.Wait()
	var buf []byte
	for {
		p, err := lsarpc.ReadFrame(br, s.maxFrame, buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Info("lsad: connection closed", "uid", peer.UID, "pid", peer.PID, "err", err)
			}
			c.cancelAll()
			return
		}
		buf = p
		req, err := lsarpc.DecodeRequest(p)
		if err != nil {
			s.log.Warn("lsad: malformed request; connection closed", "uid", peer.UID, "pid", peer.PID, "err", err)
			s.met.malformed.Inc()
			c.cancelAll()
			return
		}
		if req.Op == lsarpc.OpCancel {
			c.cancel(req.Target)
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		if !c.track(req.ID, cancel) {
			cancel()
			s.log.Warn("lsad: duplicate request id; connection closed", "uid", peer.UID, "id", req.ID)
			c.cancelAll()
			return
		}
		n := len(p)
		sem <- struct{}{}
		budget.acquire(n)
		wg.Add(1)
		s.work.run(func() {
			defer wg.Done()
			defer func() {
				budget.release(n)
				<-sem
			}()
			rep := c.call(ctx, req)
			c.untrack(req.ID)
			cancel()
			c.reply(rep)
		})
	}
}

// hello reads the client's Hello, applies the policy to the caller and
// answers. It reports whether the connection goes on.
func (c *conn) hello() bool {
	s := c.s
	_ = c.nc.SetReadDeadline(sysenv.Deadline(helloTimeout))
	p, err := lsarpc.ReadFrame(c.nc, 64, nil)
	_ = c.nc.SetReadDeadline(time.Time{})
	if err != nil {
		s.log.Info("lsad: no hello", "uid", c.peer.UID, "pid", c.peer.PID, "err", err)
		return false
	}
	h, err := lsarpc.DecodeHello(p)
	rep := lsarpc.HelloReply{Version: lsarpc.Version, MaxFrame: uint32(s.maxFrame), UID: c.peer.UID, GID: c.peer.GID, PID: c.peer.PID}
	switch {
	case err != nil:
		rep.Status, rep.Detail = uint32(sspi.SEC_E_INVALID_PARAMETER), "not a gosspi lsad hello"
	case h.Version != lsarpc.Version:
		rep.Status, rep.Detail = uint32(sspi.SEC_E_UNSUPPORTED_FUNCTION), fmt.Sprintf("protocol version %d; this daemon speaks %d", h.Version, lsarpc.Version)
	default:
		s.mu.Lock()
		c.svc = s.file.match(c.peer.UID, c.peer.GID, c.peer.Groups)
		s.mu.Unlock()
		if c.svc == nil {
			rep.Status = uint32(sspi.SEC_E_NOT_OWNER)
			rep.Detail = fmt.Sprintf("uid %d gid %d is not in the lsad policy", c.peer.UID, c.peer.GID)
		} else if !s.addConn(c.peer.UID, c.svc) {
			rep.Status = uint32(sspi.SEC_E_INSUFFICIENT_MEMORY)
			rep.Detail = fmt.Sprintf("lsad quota: uid %d has %d connections open", c.peer.UID, c.svc.MaxConnections)
			c.svc = nil
		} else {
			rep.Service = c.svc.Name
			if h.MaxFrame < uint32(s.maxFrame) && h.MaxFrame >= 4096 {
				rep.MaxFrame = h.MaxFrame
			}
		}
	}
	_, werr := c.nc.Write(lsarpc.AppendHelloReply(nil, rep))
	if rep.Status != 0 {
		s.log.Warn("lsad: caller refused", "uid", c.peer.UID, "gid", c.peer.GID, "pid", c.peer.PID, "status", sspi.Status(rep.Status).String(), "detail", rep.Detail)
		s.met.refused.Inc()
		return false
	}
	s.log.Info("lsad: caller connected", "uid", c.peer.UID, "gid", c.peer.GID, "pid", c.peer.PID, "service", c.svc.Name)
	return werr == nil
}

func (c *conn) track(id uint64, cancel context.CancelFunc) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.pending[id]; dup {
		return false
	}
	c.pending[id] = cancel
	return true
}

func (c *conn) untrack(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

func (c *conn) cancel(id uint64) {
	c.mu.Lock()
	f := c.pending[id]
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

func (c *conn) cancelAll() {
	c.mu.Lock()
	c.gone = true
	fs := make([]context.CancelFunc, 0, len(c.pending))
	for _, f := range c.pending {
		fs = append(fs, f)
	}
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// reply writes one reply frame (coalesced with others: lsarpc.Writer,
// which wipes what it wrote), then wipes the ContextData it carried: the
// keys leave the daemon once, on the socket.
func (c *conn) reply(r *lsarpc.Reply) {
	err := c.w.Write(func(b []byte) ([]byte, error) {
		n := len(b)
		out, err := lsarpc.AppendReply(b, r)
		if err != nil {
			clear(out[n:])
			return lsarpc.AppendReply(b[:n], &lsarpc.Reply{Op: r.Op, ID: r.ID, Err: &sspi.Error{Status: sspi.SEC_E_INTERNAL_ERROR, Detail: err.Error()}})
		}
		return out, nil
	})
	if r.Result != nil {
		clear(r.Result.ContextData)
	}
	if err != nil {
		c.nc.Close() // the reader sees it and the connection is released
	}
}

// release frees what the connection owned: its credentials, and its
// contexts, half-built or established.
func (c *conn) release() {
	c.mu.Lock()
	creds, ctxs := c.creds, c.ctxs
	c.creds, c.ctxs = map[sspi.CredHandle]string{}, map[sspi.CtxtHandle]*ctxRec{}
	c.gone = true
	c.mu.Unlock()
	bg := context.Background()
	for h := range creds {
		_ = c.s.host.FreeCredentialsHandle(bg, h)
	}
	hs := 0
	for h, r := range ctxs {
		if !r.mapped {
			_ = c.s.host.DeleteContext(bg, h)
		}
		if !r.established {
			hs++
		}
	}
	c.s.mu.Lock()
	q := c.s.quota(c.peer.UID)
	q.conns--
	q.creds -= len(creds)
	q.contexts -= len(ctxs)
	q.handshakes -= hs
	if *q == (quota{}) {
		delete(c.s.quotas, c.peer.UID)
	}
	c.s.mu.Unlock()
	if len(creds)+len(ctxs) > 0 {
		c.s.log.Info("lsad: disconnect freed handles", "uid", c.peer.UID, "pid", c.peer.PID, "credentials", len(creds), "contexts", len(ctxs), "half_built", hs)
	}
}

// addConn counts a new connection of uid against its section's quota.
func (s *Server) addConn(uid uint32, svc *Service) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.quota(uid)
	if q.conns >= svc.MaxConnections {
		if *q == (quota{}) {
			delete(s.quotas, uid)
		}
		return false
	}
	q.conns++
	return true
}

// dropConn uncounts a connection that never served.
func (s *Server) dropConn(uid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.quota(uid)
	q.conns--
	if *q == (quota{}) {
		delete(s.quotas, uid)
	}
}

// quota returns the caller's counters; s.mu must be held.
func (s *Server) quota(uid uint32) *quota {
	q := s.quotas[uid]
	if q == nil {
		q = &quota{}
		s.quotas[uid] = q
	}
	return q
}
