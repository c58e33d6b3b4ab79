package lsarpc

import (
	"fmt"

	"github.com/gosspi/gosspi/sspi"
)

// Attribute value tags: the type of a QueryContextAttributes (or
// QueryCredentialsAttributes) result on the wire.
const (
	attrNil = iota
	attrSizes
	attrStreamSizes
	attrNames
	attrNativeNames
	attrLifespan
	attrSessionKey
	attrPackageInfo
	attrNegotiationInfo
	attrFlags
	attrIdentity
)

// Claim value tags (MS-ADTS 2.2.18.2, CLAIM_TYPE).
const (
	claimInt64 = 1 + iota
	claimUint64
	claimString
	claimBool
)

// attr encodes an attribute value, a SecPkgContext* struct (or a pointer
// to one) or an sspi.Identity.
func (e *enc) attr(v any) error {
	switch x := v.(type) {
	case nil:
		e.u8(attrNil)
	case sspi.SecPkgContextSizes:
		e.u8(attrSizes)
		e.u32(x.MaxToken)
		e.u32(x.MaxSignature)
		e.u32(x.BlockSize)
		e.u32(x.SecurityTrailer)
	case sspi.SecPkgContextStreamSizes:
		e.u8(attrStreamSizes)
		e.u32(x.Header)
		e.u32(x.Trailer)
		e.u32(x.MaximumMessage)
		e.u32(x.Buffers)
		e.u32(x.BlockSize)
	case sspi.SecPkgContextNames:
		e.u8(attrNames)
		e.str(x.UserName)
	case sspi.SecPkgContextNativeNames:
		e.u8(attrNativeNames)
		e.str(x.ClientName)
		e.str(x.ServerName)
	case sspi.SecPkgContextLifespan:
		e.u8(attrLifespan)
		e.time(x.Start)
		e.time(x.Expiry)
	case sspi.SecPkgContextSessionKey:
		e.u8(attrSessionKey)
		e.bytes(x.SessionKey)
	case sspi.SecPkgContextPackageInfo:
		e.u8(attrPackageInfo)
		e.pkgInfo(&x.PackageInfo)
	case sspi.SecPkgContextNegotiationInfo:
		e.u8(attrNegotiationInfo)
		e.pkgInfo(&x.PackageInfo)
		e.u32(x.NegotiationState)
		e.strs(x.Skipped)
	case sspi.SecPkgContextFlags:
		e.u8(attrFlags)
		e.u32(uint32(x.Flags))
	case sspi.Identity:
		e.u8(attrIdentity)
		return e.identity(&x)
	case *sspi.SecPkgContextSizes:
		return e.attr(*x)
	case *sspi.SecPkgContextStreamSizes:
		return e.attr(*x)
	case *sspi.SecPkgContextNames:
		return e.attr(*x)
	case *sspi.SecPkgContextNativeNames:
		return e.attr(*x)
	case *sspi.SecPkgContextLifespan:
		return e.attr(*x)
	case *sspi.SecPkgContextSessionKey:
		return e.attr(*x)
	case *sspi.SecPkgContextPackageInfo:
		return e.attr(*x)
	case *sspi.SecPkgContextNegotiationInfo:
		return e.attr(*x)
	case *sspi.SecPkgContextFlags:
		return e.attr(*x)
	case *sspi.Identity:
		return e.attr(*x)
	default:
		return fmt.Errorf("lsarpc: attribute value of type %T has no wire encoding", v)
	}
	return nil
}

func (e *enc) identity(x *sspi.Identity) error {
	for _, s := range []string{x.Package, x.User, x.Domain, x.Principal, x.SID} {
		e.str(s)
	}
	e.strs(x.Groups)
	e.bool(x.Anonymous)
	e.bool(x.Delegated)
	e.str(x.LogonName)
	e.str(x.PrimaryGroup)
	e.u32(uint32(len(x.GroupAttributes)))
	for _, a := range x.GroupAttributes {
		e.u32(a)
	}
	e.str(x.UPN)
	e.str(x.DNSDomain)
	e.time(x.LogonTime)
	e.u32(uint32(len(x.Claims)))
	for _, c := range x.Claims {
		e.str(c.ID)
		e.u16(c.Source)
		e.u32(uint32(len(c.Values)))
		for _, v := range c.Values {
			switch v := v.(type) {
			case int64:
				e.u8(claimInt64)
				e.i64(v)
			case uint64:
				e.u8(claimUint64)
				e.u64(v)
			case string:
				e.u8(claimString)
				e.str(v)
			case bool:
				e.u8(claimBool)
				e.bool(v)
			default:
				return fmt.Errorf("lsarpc: claim value of type %T has no wire encoding", v)
			}
		}
	}
	return nil
}

func (d *dec) attr() any {
	switch d.u8() {
	case attrNil:
		return nil
	case attrSizes:
		return sspi.SecPkgContextSizes{MaxToken: d.u32(), MaxSignature: d.u32(), BlockSize: d.u32(), SecurityTrailer: d.u32()}
	case attrStreamSizes:
		return sspi.SecPkgContextStreamSizes{Header: d.u32(), Trailer: d.u32(), MaximumMessage: d.u32(), Buffers: d.u32(), BlockSize: d.u32()}
	case attrNames:
		return sspi.SecPkgContextNames{UserName: d.str()}
	case attrNativeNames:
		return sspi.SecPkgContextNativeNames{ClientName: d.str(), ServerName: d.str()}
	case attrLifespan:
		return sspi.SecPkgContextLifespan{Start: d.time(), Expiry: d.time()}
	case attrSessionKey:
		return sspi.SecPkgContextSessionKey{SessionKey: d.bytes()}
	case attrPackageInfo:
		return sspi.SecPkgContextPackageInfo{PackageInfo: d.pkgInfo()}
	case attrNegotiationInfo:
		return sspi.SecPkgContextNegotiationInfo{PackageInfo: d.pkgInfo(), NegotiationState: d.u32(), Skipped: d.strs()}
	case attrFlags:
		return sspi.SecPkgContextFlags{Flags: sspi.ContextFlags(d.u32())}
	case attrIdentity:
		return d.identity()
	}
	d.fail()
	return nil
}

func (d *dec) identity() sspi.Identity {
	x := sspi.Identity{Package: d.str(), User: d.str(), Domain: d.str(), Principal: d.str(), SID: d.str()}
	x.Groups = d.strs()
	x.Anonymous, x.Delegated = d.bool(), d.bool()
	x.LogonName, x.PrimaryGroup = d.str(), d.str()
	if n := d.length(4, maxList); n > 0 {
		x.GroupAttributes = make([]uint32, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			x.GroupAttributes = append(x.GroupAttributes, d.u32())
		}
	}
	x.UPN, x.DNSDomain = d.str(), d.str()
	x.LogonTime = d.time()
	n := d.length(10, maxList)
	for i := 0; i < n && d.err == nil; i++ {
		c := sspi.Claim{ID: d.str(), Source: d.u16()}
		m := d.length(2, maxList)
		for j := 0; j < m && d.err == nil; j++ {
			switch d.u8() {
			case claimInt64:
				c.Values = append(c.Values, d.i64())
			case claimUint64:
				c.Values = append(c.Values, d.u64())
			case claimString:
				c.Values = append(c.Values, d.str())
			case claimBool:
				c.Values = append(c.Values, d.bool())
			default:
				d.fail()
			}
		}
		x.Claims = append(x.Claims, c)
	}
	return x
}
