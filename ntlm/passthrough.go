package ntlm

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
)

// checkV2Blob checks what an NTLMv2 response carries besides its proof
// (MS-NLMP 3.2.5.1.2): the RespType, the freshness of the client's
// timestamp, the channel bindings and the target name. It returns the
// AV pairs and whether MsvAvFlags announces a MIC.
func (sc *serverContext) checkV2Blob(nt []byte) (ntlmssp.AvPairs, bool, error) {
	if nt[16] != 1 {
		return nil, false, ntlmssp.ErrInvalid("bad NTLMv2 RespType")
	}
	avs, err := ntlmssp.ParseAvPairs(nt[44:])
	if err != nil {
		return nil, false, err
	}
	ts := fromFiletime(binary.LittleEndian.Uint64(nt[24:32]))
	p := sc.p
	if d := p.now().Sub(ts); d > p.cfg.MaxClockSkew || d < -p.cfg.MaxClockSkew {
		return nil, false, ascErr(sspi.SEC_E_TIME_SKEW, "NTLMv2 timestamp too old or in the future")
	}
	micPresent := false
	if f, ok := avs.Get(ntlmssp.AvFlags); ok {
		micPresent = binary.LittleEndian.Uint32(f)&ntlmssp.AvFlagMICPresent != 0
	}
	if err := sc.checkBindings(avs); err != nil {
		return nil, false, err
	}
	if err := sc.checkTargetName(avs); err != nil {
		return nil, false, err
	}
	return avs, micPresent, nil
}

// passThrough has the Verifier check the responses to chal (NETLOGON
// pass-through). The account it returns carries the DC's names and SID.
func (sc *serverContext) passThrough(ctx context.Context, am *ntlmssp.AuthenticateMessage, chal [8]byte, lm []byte) (*Account, []string, [16]byte, error) {
	v, err := sc.verifier.VerifyResponse(ctx, &VerifyRequest{
		User: am.User, Domain: am.Domain, Workstation: am.Workstation,
		ServerChallenge: chal, NTResponse: am.NtChallengeResponse, LMResponse: lm,
	})
	if err != nil {
		return nil, nil, [16]byte{}, verifierError(err)
	}
	if v == nil || v.User == "" {
		return nil, nil, [16]byte{}, ascErr(sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY, "the verifier returned no account")
	}
	return &Account{User: v.User, Domain: v.Domain, SID: v.SID}, append([]string(nil), v.Groups...), v.SessionKey, nil
}

// verifierError is the AcceptSecurityContext error for a Verifier's: its
// status and detail, with its cause; an error without a status means the
// domain could not be asked (SEC_E_NO_AUTHENTICATING_AUTHORITY).
func verifierError(err error) error {
	out := &sspi.Error{Op: "AcceptSecurityContext", Status: sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY, Detail: "the domain controller could not be asked", Err: err}
	var se *sspi.Error
	var st sspi.Status
	switch {
	case errors.As(err, &se):
		out.Status, out.Detail, out.Err = se.Status, se.Detail, se.Err
	case errors.As(err, &st):
		out.Status, out.Detail, out.Err = st, "", nil
	}
	if !out.Status.Failed() {
		out.Status = sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY
	}
	return out
}

// targetNamer is a Verifier that knows the names an NTLM server using it
// must advertise (netlogon.Client: the domain's and the machine account's).
type targetNamer interface {
	TargetNames() (netbiosDomain, netbiosComputer, dnsDomain, dnsComputer string)
}

// verifierNames fills the CHALLENGE's names from the Verifier when none is
// configured.
func (cfg *Config) verifierNames() {
	tn, ok := cfg.Verifier.(targetNamer)
	if !ok || cfg.NetBIOSDomain != "" || cfg.NetBIOSComputer != "" || cfg.DNSDomain != "" || cfg.DNSComputer != "" {
		return
	}
	cfg.NetBIOSDomain, cfg.NetBIOSComputer, cfg.DNSDomain, cfg.DNSComputer = tn.TargetNames()
}
