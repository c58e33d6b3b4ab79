//go:build linux

package netlogon

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/internal/dcerpc"
	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

func dcClient(t testing.TB, mod func(*Config)) *Client {
	t.Helper()
	addc.Start(t)
	cfg := Config{DC: addc.Addr, Domain: addc.Domain, DNSDomain: addc.DNSDomain,
		Account: addc.Machine.Name, NTHash: ntlmssp.NTOWFv1(addc.Machine.Password)}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ntlmv2 builds the NTLMv2 responses of user for a server challenge and
// returns them with the session base key they give.
func ntlmv2(user, domain, password string, chal [8]byte) (*ntlm.VerifyRequest, [16]byte) {
	rk := ntlmssp.NTOWFv2(ntlmssp.NTOWFv1(password), user, domain)
	avs := ntlmssp.AvPairs{{ID: ntlmssp.AvNbDomainName, Value: ntlmssp.ToUTF16(addc.Domain)}, {ID: ntlmssp.AvNbComputerName, Value: ntlmssp.ToUTF16("WS1")}}.Marshal()
	lm, nt, key := ntlmssp.NTLMv2Response(rk, chal, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, 133000000000000000, avs)
	return &ntlm.VerifyRequest{User: user, Domain: domain, Workstation: "CLIENT1", ServerChallenge: chal, NTResponse: nt, LMResponse: lm}, key
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestSamLogon logs Alice on through the DC: her SID and groups as the DC
// has them, the canonical names, and the session key the responses give.
func TestSamLogon(t *testing.T) {
	c := dcClient(t, nil)
	dc := addc.Start(t)
	ctx := testCtx(t)
	r, key := ntlmv2("ALICE", "addc", addc.Alice.Password, [8]byte{9, 8, 7, 6, 5, 4, 3, 2})
	l, err := c.VerifyResponse(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := dc.SID(addc.Alice.Name)
	if err != nil {
		t.Fatal(err)
	}
	ga, _ := dc.SID(addc.GroupA)
	gb, _ := dc.SID(addc.GroupB)
	if l.SID != sid || l.User != "alice" || l.Domain != addc.Domain || l.SessionKey != key ||
		l.DNSDomain != addc.DNSDomain || l.UPN != "alice@"+addc.DNSDomain {
		t.Errorf("logon %+v; want SID %s and the session key %x", l, sid, key)
	}
	for _, g := range []string{ga, gb, domainSID(sid) + "-513"} {
		if !contains(l.Groups, g) {
			t.Errorf("groups %v lack %s", l.Groups, g)
		}
	}
}

func domainSID(sid string) string { return sid[:strings.LastIndexByte(sid, '-')] }

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestSamLogonRefused: a wrong password and an unknown user are the same
// SEC_E_LOGON_DENIED; the states of accounts their NTSTATUS.
func TestSamLogonRefused(t *testing.T) {
	c := dcClient(t, nil)
	ctx := testCtx(t)
	cases := []struct {
		user, password string
		want           sspi.Status
	}{
		{addc.Alice.Name, "wrong", sspi.SEC_E_LOGON_DENIED},
		{"nosuchuser", "whatever", sspi.SEC_E_LOGON_DENIED},
		{addc.Disabled.Name, addc.Disabled.Password, sspi.STATUS_ACCOUNT_DISABLED},
		{addc.Expired.Name, addc.Expired.Password, sspi.STATUS_PASSWORD_EXPIRED},
		{addc.MustChange.Name, addc.MustChange.Password, sspi.STATUS_PASSWORD_MUST_CHANGE},
		{addc.AccountExpired.Name, addc.AccountExpired.Password, sspi.STATUS_ACCOUNT_EXPIRED},
	}
	var denied []string
	for _, tc := range cases {
		r, _ := ntlmv2(tc.user, addc.Domain, tc.password, [8]byte{1})
		_, err := c.VerifyResponse(ctx, r)
		if got := sspi.StatusOf(err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.user, err, tc.want)
		}
		if tc.want == sspi.SEC_E_LOGON_DENIED && err != nil {
			denied = append(denied, err.Error())
		}
	}
	if len(denied) == 2 && denied[0] != denied[1] {
		t.Errorf("a wrong password and an unknown user differ: %q, %q", denied[0], denied[1])
	}
}

// TestWrongMachinePassword: a secure channel the DC refuses is
// SEC_E_NO_AUTHENTICATING_AUTHORITY, never SEC_E_LOGON_DENIED.
func TestWrongMachinePassword(t *testing.T) {
	c := dcClient(t, func(cfg *Config) { cfg.NTHash = ntlmssp.NTOWFv1("not the machine password") })
	r, _ := ntlmv2(addc.Alice.Name, addc.Domain, addc.Alice.Password, [8]byte{1})
	_, err := c.VerifyResponse(testCtx(t), r)
	if !errors.Is(err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY) {
		t.Fatalf("%v, want SEC_E_NO_AUTHENTICATING_AUTHORITY", err)
	}
	t.Log(err)
}

// TestTranscripts makes the logons of the transcripts under testdata/
// against the DC, with the recorded clock and seed: with -record it
// rewrites the transcripts; without, it checks the live result against
// the recorded one (the DC's SIDs and keys are those of the cached
// provision).
func TestTranscripts(t *testing.T) {
	dc := addc.Start(t)
	port, err := dcerpc.LookupPort(testCtx(t), addc.Addr, netlogonIf)
	if err != nil {
		t.Fatal(err)
	}
	addr := dcerpc.JoinPort(addc.Addr, port)
	for _, tc := range []struct{ name, password string }{
		{"samlogon-alice.json", addc.Alice.Password},
		{"samlogon-wrong-password.json", "not Alice's password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &transcript{Samba: dc.Version, Time: time.Now().UTC().Truncate(time.Second), Seed: "netlogon transcript " + tc.name,
				Domain: addc.Domain, DNSDomain: addc.DNSDomain, Account: addc.Machine.Name,
				User: addc.Alice.Name, UserDomain: addc.Domain, Workstation: "CLIENT1"}
			h := ntlmssp.NTOWFv1(addc.Machine.Password)
			tr.NTHash = hex.EncodeToString(h[:])
			if !*record {
				old := loadTranscript(t, tc.name)
				tr.Time, tr.Seed = old.Time, old.Seed
				defer func() {
					// Each provision makes a new domain SID, and other
					// tests' accounts add groups: compare the account's RID.
					if rid(tr.Want.SID) != rid(old.Want.SID) || tr.Want.Status != old.Want.Status || tr.Want.User != old.Want.User {
						t.Errorf("live logon %+v, recorded %+v", tr.Want, old.Want)
					}
				}()
			}
			chal := [8]byte{0x51, 0x0a, 0x33, 0x74, 0x20, 0x19, 0x8c, 0x7e}
			r, key := ntlmv2(tr.User, tr.UserDomain, tc.password, chal)
			tr.Challenge, tr.NT, tr.LM = hex.EncodeToString(chal[:]), hex.EncodeToString(r.NTResponse), hex.EncodeToString(r.LMResponse)
			cfg := tr.config(t, addr)
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var mu sync.Mutex
			c.trace = func(n int, out bool, pdu []byte) {
				mu.Lock()
				defer mu.Unlock()
				for len(tr.Conns) <= n {
					tr.Conns = append(tr.Conns, nil)
				}
				tr.Conns[n] = append(tr.Conns[n], pduRec{Out: out, PDU: hex.EncodeToString(pdu)})
			}
			l, err := c.VerifyResponse(testCtx(t), r)
			tr.SessionKey = hex.EncodeToString(c.sess.sk[:])
			if err != nil {
				tr.Want.Status = sspi.StatusOf(err).String()
			} else {
				if l.SessionKey != key {
					t.Errorf("session key %x, want %x", l.SessionKey, key)
				}
				tr.Want = wantLogon{User: l.User, Domain: l.Domain, SID: l.SID, SessionKey: hex.EncodeToString(l.SessionKey[:]),
					UPN: l.UPN, DNSDomain: l.DNSDomain, Groups: l.Groups}
			}
			if *record {
				b, _ := json.MarshalIndent(tr, "", "  ")
				if err := os.WriteFile("testdata/"+tc.name, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// rid is the last subauthority of a SID string.
func rid(sid string) string { return sid[strings.LastIndexByte(sid, '-')+1:] }

// TestSamLogonLockedOut: after LockoutThreshold wrong passwords (each
// SEC_E_LOGON_DENIED, none retried by the client) the DC locks the
// account, and then even the right password gets STATUS_ACCOUNT_LOCKED_OUT:
// the status Windows gives, not a plain logon failure.
func TestSamLogonLockedOut(t *testing.T) {
	c := dcClient(t, nil)
	ctx := testCtx(t)
	for i := 0; i < addc.LockoutThreshold; i++ {
		r, _ := ntlmv2(addc.Locked.Name, addc.Domain, "wrong", [8]byte{byte(i + 1)})
		_, err := c.VerifyResponse(ctx, r)
		if got := sspi.StatusOf(err); got != sspi.SEC_E_LOGON_DENIED && got != sspi.STATUS_ACCOUNT_LOCKED_OUT {
			t.Fatalf("bad password %d: %v, want SEC_E_LOGON_DENIED", i+1, err)
		}
	}
	r, _ := ntlmv2(addc.Locked.Name, addc.Domain, addc.Locked.Password, [8]byte{9})
	_, err := c.VerifyResponse(ctx, r)
	if got := sspi.StatusOf(err); got != sspi.STATUS_ACCOUNT_LOCKED_OUT {
		t.Fatalf("the right password after %d bad ones: %v, want STATUS_ACCOUNT_LOCKED_OUT", addc.LockoutThreshold, err)
	}
	t.Log(err)
}
