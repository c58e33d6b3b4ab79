package kerberos

import (
	"encoding/binary"
	"strings"
	"time"
)

// The principal and credential encodings of the FILE ccache format,
// version 4 (MIT's "ccache file format" documentation, "Principal format"
// and "Credential format"), which the KCM protocol and the KEYRING cache
// type also use for one principal or one credential (MIT kcm.h: "Principals
// and credentials are marshalled in the v4 FILE ccache format"; the
// payloads of cc_keyring.c's keys).

// cred reads one credential of a version v cache.
func (r *ccReader) cred(v byte) ccCred {
	var cr ccCred
	cr.Client = r.principal()
	cr.Server = r.principal()
	cr.KeyType = int32(r.u16())
	if v == 3 {
		cr.KeyType = int32(r.u16())
	}
	cr.Key = r.data()
	cr.AuthTime, cr.StartTime, cr.EndTime, cr.RenewTill = r.time(), r.time(), r.time(), r.time()
	cr.IsSKey = r.u8() != 0
	cr.Flags = r.u32()
	for i, n := 0, r.u32(); uint32(i) < n && !r.err; i++ { // addresses
		if i > 256 {
			r.err = true
		}
		r.u16()
		r.data()
	}
	for i, n := 0, r.u32(); uint32(i) < n && !r.err; i++ { // authdata
		if i > 256 {
			r.err = true
		}
		r.u16()
		r.data()
	}
	cr.Ticket = r.data()
	cr.SecondTicket = r.data()
	return cr
}

// isConfig reports an MIT configuration entry (a server principal in the
// realm "X-CACHECONF:"), which is not a ticket.
func (cr *ccCred) isConfig() bool { return strings.HasPrefix(cr.Server.Realm, "X-CACHECONF:") }

// parseCCPrincipal parses one version 4 principal that fills b.
func parseCCPrincipal(b []byte) (ccPrincipal, error) {
	r := &ccReader{b: b}
	p := r.principal()
	if r.err || len(r.b) != 0 {
		return ccPrincipal{}, errCCache
	}
	return p, nil
}

// parseCCCred parses one version 4 credential that fills b. The key,
// ticket and second ticket alias b.
func parseCCCred(b []byte) (ccCred, error) {
	r := &ccReader{b: b}
	cr := r.cred(4)
	if r.err || len(r.b) != 0 {
		return ccCred{}, errCCache
	}
	return cr, nil
}

func appendCCData(b, d []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(d)))
	return append(b, d...)
}

func appendCCTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.BigEndian.AppendUint32(b, 0)
	}
	return binary.BigEndian.AppendUint32(b, uint32(t.Unix()))
}

// appendCCPrincipal appends a version 4 principal.
func appendCCPrincipal(b []byte, p ccPrincipal) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(p.NameType))
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.Components)))
	b = appendCCData(b, []byte(p.Realm))
	for _, s := range p.Components {
		b = appendCCData(b, []byte(s))
	}
	return b
}

// appendCCCred appends a version 4 credential, with no addresses and no
// authorization data.
func appendCCCred(b []byte, cr *ccCred) []byte {
	b = appendCCPrincipal(b, cr.Client)
	b = appendCCPrincipal(b, cr.Server)
	b = binary.BigEndian.AppendUint16(b, uint16(cr.KeyType))
	b = appendCCData(b, cr.Key)
	for _, t := range []time.Time{cr.AuthTime, cr.StartTime, cr.EndTime, cr.RenewTill} {
		b = appendCCTime(b, t)
	}
	if cr.IsSKey {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint32(b, cr.Flags)
	b = binary.BigEndian.AppendUint32(b, 0) // addresses
	b = binary.BigEndian.AppendUint32(b, 0) // authdata
	b = appendCCData(b, cr.Ticket)
	return appendCCData(b, cr.SecondTicket)
}

// wipe clears the session keys of the cache's credentials.
func (c *ccache) wipe() {
	if c == nil {
		return
	}
	for i := range c.Creds {
		clear(c.Creds[i].Key)
	}
}

// clone copies the cache deeply, so that wiping one leaves the other.
func (c *ccache) clone() *ccache {
	n := &ccache{Principal: c.Principal.clone(), Creds: make([]ccCred, len(c.Creds))}
	for i, cr := range c.Creds {
		cr.Client, cr.Server = cr.Client.clone(), cr.Server.clone()
		cr.Key = append([]byte(nil), cr.Key...)
		cr.Ticket = append([]byte(nil), cr.Ticket...)
		cr.SecondTicket = append([]byte(nil), cr.SecondTicket...)
		n.Creds[i] = cr
	}
	return n
}

func (p ccPrincipal) clone() ccPrincipal {
	p.Components = append([]string(nil), p.Components...)
	return p
}

// equal compares principals as krb5_principal_compare does: realm and
// components, not the name type.
func (p ccPrincipal) equal(o ccPrincipal) bool {
	if p.Realm != o.Realm || len(p.Components) != len(o.Components) {
		return false
	}
	for i := range p.Components {
		if p.Components[i] != o.Components[i] {
			return false
		}
	}
	return true
}

// unparse is krb5_unparse_name: components joined by '/', then '@' and the
// realm, with '/', '@', '\\', tab, newline, backspace and NUL escaped in
// components and realm alike (unparse.c, copy_component_quoting). The
// KEYRING type names a credential's key after its server principal so.
func (p ccPrincipal) unparse() string {
	var sb strings.Builder
	esc := func(s string) {
		for i := 0; i < len(s); i++ {
			switch c := s[i]; c {
			case '/', '@', '\\':
				sb.WriteByte('\\')
				sb.WriteByte(c)
			case '\n':
				sb.WriteString(`\n`)
			case '\t':
				sb.WriteString(`\t`)
			case '\b':
				sb.WriteString(`\b`)
			case 0:
				sb.WriteString(`\0`)
			default:
				sb.WriteByte(c)
			}
		}
	}
	for i, c := range p.Components {
		if i > 0 {
			sb.WriteByte('/')
		}
		esc(c)
	}
	sb.WriteByte('@')
	esc(p.Realm)
	return sb.String()
}
