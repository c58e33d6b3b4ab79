// Package lsa is the package host: the "LSA" half of gosspi. It loads the
// LSA-mode halves of security packages (secpkg.LsaModePackage), keeps their
// credentials and contexts in bounded handle tables, and dispatches the
// SSPI calls that reach it through the sspi.Host interface.
//
// Host runs in-process. Everything it exchanges with the SSPI surface is
// plain data, so the same interface can later be served by a separate,
// privileged daemon.
package lsa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gosspi/gosspi/internal/handles"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Config configures a Host. The zero value is usable.
type Config struct {
	// ChannelBindings is the host's Extended Protection policy for
	// AcceptSecurityContext calls that give the package channel
	// bindings; a call relaxes it with ASC_REQ_ALLOW_MISSING_BINDINGS.
	// The default is sspi.BindingsWhenSupported.
	ChannelBindings sspi.BindingPolicy
	// MaxCredentials caps the credential table (default 65,536).
	MaxCredentials int
	// MaxContexts caps the context table (default 262,144). When it is
	// full, new handshakes fail with SEC_E_INSUFFICIENT_MEMORY.
	MaxContexts int
	// HandshakeTimeout is how long a half-built context may sit between
	// legs before it is reaped (default 2 minutes). Each leg restarts it;
	// established contexts are never reaped.
	HandshakeTimeout time.Duration
	// ReapInterval is how often the background reaper runs (default
	// HandshakeTimeout/4). A negative value disables it; the table still
	// reaps when it fills up.
	ReapInterval time.Duration
	// Logger receives debug lines for each call, with statuses but no
	// secrets. Nil means no logging.
	Logger *slog.Logger
	// Now is the clock of handshake timeouts; nil is time.Now. Give the
	// packages the same clock.
	Now func() time.Time
	// Rand keys the handle tables; nil is crypto/rand.Reader.
	Rand io.Reader
}

const (
	kindCred handles.Kind = 1
	kindCtx  handles.Kind = 2
)

type pkgEntry struct {
	info sspi.PackageInfo
	pkg  secpkg.LsaModePackage
}

type credEntry struct {
	pkg    *pkgEntry
	cred   secpkg.LsaCredential
	use    sspi.CredentialUse
	expiry time.Time
}

type ctxState uint8

const (
	stateInProgress ctxState = iota
	stateComplete
	stateFailed
)

type ctxEntry struct {
	pkg     *pkgEntry
	inbound bool // created by AcceptSecurityContext

	mu       sync.Mutex // held for every call into the package context
	lctx     secpkg.LsaContext
	state    ctxState
	failed   sspi.Status
	flags    sspi.ContextFlags
	expiry   time.Time
	negState uint32
	deleted  bool
}

// Host is the in-process package host. It is safe for concurrent use.
type Host struct {
	opts Config
	log  *slog.Logger

	mu    sync.RWMutex
	pkgs  map[string]*pkgEntry
	order []*pkgEntry

	creds *handles.Table[*credEntry]
	ctxs  *handles.Table[*ctxEntry]

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ sspi.Host = (*Host)(nil)

// New returns a host with the given packages registered.
func New(opts Config, pkgs ...secpkg.LsaModePackage) (*Host, error) {
	if opts.MaxCredentials <= 0 {
		opts.MaxCredentials = 65536
	}
	if opts.MaxContexts <= 0 {
		opts.MaxContexts = 262144
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 2 * time.Minute
	}
	if opts.ReapInterval == 0 {
		opts.ReapInterval = opts.HandshakeTimeout / 4
	}
	opts.Now = sysenv.Clock(opts.Now)
	h := &Host{
		opts:  opts,
		log:   opts.Logger,
		pkgs:  make(map[string]*pkgEntry),
		creds: handles.NewWith[*credEntry](opts.MaxCredentials, opts.Now, opts.Rand),
		ctxs:  handles.NewWith[*ctxEntry](opts.MaxContexts, opts.Now, opts.Rand),
		stop:  make(chan struct{}),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for _, p := range pkgs {
		if err := h.Register(p); err != nil {
			return nil, err
		}
	}
	if opts.ReapInterval > 0 {
		h.wg.Add(1)
		go h.reaper()
	}
	return h, nil
}

// Register adds a package. Names are case-insensitive and must be unique.
func (h *Host) Register(p secpkg.LsaModePackage) error {
	info := p.GetInfo()
	key := strings.ToLower(info.Name)
	if key == "" {
		return errors.New("lsa: package has no name")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.pkgs[key]; dup {
		return fmt.Errorf("lsa: package %q already registered", info.Name)
	}
	e := &pkgEntry{info: info, pkg: p}
	h.pkgs[key] = e
	h.order = append(h.order, e)
	return nil
}

// Close stops the reaper and deletes every context and credential.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		close(h.stop)
		h.wg.Wait()
		h.ctxs.Drain(h.deleteEntry)
		h.creds.Drain(func(c *credEntry) { c.cred.Free() })
	})
	return nil
}

// Stats reports the table sizes.
type Stats struct {
	Credentials, Contexts int
}

// Stats returns how many credentials and contexts the host holds.
func (h *Host) Stats() Stats { return Stats{Credentials: h.creds.Len(), Contexts: h.ctxs.Len()} }

// Reap removes half-built contexts whose handshake timed out and returns
// how many it removed. The background reaper calls it periodically.
func (h *Host) Reap() int {
	n := h.ctxs.Reap(h.deleteEntry)
	if n > 0 {
		h.log.Debug("lsa: reaped half-built contexts", "count", n)
	}
	return n
}

func (h *Host) reaper() {
	defer h.wg.Done()
	t := time.NewTicker(h.opts.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.Reap()
		}
	}
}

func (h *Host) deleteEntry(e *ctxEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.deleted && e.lctx != nil {
		e.lctx.Delete()
	}
	e.deleted = true
	e.lctx = nil
}

func (h *Host) lookupPackage(name string) (*pkgEntry, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	e, ok := h.pkgs[strings.ToLower(name)]
	return e, ok
}

// EnumerateSecurityPackages lists the registered packages in registration
// order.
func (h *Host) EnumerateSecurityPackages(context.Context) ([]sspi.PackageInfo, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]sspi.PackageInfo, len(h.order))
	for i, e := range h.order {
		out[i] = e.info
	}
	return out, nil
}

// QuerySecurityPackageInfo returns a package's information, or
// SEC_E_SECPKG_NOT_FOUND.
func (h *Host) QuerySecurityPackageInfo(_ context.Context, name string) (sspi.PackageInfo, error) {
	e, ok := h.lookupPackage(name)
	if !ok {
		return sspi.PackageInfo{}, sspi.SEC_E_SECPKG_NOT_FOUND
	}
	return e.info, nil
}

func credKey(c sspi.CredHandle) handles.Handle { return handles.Handle{Lower: c.Lower, Upper: c.Upper} }
func ctxKey(c sspi.CtxtHandle) handles.Handle  { return handles.Handle{Lower: c.Lower, Upper: c.Upper} }

// AcquireCredentialsHandle implements sspi.Host.
func (h *Host) AcquireCredentialsHandle(ctx context.Context, req *sspi.AcquireCredentialsRequest) (*sspi.AcquireCredentialsResult, error) {
	pe, ok := h.lookupPackage(req.Package)
	if !ok {
		return nil, sspi.SEC_E_SECPKG_NOT_FOUND
	}
	if req.Use&sspi.SECPKG_CRED_BOTH == 0 || req.Use&^sspi.SECPKG_CRED_BOTH != 0 {
		return nil, &sspi.Error{Op: "AcquireCredentialsHandle", Status: sspi.SEC_E_INVALID_PARAMETER, Detail: "fCredentialUse must be INBOUND, OUTBOUND or BOTH"}
	}
	cred, expiry, err := pe.pkg.AcquireCredentialsHandle(ctx, &secpkg.CredentialRequest{
		Principal: req.Principal, Use: req.Use, AuthData: req.AuthData,
	})
	if err != nil {
		h.log.Debug("lsa: AcquireCredentialsHandle failed", "package", pe.info.Name, "status", sspi.StatusOf(err).String())
		return nil, err
	}
	hd, err := h.creds.Insert(kindCred, &credEntry{pkg: pe, cred: cred, use: req.Use, expiry: expiry}, 0, nil)
	if err != nil {
		cred.Free()
		return nil, sspi.SEC_E_INSUFFICIENT_MEMORY
	}
	return &sspi.AcquireCredentialsResult{Credential: sspi.CredHandle{Lower: hd.Lower, Upper: hd.Upper}, Expiry: expiry}, nil
}

// FreeCredentialsHandle implements sspi.Host. Freeing a handle twice
// returns SEC_E_INVALID_HANDLE and has no other effect.
func (h *Host) FreeCredentialsHandle(_ context.Context, c sspi.CredHandle) error {
	ce, ok := h.creds.Delete(credKey(c), kindCred)
	if !ok {
		return sspi.SEC_E_INVALID_HANDLE
	}
	ce.cred.Free()
	return nil
}

// QueryCredentialsAttributes implements sspi.Host.
func (h *Host) QueryCredentialsAttributes(_ context.Context, c sspi.CredHandle, attr uint32) (any, error) {
	ce, ok := h.creds.Get(credKey(c), kindCred)
	if !ok {
		return nil, sspi.SEC_E_INVALID_HANDLE
	}
	q, ok := ce.cred.(secpkg.LsaCredentialAttributes)
	if !ok {
		return nil, sspi.SEC_E_UNSUPPORTED_FUNCTION
	}
	return q.QueryCredentialsAttributes(attr)
}

// unsupportedAccept is the set of acceptor requirements a package can only
// meet when it says so in its capabilities; ASC_REQ_PROMPT_FOR_CREDS no
// acceptor can meet. See the SspiAcceptSecurityContextAsync page.
func unsupportedAccept(info sspi.PackageInfo, req sspi.ASCReq) string {
	switch {
	case req&sspi.ASC_REQ_PROMPT_FOR_CREDS != 0:
		return "ASC_REQ_PROMPT_FOR_CREDS"
	case req&sspi.ASC_REQ_DELEGATE != 0 && info.Capabilities&sspi.SECPKG_FLAG_DELEGATION == 0:
		return "ASC_REQ_DELEGATE"
	case req&sspi.ASC_REQ_CONFIDENTIALITY != 0 && info.Capabilities&sspi.SECPKG_FLAG_PRIVACY == 0:
		return "ASC_REQ_CONFIDENTIALITY"
	case req&sspi.ASC_REQ_INTEGRITY != 0 && info.Capabilities&sspi.SECPKG_FLAG_INTEGRITY == 0:
		return "ASC_REQ_INTEGRITY"
	case req&sspi.ASC_REQ_DATAGRAM != 0 && info.Capabilities&sspi.SECPKG_FLAG_DATAGRAM == 0:
		return "ASC_REQ_DATAGRAM"
	}
	return ""
}

func unsupportedInit(info sspi.PackageInfo, req sspi.ISCReq) string {
	switch {
	case req&sspi.ISC_REQ_PROMPT_FOR_CREDS != 0:
		return "ISC_REQ_PROMPT_FOR_CREDS"
	case req&sspi.ISC_REQ_CONFIDENTIALITY != 0 && info.Capabilities&sspi.SECPKG_FLAG_PRIVACY == 0:
		return "ISC_REQ_CONFIDENTIALITY"
	case req&sspi.ISC_REQ_INTEGRITY != 0 && info.Capabilities&sspi.SECPKG_FLAG_INTEGRITY == 0:
		return "ISC_REQ_INTEGRITY"
	case req&sspi.ISC_REQ_DATAGRAM != 0 && info.Capabilities&sspi.SECPKG_FLAG_DATAGRAM == 0:
		return "ISC_REQ_DATAGRAM"
	}
	return ""
}

// leg is the common part of InitLsaModeContext and AcceptLsaModeContext.
type leg struct {
	op      string
	inbound bool
	cred    sspi.CredHandle
	ctx     sspi.CtxtHandle
	unsupp  func(sspi.PackageInfo) string
	call    func(ctx context.Context, pkg secpkg.LsaModePackage, cred secpkg.LsaCredential, c secpkg.LsaContext) (secpkg.LsaContext, secpkg.ContextOutput, error)
}

func (h *Host) runLeg(ctx context.Context, l leg) (*sspi.ContextResult, error) {
	var (
		ce   *credEntry
		e    *ctxEntry
		pe   *pkgEntry
		cred secpkg.LsaCredential
	)
	if l.cred.IsValid() {
		var ok bool
		if ce, ok = h.creds.Get(credKey(l.cred), kindCred); !ok {
			return nil, &sspi.Error{Op: l.op, Status: sspi.SEC_E_INVALID_HANDLE, Detail: "unknown credential handle"}
		}
		want := sspi.SECPKG_CRED_OUTBOUND
		if l.inbound {
			want = sspi.SECPKG_CRED_INBOUND
		}
		if ce.use&want == 0 {
			return nil, &sspi.Error{Op: l.op, Status: sspi.SEC_E_NO_CREDENTIALS, Detail: "credential was acquired for " + ce.use.String()}
		}
		pe, cred = ce.pkg, ce.cred
	}
	if l.ctx.IsValid() {
		var ok bool
		if e, ok = h.ctxs.Get(ctxKey(l.ctx), kindCtx); !ok || e.inbound != l.inbound {
			return nil, &sspi.Error{Op: l.op, Status: sspi.SEC_E_INVALID_HANDLE, Detail: "unknown context handle"}
		}
		if pe != nil && pe != e.pkg {
			return nil, &sspi.Error{Op: l.op, Status: sspi.SEC_E_WRONG_CREDENTIAL_HANDLE, Detail: "credential belongs to another package"}
		}
		pe = e.pkg
	} else if ce == nil {
		return nil, &sspi.Error{Op: l.op, Status: sspi.SEC_E_INVALID_HANDLE, Detail: "first call needs a credential handle"}
	}
	if what := l.unsupp(pe.info); what != "" {
		return nil, &sspi.Error{Op: l.op, Status: sspi.SEC_E_UNSUPPORTED_FUNCTION, Detail: pe.info.Name + " cannot meet " + what}
	}

	if e == nil {
		return h.firstLeg(ctx, l, pe, cred)
	}
	if !e.mu.TryLock() {
		return nil, sspi.ErrContextBusy
	}
	defer e.mu.Unlock()
	switch {
	case e.deleted:
		return nil, &sspi.Error{Op: l.op, Status: sspi.SEC_E_INVALID_HANDLE, Detail: "context deleted"}
	case e.state == stateComplete:
		return nil, &sspi.Error{Op: l.op, Status: sspi.SEC_E_INVALID_HANDLE, Detail: "context is already complete"}
	case e.state == stateFailed:
		return nil, &sspi.Error{Op: l.op, Status: e.failed, Detail: "an earlier call on this context failed; delete it"}
	}
	nc, out, err := l.call(ctx, pe.pkg, cred, e.lctx)
	if nc != nil {
		e.lctx = nc
	}
	res := h.result(pe, l.ctx, &out)
	if err != nil {
		st := sspi.StatusOf(err)
		if st != sspi.SEC_E_INCOMPLETE_MESSAGE {
			e.state, e.failed = stateFailed, st
		}
		h.log.Debug("lsa: "+l.op+" failed", "package", pe.info.Name, "context", l.ctx.String(), "status", st.String())
		return res, err
	}
	e.flags, e.expiry, e.negState = out.Flags, out.Expiry, out.NegotiationState
	if out.Status == sspi.SEC_E_OK {
		e.state = stateComplete
		h.ctxs.Settle(ctxKey(l.ctx), kindCtx)
	} else {
		h.ctxs.Extend(ctxKey(l.ctx), kindCtx, h.opts.HandshakeTimeout)
	}
	h.log.Debug("lsa: "+l.op, "package", pe.info.Name, "context", l.ctx.String(), "status", out.Status.String(), "flags", out.Flags.String())
	return res, nil
}

func (h *Host) firstLeg(ctx context.Context, l leg, pe *pkgEntry, cred secpkg.LsaCredential) (*sspi.ContextResult, error) {
	nc, out, err := l.call(ctx, pe.pkg, cred, nil)
	if err != nil {
		if nc != nil {
			nc.Delete()
		}
		h.log.Debug("lsa: "+l.op+" failed", "package", pe.info.Name, "status", sspi.StatusOf(err).String())
		return h.result(pe, sspi.CtxtHandle{}, &out), err
	}
	if nc == nil {
		return nil, &sspi.Error{Op: l.op, Status: sspi.SEC_E_INTERNAL_ERROR, Detail: pe.info.Name + " returned no context"}
	}
	e := &ctxEntry{pkg: pe, inbound: l.inbound, lctx: nc, flags: out.Flags, expiry: out.Expiry, negState: out.NegotiationState}
	ttl := h.opts.HandshakeTimeout
	if out.Status == sspi.SEC_E_OK {
		e.state, ttl = stateComplete, 0
	}
	hd, ierr := h.ctxs.Insert(kindCtx, e, ttl, h.deleteEntry)
	if ierr != nil {
		nc.Delete()
		h.log.Warn("lsa: context table full", "package", pe.info.Name, "cap", h.ctxs.Cap())
		return nil, &sspi.Error{Op: l.op, Status: sspi.SEC_E_INSUFFICIENT_MEMORY, Detail: "context table full"}
	}
	c := sspi.CtxtHandle{Lower: hd.Lower, Upper: hd.Upper}
	h.log.Debug("lsa: "+l.op, "package", pe.info.Name, "context", c.String(), "status", out.Status.String(), "flags", out.Flags.String())
	return h.result(pe, c, &out), nil
}

func (h *Host) result(pe *pkgEntry, c sspi.CtxtHandle, out *secpkg.ContextOutput) *sspi.ContextResult {
	st := out.Status
	return &sspi.ContextResult{
		Status: st, Context: c, Package: pe.info.Name, Output: out.Output, Flags: out.Flags,
		Expiry: out.Expiry, Mapped: out.Mapped, ContextData: out.ContextData, Extra: out.Extra,
		Missing: out.Missing, NegotiationState: out.NegotiationState,
	}
}

// InitLsaModeContext implements sspi.Host.
func (h *Host) InitLsaModeContext(ctx context.Context, req *sspi.InitContextRequest) (*sspi.ContextResult, error) {
	p := &secpkg.InitContextParams{TargetName: req.TargetName, ContextReq: req.ContextReq, TargetDataRep: req.TargetDataRep, Input: req.Input}
	return h.runLeg(ctx, leg{
		op: "InitializeSecurityContext", cred: req.Credential, ctx: req.Context,
		unsupp: func(i sspi.PackageInfo) string { return unsupportedInit(i, req.ContextReq) },
		call: func(ctx context.Context, pkg secpkg.LsaModePackage, cred secpkg.LsaCredential, c secpkg.LsaContext) (secpkg.LsaContext, secpkg.ContextOutput, error) {
			return pkg.InitLsaModeContext(ctx, cred, c, p)
		},
	})
}

// AcceptLsaModeContext implements sspi.Host.
func (h *Host) AcceptLsaModeContext(ctx context.Context, req *sspi.AcceptContextRequest) (*sspi.ContextResult, error) {
	p := &secpkg.AcceptContextParams{ContextReq: req.ContextReq, TargetDataRep: req.TargetDataRep, Input: req.Input}
	if err := h.applyBindingPolicy(p); err != nil {
		return nil, err
	}
	return h.runLeg(ctx, leg{
		op: "AcceptSecurityContext", inbound: true, cred: req.Credential, ctx: req.Context,
		unsupp: func(i sspi.PackageInfo) string { return unsupportedAccept(i, req.ContextReq) },
		call: func(ctx context.Context, pkg secpkg.LsaModePackage, cred secpkg.LsaCredential, c secpkg.LsaContext) (secpkg.LsaContext, secpkg.ContextOutput, error) {
			return pkg.AcceptLsaModeContext(ctx, cred, c, p)
		},
	})
}

// applyBindingPolicy makes the host's channel-binding policy the call's:
// under BindingsOff the package gets no bindings and allows missing ones
// (ASC_REQ_ALLOW_MISSING_BINDINGS, which also lets an NTLM client that
// names no target through the service binding); under
// BindingsWhenSupported every call allows missing ones; under
// BindingsRequired a call without that flag must give the package the
// server's bindings.
func (h *Host) applyBindingPolicy(p *secpkg.AcceptContextParams) error {
	switch h.opts.ChannelBindings {
	case sspi.BindingsOff:
		if p.Input.Find(sspi.SECBUFFER_CHANNEL_BINDINGS) != nil {
			in := &sspi.SecBufferDesc{Version: p.Input.Version}
			for _, b := range p.Input.Buffers {
				if b.BufferType.Base() != sspi.SECBUFFER_CHANNEL_BINDINGS {
					in.Buffers = append(in.Buffers, b)
				}
			}
			p.Input = in
		}
		p.ContextReq |= sspi.ASC_REQ_ALLOW_MISSING_BINDINGS
	case sspi.BindingsRequired:
		if p.ContextReq&sspi.ASC_REQ_ALLOW_MISSING_BINDINGS == 0 && p.Input.Find(sspi.SECBUFFER_CHANNEL_BINDINGS) == nil {
			return &sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_BAD_BINDINGS, Detail: "the host requires channel bindings and the call gave the package none (pass SECBUFFER_CHANNEL_BINDINGS, or ASC_REQ_ALLOW_MISSING_BINDINGS)"}
		}
	default:
		p.ContextReq |= sspi.ASC_REQ_ALLOW_MISSING_BINDINGS
	}
	return nil
}

// CompleteAuthToken implements sspi.Host.
func (h *Host) CompleteAuthToken(ctx context.Context, c sspi.CtxtHandle, token *sspi.SecBufferDesc) error {
	e, ok := h.ctxs.Get(ctxKey(c), kindCtx)
	if !ok {
		return sspi.SEC_E_INVALID_HANDLE
	}
	if !e.mu.TryLock() {
		return sspi.ErrContextBusy
	}
	defer e.mu.Unlock()
	if e.deleted {
		return sspi.SEC_E_INVALID_HANDLE
	}
	comp, ok := e.lctx.(secpkg.LsaCompleter)
	if !ok {
		return sspi.SEC_E_UNSUPPORTED_FUNCTION
	}
	return comp.CompleteAuthToken(ctx, token)
}

// DeleteContext implements sspi.Host. Deleting a handle twice returns
// SEC_E_INVALID_HANDLE and has no other effect.
func (h *Host) DeleteContext(_ context.Context, c sspi.CtxtHandle) error {
	e, ok := h.ctxs.Delete(ctxKey(c), kindCtx)
	if !ok {
		return sspi.SEC_E_INVALID_HANDLE
	}
	h.deleteEntry(e)
	return nil
}

// QueryContextAttributes implements sspi.Host. The package answers first;
// the host answers PACKAGE_INFO, NEGOTIATION_INFO, FLAGS and LIFESPAN
// itself when the package does not.
func (h *Host) QueryContextAttributes(_ context.Context, c sspi.CtxtHandle, attr sspi.ContextAttribute) (any, error) {
	e, ok := h.ctxs.Get(ctxKey(c), kindCtx)
	if !ok {
		return nil, sspi.SEC_E_INVALID_HANDLE
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.deleted {
		return nil, sspi.SEC_E_INVALID_HANDLE
	}
	v, err := e.lctx.QueryAttributes(attr)
	if err == nil || sspi.StatusOf(err) != sspi.SEC_E_UNSUPPORTED_FUNCTION {
		return v, err
	}
	switch attr {
	case sspi.SECPKG_ATTR_PACKAGE_INFO:
		return sspi.SecPkgContextPackageInfo{PackageInfo: e.pkg.info}, nil
	case sspi.SECPKG_ATTR_NEGOTIATION_INFO:
		st := sspi.SECPKG_NEGOTIATION_IN_PROGRESS
		if e.state == stateComplete {
			st = sspi.SECPKG_NEGOTIATION_COMPLETE
		}
		if e.negState != 0 {
			st = e.negState
		}
		return sspi.SecPkgContextNegotiationInfo{PackageInfo: e.pkg.info, NegotiationState: st}, nil
	case sspi.SECPKG_ATTR_FLAGS:
		return sspi.SecPkgContextFlags{Flags: e.flags}, nil
	case sspi.SECPKG_ATTR_LIFESPAN:
		return sspi.SecPkgContextLifespan{Expiry: e.expiry}, nil
	}
	return nil, err
}
