// Package remote is the application side of the privilege-separated
// package host: an sspi.Host that sends every call to gosspi lsad over
// its Unix socket (package lsa/lsad, protocol internal/lsarpc). The
// application keeps only what the daemon returns: handles and, for an
// established context, its ContextData, from which the SSPI surface
// builds the user-mode context that signs and seals without the daemon.
//
// One connection carries every call, many at once. A Host reconnects by
// itself: when the daemon is down, calls fail at once with
// SEC_E_NO_AUTHENTICATING_AUTHORITY; handles made on an earlier
// connection are gone (SEC_E_INVALID_HANDLE) but established contexts go
// on wrapping and unwrapping in the application.
package remote

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosspi/gosspi/internal/lsarpc"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/sspi"
)

// EnvVar is the environment variable that names the daemon's socket
// ("unix:/run/gosspi/lsad.sock"), read by gosspi.NewHost.
const EnvVar = "GOSSPI_LSA"

// Config configures a Host. The zero value is usable.
type Config struct {
	// DialTimeout bounds connecting and the hello (default 2 s).
	DialTimeout time.Duration
	// CallTimeout bounds a synchronous call whose context has no deadline
	// (default 60 s), so that a daemon that hangs fails the call instead
	// of blocking it.
	CallTimeout time.Duration
	// Env returns the caller's environment variables (KRB5CCNAME,
	// KRB5_CONFIG, NTLM_USER_FILE), resolved here and sent as data; nil
	// is os.Getenv.
	Env func(string) string
}

// Host is an sspi.Host served by gosspi lsad. It is safe for concurrent
// use.
type Host struct {
	addr string
	cfg  Config

	mapped sync.Map // sspi.CtxtHandle -> struct{}: established contexts the daemon mapped

	mu   sync.Mutex
	cur  *clientConn
	ids  atomic.Uint64
	done bool
	// Peer is what the daemon's last hello reported.
	peer lsarpc.HelloReply
}

var (
	_ sspi.Host      = (*Host)(nil)
	_ sspi.AsyncHost = (*Host)(nil)
)

// Dial returns a host for the daemon at addr ("unix:/path" or "/path")
// and connects to it once, so that a daemon that is absent or refuses the
// caller is reported here. Later calls reconnect as needed.
func Dial(addr string, cfg Config) (*Host, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok && !strings.HasPrefix(addr, "/") {
		return nil, fmt.Errorf("gosspi lsad address %q: want unix:/path", addr)
	}
	if !ok {
		path = addr
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = time.Minute
	}
	if cfg.Env == nil {
		cfg.Env = os.Getenv
	}
	h := &Host{addr: path, cfg: cfg}
	if _, err := h.conn(); err != nil {
		return nil, err
	}
	return h, nil
}

// Addr returns the daemon socket's path.
func (h *Host) Addr() string { return h.addr }

// Caller returns the uid, gid and pid the daemon saw for this process, and
// the policy section that applies to it.
func (h *Host) Caller() (uid, gid, pid uint32, service string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.peer.UID, h.peer.GID, h.peer.PID, h.peer.Service
}

// Close closes the connection; later calls fail with
// SEC_E_SHUTDOWN_IN_PROGRESS. Handles held in the daemon are freed there.
func (h *Host) Close() error {
	h.mu.Lock()
	h.done = true
	c := h.cur
	h.cur = nil
	h.mu.Unlock()
	if c != nil {
		c.fail(errors.New("host closed"))
	}
	return nil
}

func unreachable(op string, err error) error {
	return &sspi.Error{Op: op, Status: sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY, Detail: "gosspi lsad is not reachable", Err: err}
}

// conn returns the live connection, dialing a new one when there is none.
func (h *Host) conn() (*clientConn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return nil, &sspi.Error{Status: sspi.SEC_E_SHUTDOWN_IN_PROGRESS, Detail: "remote host closed"}
	}
	if h.cur != nil && !h.cur.dead.Load() {
		return h.cur, nil
	}
	c, rep, err := dial(h.addr, h.cfg.DialTimeout)
	if err != nil {
		return nil, err
	}
	h.cur, h.peer = c, rep
	return c, nil
}

func dial(path string, timeout time.Duration) (*clientConn, lsarpc.HelloReply, error) {
	var rep lsarpc.HelloReply
	d := net.Dialer{Timeout: timeout}
	nc, err := d.Dial("unix", path)
	if err != nil {
		return nil, rep, unreachable("", err)
	}
	_ = nc.SetDeadline(sysenv.Deadline(timeout))
	if _, err := nc.Write(lsarpc.AppendHello(nil, lsarpc.Hello{Version: lsarpc.Version, MaxFrame: lsarpc.DefaultMaxFrame})); err != nil {
		nc.Close()
		return nil, rep, unreachable("", err)
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	p, err := lsarpc.ReadFrame(br, 4096, nil)
	if err == nil {
		rep, err = lsarpc.DecodeHelloReply(p)
	}
	if err != nil {
		nc.Close()
		return nil, rep, unreachable("", err)
	}
	if rep.Status != 0 {
		nc.Close()
		return nil, rep, &sspi.Error{Status: sspi.Status(rep.Status), Detail: "gosspi lsad refused this caller: " + rep.Detail}
	}
	_ = nc.SetDeadline(time.Time{})
	c := &clientConn{nc: nc, w: lsarpc.NewWriter(nc), maxFrame: int(rep.MaxFrame), pending: make(map[uint64]*pending)}
	if c.maxFrame <= 0 || c.maxFrame > lsarpc.MaxFrameLimit {
		c.maxFrame = lsarpc.DefaultMaxFrame
	}
	go c.readLoop(br)
	return c, rep, nil
}

// clientConn is one connection to the daemon.
type clientConn struct {
	nc       net.Conn
	maxFrame int
	dead     atomic.Bool

	w *lsarpc.Writer

	mu      sync.Mutex
	pending map[uint64]*pending
	err     error
}

// pending is a call waiting for its reply: done runs once, on the
// connection's reader goroutine (or the caller's, when the send fails).
type pending struct {
	done func(*lsarpc.Reply, error)
	stop func() bool // context.AfterFunc's stop, for async calls
}

func (c *clientConn) readLoop(br *bufio.Reader) {
	var buf []byte
	for {
		p, err := lsarpc.ReadFrame(br, c.maxFrame, buf)
		if err != nil {
			c.fail(err)
			return
		}
		buf = p
		rep, err := lsarpc.DecodeReply(p)
		clear(p) // ContextData passed through this buffer
		if err != nil {
			c.fail(err)
			return
		}
		c.mu.Lock()
		pd := c.pending[rep.ID]
		delete(c.pending, rep.ID)
		c.mu.Unlock()
		if pd != nil {
			if pd.stop != nil {
				pd.stop()
			}
			pd.done(rep, nil)
		}
	}
}

// fail closes the connection and fails every call in flight.
func (c *clientConn) fail(err error) {
	c.dead.Store(true)
	c.nc.Close()
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	ps := c.pending
	c.pending = make(map[uint64]*pending)
	c.mu.Unlock()
	for _, pd := range ps {
		if pd.stop != nil {
			pd.stop()
		}
		pd.done(nil, err)
	}
}

// send registers the call and queues its frame (lsarpc.Writer coalesces
// the frames of concurrent calls and wipes them once written).
func (c *clientConn) send(req *lsarpc.Request, pd *pending) error {
	c.mu.Lock()
	if c.dead.Load() {
		err := c.err
		c.mu.Unlock()
		return err
	}
	c.pending[req.ID] = pd
	c.mu.Unlock()
	var tooLarge bool
	err := c.w.Write(func(b []byte) ([]byte, error) {
		n := len(b)
		out, err := lsarpc.AppendRequest(b, req)
		if err == nil && len(out)-n-4 > c.maxFrame {
			tooLarge = true
			clear(out[n:])
			return b, &sspi.Error{Status: sspi.SEC_E_INSUFFICIENT_MEMORY, Detail: "request larger than the daemon's frame cap"}
		}
		return out, err
	})
	if err != nil {
		c.mu.Lock()
		delete(c.pending, req.ID)
		c.mu.Unlock()
		if !tooLarge {
			c.fail(err)
		}
	}
	return err
}

// cancel tells the daemon to abandon a call, and fails it here.
func (c *clientConn) cancel(id uint64, err error) {
	c.mu.Lock()
	pd := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if pd == nil {
		return
	}
	_ = c.w.Write(func(b []byte) ([]byte, error) {
		return lsarpc.AppendRequest(b, &lsarpc.Request{Op: lsarpc.OpCancel, Target: id})
	})
	pd.done(nil, err)
}

func opName(op lsarpc.Op) string { return op.String() }

// call runs one request synchronously.
func (h *Host) call(ctx context.Context, req *lsarpc.Request) (*lsarpc.Reply, error) {
	c, err := h.conn()
	if err != nil {
		return nil, withOp(err, opName(req.Op))
	}
	req.ID = h.ids.Add(1)
	ch := make(chan struct{})
	var rep *lsarpc.Reply
	var rerr error
	pd := &pending{done: func(r *lsarpc.Reply, err error) { rep, rerr = r, err; close(ch) }}
	if err := c.send(req, pd); err != nil {
		if se, ok := err.(*sspi.Error); ok {
			return nil, se
		}
		return nil, unreachable(opName(req.Op), err)
	}
	var timeout <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		t := time.NewTimer(h.cfg.CallTimeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
	case <-ctx.Done():
		c.cancel(req.ID, ctx.Err())
		<-ch
	case <-timeout:
		c.cancel(req.ID, context.DeadlineExceeded)
		<-ch
	}
	return rep, replyErr(req.Op, rep, rerr)
}

// replyErr turns a transport failure into a status and passes a reply's
// own error through.
func replyErr(op lsarpc.Op, rep *lsarpc.Reply, err error) error {
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return &sspi.Error{Op: opName(op), Status: sspi.SEC_E_INTERNAL_ERROR, Detail: "call to gosspi lsad abandoned", Err: err}
	case err != nil:
		return &sspi.Error{Op: opName(op), Status: sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY, Detail: "connection to gosspi lsad lost", Err: err}
	}
	return rep.Err
}

func withOp(err error, op string) error {
	var se *sspi.Error
	if errors.As(err, &se) && se.Op == "" {
		c := *se
		c.Op = op
		return &c
	}
	return err
}

// callAsync sends a request and runs done with its reply, without a
// goroutine waiting for it: the connection's reader delivers it.
func (h *Host) callAsync(ctx context.Context, req *lsarpc.Request, done func(*lsarpc.Reply, error)) {
	c, err := h.conn()
	if err != nil {
		done(nil, withOp(err, opName(req.Op)))
		return
	}
	id := h.ids.Add(1)
	req.ID = id
	op := req.Op // the closure keeps the op, not the request and its buffers
	pd := &pending{done: func(r *lsarpc.Reply, err error) { done(r, replyErr(op, r, err)) }}
	if ctx.Done() != nil {
		pd.stop = context.AfterFunc(ctx, func() { c.cancel(id, ctx.Err()) })
	}
	if err := c.send(req, pd); err != nil {
		if pd.stop != nil {
			pd.stop()
		}
		if se, ok := err.(*sspi.Error); ok {
			done(nil, se)
			return
		}
		done(nil, unreachable(opName(req.Op), err))
	}
}

// environment resolves the caller's environment for the daemon; relative
// paths are made absolute, since the daemon's working directory is not
// the caller's.
func (h *Host) environment() lsarpc.Env {
	abs := func(v string) string {
		if v == "" {
			return ""
		}
		typ, rest, ok := strings.Cut(v, ":")
		if ok && !strings.HasPrefix(v, "/") {
			if typ == "FILE" && rest != "" && !filepath.IsAbs(rest) {
				if a, err := filepath.Abs(rest); err == nil {
					return "FILE:" + a
				}
			}
			return v
		}
		if a, err := filepath.Abs(v); err == nil {
			return a
		}
		return v
	}
	return lsarpc.Env{
		CCache:       abs(h.cfg.Env("KRB5CCNAME")),
		Krb5Config:   h.cfg.Env("KRB5_CONFIG"),
		NTLMUserFile: abs(h.cfg.Env("NTLM_USER_FILE")),
	}
}
