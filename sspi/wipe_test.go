package sspi_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gosspi/gosspi/internal/sspitest"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/sspi"
)

// keepingHost remembers every ContextResult the host returned.
type keepingHost struct {
	sspi.Host
	mu   sync.Mutex
	kept []*sspi.ContextResult
}

func (h *keepingHost) keep(r *sspi.ContextResult, err error) (*sspi.ContextResult, error) {
	if r != nil {
		h.mu.Lock()
		h.kept = append(h.kept, r)
		h.mu.Unlock()
	}
	return r, err
}

func (h *keepingHost) InitLsaModeContext(ctx context.Context, req *sspi.InitContextRequest) (*sspi.ContextResult, error) {
	return h.keep(h.Host.InitLsaModeContext(ctx, req))
}

func (h *keepingHost) AcceptLsaModeContext(ctx context.Context, req *sspi.AcceptContextRequest) (*sspi.ContextResult, error) {
	return h.keep(h.Host.AcceptLsaModeContext(ctx, req))
}

// TestContextDataWiped: once the surface has built a user-mode context,
// the ContextData the host handed over (keys, sequence numbers) is zeroed,
// and the context still works from its own copies.
func TestContextDataWiped(t *testing.T) {
	pkg := sspitest.New(sspitest.Config{Accounts: accounts})
	host, err := lsa.New(lsa.Config{}, pkg)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	kh := &keepingHost{Host: host}
	tbl := sspi.New(kh, sspi.Config{UserPackages: []sspi.UserModePackage{sspitest.UserMode{}}})
	defer tbl.Close()
	s := testSetup(sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY)
	p, err := s.Handshake(t, tbl, &sspi.AuthIdentity{User: "alice", Password: accounts["alice"]})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	mapped := 0
	for _, r := range kh.kept {
		if !r.Mapped {
			continue
		}
		mapped++
		if len(r.ContextData) == 0 {
			t.Fatal("a mapped result without ContextData")
		}
		for _, b := range r.ContextData {
			if b != 0 {
				t.Fatalf("ContextData not wiped after mapping: %x", r.ContextData)
			}
		}
	}
	if mapped != 2 {
		t.Fatalf("%d mapped results, want 2 (client and server)", mapped)
	}
	sealed := sspitest.Seal(t, tbl, &p.Client, []byte("still works"))
	if got, st := sspitest.Unseal(tbl, &p.Server, sealed); st != sspi.SEC_E_OK || string(got) != "still works" {
		t.Fatalf("unseal after wipe: %v %q", st, got)
	}
}
