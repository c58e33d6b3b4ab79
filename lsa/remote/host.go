package remote

import (
	"context"

	"github.com/gosspi/gosspi/internal/lsarpc"
	"github.com/gosspi/gosspi/sspi"
)

// EnumerateSecurityPackages implements sspi.Host: the packages the
// daemon's policy lets this caller use.
func (h *Host) EnumerateSecurityPackages(ctx context.Context) ([]sspi.PackageInfo, error) {
	rep, err := h.call(ctx, &lsarpc.Request{Op: lsarpc.OpEnumeratePackages})
	if err != nil {
		return nil, err
	}
	return rep.Packages, nil
}

// QuerySecurityPackageInfo implements sspi.Host.
func (h *Host) QuerySecurityPackageInfo(ctx context.Context, name string) (sspi.PackageInfo, error) {
	rep, err := h.call(ctx, &lsarpc.Request{Op: lsarpc.OpQueryPackageInfo, Name: name})
	if err != nil {
		return sspi.PackageInfo{}, err
	}
	return rep.Package, nil
}

// AcquireCredentialsHandle implements sspi.Host. The caller's KRB5CCNAME,
// KRB5_CONFIG and NTLM_USER_FILE go with the request; the daemon lets the
// caller use only files it owns.
func (h *Host) AcquireCredentialsHandle(ctx context.Context, req *sspi.AcquireCredentialsRequest) (*sspi.AcquireCredentialsResult, error) {
	rep, err := h.call(ctx, &lsarpc.Request{Op: lsarpc.OpAcquireCredentials, Acquire: req, Env: h.environment()})
	if err != nil {
		return nil, err
	}
	if rep.Cred == nil {
		return nil, &sspi.Error{Op: "AcquireCredentialsHandle", Status: sspi.SEC_E_INTERNAL_ERROR, Detail: "gosspi lsad returned no credential"}
	}
	return rep.Cred, nil
}

// FreeCredentialsHandle implements sspi.Host.
func (h *Host) FreeCredentialsHandle(ctx context.Context, cred sspi.CredHandle) error {
	_, err := h.call(ctx, &lsarpc.Request{Op: lsarpc.OpFreeCredentials, Cred: cred})
	return err
}

// QueryCredentialsAttributes implements sspi.Host.
func (h *Host) QueryCredentialsAttributes(ctx context.Context, cred sspi.CredHandle, attr uint32) (any, error) {
	rep, err := h.call(ctx, &lsarpc.Request{Op: lsarpc.OpQueryCredentialsAttributes, Cred: cred, Attr: attr})
	if err != nil {
		return nil, err
	}
	return rep.Attr, nil
}

func (h *Host) legResult(op lsarpc.Op, rep *lsarpc.Reply, err error) (*sspi.ContextResult, error) {
	var res *sspi.ContextResult
	if rep != nil {
		res = rep.Result
	}
	if err == nil && res == nil {
		err = &sspi.Error{Op: op.String(), Status: sspi.SEC_E_INTERNAL_ERROR, Detail: "gosspi lsad returned no result"}
	}
	if err == nil && res.Mapped && res.Status == sspi.SEC_E_OK {
		// The daemon dropped the LSA half: deleting it later only frees
		// the daemon's record, and need not wait for the answer.
		h.mapped.Store(res.Context, struct{}{})
	}
	return res, err
}

// InitLsaModeContext implements sspi.Host.
func (h *Host) InitLsaModeContext(ctx context.Context, req *sspi.InitContextRequest) (*sspi.ContextResult, error) {
	rep, err := h.call(ctx, &lsarpc.Request{Op: lsarpc.OpInitContext, Init: req})
	return h.legResult(lsarpc.OpInitContext, rep, err)
}

// AcceptLsaModeContext implements sspi.Host.
func (h *Host) AcceptLsaModeContext(ctx context.Context, req *sspi.AcceptContextRequest) (*sspi.ContextResult, error) {
	rep, err := h.call(ctx, &lsarpc.Request{Op: lsarpc.OpAcceptContext, Accept: req})
	return h.legResult(lsarpc.OpAcceptContext, rep, err)
}

// InitLsaModeContextAsync implements sspi.AsyncHost: done runs on the
// connection's reader when the reply arrives.
func (h *Host) InitLsaModeContextAsync(ctx context.Context, req *sspi.InitContextRequest, done func(*sspi.ContextResult, error)) {
	h.callAsync(ctx, &lsarpc.Request{Op: lsarpc.OpInitContext, Init: req}, func(rep *lsarpc.Reply, err error) {
		done(h.legResult(lsarpc.OpInitContext, rep, err))
	})
}

// AcceptLsaModeContextAsync implements sspi.AsyncHost.
func (h *Host) AcceptLsaModeContextAsync(ctx context.Context, req *sspi.AcceptContextRequest, done func(*sspi.ContextResult, error)) {
	h.callAsync(ctx, &lsarpc.Request{Op: lsarpc.OpAcceptContext, Accept: req}, func(rep *lsarpc.Reply, err error) {
		done(h.legResult(lsarpc.OpAcceptContext, rep, err))
	})
}

// CompleteAuthToken implements sspi.Host.
func (h *Host) CompleteAuthToken(ctx context.Context, c sspi.CtxtHandle, token *sspi.SecBufferDesc) error {
	_, err := h.call(ctx, &lsarpc.Request{Op: lsarpc.OpCompleteAuthToken, Ctx: c, Token: token})
	return err
}

// DeleteContext implements sspi.Host. Deleting an established, mapped
// context does not wait for the daemon: it holds no secret of it any more.
func (h *Host) DeleteContext(ctx context.Context, c sspi.CtxtHandle) error {
	if _, ok := h.mapped.LoadAndDelete(c); ok {
		h.callAsync(context.Background(), &lsarpc.Request{Op: lsarpc.OpDeleteContext, Ctx: c}, func(*lsarpc.Reply, error) {})
		return nil
	}
	_, err := h.call(ctx, &lsarpc.Request{Op: lsarpc.OpDeleteContext, Ctx: c})
	return err
}

// QueryContextAttributes implements sspi.Host.
func (h *Host) QueryContextAttributes(ctx context.Context, c sspi.CtxtHandle, attr sspi.ContextAttribute) (any, error) {
	rep, err := h.call(ctx, &lsarpc.Request{Op: lsarpc.OpQueryContextAttributes, Ctx: c, Attr: uint32(attr)})
	if err != nil {
		return nil, err
	}
	return rep.Attr, nil
}
