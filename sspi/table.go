package sspi

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gosspi/gosspi/internal/handles"
	"github.com/gosspi/gosspi/internal/workpool"
)

// FunctionTable is the SSPI surface (SecurityFunctionTable): the calls an
// application makes. It forwards credential and handshake calls to a Host,
// and runs per-message calls in the user-mode contexts it builds from the
// ContextData the host returns (SpInitUserModeContext).
//
// A FunctionTable is safe for concurrent use. A context handle is used from
// one goroutine at a time for handshake calls (a second concurrent call is
// refused with ErrContextBusy); per-message calls on one context are
// serialized, so a reader and a writer goroutine may share it.
type FunctionTable struct {
	host Host
	user map[string]UserModePackage

	ctxs     ctxMap // CtxtHandle -> *userContext
	imported *handles.Table[struct{}]

	poolMu sync.Mutex // guards pool and orders closed against its start
	pool   *workpool.Pool
	cfg    Config
	closed atomic.Bool
}

// Config configures a FunctionTable.
type Config struct {
	// UserPackages are the user-mode halves of the packages (for
	// SpInitUserModeContext). A context whose package has none here
	// completes its handshake but refuses per-message calls with
	// SEC_E_UNSUPPORTED_FUNCTION.
	UserPackages []UserModePackage
	// AsyncWorkers is the number of goroutines that run asynchronous calls
	// (default 2 × GOMAXPROCS). They start on the first async call.
	AsyncWorkers int
	// AsyncQueue bounds the queued asynchronous calls (default 4,096). A
	// call that finds the queue full fails with SEC_E_INSUFFICIENT_MEMORY.
	AsyncQueue int
	// Env is the surface's clock and random source (the key of its handle
	// table for imported contexts). The zero value is the wall clock and
	// crypto/rand.
	Env Env
}

// userContext is a mapped context on the application side.
type userContext struct {
	mu       sync.Mutex
	pkg      string
	um       UserModeContext
	imported bool
}

// InitSecurityInterface returns the SSPI surface over host, with the given
// user-mode packages, like InitSecurityInterface returns the
// SecurityFunctionTable on Windows.
func InitSecurityInterface(host Host, user ...UserModePackage) *FunctionTable {
	return New(host, Config{UserPackages: user})
}

// New returns the SSPI surface over host.
func New(host Host, cfg Config) *FunctionTable {
	t := &FunctionTable{host: host, user: make(map[string]UserModePackage), cfg: cfg, imported: handles.NewWith[struct{}](0, cfg.Env.Now, cfg.Env.Rand)}
	for _, u := range cfg.UserPackages {
		t.user[strings.ToLower(u.Name())] = u
	}
	return t
}

// Host returns the host the table talks to.
func (t *FunctionTable) Host() Host { return t.host }

// Close stops the asynchronous workers after the queued calls have run.
// It does not delete contexts.
func (t *FunctionTable) Close() {
	t.poolMu.Lock()
	if t.closed.Swap(true) {
		t.poolMu.Unlock()
		return
	}
	pool := t.pool
	t.poolMu.Unlock()
	if pool != nil {
		pool.Close()
	}
}

func (t *FunctionTable) lookup(c *CtxtHandle) (*userContext, error) {
	if c == nil || !c.IsValid() {
		return nil, SEC_E_INVALID_HANDLE
	}
	uc, ok := t.ctxs.Load(*c)
	if !ok {
		return nil, SEC_E_INVALID_HANDLE
	}
	if uc.um == nil {
		return nil, &Error{Status: SEC_E_UNSUPPORTED_FUNCTION, Detail: uc.pkg + " has no user-mode package here"}
	}
	return uc, nil
}

// EnumerateSecurityPackages lists the packages the host has.
func (t *FunctionTable) EnumerateSecurityPackages() ([]PackageInfo, Status) {
	p, err := t.host.EnumerateSecurityPackages(context.Background())
	return p, StatusOf(err)
}

// QuerySecurityPackageInfo returns a package's information, or
// SEC_E_SECPKG_NOT_FOUND.
func (t *FunctionTable) QuerySecurityPackageInfo(name string) (PackageInfo, Status) {
	p, err := t.host.QuerySecurityPackageInfo(context.Background(), name)
	return p, StatusOf(err)
}

// AcquireCredentialsHandle acquires a credential of the named package.
// authData nil means the default credentials (a ccache, a keytab, the
// account store, as the package documents).
func (t *FunctionTable) AcquireCredentialsHandle(principal, pkg string, use CredentialUse, authData *AuthIdentity, cred *CredHandle, expiry *TimeStamp) Status {
	return StatusOf(t.acquireCredentialsHandle(context.Background(), principal, pkg, use, authData, cred, expiry))
}

// acquireCredentialsHandle is AcquireCredentialsHandle with a
// context.Context, returning an error that carries the Status (Calls).
func (t *FunctionTable) acquireCredentialsHandle(ctx context.Context, principal, pkg string, use CredentialUse, authData *AuthIdentity, cred *CredHandle, expiry *TimeStamp) error {
	if cred == nil {
		return &Error{Op: "AcquireCredentialsHandle", Status: SEC_E_INVALID_PARAMETER, Detail: "no phCredential"}
	}
	res, err := t.host.AcquireCredentialsHandle(ctx, &AcquireCredentialsRequest{Package: pkg, Principal: principal, Use: use, AuthData: authData})
	if err != nil {
		return err
	}
	*cred = res.Credential
	if expiry != nil {
		*expiry = res.Expiry
	}
	return nil
}

// FreeCredentialsHandle frees a credential. Contexts made from it go on
// working.
func (t *FunctionTable) FreeCredentialsHandle(cred *CredHandle) Status {
	if cred == nil {
		return SEC_E_INVALID_HANDLE
	}
	return StatusOf(t.host.FreeCredentialsHandle(context.Background(), *cred))
}

// QueryCredentialsAttributes returns a credential attribute.
func (t *FunctionTable) QueryCredentialsAttributes(cred *CredHandle, attr uint32) (any, Status) {
	if cred == nil {
		return nil, SEC_E_INVALID_HANDLE
	}
	v, err := t.host.QueryCredentialsAttributes(context.Background(), *cred, attr)
	return v, StatusOf(err)
}

// InitializeSecurityContext runs one leg of the client side of a handshake.
//
// On the first call phContext is nil; later calls pass the handle the first
// call returned in phNewContext. The output token in pOutput's
// SECBUFFER_TOKEN must be sent to the server whenever it is not empty, even
// with SEC_E_OK. Input not consumed comes back as a SECBUFFER_EXTRA in
// pInput's first SECBUFFER_EMPTY buffer; a partial input token returns
// SEC_E_INCOMPLETE_MESSAGE with the missing count in a SECBUFFER_MISSING
// there. A context whose call failed must still be deleted.
func (t *FunctionTable) InitializeSecurityContext(phCredential *CredHandle, phContext *CtxtHandle, targetName string, fContextReq ISCReq, targetDataRep uint32, pInput *SecBufferDesc, phNewContext *CtxtHandle, pOutput *SecBufferDesc, pfContextAttr *ISCRet, ptsExpiry *TimeStamp) Status {
	st, _ := t.initializeSecurityContext(context.Background(), phCredential, phContext, targetName, fContextReq, targetDataRep, pInput, phNewContext, pOutput, pfContextAttr, ptsExpiry)
	return st
}

// initializeSecurityContext is InitializeSecurityContext with a
// context.Context. It returns the status and, for a failure, an error that
// carries it (errors.Is works with the SEC_E_* constants).
func (t *FunctionTable) initializeSecurityContext(ctx context.Context, phCredential *CredHandle, phContext *CtxtHandle, targetName string, fContextReq ISCReq, targetDataRep uint32, pInput *SecBufferDesc, phNewContext *CtxtHandle, pOutput *SecBufferDesc, pfContextAttr *ISCRet, ptsExpiry *TimeStamp) (Status, error) {
	const op = "InitializeSecurityContext"
	req, err := t.initRequest(phCredential, phContext, targetName, fContextReq, targetDataRep, pInput, pOutput)
	if err != nil {
		return StatusOf(err), err
	}
	res, err := t.host.InitLsaModeContext(ctx, req)
	return t.finishLeg(op, res, err, pInput, phNewContext, pOutput, ptsExpiry, func(f ContextFlags) {
		if pfContextAttr != nil {
			*pfContextAttr = f.ISCRet()
		}
	})
}

// AcceptSecurityContext runs one leg of the server side of a handshake,
// with the same conventions as InitializeSecurityContext.
func (t *FunctionTable) AcceptSecurityContext(phCredential *CredHandle, phContext *CtxtHandle, pInput *SecBufferDesc, fContextReq ASCReq, targetDataRep uint32, phNewContext *CtxtHandle, pOutput *SecBufferDesc, pfContextAttr *ASCRet, ptsExpiry *TimeStamp) Status {
	st, _ := t.acceptSecurityContext(context.Background(), phCredential, phContext, pInput, fContextReq, targetDataRep, phNewContext, pOutput, pfContextAttr, ptsExpiry)
	return st
}

// acceptSecurityContext is AcceptSecurityContext with a context.Context.
func (t *FunctionTable) acceptSecurityContext(ctx context.Context, phCredential *CredHandle, phContext *CtxtHandle, pInput *SecBufferDesc, fContextReq ASCReq, targetDataRep uint32, phNewContext *CtxtHandle, pOutput *SecBufferDesc, pfContextAttr *ASCRet, ptsExpiry *TimeStamp) (Status, error) {
	const op = "AcceptSecurityContext"
	req, err := t.acceptRequest(phCredential, phContext, pInput, fContextReq, targetDataRep, pOutput)
	if err != nil {
		return StatusOf(err), err
	}
	res, err := t.host.AcceptLsaModeContext(ctx, req)
	return t.finishLeg(op, res, err, pInput, phNewContext, pOutput, ptsExpiry, func(f ContextFlags) {
		if pfContextAttr != nil {
			*pfContextAttr = f.ASCRet()
		}
	})
}

// initRequest checks InitializeSecurityContext's arguments and builds the
// host request.
func (t *FunctionTable) initRequest(phCredential *CredHandle, phContext *CtxtHandle, targetName string, fContextReq ISCReq, targetDataRep uint32, pInput *SecBufferDesc, pOutput *SecBufferDesc) (*InitContextRequest, error) {
	req := &InitContextRequest{TargetName: targetName, ContextReq: fContextReq, TargetDataRep: targetDataRep, Input: pInput.Clone()}
	if err := t.handleArgs("InitializeSecurityContext", phCredential, phContext, &req.Credential, &req.Context, pOutput); err != nil {
		return nil, err
	}
	return req, nil
}

// acceptRequest checks AcceptSecurityContext's arguments and builds the
// host request.
func (t *FunctionTable) acceptRequest(phCredential *CredHandle, phContext *CtxtHandle, pInput *SecBufferDesc, fContextReq ASCReq, targetDataRep uint32, pOutput *SecBufferDesc) (*AcceptContextRequest, error) {
	const op = "AcceptSecurityContext"
	req := &AcceptContextRequest{ContextReq: fContextReq, TargetDataRep: targetDataRep, Input: pInput.Clone()}
	if err := t.handleArgs(op, phCredential, phContext, &req.Credential, &req.Context, pOutput); err != nil {
		return nil, err
	}
	if req.Input.Find(SECBUFFER_TOKEN) == nil {
		return nil, &Error{Op: op, Status: SEC_E_INVALID_TOKEN, Detail: "no SECBUFFER_TOKEN input"}
	}
	return req, nil
}

func (t *FunctionTable) handleArgs(op string, phCred *CredHandle, phCtx *CtxtHandle, cred *CredHandle, c *CtxtHandle, out *SecBufferDesc) error {
	if phCtx != nil {
		if !phCtx.IsValid() {
			return &Error{Op: op, Status: SEC_E_INVALID_HANDLE, Detail: "phContext is the invalid handle; pass nil on the first call"}
		}
		*c = *phCtx
	}
	if phCred != nil {
		*cred = *phCred
	} else if phCtx == nil {
		return &Error{Op: op, Status: SEC_E_INVALID_HANDLE, Detail: "first call needs a credential handle"}
	}
	if out.Find(SECBUFFER_TOKEN) == nil {
		return &Error{Op: op, Status: SEC_E_INVALID_TOKEN, Detail: "pOutput has no SECBUFFER_TOKEN"}
	}
	return nil
}

// finishLeg copies a host result into the caller's out-parameters.
func (t *FunctionTable) finishLeg(op string, res *ContextResult, err error, in *SecBufferDesc, newCtx *CtxtHandle, out *SecBufferDesc, expiry *TimeStamp, attrs func(ContextFlags)) (Status, error) {
	if res != nil {
		for _, b := range res.Output {
			if dst := out.Find(b.BufferType); dst != nil {
				dst.Buffer = append(dst.Buffer[:0], b.Buffer...)
			}
		}
		if tok := out.Find(SECBUFFER_TOKEN); tok != nil && !hasType(res.Output, SECBUFFER_TOKEN) {
			tok.Buffer = tok.Buffer[:0]
		}
		markInput(in, res)
	}
	if err != nil {
		return failure(op, err)
	}
	if res.Context.IsValid() && newCtx != nil {
		*newCtx = res.Context
	}
	attrs(res.Flags)
	if expiry != nil {
		*expiry = res.Expiry
	}
	if res.Mapped {
		if merr := t.mapContext(res); merr != nil {
			st := StatusOf(merr)
			return st, &Error{Op: op, Status: st, Detail: "SpInitUserModeContext: " + merr.Error()}
		}
	}
	return res.Status, nil
}

// failure returns a failed call's status and an *Error naming the call.
func failure(op string, err error) (Status, error) {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		if c.Op == "" {
			c.Op = op
		}
		if c.Status.Succeeded() {
			c.Status = SEC_E_INTERNAL_ERROR
		}
		return c.Status, &c
	}
	st := StatusOf(err)
	if st.Succeeded() {
		st = SEC_E_INTERNAL_ERROR
	}
	c := &Error{Op: op, Status: st}
	if _, isStatus := err.(Status); !isStatus {
		c.Detail = err.Error()
	}
	return st, c
}

func hasType(bufs []SecBuffer, typ BufferType) bool {
	for _, b := range bufs {
		if b.BufferType.Base() == typ {
			return true
		}
	}
	return false
}

// markInput turns the caller's first SECBUFFER_EMPTY input buffer into a
// SECBUFFER_EXTRA (the unconsumed tail of the token) or a SECBUFFER_MISSING
// (the number of bytes still needed).
func markInput(in *SecBufferDesc, res *ContextResult) {
	if in == nil || (res.Extra <= 0 && res.Missing <= 0) {
		return
	}
	var slot *SecBuffer
	for i := range in.Buffers {
		if in.Buffers[i].BufferType.Base() == SECBUFFER_EMPTY {
			slot = &in.Buffers[i]
			break
		}
	}
	if slot == nil {
		return
	}
	if res.Missing > 0 {
		*slot = SecBuffer{BufferType: SECBUFFER_MISSING, Count: res.Missing}
		return
	}
	tok := in.Token()
	n := res.Extra
	if n > len(tok) {
		n = len(tok)
	}
	*slot = SecBuffer{BufferType: SECBUFFER_EXTRA, Buffer: tok[len(tok)-n:], Count: n}
}

// mapContext builds the user-mode context from ContextData.
func (t *FunctionTable) mapContext(res *ContextResult) error {
	uc := &userContext{pkg: res.Package}
	if u, ok := t.user[strings.ToLower(res.Package)]; ok {
		um, err := u.InitUserModeContext(res.ContextData)
		// The user-mode context holds its own copies of the keys: the
		// serialized ones are wiped at once, mapped or not.
		clear(res.ContextData)
		if err != nil {
			return err
		}
		uc.um = um
	}
	if o, loaded := t.ctxs.Swap(res.Context, uc); loaded && o.um != nil {
		o.um.Delete()
	}
	return nil
}

// CompleteAuthToken completes an authentication token, for packages that
// return SEC_I_COMPLETE_NEEDED or SEC_I_COMPLETE_AND_CONTINUE.
func (t *FunctionTable) CompleteAuthToken(phContext *CtxtHandle, pToken *SecBufferDesc) Status {
	if phContext == nil || !phContext.IsValid() {
		return SEC_E_INVALID_HANDLE
	}
	if uc, ok := t.ctxs.Load(*phContext); ok {
		comp, ok := uc.um.(UserModeCompleter)
		if !ok {
			return SEC_E_UNSUPPORTED_FUNCTION
		}
		uc.mu.Lock()
		defer uc.mu.Unlock()
		return StatusOf(comp.CompleteAuthToken(pToken))
	}
	return StatusOf(t.host.CompleteAuthToken(context.Background(), *phContext, pToken))
}

// DeleteSecurityContext deletes a context, established, half-built or
// failed. Deleting a handle twice returns SEC_E_INVALID_HANDLE and has no
// other effect.
func (t *FunctionTable) DeleteSecurityContext(phContext *CtxtHandle) Status {
	return StatusOf(t.deleteSecurityContext(context.Background(), phContext))
}

// deleteSecurityContext is DeleteSecurityContext with a context.Context.
func (t *FunctionTable) deleteSecurityContext(ctx context.Context, phContext *CtxtHandle) error {
	if phContext == nil || !phContext.IsValid() {
		return SEC_E_INVALID_HANDLE
	}
	found := false
	if uc, ok := t.ctxs.LoadAndDelete(*phContext); ok {
		uc.mu.Lock()
		if uc.um != nil {
			uc.um.Delete()
		}
		uc.mu.Unlock()
		if uc.imported {
			t.imported.Delete(handles.Handle{Lower: phContext.Lower, Upper: phContext.Upper}, 1)
			return nil
		}
		found = true
	}
	err := t.host.DeleteContext(ctx, *phContext)
	if found && err != nil {
		// The host may have reaped or lost it; the user-mode half is gone.
		return nil
	}
	return err
}

// QueryContextAttributes returns a context attribute into pBuffer, which
// must point to the SecPkgContext* struct for the attribute (for example
// *SecPkgContextSizes for SECPKG_ATTR_SIZES, *Identity for
// SECPKG_ATTR_GOSSPI_IDENTITY).
func (t *FunctionTable) QueryContextAttributes(phContext *CtxtHandle, attr ContextAttribute, pBuffer any) Status {
	v, err := t.queryContextAttributes(context.Background(), phContext, attr)
	if err != nil {
		return StatusOf(err)
	}
	return StatusOf(assignAttr(pBuffer, v))
}

// queryContextAttributes returns a context attribute as a value: one of
// the SecPkgContext* structs, or an Identity.
func (t *FunctionTable) queryContextAttributes(ctx context.Context, phContext *CtxtHandle, attr ContextAttribute) (any, error) {
	if phContext == nil || !phContext.IsValid() {
		return nil, SEC_E_INVALID_HANDLE
	}
	if uc, ok := t.ctxs.Load(*phContext); ok {
		if uc.um != nil {
			uc.mu.Lock()
			val, err := uc.um.QueryAttributes(attr)
			uc.mu.Unlock()
			if err == nil || StatusOf(err) != SEC_E_UNSUPPORTED_FUNCTION || uc.imported {
				return val, err
			}
		}
	}
	return t.host.QueryContextAttributes(ctx, *phContext, attr)
}

func assignAttr(dst, v any) error {
	switch d := dst.(type) {
	case *SecPkgContextSizes:
		return set(d, v)
	case *SecPkgContextStreamSizes:
		return set(d, v)
	case *SecPkgContextNames:
		return set(d, v)
	case *SecPkgContextNativeNames:
		return set(d, v)
	case *SecPkgContextLifespan:
		return set(d, v)
	case *SecPkgContextSessionKey:
		return set(d, v)
	case *SecPkgContextPackageInfo:
		return set(d, v)
	case *SecPkgContextNegotiationInfo:
		return set(d, v)
	case *SecPkgContextFlags:
		return set(d, v)
	case *Identity:
		return set(d, v)
	case *any:
		*d = v
		return nil
	}
	return &Error{Op: "QueryContextAttributes", Status: SEC_E_INVALID_PARAMETER, Detail: "unknown pBuffer type"}
}

func set[T any](d *T, v any) error {
	switch x := v.(type) {
	case T:
		*d = x
		return nil
	case *T:
		*d = *x
		return nil
	}
	return &Error{Op: "QueryContextAttributes", Status: SEC_E_INVALID_PARAMETER, Detail: "pBuffer type does not match the attribute"}
}

// MakeSignature signs the SECBUFFER_DATA buffers of pMessage into its
// SECBUFFER_TOKEN.
func (t *FunctionTable) MakeSignature(phContext *CtxtHandle, fQOP uint32, pMessage *SecBufferDesc, messageSeqNo uint32) Status {
	uc, err := t.lookup(phContext)
	if err != nil {
		return StatusOf(err)
	}
	uc.mu.Lock()
	defer uc.mu.Unlock()
	return StatusOf(uc.um.MakeSignature(fQOP, pMessage, messageSeqNo))
}

// VerifySignature checks a signature made by the peer's MakeSignature.
func (t *FunctionTable) VerifySignature(phContext *CtxtHandle, pMessage *SecBufferDesc, messageSeqNo uint32, pfQOP *uint32) Status {
	uc, err := t.lookup(phContext)
	if err != nil {
		return StatusOf(err)
	}
	uc.mu.Lock()
	defer uc.mu.Unlock()
	qop, err := uc.um.VerifySignature(pMessage, messageSeqNo)
	if pfQOP != nil {
		*pfQOP = qop
	}
	return StatusOf(err)
}

// EncryptMessage seals the SECBUFFER_DATA buffers of pMessage in place and
// fills its SECBUFFER_TOKEN (and SECBUFFER_PADDING where the package uses
// one). SECQOP_WRAP_NO_ENCRYPT asks for integrity only.
func (t *FunctionTable) EncryptMessage(phContext *CtxtHandle, fQOP uint32, pMessage *SecBufferDesc, messageSeqNo uint32) Status {
	uc, err := t.lookup(phContext)
	if err != nil {
		return StatusOf(err)
	}
	uc.mu.Lock()
	defer uc.mu.Unlock()
	return StatusOf(uc.um.SealMessage(fQOP, pMessage, messageSeqNo))
}

// DecryptMessage unseals a message sealed by the peer's EncryptMessage,
// given as SECBUFFER_TOKEN plus SECBUFFER_DATA, or as one SECBUFFER_STREAM
// plus an empty SECBUFFER_DATA that receives the plaintext.
func (t *FunctionTable) DecryptMessage(phContext *CtxtHandle, pMessage *SecBufferDesc, messageSeqNo uint32, pfQOP *uint32) Status {
	uc, err := t.lookup(phContext)
	if err != nil {
		return StatusOf(err)
	}
	uc.mu.Lock()
	defer uc.mu.Unlock()
	qop, err := uc.um.UnsealMessage(pMessage, messageSeqNo)
	if pfQOP != nil {
		*pfQOP = qop
	}
	return StatusOf(err)
}

// ExportSecurityContext serializes an established context, with its current
// sequence numbers, for ImportSecurityContext in another process. The
// exported context should no longer be used here.
func (t *FunctionTable) ExportSecurityContext(phContext *CtxtHandle) (pkg string, data []byte, st Status) {
	uc, err := t.lookup(phContext)
	if err != nil {
		return "", nil, StatusOf(err)
	}
	ex, ok := uc.um.(UserModeExporter)
	if !ok {
		return "", nil, SEC_E_UNSUPPORTED_FUNCTION
	}
	uc.mu.Lock()
	defer uc.mu.Unlock()
	data, err = ex.ExportContext()
	return uc.pkg, data, StatusOf(err)
}

// ImportSecurityContext builds a user-mode context from the output of
// ExportSecurityContext, or from ContextData, and returns a handle for it.
// An imported context lives only in this table: it signs, seals and
// answers attribute queries; DeleteSecurityContext frees it.
func (t *FunctionTable) ImportSecurityContext(pkg string, data []byte, phContext *CtxtHandle) Status {
	if phContext == nil {
		return SEC_E_INVALID_PARAMETER
	}
	u, ok := t.user[strings.ToLower(pkg)]
	if !ok {
		return SEC_E_SECPKG_NOT_FOUND
	}
	um, err := u.InitUserModeContext(data)
	if err != nil {
		return StatusOf(err)
	}
	h, err := t.imported.Insert(1, struct{}{}, 0, nil)
	if err != nil {
		um.Delete()
		return SEC_E_INSUFFICIENT_MEMORY
	}
	c := CtxtHandle{Lower: h.Lower, Upper: h.Upper}
	t.ctxs.Store(c, &userContext{pkg: u.Name(), um: um, imported: true})
	*phContext = c
	return SEC_E_OK
}
