package gosspi

import (
	"context"
	"sync"
	"time"

	"github.com/gosspi/gosspi/sspi"
)

// SecurityContext is a security context seen from Go: the handshake with
// Step, then per-message protection. It is used from one goroutine at a
// time, except that Wrap/Sign and Unwrap/Verify may run in separate
// goroutines.
type SecurityContext struct {
	t       *sspi.FunctionTable
	cred    sspi.CredHandle
	ownCred *Credential // the credential the context acquired for itself
	h       sspi.CtxtHandle
	started bool
	done    bool
	client  bool

	target  string
	iscReq  sspi.ISCReq
	ascReq  sspi.ASCReq
	cb      *sspi.ChannelBindings
	expiry  time.Time
	iscRet  sspi.ISCRet
	ascRet  sspi.ASCRet
	pending []byte // unconsumed input (SECBUFFER_EXTRA) for the next step

	sizesOnce sync.Once
	sizes     sspi.SecPkgContextSizes
	sizesErr  error

	closeOnce sync.Once
	closed    bool
}

// Step runs one leg of the handshake. Pass nil as in for the client's first
// call. It returns the token to send to the peer (send it whenever it is
// not empty, even when done is true) and whether the context is established.
func (c *SecurityContext) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	if c.closed {
		return nil, false, ErrClosed
	}
	if c.done {
		return nil, true, nil
	}
	if len(c.pending) > 0 {
		in = append(c.pending, in...)
		c.pending = nil
	}
	input := sspi.NewDesc()
	if in != nil || !c.client {
		input.Buffers = append(input.Buffers, sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: in})
	}
	if c.cb != nil {
		input.Buffers = append(input.Buffers, sspi.SecBuffer{BufferType: sspi.SECBUFFER_CHANNEL_BINDINGS, Buffer: c.cb.Marshal()})
	}
	input.Buffers = append(input.Buffers, sspi.SecBuffer{BufferType: sspi.SECBUFFER_EMPTY})
	output := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
	var prev *sspi.CtxtHandle
	if c.started {
		prev = &c.h
	}
	var st sspi.Status
	if c.client {
		st, err = c.t.WithContext(ctx).InitializeSecurityContext(&c.cred, prev, c.target, c.iscReq, sspi.SECURITY_NATIVE_DREP, input, &c.h, output, &c.iscRet, &c.expiry)
	} else {
		st, err = c.t.WithContext(ctx).AcceptSecurityContext(&c.cred, prev, input, c.ascReq, sspi.SECURITY_NATIVE_DREP, &c.h, output, &c.ascRet, &c.expiry)
	}
	if c.h.IsValid() {
		c.started = true
	}
	if extra := input.Find(sspi.SECBUFFER_EXTRA); extra != nil && err == nil {
		c.pending = append([]byte(nil), extra.Buffer...)
	}
	if err != nil {
		if st == sspi.SEC_E_INCOMPLETE_MESSAGE {
			c.pending = append([]byte(nil), in...)
		}
		return output.Token(), false, err
	}
	out = output.Token()
	switch st {
	case sspi.SEC_E_OK:
		c.done = true
	case sspi.SEC_I_COMPLETE_NEEDED, sspi.SEC_I_COMPLETE_AND_CONTINUE:
		if s := c.t.CompleteAuthToken(&c.h, output); s.Failed() {
			return out, false, s
		}
		c.done = st == sspi.SEC_I_COMPLETE_NEEDED
	}
	return out, c.done, nil
}

// Established reports whether the handshake is complete.
func (c *SecurityContext) Established() bool { return c.done }

// Handle returns the underlying context handle, for the calls of
// Host.SSPI (QueryContextAttributes of an attribute this type has no
// method for).
func (c *SecurityContext) Handle() sspi.CtxtHandle { return c.h }

// Expiry returns when the context expires (the zero time if never).
func (c *SecurityContext) Expiry() time.Time { return c.expiry }

// Flags returns the context's properties as established so far.
func (c *SecurityContext) Flags() Flags {
	var f sspi.SecPkgContextFlags
	if st := c.t.QueryContextAttributes(&c.h, sspi.SECPKG_ATTR_FLAGS, &f); st.Failed() {
		return 0
	}
	return fromContextFlags(f.Flags)
}

// Package returns the name of the package that established the context
// (for Negotiate, the package it chose).
func (c *SecurityContext) Package() string {
	var ni sspi.SecPkgContextNegotiationInfo
	if st := c.t.QueryContextAttributes(&c.h, sspi.SECPKG_ATTR_NEGOTIATION_INFO, &ni); st.Succeeded() && ni.PackageInfo.Name != "" {
		return ni.PackageInfo.Name
	}
	var pi sspi.SecPkgContextPackageInfo
	if st := c.t.QueryContextAttributes(&c.h, sspi.SECPKG_ATTR_PACKAGE_INFO, &pi); st.Succeeded() {
		return pi.PackageInfo.Name
	}
	return ""
}

// Identity returns who the peer is, as far as the package knows.
func (c *SecurityContext) Identity() (PeerIdentity, error) {
	var id PeerIdentity
	if st := c.t.QueryContextAttributes(&c.h, sspi.SECPKG_ATTR_GOSSPI_IDENTITY, &id); st.Failed() {
		return id, st
	}
	return id, nil
}

// SessionKey returns the context's exported session key. Treat it as a
// secret.
func (c *SecurityContext) SessionKey() ([]byte, error) {
	var k sspi.SecPkgContextSessionKey
	if st := c.t.QueryContextAttributes(&c.h, sspi.SECPKG_ATTR_SESSION_KEY, &k); st.Failed() {
		return nil, st
	}
	return k.SessionKey, nil
}

func (c *SecurityContext) ready() error {
	if c.closed {
		return ErrClosed
	}
	if !c.done {
		return &sspi.Error{Status: sspi.SEC_E_INVALID_HANDLE, Detail: "handshake not complete"}
	}
	c.sizesOnce.Do(func() {
		if st := c.t.QueryContextAttributes(&c.h, sspi.SECPKG_ATTR_SIZES, &c.sizes); st.Failed() {
			c.sizesErr = st
		}
	})
	return c.sizesErr
}

func statusErr(op string, st sspi.Status) error {
	if st.Failed() {
		return &sspi.Error{Op: op, Status: st}
	}
	return nil
}

// Wrap seals msg (EncryptMessage) and returns one token holding the
// signature and the ciphertext, in the layout the peer's Unwrap (or GSS
// gss_unwrap) reads.
func (c *SecurityContext) Wrap(msg []byte) ([]byte, error) { return c.wrap(msg, 0) }

// WrapIntegrity is Wrap without confidentiality (SECQOP_WRAP_NO_ENCRYPT),
// for packages that support it.
func (c *SecurityContext) WrapIntegrity(msg []byte) ([]byte, error) {
	return c.wrap(msg, sspi.SECQOP_WRAP_NO_ENCRYPT)
}

func (c *SecurityContext) wrap(msg []byte, qop uint32) ([]byte, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	// One buffer holds the trailer, the data and room for padding, laid
	// out as the wrap token; packages fill the buffers in place, so it is
	// usually returned as it is.
	trailer, n := int(c.sizes.SecurityTrailer), len(msg)
	buf := make([]byte, trailer+n, trailer+n+int(c.sizes.BlockSize))
	copy(buf[trailer:], msg)
	desc := sspi.NewDesc(
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: buf[:trailer:trailer]},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: buf[trailer : trailer+n : trailer+n]},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_PADDING, Buffer: buf[trailer+n : trailer+n : cap(buf)]},
	)
	if st := c.t.EncryptMessage(&c.h, qop, desc, 0); st.Failed() {
		return nil, statusErr("EncryptMessage", st)
	}
	tok, data, pad := desc.Buffers[0].Buffer, desc.Buffers[1].Buffer, desc.Buffers[2].Buffer
	if len(tok) == trailer && len(data) == n && at(tok, buf, 0) && at(data, buf, trailer) && at(pad, buf, trailer+n) {
		return buf[:trailer+n+len(pad)], nil
	}
	res := make([]byte, 0, len(tok)+len(data)+len(pad))
	res = append(res, tok...)
	res = append(res, data...)
	return append(res, pad...), nil
}

// at reports whether b is empty or starts at buf[off].
func at(b, buf []byte, off int) bool {
	return len(b) == 0 || off < cap(buf) && &b[0] == &buf[:off+1][off]
}

// Unwrap opens a token made by the peer's Wrap (DecryptMessage) and returns
// the plaintext. token itself is not modified.
func (c *SecurityContext) Unwrap(token []byte) ([]byte, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	desc := sspi.NewDesc(
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: append([]byte(nil), token...)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA},
	)
	if st := c.t.DecryptMessage(&c.h, desc, 0, nil); st.Failed() {
		return nil, statusErr("DecryptMessage", st)
	}
	return desc.Buffers[1].Buffer, nil
}

// Sign returns a signature over msg (MakeSignature).
func (c *SecurityContext) Sign(msg []byte) ([]byte, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	desc := sspi.NewDesc(
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA | sspi.SECBUFFER_READONLY, Buffer: msg},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 0, c.sizes.MaxSignature)},
	)
	if st := c.t.MakeSignature(&c.h, 0, desc, 0); st.Failed() {
		return nil, statusErr("MakeSignature", st)
	}
	return desc.Buffers[1].Buffer, nil
}

// Verify checks a signature from the peer's Sign (VerifySignature).
func (c *SecurityContext) Verify(msg, sig []byte) error {
	if err := c.ready(); err != nil {
		return err
	}
	desc := sspi.NewDesc(
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA | sspi.SECBUFFER_READONLY, Buffer: msg},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: sig},
	)
	return statusErr("VerifySignature", c.t.VerifySignature(&c.h, desc, 0, nil))
}

// Close deletes the context (and the credential, if the context acquired
// it). It is safe to call more than once.
func (c *SecurityContext) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closed = true
		if c.started {
			if st := c.t.DeleteSecurityContext(&c.h); st.Failed() && st != sspi.SEC_E_INVALID_HANDLE {
				err = statusErr("DeleteSecurityContext", st)
			}
		}
		if c.ownCred != nil {
			c.ownCred.Close()
		}
	})
	return err
}
