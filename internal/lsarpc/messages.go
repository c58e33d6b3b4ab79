package lsarpc

import (
	"errors"
	"fmt"

	"github.com/gosspi/gosspi/sspi"
)

// Op names a call: the sspi.Host method a request runs.
type Op uint8

// The calls, one for each sspi.Host method, and Cancel.
const (
	OpEnumeratePackages Op = 1 + iota
	OpQueryPackageInfo
	OpAcquireCredentials
	OpFreeCredentials
	OpQueryCredentialsAttributes
	OpInitContext
	OpAcceptContext
	OpCompleteAuthToken
	OpDeleteContext
	OpQueryContextAttributes
	// OpCancel abandons the request named by Request.Target; it has no
	// reply of its own (the cancelled call replies, usually with its
	// context's error).
	OpCancel
	opLimit
)

var opNames = [...]string{"", "EnumerateSecurityPackages", "QuerySecurityPackageInfo", "AcquireCredentialsHandle",
	"FreeCredentialsHandle", "QueryCredentialsAttributes", "InitializeSecurityContext", "AcceptSecurityContext",
	"CompleteAuthToken", "DeleteSecurityContext", "QueryContextAttributes", "Cancel"}

// String returns the SSPI call's name.
func (o Op) String() string {
	if o < opLimit {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Env is the part of the caller's environment that names its own files,
// resolved in the application (MIT and gss-ntlmssp read these variables)
// and sent as data: the daemon never reads them from its own environment.
type Env struct {
	CCache       string // KRB5CCNAME, or the default it resolves to
	Krb5Config   string // KRB5_CONFIG
	NTLMUserFile string // NTLM_USER_FILE
}

// Request is one call from the application. ID is chosen by the client
// and is unique among its calls in flight; the fields used depend on Op.
type Request struct {
	Op Op
	ID uint64

	Name    string                          // OpQueryPackageInfo
	Acquire *sspi.AcquireCredentialsRequest // OpAcquireCredentials
	Env     Env                             // OpAcquireCredentials
	Cred    sspi.CredHandle                 // OpFreeCredentials, OpQueryCredentialsAttributes
	Ctx     sspi.CtxtHandle                 // OpCompleteAuthToken, OpDeleteContext, OpQueryContextAttributes
	Attr    uint32                          // OpQuery*Attributes
	Init    *sspi.InitContextRequest        // OpInitContext
	Accept  *sspi.AcceptContextRequest      // OpAcceptContext
	Token   *sspi.SecBufferDesc             // OpCompleteAuthToken
	Target  uint64                          // OpCancel: the ID of the call to cancel
}

// Reply is the daemon's answer to the Request with the same ID. Err keeps
// the Status, Op and Detail of an *sspi.Error (or is a bare sspi.Status);
// a failed handshake leg may still carry a Result (an error token, a
// Missing count).
type Reply struct {
	Op Op
	ID uint64

	Err      error
	Packages []sspi.PackageInfo             // OpEnumeratePackages
	Package  sspi.PackageInfo               // OpQueryPackageInfo
	Cred     *sspi.AcquireCredentialsResult // OpAcquireCredentials
	Result   *sspi.ContextResult            // OpInitContext, OpAcceptContext
	Attr     any                            // OpQuery*Attributes: a SecPkgContext* value or an sspi.Identity
}

// AppendRequest appends the framed request to b.
func AppendRequest(b []byte, r *Request) ([]byte, error) {
	start := len(b)
	e := enc{b: append(b, 0, 0, 0, 0)}
	e.u8(uint8(r.Op))
	e.u64(r.ID)
	switch r.Op {
	case OpEnumeratePackages:
	case OpQueryPackageInfo:
		e.str(r.Name)
	case OpAcquireCredentials:
		a := r.Acquire
		if a == nil {
			return b, errors.New("lsarpc: AcquireCredentials without a request")
		}
		e.str(a.Package)
		e.str(a.Principal)
		e.u32(uint32(a.Use))
		e.authIdentity(a.AuthData)
		e.str(r.Env.CCache)
		e.str(r.Env.Krb5Config)
		e.str(r.Env.NTLMUserFile)
	case OpFreeCredentials:
		e.handle(sspi.SecHandle(r.Cred))
	case OpQueryCredentialsAttributes:
		e.handle(sspi.SecHandle(r.Cred))
		e.u32(r.Attr)
	case OpInitContext:
		q := r.Init
		if q == nil {
			return b, errors.New("lsarpc: InitContext without a request")
		}
		e.handle(sspi.SecHandle(q.Credential))
		e.handle(sspi.SecHandle(q.Context))
		e.str(q.TargetName)
		e.u32(uint32(q.ContextReq))
		e.u32(q.TargetDataRep)
		e.desc(q.Input)
	case OpAcceptContext:
		q := r.Accept
		if q == nil {
			return b, errors.New("lsarpc: AcceptContext without a request")
		}
		e.handle(sspi.SecHandle(q.Credential))
		e.handle(sspi.SecHandle(q.Context))
		e.u32(uint32(q.ContextReq))
		e.u32(q.TargetDataRep)
		e.desc(q.Input)
	case OpCompleteAuthToken:
		e.handle(sspi.SecHandle(r.Ctx))
		e.desc(r.Token)
	case OpDeleteContext:
		e.handle(sspi.SecHandle(r.Ctx))
	case OpQueryContextAttributes:
		e.handle(sspi.SecHandle(r.Ctx))
		e.u32(r.Attr)
	case OpCancel:
		e.u64(r.Target)
	default:
		return b, fmt.Errorf("lsarpc: unknown op %d", r.Op)
	}
	return frame(e.b, start), nil
}

// DecodeRequest decodes a request payload. It is the daemon's privilege
// boundary: any input gives a Request or an error wrapping ErrMalformed,
// and the Request owns its memory (nothing aliases p).
func DecodeRequest(p []byte) (*Request, error) {
	d := dec{b: p}
	r := &Request{Op: Op(d.u8()), ID: d.u64()}
	if d.err != nil {
		return nil, d.err
	}
	switch r.Op {
	case OpEnumeratePackages:
	case OpQueryPackageInfo:
		r.Name = d.str()
	case OpAcquireCredentials:
		r.Acquire = &sspi.AcquireCredentialsRequest{Package: d.str(), Principal: d.str(), Use: sspi.CredentialUse(d.u32())}
		r.Acquire.AuthData = d.authIdentity()
		r.Env = Env{CCache: d.str(), Krb5Config: d.str(), NTLMUserFile: d.str()}
	case OpFreeCredentials:
		r.Cred = sspi.CredHandle(d.handle())
	case OpQueryCredentialsAttributes:
		r.Cred = sspi.CredHandle(d.handle())
		r.Attr = d.u32()
	case OpInitContext:
		r.Init = &sspi.InitContextRequest{Credential: sspi.CredHandle(d.handle()), Context: sspi.CtxtHandle(d.handle()),
			TargetName: d.str(), ContextReq: sspi.ISCReq(d.u32()), TargetDataRep: d.u32()}
		r.Init.Input = d.desc()
	case OpAcceptContext:
		r.Accept = &sspi.AcceptContextRequest{Credential: sspi.CredHandle(d.handle()), Context: sspi.CtxtHandle(d.handle()),
			ContextReq: sspi.ASCReq(d.u32()), TargetDataRep: d.u32()}
		r.Accept.Input = d.desc()
	case OpCompleteAuthToken:
		r.Ctx = sspi.CtxtHandle(d.handle())
		r.Token = d.desc()
	case OpDeleteContext:
		r.Ctx = sspi.CtxtHandle(d.handle())
	case OpQueryContextAttributes:
		r.Ctx = sspi.CtxtHandle(d.handle())
		r.Attr = d.u32()
	case OpCancel:
		r.Target = d.u64()
	default:
		return nil, fmt.Errorf("%w: unknown op %d", ErrMalformed, r.Op)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return r, nil
}

// AppendReply appends the framed reply to b. An attribute value of a type
// the protocol does not know is an error.
func AppendReply(b []byte, r *Reply) ([]byte, error) {
	start := len(b)
	e := enc{b: append(b, 0, 0, 0, 0)}
	e.u8(uint8(r.Op) | 0x80)
	e.u64(r.ID)
	e.error(r.Err)
	switch r.Op {
	case OpEnumeratePackages:
		e.u32(uint32(len(r.Packages)))
		for i := range r.Packages {
			e.pkgInfo(&r.Packages[i])
		}
	case OpQueryPackageInfo:
		e.pkgInfo(&r.Package)
	case OpAcquireCredentials:
		e.bool(r.Cred != nil)
		if r.Cred != nil {
			e.handle(sspi.SecHandle(r.Cred.Credential))
			e.time(r.Cred.Expiry)
		}
	case OpInitContext, OpAcceptContext:
		e.bool(r.Result != nil)
		if r.Result != nil {
			e.result(r.Result)
		}
	case OpQueryCredentialsAttributes, OpQueryContextAttributes:
		if err := e.attr(r.Attr); err != nil {
			return b, err
		}
	case OpFreeCredentials, OpCompleteAuthToken, OpDeleteContext:
	default:
		return b, fmt.Errorf("lsarpc: unknown op %d", r.Op)
	}
	return frame(e.b, start), nil
}

// DecodeReply decodes a reply payload.
func DecodeReply(p []byte) (*Reply, error) {
	d := dec{b: p}
	t := d.u8()
	r := &Reply{Op: Op(t &^ 0x80), ID: d.u64()}
	if d.err != nil || t&0x80 == 0 {
		return nil, ErrMalformed
	}
	r.Err = d.error()
	switch r.Op {
	case OpEnumeratePackages:
		n := d.length(20, maxList)
		for i := 0; i < n && d.err == nil; i++ {
			r.Packages = append(r.Packages, d.pkgInfo())
		}
	case OpQueryPackageInfo:
		r.Package = d.pkgInfo()
	case OpAcquireCredentials:
		if d.bool() {
			r.Cred = &sspi.AcquireCredentialsResult{Credential: sspi.CredHandle(d.handle()), Expiry: d.time()}
		}
	case OpInitContext, OpAcceptContext:
		if d.bool() {
			r.Result = d.result()
		}
	case OpQueryCredentialsAttributes, OpQueryContextAttributes:
		r.Attr = d.attr()
	case OpFreeCredentials, OpCompleteAuthToken, OpDeleteContext:
	default:
		return nil, fmt.Errorf("%w: unknown op %d", ErrMalformed, r.Op)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return r, nil
}

// PeekID returns the op and request ID of a reply payload, or ok false.
func PeekID(p []byte) (op Op, id uint64, ok bool) {
	d := dec{b: p}
	t, id := d.u8(), d.u64()
	return Op(t &^ 0x80), id, d.err == nil
}

func (e *enc) handle(h sspi.SecHandle) {
	e.u64(h.Lower)
	e.u64(h.Upper)
}

func (d *dec) handle() sspi.SecHandle { return sspi.SecHandle{Lower: d.u64(), Upper: d.u64()} }

func (e *enc) desc(v *sspi.SecBufferDesc) {
	if v == nil {
		e.u8(0)
		return
	}
	e.u8(1)
	e.u32(v.Version)
	e.buffers(v.Buffers)
}

// buffers encodes SecBuffers: type, bytes (or none), count.
func (e *enc) buffers(bufs []sspi.SecBuffer) {
	e.u32(uint32(len(bufs)))
	for _, b := range bufs {
		e.u32(uint32(b.BufferType))
		e.nbytes(b.Buffer)
		e.u32(uint32(b.Count))
	}
}

// buffers decodes at most maxBuffers SecBuffers.
func (d *dec) buffers() []sspi.SecBuffer {
	n := d.length(9, maxBuffers)
	if n == 0 {
		return nil
	}
	out := make([]sspi.SecBuffer, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, sspi.SecBuffer{BufferType: sspi.BufferType(d.u32()), Buffer: d.nbytes(), Count: d.int()})
	}
	return out
}

func (d *dec) desc() *sspi.SecBufferDesc {
	switch d.u8() {
	case 0:
		return nil
	case 1:
	default:
		d.fail()
		return nil
	}
	v := &sspi.SecBufferDesc{Version: d.u32()}
	v.Buffers = d.buffers()
	if d.err != nil {
		return nil
	}
	return v
}

func (e *enc) authIdentity(a *sspi.AuthIdentity) {
	if a == nil {
		e.u8(0)
		return
	}
	e.u8(1)
	e.str(a.User)
	e.str(a.Domain)
	e.str(a.Password)
	e.nbytes(a.NTHash)
	e.str(a.PackageList)
	e.u32(uint32(len(a.Options)))
	for k, v := range a.Options {
		e.str(k)
		e.str(v)
	}
}

func (d *dec) authIdentity() *sspi.AuthIdentity {
	switch d.u8() {
	case 0:
		return nil
	case 1:
	default:
		d.fail()
		return nil
	}
	a := &sspi.AuthIdentity{User: d.str(), Domain: d.str(), Password: d.str(), NTHash: d.nbytes(), PackageList: d.str()}
	n := d.length(8, maxOptions)
	if n > 0 {
		a.Options = make(map[string]string, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		k, v := d.str(), d.str()
		if _, dup := a.Options[k]; dup {
			d.fail()
		}
		a.Options[k] = v
	}
	if d.err != nil {
		return nil
	}
	return a
}

func (e *enc) pkgInfo(p *sspi.PackageInfo) {
	e.u32(p.Capabilities)
	e.u16(p.Version)
	e.u16(p.RPCID)
	e.u32(p.MaxToken)
	e.str(p.Name)
	e.str(p.Comment)
	e.strs(p.OIDs)
	e.i64(int64(p.Priority))
}

func (d *dec) pkgInfo() sspi.PackageInfo {
	return sspi.PackageInfo{Capabilities: d.u32(), Version: d.u16(), RPCID: d.u16(), MaxToken: d.u32(),
		Name: d.str(), Comment: d.str(), OIDs: d.strs(), Priority: int(d.i64())}
}

func (e *enc) result(r *sspi.ContextResult) {
	e.u32(uint32(r.Status))
	e.handle(sspi.SecHandle(r.Context))
	e.str(r.Package)
	e.buffers(r.Output)
	e.u32(uint32(r.Flags))
	e.time(r.Expiry)
	e.bool(r.Mapped)
	e.nbytes(r.ContextData)
	e.u32(uint32(r.Extra))
	e.u32(uint32(r.Missing))
	e.u32(r.NegotiationState)
}

func (d *dec) result() *sspi.ContextResult {
	r := &sspi.ContextResult{Status: sspi.Status(d.u32()), Context: sspi.CtxtHandle(d.handle()), Package: d.str()}
	r.Output = d.buffers()
	r.Flags = sspi.ContextFlags(d.u32())
	r.Expiry = d.time()
	r.Mapped = d.bool()
	r.ContextData = d.nbytes()
	r.Extra, r.Missing = d.int(), d.int()
	r.NegotiationState = d.u32()
	if d.err != nil {
		return nil
	}
	return r
}

// Error kinds on the wire.
const (
	errNone   = 0
	errStatus = 1 // a bare sspi.Status
	errSSPI   = 2 // an *sspi.Error: Status, Op, Detail
)

// error encodes err keeping its Status and its words: an *sspi.Error keeps
// Op and Detail (its cause's text joins Detail), any other error becomes
// SEC_E_INTERNAL_ERROR with its text as Detail.
func (e *enc) error(err error) {
	if err == nil {
		e.u8(errNone)
		return
	}
	if st, ok := err.(sspi.Status); ok {
		e.u8(errStatus)
		e.u32(uint32(st))
		return
	}
	var se *sspi.Error
	if errors.As(err, &se) {
		e.u8(errSSPI)
		e.u32(uint32(se.Status))
		e.str(se.Op)
		detail := se.Detail
		if se.Err != nil {
			if detail != "" {
				detail += ": "
			}
			detail += se.Err.Error()
		}
		e.str(detail)
		return
	}
	e.u8(errSSPI)
	e.u32(uint32(sspi.StatusOf(err)))
	e.str("")
	e.str(err.Error())
}

func (d *dec) error() error {
	switch d.u8() {
	case errNone:
		return nil
	case errStatus:
		st := sspi.Status(d.u32())
		if !st.Failed() {
			d.fail()
			return nil
		}
		return st
	case errSSPI:
		st := sspi.Status(d.u32())
		e := &sspi.Error{Status: st, Op: d.str(), Detail: d.str()}
		if !st.Failed() {
			e.Status = sspi.SEC_E_INTERNAL_ERROR
		}
		return e
	}
	d.fail()
	return nil
}
