package kerberos

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/gosspi/gosspi/internal/ctxdata"
	"github.com/gosspi/gosspi/sspi"
)

// pacIdentity is what a verified PAC says of the client, as the session
// keeps it and ContextData carries it to the user-mode half.
type pacIdentity struct {
	sid          string   // the user's SID
	primaryGroup string   // the primary group's SID
	groups       []string // every group SID, no duplicates
	groupAttrs   []uint32 // SE_GROUP_* of groups[i]
	user, domain string   // EffectiveName and LogonDomainName: the DC's spelling
	upn          string
	dnsDomain    string
	logonTime    time.Time
	claims       []byte // PAC_CLIENT_CLAIMS_INFO as the KDC wrote it
}

// identity collects the identity of a decoded (and verified) PAC. The
// groups are the logon info's GroupIds in the logon domain, then its
// ExtraSids, then its resource groups (SE_GROUP_RESOURCE added), each SID
// once, with the attributes of all its occurrences together.
func (p *pacType) identity() *pacIdentity {
	id := &pacIdentity{claims: p.claims}
	if ci := p.clientInfo; ci != nil {
		id.logonTime = ci.ClientID.Time()
	}
	if u := p.upnDNS; u != nil {
		id.upn, id.dnsDomain = u.UPN, u.DNSDomainName
	}
	v := p.logonInfo
	if v == nil {
		return id
	}
	if t := v.LogonTime.Time(); !t.IsZero() {
		// Windows writes the logon's time; Samba leaves it "never", and
		// then the TGT's authtime (PAC_CLIENT_INFO) is the logon time.
		id.logonTime = t
	}
	id.user, id.domain = v.EffectiveName, v.LogonDomainName

	// Every SID is written into one buffer and sliced out of one string:
	// one allocation for all of them.
	n := len(v.GroupIDs) + len(v.ExtraSIDs) + len(v.ResourceGroupIDs)
	dom := v.LogonDomainID.appendString(make([]byte, 0, 80))
	var res []byte
	if len(v.ResourceGroupIDs) > 0 {
		res = v.ResourceGroupDomainSID.appendString(nil)
	}
	buf := make([]byte, 0, (n+2)*(len(dom)+11)+len(v.ExtraSIDs)*40)
	ends := make([]int, 0, n+2)
	rid := func(prefix []byte, r uint32) {
		buf = appendUint32(append(append(buf, prefix...), '-'), r)
		ends = append(ends, len(buf))
	}
	rid(dom, v.UserID)
	rid(dom, v.PrimaryGroupID)
	for _, g := range v.GroupIDs {
		rid(dom, g.RelativeID)
	}
	for _, e := range v.ExtraSIDs {
		buf = e.SID.appendString(buf)
		ends = append(ends, len(buf))
	}
	for _, g := range v.ResourceGroupIDs {
		rid(res, g.RelativeID)
	}
	all := string(buf)
	sid := func(i int) string {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		return all[start:ends[i]]
	}
	id.sid, id.primaryGroup = sid(0), sid(1)

	id.groups = make([]string, 0, n)
	id.groupAttrs = make([]uint32, 0, n)
	var index map[string]int // only for long lists
	if n > 32 {
		index = make(map[string]int, n)
	}
	add := func(s string, attrs uint32) {
		if index != nil {
			if i, ok := index[s]; ok {
				id.groupAttrs[i] |= attrs
				return
			}
			index[s] = len(id.groups)
		} else {
			for i, g := range id.groups {
				if g == s {
					id.groupAttrs[i] |= attrs
					return
				}
			}
		}
		id.groups = append(id.groups, s)
		id.groupAttrs = append(id.groupAttrs, attrs)
	}
	k := 2
	for _, g := range v.GroupIDs {
		add(sid(k), g.Attributes)
		k++
	}
	for _, e := range v.ExtraSIDs {
		add(sid(k), e.Attributes)
		k++
	}
	for _, g := range v.ResourceGroupIDs {
		add(sid(k), g.Attributes|seGroupResource)
		k++
	}
	return id
}

func appendUint32(b []byte, v uint32) []byte {
	var d [10]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

// logonName is DOMAIN\user, or "" without a logon info.
func (id *pacIdentity) logonName() string {
	if id == nil || id.user == "" || id.domain == "" {
		return ""
	}
	return id.domain + `\` + id.user
}

// ContextData tags of the PAC identity (internal/ctxdata), beside
// tagSID and tagGroups of usermode.go.
const (
	tagPACPrimaryGroup = 40
	tagPACGroupAttrs   = 41
	tagPACUser         = 42
	tagPACDomain       = 43
	tagPACUPN          = 44
	tagPACDNSDomain    = 45
	tagPACLogonTime    = 46
	tagPACClaims       = 47
)

// marshal writes the PAC identity (all but the SID and the groups, which
// have their own tags) into ContextData.
func (id *pacIdentity) marshal(w *ctxdata.Writer) {
	if id.user == "" && id.primaryGroup == "" && id.upn == "" && id.logonTime.IsZero() && id.claims == nil {
		return
	}
	attrs := make([]byte, 0, 4*len(id.groupAttrs))
	for _, a := range id.groupAttrs {
		attrs = binary.BigEndian.AppendUint32(attrs, a)
	}
	w.String(tagPACPrimaryGroup, id.primaryGroup).
		Bytes(tagPACGroupAttrs, attrs).
		String(tagPACUser, id.user).
		String(tagPACDomain, id.domain).
		String(tagPACUPN, id.upn).
		String(tagPACDNSDomain, id.dnsDomain).
		Time(tagPACLogonTime, id.logonTime)
	if id.claims != nil {
		w.Bytes(tagPACClaims, id.claims)
	}
}

// unmarshal reads what marshal wrote (and the SID and groups, read by the
// caller); the attributes must match the groups one for one.
func (id *pacIdentity) unmarshal(r *ctxdata.Reader) bool {
	if g := r.String(tagGroups); g != "" {
		id.groups = strings.Split(g, ",")
	}
	id.sid = r.String(tagSID)
	if !r.Has(tagPACGroupAttrs) {
		return true
	}
	attrs := r.Bytes(tagPACGroupAttrs)
	if len(attrs) != 4*len(id.groups) {
		return false
	}
	id.groupAttrs = make([]uint32, len(id.groups))
	for i := range id.groupAttrs {
		id.groupAttrs[i] = binary.BigEndian.Uint32(attrs[4*i:])
	}
	id.primaryGroup = r.String(tagPACPrimaryGroup)
	id.user, id.domain = r.String(tagPACUser), r.String(tagPACDomain)
	id.upn, id.dnsDomain = r.String(tagPACUPN), r.String(tagPACDNSDomain)
	var err error
	if id.logonTime, err = r.Time(tagPACLogonTime); err != nil {
		return false
	}
	if !id.logonTime.IsZero() {
		id.logonTime = id.logonTime.UTC()
	}
	id.claims = r.Bytes(tagPACClaims)
	return true
}

// fill sets the identity fields of the PAC in an sspi.Identity: the
// account name in the DC's spelling replaces the ticket's in User and
// Principal (the realm stays the ticket's).
func (id *pacIdentity) fill(out *sspi.Identity) {
	out.SID = id.sid
	out.Groups = append([]string(nil), id.groups...)
	if id.groupAttrs != nil {
		out.GroupAttributes = append([]uint32(nil), id.groupAttrs...)
	}
	out.PrimaryGroup = id.primaryGroup
	out.UPN, out.DNSDomain = id.upn, id.dnsDomain
	out.LogonTime = id.logonTime
	out.LogonName = id.logonName()
	if id.user != "" {
		out.User = id.user
		out.Principal = id.user + "@" + out.Domain
	}
	if id.claims != nil {
		out.Claims, _ = decodeClientClaims(id.claims)
	}
}
