package lsad

import (
	"context"
	"fmt"
	"strings"

	"github.com/gosspi/gosspi/internal/lsarpc"
	"github.com/gosspi/gosspi/internal/spn"
	"github.com/gosspi/gosspi/sspi"
)

// call runs one request for the connection and logs it.
func (c *conn) call(ctx context.Context, req *lsarpc.Request) (rep *lsarpc.Reply) {
	start := c.s.now()
	rep = &lsarpc.Reply{Op: req.Op, ID: req.ID}
	pkg := ""
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("lsad: package panicked", "op", req.Op.String(), "uid", c.peer.UID, "package", pkg, "panic", fmt.Sprint(p))
			rep = &lsarpc.Reply{Op: req.Op, ID: req.ID, Err: &sspi.Error{Status: sspi.SEC_E_INTERNAL_ERROR, Detail: "the package failed"}}
		}
		st := sspi.StatusOf(rep.Err)
		if rep.Err == nil && rep.Result != nil {
			st = rep.Result.Status
		}
		c.s.met.observe(req.Op, st, c.s.now().Sub(start))
		lvl := c.s.log.Debug
		if st.Failed() || req.Op == lsarpc.OpAcquireCredentials {
			lvl = c.s.log.Info
		}
		lvl("lsad: "+req.Op.String(), "uid", c.peer.UID, "pid", c.peer.PID, "service", c.svc.Name, "package", pkg, "status", st.String())
	}()
	switch req.Op {
	case lsarpc.OpEnumeratePackages:
		all, err := c.s.host.EnumerateSecurityPackages(ctx)
		for _, p := range all {
			if c.svc.allowsPackage(p.Name) {
				rep.Packages = append(rep.Packages, p)
			}
		}
		rep.Err = err
	case lsarpc.OpQueryPackageInfo:
		pkg = req.Name
		if !c.svc.allowsPackage(req.Name) {
			rep.Err = sspi.SEC_E_SECPKG_NOT_FOUND
			break
		}
		rep.Package, rep.Err = c.s.host.QuerySecurityPackageInfo(ctx, req.Name)
	case lsarpc.OpAcquireCredentials:
		pkg = req.Acquire.Package
		rep.Cred, rep.Err = c.acquire(ctx, req)
	case lsarpc.OpFreeCredentials:
		pkg, rep.Err = c.freeCred(ctx, req.Cred)
	case lsarpc.OpQueryCredentialsAttributes:
		if pkg = c.credPackage(req.Cred); pkg == "" {
			rep.Err = sspi.SEC_E_INVALID_HANDLE
			break
		}
		rep.Attr, rep.Err = c.s.host.QueryCredentialsAttributes(ctx, req.Cred, req.Attr)
	case lsarpc.OpInitContext, lsarpc.OpAcceptContext:
		pkg, rep.Result, rep.Err = c.leg(ctx, req)
	case lsarpc.OpCompleteAuthToken:
		r, ok := c.context(req.Ctx)
		if !ok || r.mapped {
			rep.Err = sspi.SEC_E_INVALID_HANDLE
			break
		}
		pkg = r.pkg
		rep.Err = c.s.host.CompleteAuthToken(ctx, req.Ctx, req.Token)
	case lsarpc.OpDeleteContext:
		pkg, rep.Err = c.deleteContext(ctx, req.Ctx)
	case lsarpc.OpQueryContextAttributes:
		r, ok := c.context(req.Ctx)
		if !ok {
			rep.Err = sspi.SEC_E_INVALID_HANDLE
			break
		}
		pkg = r.pkg
		if r.mapped {
			if v, ok := r.attrs[sspi.ContextAttribute(req.Attr)]; ok {
				rep.Attr = v
			} else {
				rep.Err = &sspi.Error{Status: sspi.SEC_E_UNSUPPORTED_FUNCTION, Detail: "the context is mapped: ask its user-mode half"}
			}
			break
		}
		rep.Attr, rep.Err = c.s.host.QueryContextAttributes(ctx, req.Ctx, sspi.ContextAttribute(req.Attr))
	}
	return rep
}

func (c *conn) credPackage(h sspi.CredHandle) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.creds[h]
}

func (c *conn) context(h sspi.CtxtHandle) (*ctxRec, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.ctxs[h]
	return r, ok
}

func policyErr(op, detail string) error {
	return &sspi.Error{Op: op, Status: sspi.SEC_E_NOT_OWNER, Detail: "lsad policy: " + detail}
}

// acquire applies the policy to an AcquireCredentialsHandle and runs it.
func (c *conn) acquire(ctx context.Context, req *lsarpc.Request) (*sspi.AcquireCredentialsResult, error) {
	const op = "AcquireCredentialsHandle"
	a := req.Acquire
	if !c.svc.allowsPackage(a.Package) {
		return nil, sspi.SEC_E_SECPKG_NOT_FOUND
	}
	if a.Use&sspi.SECPKG_CRED_INBOUND != 0 && !c.svc.Inbound {
		return nil, policyErr(op, "service "+c.svc.Name+" may not accept (inbound)")
	}
	if a.Use&sspi.SECPKG_CRED_OUTBOUND != 0 && !c.svc.Outbound {
		return nil, policyErr(op, "service "+c.svc.Name+" may not initiate (outbound)")
	}
	c.s.mu.Lock()
	q := c.s.quota(c.peer.UID)
	if q.creds >= c.svc.MaxCredentials {
		c.s.mu.Unlock()
		c.s.met.quota.Inc()
		return nil, &sspi.Error{Op: op, Status: sspi.SEC_E_INSUFFICIENT_MEMORY, Detail: fmt.Sprintf("lsad quota: uid %d holds %d credentials", c.peer.UID, q.creds)}
	}
	q.creds++
	c.s.mu.Unlock()
	undo := func() {
		c.s.mu.Lock()
		c.s.quota(c.peer.UID).creds--
		c.s.mu.Unlock()
	}
	r := *a
	cleanup, err := c.applyPolicy(&r, req.Env)
	if err != nil {
		undo()
		return nil, err
	}
	res, err := c.s.host.AcquireCredentialsHandle(ctx, &r)
	cleanup()
	if err != nil {
		undo()
		return nil, err
	}
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		_ = c.s.host.FreeCredentialsHandle(context.Background(), res.Credential)
		undo()
		return nil, sspi.SEC_E_SHUTDOWN_IN_PROGRESS
	}
	c.creds[res.Credential] = a.Package
	c.mu.Unlock()
	return res, nil
}

// applyPolicy rewrites a credential request so that it uses only what the
// caller's section grants: its keytab and account file for inbound, its
// own ccache and credential file for outbound. The returned function
// releases what it opened.
func (c *conn) applyPolicy(r *sspi.AcquireCredentialsRequest, env lsarpc.Env) (func(), error) {
	const op = "AcquireCredentialsHandle"
	svc := c.svc
	ad := &sspi.AuthIdentity{}
	if r.AuthData != nil {
		*ad = *r.AuthData
	}
	opts := make(map[string]string, len(ad.Options)+3)
	for k, v := range ad.Options {
		opts[k] = v
	}
	noop := func() {}
	isKrb := strings.EqualFold(r.Package, "Kerberos") || strings.EqualFold(r.Package, "Negotiate")
	isNTLM := strings.EqualFold(r.Package, "NTLM") || strings.EqualFold(r.Package, "Negotiate")
	if r.Use&sspi.SECPKG_CRED_INBOUND != 0 {
		if k := opts["keytab"]; k != "" && k != svc.Keytab && strings.TrimPrefix(k, "FILE:") != svc.Keytab {
			return noop, policyErr(op, "keytab "+k+" is not the keytab of service "+svc.Name)
		}
		opts["keytab"] = svc.Keytab
		if svc.Keytab == "" {
			opts["keytab"] = noKeytab
		}
		if a := opts["accounts"]; a != "" && a != svc.NTLMAccounts {
			return noop, policyErr(op, "account file "+a+" is not the one of service "+svc.Name)
		}
		opts["accounts"] = svc.NTLMAccounts
		if len(svc.Principals) > 0 && r.Principal != "" && !spn.Accepts(svc.Principals, principalName(r.Principal), "") {
			return noop, policyErr(op, "principal "+r.Principal+" is not one service "+svc.Name+" may accept as")
		}
	}
	cleanup := noop
	if r.Use&sspi.SECPKG_CRED_OUTBOUND != 0 {
		if k := opts["client_keytab"]; k != "" && k != svc.ClientKeytab {
			return noop, policyErr(op, "client keytab "+k+" is not granted to service "+svc.Name)
		}
		if r.Use == sspi.SECPKG_CRED_OUTBOUND {
			if k := opts["keytab"]; k != "" && k != svc.ClientKeytab {
				return noop, policyErr(op, "keytab "+k+" is not granted to service "+svc.Name)
			}
		}
		if isKrb && !svc.AllowS4U && r.Use == sspi.SECPKG_CRED_OUTBOUND && r.Principal != "" && !strings.Contains(r.Principal, "/") && ad.Password == "" {
			return noop, &sspi.Error{Op: op, Status: sspi.SEC_E_DELEGATION_POLICY, Detail: "lsad policy: service " + svc.Name + " may not act for another user (S4U)"}
		}
		if isKrb && ad.Password == "" && opts["keytab"] == "" && opts["client_keytab"] == "" {
			name := opts["ccache"]
			if name == "" {
				name = env.CCache
			}
			if name == "" {
				name = fmt.Sprintf("FILE:/tmp/krb5cc_%d", c.peer.UID)
			}
			fdName, closeFn, err := openOwnCCache(name, c.peer.UID)
			if err != nil {
				c.s.log.Info("lsad: ccache refused", "uid", c.peer.UID, "ccache", name, "err", err)
				if r.Use == sspi.SECPKG_CRED_OUTBOUND && !isNTLM {
					return noop, &sspi.Error{Op: op, Status: sspi.SEC_E_NO_CREDENTIALS, Detail: "lsad: credential cache " + name + ": " + err.Error()}
				}
				fdName = noCCache
			}
			opts["ccache"] = fdName
			cleanup = closeFn
		}
		if isNTLM && ad.Password == "" && len(ad.NTHash) == 0 {
			file := opts["credfile"]
			if file == "" && r.AuthData == nil {
				file = env.NTLMUserFile
			}
			delete(opts, "credfile")
			if file != "" {
				user, domain := ad.User, ad.Domain
				if user == "" && r.AuthData == nil {
					user = r.Principal
				}
				acct, err := ownAccount(file, c.peer.UID, user, domain)
				if err != nil {
					if !isKrb {
						cleanup()
						return noop, &sspi.Error{Op: op, Status: sspi.SEC_E_NO_CREDENTIALS, Detail: "lsad: credential file " + file + ": " + err.Error()}
					}
				} else {
					ad.User, ad.Domain, ad.NTHash = acct.User, acct.Domain, acct.NTHash[:]
				}
			}
		}
	}
	ad.Options = opts
	r.AuthData = ad
	return cleanup, nil
}

// principalName strips a realm from a principal for pattern matching.
func principalName(p string) string {
	if i := strings.LastIndexByte(p, '@'); i > 0 {
		return p[:i]
	}
	return p
}

func (c *conn) freeCred(ctx context.Context, h sspi.CredHandle) (string, error) {
	c.mu.Lock()
	pkg, ok := c.creds[h]
	delete(c.creds, h)
	c.mu.Unlock()
	if !ok {
		return "", sspi.SEC_E_INVALID_HANDLE
	}
	c.s.mu.Lock()
	c.s.quota(c.peer.UID).creds--
	c.s.mu.Unlock()
	return pkg, c.s.host.FreeCredentialsHandle(ctx, h)
}

// leg runs one handshake leg on handles the connection owns.
func (c *conn) leg(ctx context.Context, req *lsarpc.Request) (string, *sspi.ContextResult, error) {
	var cred sspi.CredHandle
	var cx sspi.CtxtHandle
	op := "InitializeSecurityContext"
	if req.Op == lsarpc.OpInitContext {
		cred, cx = req.Init.Credential, req.Init.Context
		if req.Init.ContextReq&sspi.ISC_REQ_DELEGATE != 0 && !c.svc.AllowDelegation {
			req.Init.ContextReq &^= sspi.ISC_REQ_DELEGATE
		}
	} else {
		op = "AcceptSecurityContext"
		cred, cx = req.Accept.Credential, req.Accept.Context
		if req.Accept.ContextReq&sspi.ASC_REQ_DELEGATE != 0 && !c.svc.AllowDelegation {
			req.Accept.ContextReq &^= sspi.ASC_REQ_DELEGATE
		}
	}
	c.mu.Lock()
	pkg := ""
	if cred.IsValid() {
		var ok bool
		if pkg, ok = c.creds[cred]; !ok {
			c.mu.Unlock()
			return "", nil, &sspi.Error{Op: op, Status: sspi.SEC_E_INVALID_HANDLE, Detail: "unknown credential handle"}
		}
	}
	first := !cx.IsValid()
	if !first {
		r, ok := c.ctxs[cx]
		if !ok || r.established {
			c.mu.Unlock()
			return pkg, nil, &sspi.Error{Op: op, Status: sspi.SEC_E_INVALID_HANDLE, Detail: "unknown context handle"}
		}
		pkg = r.pkg
	}
	c.mu.Unlock()
	if first {
		c.s.mu.Lock()
		q := c.s.quota(c.peer.UID)
		if q.handshakes >= c.svc.MaxHandshakes || q.contexts >= c.svc.MaxContexts {
			n := q.handshakes
			c.s.mu.Unlock()
			c.s.met.quota.Inc()
			return pkg, nil, &sspi.Error{Op: op, Status: sspi.SEC_E_INSUFFICIENT_MEMORY, Detail: fmt.Sprintf("lsad quota: uid %d has %d handshakes in progress", c.peer.UID, n)}
		}
		q.handshakes++
		q.contexts++
		c.s.mu.Unlock()
	}
	var res *sspi.ContextResult
	var err error
	if req.Op == lsarpc.OpInitContext {
		res, err = c.s.host.InitLsaModeContext(ctx, req.Init)
	} else {
		res, err = c.s.host.AcceptLsaModeContext(ctx, req.Accept)
	}
	newCtx := first && res != nil && res.Context.IsValid() && (err == nil)
	if first && !newCtx {
		c.s.mu.Lock()
		q := c.s.quota(c.peer.UID)
		q.handshakes--
		q.contexts--
		c.s.mu.Unlock()
	}
	if res != nil && res.Package != "" {
		pkg = res.Package
	}
	h := cx
	if newCtx {
		h = res.Context
	}
	if !newCtx && first {
		return pkg, res, err
	}
	if err != nil && sspi.StatusOf(err) == sspi.SEC_E_INVALID_HANDLE {
		// The host reaped or lost it: forget it here too.
		c.forget(h)
		return pkg, res, err
	}
	done := err == nil && res != nil && res.Status == sspi.SEC_E_OK
	var rec *ctxRec
	if done {
		rec = &ctxRec{pkg: pkg, established: true}
		if res.Mapped {
			rec.mapped = true
			rec.attrs = c.snapshot(ctx, h)
			// The application has the keys now (ContextData); the LSA
			// half, and its copy of them, goes.
			_ = c.s.host.DeleteContext(ctx, h)
		}
	} else if newCtx {
		rec = &ctxRec{pkg: pkg}
	}
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		if rec == nil || !rec.mapped {
			_ = c.s.host.DeleteContext(context.Background(), h)
		}
		return pkg, nil, sspi.SEC_E_SHUTDOWN_IN_PROGRESS
	}
	if rec != nil {
		c.ctxs[h] = rec
	}
	c.mu.Unlock()
	if done {
		c.s.mu.Lock()
		c.s.quota(c.peer.UID).handshakes--
		c.s.mu.Unlock()
	}
	return pkg, res, err
}

// snapshotAttrs are the non-secret attributes the daemon keeps for a
// mapped context, for the queries its user-mode half leaves to the host.
var snapshotAttrs = []sspi.ContextAttribute{
	sspi.SECPKG_ATTR_NAMES, sspi.SECPKG_ATTR_NATIVE_NAMES, sspi.SECPKG_ATTR_GOSSPI_IDENTITY,
	sspi.SECPKG_ATTR_PACKAGE_INFO, sspi.SECPKG_ATTR_NEGOTIATION_INFO, sspi.SECPKG_ATTR_FLAGS, sspi.SECPKG_ATTR_LIFESPAN,
}

func (c *conn) snapshot(ctx context.Context, h sspi.CtxtHandle) map[sspi.ContextAttribute]any {
	m := make(map[sspi.ContextAttribute]any, len(snapshotAttrs))
	for _, a := range snapshotAttrs {
		if v, err := c.s.host.QueryContextAttributes(ctx, h, a); err == nil {
			m[a] = v
		}
	}
	return m
}

// forget drops a context record and its quota.
func (c *conn) forget(h sspi.CtxtHandle) (*ctxRec, bool) {
	c.mu.Lock()
	r, ok := c.ctxs[h]
	delete(c.ctxs, h)
	c.mu.Unlock()
	if ok {
		c.s.mu.Lock()
		q := c.s.quota(c.peer.UID)
		q.contexts--
		if !r.established {
			q.handshakes--
		}
		c.s.mu.Unlock()
	}
	return r, ok
}

func (c *conn) deleteContext(ctx context.Context, h sspi.CtxtHandle) (string, error) {
	r, ok := c.forget(h)
	if !ok {
		return "", sspi.SEC_E_INVALID_HANDLE
	}
	if r.mapped {
		return r.pkg, nil
	}
	err := c.s.host.DeleteContext(ctx, h)
	if sspi.StatusOf(err) == sspi.SEC_E_INVALID_HANDLE {
		err = nil // reaped by the host's handshake timeout
	}
	return r.pkg, err
}
