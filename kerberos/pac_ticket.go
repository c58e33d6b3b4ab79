package kerberos

import (
	"errors"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The ticket signature (PAC_TICKET_CHECKSUM, MS-PAC 2.8.3) is the KDC's
// checksum, with the krbtgt key, over the ticket's EncTicketPart as it
// was before the PAC went in: encoded with the PAC's ad-data replaced by
// a single zero byte. It ties the PAC to the rest of the ticket (the
// client name, the flags, the times), which the PAC signatures do not
// cover. Only a holder of the krbtgt key can check it (Config.KDCKeytab).

// pacPlaceholderTicket re-encodes a decrypted EncTicketPart with the
// AD-WIN2K-PAC's ad-data replaced by one zero byte, as the KDC encoded it
// for the ticket signature. The KDC's encoding is DER, so re-encoding the
// same values gives the same bytes.
func pacPlaceholderTicket(etb []byte) ([]byte, bool) {
	s := cryptobyte.String(etb)
	var app, seq cryptobyte.String
	if !s.ReadASN1(&app, appTag(3)) || !s.Empty() || !app.ReadASN1(&seq, cbasn1.SEQUENCE) || !app.Empty() {
		return nil, false
	}
	var b cryptobyte.Builder
	replaced := false
	b.AddASN1(appTag(3), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for !seq.Empty() {
				var elem cryptobyte.String
				var tag cbasn1.Tag
				if !seq.ReadAnyASN1Element(&elem, &tag) {
					b.SetError(errPACFormat)
					return
				}
				if tag != ctxTag(10) {
					b.AddBytes(elem)
					continue
				}
				e := elem
				var in cryptobyte.String
				e.ReadASN1(&in, ctxTag(10))
				ad, ok := placeholderAD(in, true)
				if !ok {
					b.SetError(errPACFormat)
					return
				}
				replaced = true
				b.AddASN1(ctxTag(10), func(b *cryptobyte.Builder) { b.AddBytes(ad) })
			}
		})
	})
	out, err := b.Bytes()
	if err != nil || !replaced {
		return nil, false
	}
	return out, true
}

// placeholderAD re-encodes AuthorizationData (a SEQUENCE OF { [0] ad-type,
// [1] ad-data }) with the PAC's ad-data a zero byte: in AD-IF-RELEVANT
// entries at the top (outer), in AD-WIN2K-PAC entries within them.
func placeholderAD(s cryptobyte.String, outer bool) ([]byte, bool) {
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, false
	}
	var b cryptobyte.Builder
	ok := true
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for !seq.Empty() {
			var entry cryptobyte.String
			if !seq.ReadASN1Element(&entry, cbasn1.SEQUENCE) {
				ok = false
				return
			}
			es := entry
			var body cryptobyte.String
			es.ReadASN1(&body, cbasn1.SEQUENCE)
			f0, ok0 := field(&body, 0)
			f1, ok1 := field(&body, 1)
			typ, okT := intOf(f0)
			data, okD := octetsOf(f1)
			if !ok0 || !ok1 || !okT || !okD || !body.Empty() {
				ok = false
				return
			}
			var nd []byte
			switch {
			case outer && typ == adIfRelevant:
				if nd, ok = placeholderAD(cryptobyte.String(data), false); !ok {
					return
				}
			case !outer && typ == adWin2kPAC:
				nd = []byte{0}
			default:
				b.AddBytes(entry)
				continue
			}
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(typ) })
				b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(nd) })
			})
		}
	})
	out, err := b.Bytes()
	return out, ok && err == nil
}

// verifyTicketSignature checks PAC_TICKET_CHECKSUM over etb (the
// decrypted EncTicketPart) with the krbtgt keys; a PAC without one (a KDC
// from before November 2021) passes.
func (p *pacType) verifyTicketSignature(etb []byte, keys func(etype int32) [][]byte) error {
	if p.ticket == nil {
		return nil
	}
	enc, ok := pacPlaceholderTicket(etb)
	if !ok {
		return errPACFormat
	}
	et := checksumEtype(p.ticket.Type)
	for _, k := range keys(et) {
		if pacChecksumOK(p.ticket, et, k, [][]byte{enc}) {
			return nil
		}
	}
	return errors.New("PAC ticket signature does not verify with the krbtgt key")
}
