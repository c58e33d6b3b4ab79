package sspi_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"testing"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

func init() {
	for _, v := range []any{sspi.SecPkgContextSizes{}, sspi.SecPkgContextNames{}, sspi.SecPkgContextLifespan{},
		sspi.SecPkgContextSessionKey{}, sspi.SecPkgContextPackageInfo{}, sspi.SecPkgContextNegotiationInfo{},
		sspi.SecPkgContextFlags{}, sspi.SecPkgContextNativeNames{}, sspi.SecPkgContextStreamSizes{}, sspi.Identity{}} {
		gob.Register(v)
	}
}

// wireHost is an sspi.Host that sends every request and every result
// through gob, as a host in another process would receive them: nothing is
// shared between the two sides but bytes.
type wireHost struct{ inner sspi.Host }

type wireErr struct {
	Status sspi.Status
	Op     string
	Detail string
	Is     bool // a bare Status
}

func ship[T any](t T) T {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&t); err != nil {
		panic("not serializable: " + err.Error())
	}
	var out T
	if err := gob.NewDecoder(&buf).Decode(&out); err != nil {
		panic("not deserializable: " + err.Error())
	}
	return out
}

func shipErr(err error) error {
	if err == nil {
		return nil
	}
	var w wireErr
	var e *sspi.Error
	if errors.As(err, &e) {
		w = wireErr{Status: e.Status, Op: e.Op, Detail: e.Detail}
	} else {
		w = wireErr{Status: sspi.StatusOf(err), Is: true}
	}
	w = ship(w)
	if w.Is {
		return w.Status
	}
	return &sspi.Error{Status: w.Status, Op: w.Op, Detail: w.Detail}
}

type anyBox struct{ V any }

func (h wireHost) EnumerateSecurityPackages(ctx context.Context) ([]sspi.PackageInfo, error) {
	p, err := h.inner.EnumerateSecurityPackages(ctx)
	return ship(p), shipErr(err)
}
func (h wireHost) QuerySecurityPackageInfo(ctx context.Context, name string) (sspi.PackageInfo, error) {
	p, err := h.inner.QuerySecurityPackageInfo(ctx, ship(name))
	return ship(p), shipErr(err)
}
func (h wireHost) AcquireCredentialsHandle(ctx context.Context, req *sspi.AcquireCredentialsRequest) (*sspi.AcquireCredentialsResult, error) {
	r, err := h.inner.AcquireCredentialsHandle(ctx, ship(req))
	return ship(r), shipErr(err)
}
func (h wireHost) FreeCredentialsHandle(ctx context.Context, c sspi.CredHandle) error {
	return shipErr(h.inner.FreeCredentialsHandle(ctx, ship(c)))
}
func (h wireHost) QueryCredentialsAttributes(ctx context.Context, c sspi.CredHandle, attr uint32) (any, error) {
	v, err := h.inner.QueryCredentialsAttributes(ctx, ship(c), attr)
	return ship(anyBox{v}).V, shipErr(err)
}
func (h wireHost) InitLsaModeContext(ctx context.Context, req *sspi.InitContextRequest) (*sspi.ContextResult, error) {
	r, err := h.inner.InitLsaModeContext(ctx, ship(req))
	return ship(r), shipErr(err)
}
func (h wireHost) AcceptLsaModeContext(ctx context.Context, req *sspi.AcceptContextRequest) (*sspi.ContextResult, error) {
	r, err := h.inner.AcceptLsaModeContext(ctx, ship(req))
	return ship(r), shipErr(err)
}
func (h wireHost) CompleteAuthToken(ctx context.Context, c sspi.CtxtHandle, tok *sspi.SecBufferDesc) error {
	return shipErr(h.inner.CompleteAuthToken(ctx, ship(c), ship(tok)))
}
func (h wireHost) DeleteContext(ctx context.Context, c sspi.CtxtHandle) error {
	return shipErr(h.inner.DeleteContext(ctx, ship(c)))
}
func (h wireHost) QueryContextAttributes(ctx context.Context, c sspi.CtxtHandle, attr sspi.ContextAttribute) (any, error) {
	v, err := h.inner.QueryContextAttributes(ctx, ship(c), attr)
	return ship(anyBox{v}).V, shipErr(err)
}

// TestConformanceOverTheWire runs the conformance suite, with TestPkg and
// with NTLM, through a host boundary that carries only gob-encoded bytes:
// the surface and the host share no memory.
func TestConformanceOverTheWire(t *testing.T) {
	t.Run("TestPkg", func(t *testing.T) {
		s := testSetup(sspi.ISC_REQ_MUTUAL_AUTH | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT)
		s.Concurrent = 200
		s.NewTable = func(t testing.TB) *sspi.FunctionTable {
			host, err := lsa.New(lsa.Config{}, sspitest.New(sspitest.Config{Accounts: accounts}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { host.Close() })
			return sspi.InitSecurityInterface(wireHost{host}, sspitest.UserMode{})
		}
		sspitest.RunConformance(t, s)
	})
	t.Run("NTLM", func(t *testing.T) {
		store := ntlm.NewMemoryStore()
		store.Add("CONTOSO", "alice", "correct horse")
		sspitest.RunConformance(t, sspitest.Setup{
			NewTable: func(t testing.TB) *sspi.FunctionTable {
				host, err := lsa.New(lsa.Config{}, ntlm.New(ntlm.Config{Accounts: store, AllowReflection: true}))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { host.Close() })
				return sspi.InitSecurityInterface(wireHost{host}, ntlm.UserMode())
			},
			Package:       "NTLM",
			Target:        "host/server",
			Client:        &sspi.AuthIdentity{User: "alice", Domain: "CONTOSO", Password: "correct horse"},
			WrongPassword: &sspi.AuthIdentity{User: "alice", Domain: "CONTOSO", Password: "nope"},
			ClientReq:     sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_CONNECTION,
			ServerReq:     sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_INTEGRITY | sspi.ASC_REQ_SEQUENCE_DETECT | sspi.ASC_REQ_CONNECTION,
			WantUser:      `CONTOSO\alice`,
			Concurrent:    200,
		})
	})
}
