package kerberos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// TestReplayCacheFloodAttack is issue 10 item 2 as an attacker runs it: a
// victim logs on with an AP-REQ the attacker captured; the attacker, a
// realm user, floods the acceptor's replay cache with more fresh
// authenticators than it holds (straight into the cache here, which is
// what 100,010 real AP-REQs do to it, without the KDC); then replays the
// captured AP-REQ within its skew window. The cache used to forget its
// oldest live entry when full, and the replay was accepted. It must stay
// refused as a replay (KRB_AP_ERR_REPEAT).
func TestReplayCacheFloodAttack(t *testing.T) {
	for _, size := range []int{1000, DefaultReplayCacheSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			tr := loadTranscript(t, "aes256")
			testutil.PinClock(t, tr.recorded())
			clk := testutil.NewClock(tr.recorded())
			cache := NewMemoryReplayCache(size)
			cache.now = clk.Now
			p := New(Config{Now: clk.Now, Rand: testutil.NewReplayReader(tr.AcceptorRandom), ReplayCache: cache})
			cred := serverCred(t, p, tr.keytabFile(t), tr.Service)
			cb := &sspi.ChannelBindings{ApplicationData: tr.CB}
			accept := func() error {
				_, _, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: tokenDesc(tr.APReq, cb)})
				return err
			}
			if err := accept(); err != nil {
				t.Fatalf("the victim's logon: %v", err)
			}
			// The flood: fresh authenticators of the attacker, each valid
			// for the skew window.
			for i := 0; i < size+10; i++ {
				_ = cache.Check(fmt.Sprintf("mallory@REALM|HTTP/svc.localhost@REALM|%d", i), clk.Now().Add(5*time.Minute))
			}
			clk.Advance(time.Second)
			wantStatus(t, accept(), sspi.SEC_E_OUT_OF_SEQUENCE)
		})
	}
}
