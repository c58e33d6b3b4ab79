package ntlm

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Offsets that wrap int(offset)+length on 32-bit platforms (GOARCH=386,
// arm): 2^31-16 turns negative when a 16-bit length is added, 2^32-16 is
// negative as soon as it is converted. `make test386` runs this on 386.
var wrappingOffsets = []uint32{0x7FFFFFF0, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFF}

// TestNegotiateFieldOffsetOverflow is the 40-byte NEGOTIATE that crashed
// `gosspi ntlm-auth` on 32-bit: a DomainName field (MS-NLMP 2.2.1.1) whose
// offset is near 2^31 or 2^32. It must be SEC_E_INVALID_TOKEN, never a
// panic.
func TestNegotiateFieldOffsetOverflow(t *testing.T) {
	for _, off := range wrappingOffsets {
		for _, at := range []int{16, 24} { // DomainNameFields, WorkstationFields
			t.Run(fmt.Sprintf("%#x@%d", off, at), func(t *testing.T) {
				b := negotiate32()
				b = append(b, ntlmssp.DefaultVersion.Major, ntlmssp.DefaultVersion.Minor, 0, 0, 0, 0, 0, ntlmssp.RevisionCurrent)
				binary.LittleEndian.PutUint32(b[12:], binary.LittleEndian.Uint32(b[12:])|ntlmssp.NegotiateOEMDomainSupplied|ntlmssp.NegotiateOEMWorkstationSupplied)
				binary.LittleEndian.PutUint16(b[at:], 0x20)
				binary.LittleEndian.PutUint16(b[at+2:], 0x20)
				binary.LittleEndian.PutUint32(b[at+4:], off)
				if len(b) != 40 {
					t.Fatalf("%d bytes", len(b))
				}
				if _, err := ntlmssp.ParseNegotiate(b); status(err) != sspi.SEC_E_INVALID_TOKEN {
					t.Errorf("ParseNegotiate: %v", err)
				}
				p := testPackage(Config{})
				_, _, err := p.AcceptLsaModeContext(context.Background(), serverCred(t, p), nil, &secpkg.AcceptContextParams{Input: withCB(b, nil)})
				if status(err) != sspi.SEC_E_INVALID_TOKEN {
					t.Errorf("AcceptLsaModeContext: %v", err)
				}
			})
		}
	}
}

// TestChallengeFieldOffsetOverflow is a malicious server's CHALLENGE with a
// TargetName or TargetInfo field (MS-NLMP 2.2.1.2) near 2^31 or 2^32: the
// client fails with SEC_E_INVALID_TOKEN instead of crashing. The same for
// each AUTHENTICATE field (MS-NLMP 2.2.1.3) at a server.
func TestChallengeFieldOffsetOverflow(t *testing.T) {
	var chal, auth []byte
	runHandshake(t, hsOpts{tamper: func(l int, b []byte) []byte {
		switch l {
		case 2:
			chal = append([]byte(nil), b...)
		case 3:
			auth = append([]byte(nil), b...)
		}
		return b
	}})
	for _, off := range wrappingOffsets {
		for _, at := range []int{12, 40} { // TargetNameFields, TargetInfoFields
			t.Run(fmt.Sprintf("CHALLENGE %#x@%d", off, at), func(t *testing.T) {
				b := append([]byte(nil), chal...)
				binary.LittleEndian.PutUint32(b[at+4:], off)
				if _, err := ntlmssp.ParseChallenge(b); status(err) != sspi.SEC_E_INVALID_TOKEN {
					t.Errorf("ParseChallenge: %v", err)
				}
				p := testPackage(Config{})
				cred := clientCred(t, p, &sspi.AuthIdentity{User: testUser, Domain: testDomain, Password: testPassword})
				ctx, _, err := p.InitLsaModeContext(context.Background(), cred, nil, &secpkg.InitContextParams{})
				if err != nil {
					t.Fatal(err)
				}
				_, _, err = p.InitLsaModeContext(context.Background(), cred, ctx, &secpkg.InitContextParams{Input: withCB(b, nil)})
				if status(err) != sspi.SEC_E_INVALID_TOKEN {
					t.Errorf("InitLsaModeContext: %v", err)
				}
			})
		}
		for i := 0; i < 6; i++ {
			at := 12 + 8*i
			t.Run(fmt.Sprintf("AUTHENTICATE %#x@%d", off, at), func(t *testing.T) {
				b := append([]byte(nil), auth...)
				binary.LittleEndian.PutUint32(b[at+4:], off)
				if _, err := ntlmssp.ParseAuthenticate(b); status(err) != sspi.SEC_E_INVALID_TOKEN {
					t.Errorf("ParseAuthenticate: %v", err)
				}
			})
		}
	}
}
