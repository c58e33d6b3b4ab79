package negotiate

import (
	"slices"
	"strings"

	"github.com/gosspi/gosspi/internal/ctxdata"
	"github.com/gosspi/gosspi/sspi"
)

// ContextData fields (internal/ctxdata tags). Negotiate's ContextData wraps
// the inner package's: the user-mode half rebuilds the inner user-mode
// context from it. The mechListMIC operations of the handshake moved the
// inner per-message state (sequence numbers, NTLM's RC4): when the inner
// user-mode context can export itself, the LSA-mode half ships that state;
// otherwise it ships the MIC inputs and the user-mode half replays them.
const (
	tagInnerName    = 1 // inner package name
	tagInnerData    = 2 // inner ContextData
	tagMechTypes    = 3 // DER MechTypeList the MICs cover
	tagMICSent      = 4 // we made a mechListMIC
	tagPeerMIC      = 5 // the peer's mechListMIC, verified
	tagNTLM         = 6 // the inner mechanism is NTLM (MS-SPNG 3.3.5.1 reset)
	tagInfo         = 7 // the inner PackageInfo, a nested blob with the fields below
	tagSkipped      = 8 // SecPkgContextNegotiationInfo.Skipped, one per line
	tagInfoComment  = 10
	tagInfoCaps     = 11
	tagInfoVersion  = 12
	tagInfoRPCID    = 13
	tagInfoMaxToken = 14
	tagInfoOIDs     = 15
	tagInfoPriority = 16
)

func (c *negContext) contextData() []byte {
	// Small fields first and the inner ContextData last, so that the
	// writer's buffer grows once.
	w := ctxdata.NewWriter(PackageName).
		String(tagInnerName, c.sel.info.Name).
		Bytes(tagInfo, c.sel.infoBlob)
	if s := skipped(c.allNotes()); len(s) > 0 {
		w.String(tagSkipped, strings.Join(s, "\n"))
	}
	if (c.micSent || c.micRcvd) && !c.exported {
		w.Bytes(tagMechTypes, c.RawMechTypes).Bool(tagMICSent, c.micSent).Bool(tagNTLM, c.sel.ntlm)
		if c.micRcvd {
			w.Bytes(tagPeerMIC, c.peerMIC)
		}
	}
	w.Bytes(tagInnerData, c.innerData)
	return w.Finish()
}

// encodeInfo is the inner PackageInfo as ContextData carries it (computed
// once per inner package).
func encodeInfo(info sspi.PackageInfo) []byte {
	return ctxdata.NewWriter("info").
		String(tagInfoComment, info.Comment).
		Uint64(tagInfoCaps, uint64(info.Capabilities)).
		Uint64(tagInfoVersion, uint64(info.Version)).
		Uint64(tagInfoRPCID, uint64(info.RPCID)).
		Uint64(tagInfoMaxToken, uint64(info.MaxToken)).
		String(tagInfoOIDs, strings.Join(info.OIDs, ",")).
		Uint64(tagInfoPriority, uint64(int64(info.Priority))).
		Finish()
}

func readInfo(b []byte, name string) (sspi.PackageInfo, error) {
	info := sspi.PackageInfo{Name: name}
	r, err := ctxdata.Parse(b)
	if err != nil || r.Package != "info" {
		return info, ctxdata.ErrFormat
	}
	info.Comment = r.String(tagInfoComment)
	var vals [5]uint64
	for i, tag := range []uint16{tagInfoCaps, tagInfoVersion, tagInfoRPCID, tagInfoMaxToken, tagInfoPriority} {
		v, err := r.Uint64(tag)
		if err != nil {
			return info, err
		}
		vals[i] = v
	}
	info.Capabilities = uint32(vals[0])
	info.Version = uint16(vals[1])
	info.RPCID = uint16(vals[2])
	info.MaxToken = uint32(vals[3])
	info.Priority = int(int64(vals[4]))
	if s := r.String(tagInfoOIDs); s != "" {
		info.OIDs = strings.Split(s, ",")
	}
	return info, nil
}

// UserMode is Negotiate's user-mode half (SECPKG_USER_FUNCTION_TABLE). It
// holds the inner packages' user-mode halves and hands every per-message
// call to the one the handshake chose.
type UserMode struct {
	inner map[string]sspi.UserModePackage
}

// NewUserMode returns Negotiate's user-mode half over the inner packages'
// user-mode halves.
func NewUserMode(inner ...sspi.UserModePackage) *UserMode {
	u := &UserMode{inner: map[string]sspi.UserModePackage{}}
	for _, p := range inner {
		u.inner[strings.ToLower(p.Name())] = p
	}
	return u
}

// Name returns "Negotiate".
func (u *UserMode) Name() string { return PackageName }

func badData(detail string) error {
	return &sspi.Error{Op: "Negotiate.InitUserModeContext", Status: sspi.SEC_E_INVALID_TOKEN, Detail: detail}
}

// InitUserModeContext is SpInitUserModeContext: it rebuilds the inner
// user-mode context from the ContextData the LSA-mode half returned (or
// that ExportContext made).
func (u *UserMode) InitUserModeContext(contextData []byte) (sspi.UserModeContext, error) {
	r, err := ctxdata.Parse(contextData)
	if err != nil || r.Package != PackageName {
		return nil, badData("not Negotiate context data")
	}
	name := r.String(tagInnerName)
	ip := u.inner[strings.ToLower(name)]
	if ip == nil {
		return nil, &sspi.Error{Op: "Negotiate.InitUserModeContext", Status: sspi.SEC_E_SECPKG_NOT_FOUND, Detail: "no user-mode package " + name}
	}
	infoBlob := r.Bytes(tagInfo)
	if len(infoBlob) == 0 {
		return nil, badData("no package info")
	}
	inner, err := ip.InitUserModeContext(r.Bytes(tagInnerData))
	if err != nil {
		return nil, err
	}
	if r.Has(tagMechTypes) {
		// Replay the mechListMIC operations of the handshake: they used
		// sequence number 0 in each direction (and, for NTLM, reset RC4).
		mt, ntlm := r.Bytes(tagMechTypes), r.Bool(tagNTLM)
		if r.Bool(tagMICSent) {
			if _, err := makeMechListMIC(inner, ntlm, mt); err != nil {
				inner.Delete()
				return nil, err
			}
		}
		if r.Has(tagPeerMIC) {
			if err := verifyMechListMIC(inner, ntlm, mt, r.Bytes(tagPeerMIC)); err != nil {
				inner.Delete()
				return nil, err
			}
		}
	}
	uc := &userContext{inner: inner, name: name, infoBlob: infoBlob}
	if s := r.String(tagSkipped); s != "" {
		uc.skipped = strings.Split(s, "\n")
	}
	return uc, nil
}

// userContext is a mapped Negotiate context: the chosen package's user-mode
// context plus what Negotiate reports about the negotiation.
type userContext struct {
	inner    sspi.UserModeContext
	name     string
	infoBlob []byte // the inner PackageInfo, decoded when first asked for
	info     *sspi.PackageInfo
	skipped  []string // SecPkgContextNegotiationInfo.Skipped
}

func (u *userContext) packageInfo() (sspi.PackageInfo, error) {
	if u.info == nil {
		info, err := readInfo(u.infoBlob, u.name)
		if err != nil {
			return info, badData("bad package info")
		}
		u.info = &info
	}
	return *u.info, nil
}

func (u *userContext) MakeSignature(qop uint32, msg *sspi.SecBufferDesc, seqNo uint32) error {
	return u.inner.MakeSignature(qop, msg, seqNo)
}

func (u *userContext) VerifySignature(msg *sspi.SecBufferDesc, seqNo uint32) (uint32, error) {
	return u.inner.VerifySignature(msg, seqNo)
}

func (u *userContext) SealMessage(qop uint32, msg *sspi.SecBufferDesc, seqNo uint32) error {
	return u.inner.SealMessage(qop, msg, seqNo)
}

func (u *userContext) UnsealMessage(msg *sspi.SecBufferDesc, seqNo uint32) (uint32, error) {
	return u.inner.UnsealMessage(msg, seqNo)
}

// QueryAttributes answers NEGOTIATION_INFO (the chosen package, state
// SECPKG_NEGOTIATION_COMPLETE, and the mechanisms skipped) and
// PACKAGE_INFO (the chosen package, as on Windows); the rest comes from
// the inner context.
func (u *userContext) QueryAttributes(attr sspi.ContextAttribute) (any, error) {
	switch attr {
	case sspi.SECPKG_ATTR_NEGOTIATION_INFO:
		info, err := u.packageInfo()
		if err != nil {
			return nil, err
		}
		return sspi.SecPkgContextNegotiationInfo{PackageInfo: info, NegotiationState: sspi.SECPKG_NEGOTIATION_COMPLETE, Skipped: slices.Clone(u.skipped)}, nil
	case sspi.SECPKG_ATTR_PACKAGE_INFO:
		info, err := u.packageInfo()
		if err != nil {
			return nil, err
		}
		return sspi.SecPkgContextPackageInfo{PackageInfo: info}, nil
	}
	return u.inner.QueryAttributes(attr)
}

func (u *userContext) Delete() { u.inner.Delete() }

// ExportContext is SpExportSecurityContext: Negotiate's ContextData around
// the inner context's export, which already holds the current sequence
// numbers, so nothing is replayed on import.
func (u *userContext) ExportContext() ([]byte, error) {
	ex, ok := u.inner.(sspi.UserModeExporter)
	if !ok {
		return nil, &sspi.Error{Op: "ExportSecurityContext", Status: sspi.SEC_E_UNSUPPORTED_FUNCTION, Detail: u.name + " cannot export"}
	}
	data, err := ex.ExportContext()
	if err != nil {
		return nil, err
	}
	w := ctxdata.NewWriter(PackageName).String(tagInnerName, u.name).Bytes(tagInnerData, data).Bytes(tagInfo, u.infoBlob)
	if len(u.skipped) > 0 {
		w.String(tagSkipped, strings.Join(u.skipped, "\n"))
	}
	return w.Finish(), nil
}

var _ sspi.UserModeExporter = (*userContext)(nil)
