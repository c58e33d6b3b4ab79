package netlogon

import (
	"strconv"

	"github.com/gosspi/gosspi/internal/ndr"
)

// validation is what NETLOGON_VALIDATION_SAM_INFO, SAM_INFO2 and
// SAM_INFO4 (MS-NRPC 2.2.1.4.11–13) say about a logon; the fields the
// verifier does not use are read and dropped.
type validation struct {
	effectiveName, fullName string
	userID, primaryGroupID  uint32
	groupIDs                []groupMembership
	userFlags               uint32
	userSessionKey          [16]byte
	logonServer             string
	logonDomainName         string
	logonDomainID           string // the domain SID
	lmKey                   [8]byte
	userAccountControl      uint32
	extraSIDs               []sidAndAttributes
	dnsLogonDomainName, upn string
}

type groupMembership struct{ rid, attributes uint32 }

type sidAndAttributes struct {
	sid        string
	attributes uint32
}

// maxGroups bounds GroupCount and SidCount: AD caps a token near 1015
// groups; more is a malformed or hostile reply.
const maxGroups = 4096

// decodeValidation reads a NETLOGON_VALIDATION_SAM_INFO{,2,4} referent.
func decodeValidation(d *ndr.Decoder, level uint16) *validation {
	if level != validationSamInfo && level != validationSamInfo2 && level != validationSamInfo4 {
		d.Fail("validation level %d", level)
		return nil
	}
	v := &validation{}
	d.Align(4)
	for i := 0; i < 6; i++ { // LogonTime ... PasswordMustChange
		d.Uint32()
		d.Uint32()
	}
	var script, profile, home, drive string
	d.UnicodeString(&v.effectiveName)
	d.UnicodeString(&v.fullName)
	d.UnicodeString(&script)
	d.UnicodeString(&profile)
	d.UnicodeString(&home)
	d.UnicodeString(&drive)
	d.Uint16() // LogonCount
	d.Uint16() // BadPasswordCount
	v.userID = d.Uint32()
	v.primaryGroupID = d.Uint32()
	groupCount := d.Uint32()
	if d.Err() == nil && groupCount > maxGroups {
		d.Fail("GroupCount %d", groupCount)
	}
	present := d.Pointer(func(d *ndr.Decoder) {
		n := d.Count(8)
		if d.Err() == nil && n != int(groupCount) {
			d.Fail("GroupIds of %d for GroupCount %d", n, groupCount)
			return
		}
		v.groupIDs = make([]groupMembership, 0, n)
		for i := 0; i < n && d.Err() == nil; i++ {
			v.groupIDs = append(v.groupIDs, groupMembership{d.Uint32(), d.Uint32()})
		}
	})
	if d.Err() == nil && !present && groupCount != 0 {
		d.Fail("GroupCount %d without GroupIds", groupCount)
	}
	v.userFlags = d.Uint32()
	d.RawInto(v.userSessionKey[:])
	d.UnicodeString(&v.logonServer)
	d.UnicodeString(&v.logonDomainName)
	d.Pointer(func(d *ndr.Decoder) { v.logonDomainID = d.SID() })
	// ExpansionRoom[10] of SAM_INFO and SAM_INFO2; in SAM_INFO4 LMKey,
	// UserAccountControl, SubAuthStatus, two times, FailedILogonCount and
	// Reserved4 (the same 40 bytes).
	d.RawInto(v.lmKey[:])
	v.userAccountControl = d.Uint32()
	for i := 0; i < 7; i++ {
		d.Uint32()
	}
	if level >= validationSamInfo2 {
		sidCount := d.Uint32()
		if d.Err() == nil && sidCount > maxGroups {
			d.Fail("SidCount %d", sidCount)
		}
		present := d.Pointer(func(d *ndr.Decoder) {
			n := d.Count(8)
			if d.Err() == nil && n != int(sidCount) {
				d.Fail("ExtraSids of %d for SidCount %d", n, sidCount)
				return
			}
			v.extraSIDs = make([]sidAndAttributes, n)
			for i := 0; i < n && d.Err() == nil; i++ {
				e := &v.extraSIDs[i]
				d.Pointer(func(d *ndr.Decoder) { e.sid = d.SID() })
				e.attributes = d.Uint32()
			}
		})
		if d.Err() == nil && !present && sidCount != 0 {
			d.Fail("SidCount %d without ExtraSids", sidCount)
		}
	}
	if level == validationSamInfo4 {
		d.UnicodeString(&v.dnsLogonDomainName)
		d.UnicodeString(&v.upn)
		var expansion string
		for i := 0; i < 10; i++ {
			d.UnicodeString(&expansion)
		}
	}
	return v
}

// userSID is the user's SID: the domain's with UserId appended.
func (v *validation) userSID() string {
	if v.logonDomainID == "" {
		return ""
	}
	return v.logonDomainID + "-" + strconv.FormatUint(uint64(v.userID), 10)
}

// groupSIDs lists the token's group SIDs as Windows builds them from a
// validation (MS-PAC 2.5 has the same shape): the primary group, the
// GroupIds in the logon domain, then the ExtraSids; each once.
func (v *validation) groupSIDs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if v.logonDomainID != "" {
		add(v.logonDomainID + "-" + strconv.FormatUint(uint64(v.primaryGroupID), 10))
		for _, g := range v.groupIDs {
			add(v.logonDomainID + "-" + strconv.FormatUint(uint64(g.rid), 10))
		}
	}
	for _, e := range v.extraSIDs {
		add(e.sid)
	}
	return out
}
