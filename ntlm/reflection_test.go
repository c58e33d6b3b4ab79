package ntlm

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// selfLogon runs the MS08-068 shape on one package: its client answers the
// CHALLENGE its own server issued, and the answer goes back to the server.
// wait runs between the client's answer and its delivery.
func selfLogon(t *testing.T, p *Package, wait func()) error {
	t.Helper()
	ctx := context.Background()
	cred := clientCred(t, p, &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: testPassword})
	scred := serverCred(t, p)
	cc, out, err := p.InitLsaModeContext(ctx, cred, nil, &secpkg.InitContextParams{TargetName: "HTTP/attacker.example"})
	if err != nil {
		t.Fatal(err)
	}
	sc, sout, err := p.AcceptLsaModeContext(ctx, scred, nil, &secpkg.AcceptContextParams{Input: withCB(out.Output[0].Buffer, nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, out, err = p.InitLsaModeContext(ctx, cred, cc, &secpkg.InitContextParams{TargetName: "HTTP/attacker.example", Input: withCB(sout.Output[0].Buffer, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if wait != nil {
		wait()
	}
	_, _, err = p.AcceptLsaModeContext(ctx, scred, sc, &secpkg.AcceptContextParams{Input: withCB(out.Output[0].Buffer, nil)})
	return err
}

// TestReflectionRefused: by default a package's server refuses an
// AUTHENTICATE its own client made for its CHALLENGE; with the legacy
// AllowReflection the in-process self-logon works.
func TestReflectionRefused(t *testing.T) {
	if err := selfLogon(t, testPackage(Config{}), nil); status(err) != sspi.SEC_E_LOGON_DENIED {
		t.Errorf("reflected AUTHENTICATE: got %v, want SEC_E_LOGON_DENIED", err)
	}
	if err := selfLogon(t, testPackage(Config{AllowReflection: true}), nil); err != nil {
		t.Errorf("self-logon with AllowReflection: %v", err)
	}
	// Other clients, and our client with other servers, are not affected.
	p := testPackage(Config{})
	if _, _, err := runHandshake(t, hsOpts{server: p}); err != nil {
		t.Errorf("another client to a protected server: %v", err)
	}
	if _, _, err := runHandshake(t, hsOpts{client: p}); err != nil {
		t.Errorf("a protected package's client to another server: %v", err)
	}
}

// TestReflectionAfterTheRecordExpires: the answered challenge is forgotten
// by the configured clock after MaxClockSkew; an attacker who waits that
// long before relaying (Ghost Potato waited out Windows' 300 s) finds the
// CHALLENGE expired, NTLMv1 (no timestamp) included.
func TestReflectionAfterTheRecordExpires(t *testing.T) {
	for _, v1 := range []bool{false, true} {
		clk := testutil.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
		p := testPackage(Config{AllowNTLMv1: v1, Now: clk.Now, MaxClockSkew: 5 * time.Minute})
		err := selfLogon(t, p, func() { clk.Advance(5*time.Minute + time.Second) })
		want := sspi.SEC_E_CONTEXT_EXPIRED
		if !v1 {
			want = sspi.SEC_E_TIME_SKEW // the NTLMv2 timestamp is the server's
		}
		if status(err) != want {
			t.Errorf("v1=%v: reflection after the record expired: got %v, want %v", v1, err, want)
		}
		// Expired entries go at the next use of the record.
		p.answered.reflected([8]byte{}, clk.Now(), clk.Now(), p.cfg.MaxClockSkew)
		p.answered.mu.Lock()
		n := len(p.answered.seen)
		p.answered.mu.Unlock()
		if n != 0 {
			t.Errorf("v1=%v: %d answers remembered after they expired", v1, n)
		}
	}
}

// TestReflectionRecordBounded: a flood of answered challenges keeps the
// record at its cap, and the check fails closed: a challenge answered
// before the flood is still refused once its entry was pushed out early,
// while a CHALLENGE issued after the flood is not affected.
func TestReflectionRecordBounded(t *testing.T) {
	clk := testutil.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	var g reflectionGuard
	const window = 5 * time.Minute
	reflected := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	issued := clk.Now()
	clk.Advance(time.Millisecond)
	g.answer(reflected, clk.Now(), window)
	var c [8]byte
	for i := 0; i < maxAnswered+1000; i++ {
		clk.Advance(time.Microsecond)
		binary.LittleEndian.PutUint64(c[:], uint64(i)+1<<40)
		g.answer(c, clk.Now(), window)
	}
	if live, n := len(g.queue)-g.head, len(g.seen); live > maxAnswered || n > maxAnswered {
		t.Fatalf("record holds %d entries (%d in the map), cap %d", live, n, maxAnswered)
	}
	if !g.reflected(reflected, issued, clk.Now(), window) {
		t.Error("a reflected challenge pushed out by the flood passes (fails open)")
	}
	clk.Advance(time.Millisecond)
	if g.reflected([8]byte{9, 9, 9}, clk.Now(), clk.Now(), window) {
		t.Error("a CHALLENGE issued after the flood is refused")
	}
	// Everything expires with the clock.
	clk.Advance(window + time.Second)
	g.answer([8]byte{7}, clk.Now(), window)
	if live := len(g.queue) - g.head; live != 1 || len(g.seen) != 1 {
		t.Errorf("after the window: %d entries, %d in the map", live, len(g.seen))
	}
}
