package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

func init() {
	registerDemo(20, "NTLM over loopback TCP", demoNTLM)
}

// writeFrame and readFrame carry one token or wrap token over the
// connection, length-prefixed.
func writeFrame(c net.Conn, b []byte) error {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	_, err := c.Write(append(n[:], b...))
	return err
}

func readFrame(c net.Conn) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, err
	}
	if l := binary.BigEndian.Uint32(n[:]); l > 1<<20 {
		return nil, errors.New("frame too large")
	} else {
		b := make([]byte, l)
		_, err := io.ReadFull(c, b)
		return b, err
	}
}

// demoNTLM runs an NTLM client and server, each with its own host, over a
// loopback TCP connection, with the embedded demo account. It prints each
// leg (status, flags, token size) and finishes with a sealed round trip.
func demoNTLM(w io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	srvErr := make(chan error, 1)
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		srvErr <- ntlmDemoServer(ln, lines)
	}()
	cliErr := ntlmDemoClient(ln.Addr().String(), w, lines)
	ln.Close() // a server still waiting for a client gives up
	if err := <-srvErr; err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return cliErr
}

func ntlmDemoServer(ln net.Listener, lines chan<- string) error {
	host, err := lsa.New(lsa.Config{}, ntlm.New(ntlm.Config{Accounts: demoAccounts()}))
	if err != nil {
		return err
	}
	defer host.Close()
	t := sspi.InitSecurityInterface(host, ntlm.UserMode())
	defer t.Close()
	var cred sspi.CredHandle
	if st := t.AcquireCredentialsHandle("", ntlm.PackageName, sspi.SECPKG_CRED_INBOUND, nil, &cred, nil); st.Failed() {
		return st
	}
	defer t.FreeCredentialsHandle(&cred)
	_ = ln.(*net.TCPListener).SetDeadline(sysenv.Deadline(10 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(sysenv.Deadline(10 * time.Second))
	areq := sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_INTEGRITY | sspi.ASC_REQ_SEQUENCE_DETECT | sspi.ASC_REQ_REPLAY_DETECT | sspi.ASC_REQ_CONNECTION
	var ctx sspi.CtxtHandle
	var prev *sspi.CtxtHandle
	for {
		tok, err := readFrame(c)
		if err != nil {
			return err
		}
		out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		var attr sspi.ASCRet
		st := t.AcceptSecurityContext(&cred, prev, sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok}),
			areq, sspi.SECURITY_NATIVE_DREP, &ctx, out, &attr, nil)
		lines <- fmt.Sprintf("   server AcceptSecurityContext     <- %4d bytes -> %-21s token %4d bytes  %s", len(tok), st, len(out.Token()), attr)
		if st.Failed() {
			_ = writeFrame(c, nil)
			return st
		}
		prev = &ctx
		if err := writeFrame(c, out.Token()); err != nil {
			return err
		}
		if st == sspi.SEC_E_OK {
			break
		}
	}
	defer t.DeleteSecurityContext(&ctx)
	var names sspi.SecPkgContextNames
	if st := t.QueryContextAttributes(&ctx, sspi.SECPKG_ATTR_NAMES, &names); st.Failed() {
		return st
	}
	lines <- "   server authenticated " + names.UserName
	// Unseal the client's message (signature || ciphertext) and answer.
	wrapped, err := readFrame(c)
	if err != nil {
		return err
	}
	msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: wrapped}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
	if st := t.DecryptMessage(&ctx, msg, 0, nil); st.Failed() {
		return fmt.Errorf("DecryptMessage: %v", st)
	}
	lines <- fmt.Sprintf("   server DecryptMessage: %q", msg.Buffers[1].Buffer)
	reply := []byte("hello " + names.UserName + ", sealed by the server")
	return writeFrame(c, demoSeal(t, &ctx, reply))
}

func demoSeal(t *sspi.FunctionTable, ctx *sspi.CtxtHandle, plain []byte) []byte {
	msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, ntlm.SignatureSize)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: append([]byte(nil), plain...)})
	if st := t.EncryptMessage(ctx, 0, msg, 0); st.Failed() {
		return nil
	}
	return append(append([]byte(nil), msg.Buffers[0].Buffer...), msg.Buffers[1].Buffer...)
}

func ntlmDemoClient(addr string, w io.Writer, lines <-chan string) error {
	host, err := lsa.New(lsa.Config{}, ntlm.New(ntlm.Config{}))
	if err != nil {
		return err
	}
	defer host.Close()
	t := sspi.InitSecurityInterface(host, ntlm.UserMode())
	defer t.Close()
	var cred sspi.CredHandle
	if st := t.AcquireCredentialsHandle("", ntlm.PackageName, sspi.SECPKG_CRED_OUTBOUND, demoAuthIdentity(), &cred, nil); st.Failed() {
		return st
	}
	defer t.FreeCredentialsHandle(&cred)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(sysenv.Deadline(10 * time.Second))
	fmt.Fprintf(w, "   client %s -> server %s, account %s\\%s (in memory)\n", c.LocalAddr(), addr, demoDomain, demoUser)
	flush := func() {
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return
				}
				fmt.Fprintln(w, l)
			default:
				return
			}
		}
	}
	req := sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT | sspi.ISC_REQ_CONNECTION
	var ctx sspi.CtxtHandle
	var prev *sspi.CtxtHandle
	var in *sspi.SecBufferDesc
	for {
		out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		var attr sspi.ISCRet
		st := t.InitializeSecurityContext(&cred, prev, "host/localhost", req, sspi.SECURITY_NATIVE_DREP, in, &ctx, out, &attr, nil)
		fmt.Fprintf(w, "   client InitializeSecurityContext ->            %-21s token %4d bytes  %s\n", st, len(out.Token()), attr)
		if st.Failed() {
			return st
		}
		prev = &ctx
		if err := writeFrame(c, out.Token()); err != nil {
			return err
		}
		if st == sspi.SEC_E_OK {
			break
		}
		tok, err := readFrame(c)
		if err != nil {
			return err
		}
		flush()
		if len(tok) == 0 {
			return errors.New("server refused the handshake")
		}
		in = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok})
	}
	defer t.DeleteSecurityContext(&ctx)
	// The server's final answer (an empty token) closes the handshake.
	if _, err := readFrame(c); err != nil {
		return err
	}
	flush()
	var sizes sspi.SecPkgContextSizes
	if st := t.QueryContextAttributes(&ctx, sspi.SECPKG_ATTR_SIZES, &sizes); st.Failed() {
		return st
	}
	fmt.Fprintf(w, "   client SIZES: max signature %d, security trailer %d\n", sizes.MaxSignature, sizes.SecurityTrailer)
	plain := []byte("a sealed hello from the client")
	wrapped := demoSeal(t, &ctx, plain)
	if wrapped == nil {
		return errors.New("EncryptMessage failed")
	}
	fmt.Fprintf(w, "   client EncryptMessage: %d bytes plaintext -> %d bytes (16-byte signature + ciphertext)\n", len(plain), len(wrapped))
	if err := writeFrame(c, wrapped); err != nil {
		return err
	}
	reply, err := readFrame(c)
	if err != nil {
		return err
	}
	for l := range lines {
		fmt.Fprintln(w, l)
	}
	msg := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: reply}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
	if st := t.DecryptMessage(&ctx, msg, 0, nil); st.Failed() {
		return fmt.Errorf("DecryptMessage: %v", st)
	}
	fmt.Fprintf(w, "   client DecryptMessage: %q\n", msg.Buffers[1].Buffer)
	return nil
}
