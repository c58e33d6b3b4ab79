// Package gosspi is the idiomatic Go face of gosspi, a pure-Go
// implementation of the Windows security-package model: the SSPI surface
// (package sspi), the LSA-style package host (package lsa) and the NTLM,
// Kerberos and Negotiate packages.
//
// Most programs need only this package: a Client or Server context driven
// by Step until it is done, then Wrap/Unwrap and Sign/Verify for messages.
//
//	out, done, err := client.Step(ctx, nil)   // first token, for the server
//	for !done {
//		in := exchange(out)                     // your transport
//		out, done, err = client.Step(ctx, in)
//	}
//	// send out if it is not empty: a last token may come with done
//
// Errors carry SSPI status codes: errors.Is(err, sspi.SEC_E_LOGON_DENIED).
package gosspi
