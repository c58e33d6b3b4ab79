// Package gosspi is the idiomatic Go face of gosspi, a pure-Go
// implementation of the Windows security-package model: the SSPI surface
// (package sspi), the LSA-style package host (package lsa) and the NTLM,
// Kerberos and Negotiate packages.
//
// Most programs need only this package (and httpauth for HTTP): a Host,
// a client or server SecurityContext driven by Step until it is done,
// then Wrap/Unwrap and Sign/Verify for messages.
//
//	host, err := gosspi.NewHost(gosspi.HostConfig{})
//	client, err := host.NewClient(ctx, gosspi.ClientConfig{Package: "Negotiate", Target: "HTTP/web.example.com"})
//	out, done, err := client.Step(ctx, nil)   // first token, for the server
//	for !done {
//		in := exchange(out)                     // your transport
//		out, done, err = client.Step(ctx, in)
//	}
//	// send out if it is not empty: a last token may come with done
//
// A server acquires one Credential (AcquireCredential with Server set)
// and shares it between its contexts. Errors carry the SSPI status and
// their cause: errors.Is(err, gosspi.ErrLogonDenied), errors.Is(err,
// context.DeadlineExceeded). The Windows calls over the same host are
// Host.SSPI.
package gosspi
