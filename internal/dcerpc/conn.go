package dcerpc

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Authentication levels (MS-RPCE 2.2.1.1.8).
const (
	AuthLevelNone      = 1
	AuthLevelConnect   = 2
	AuthLevelIntegrity = 5
	AuthLevelPrivacy   = 6
)

// AuthTypeNetlogon is RPC_C_AUTHN_NETLOGON, the Netlogon secure channel
// (MS-RPCE 2.2.1.1.7).
const AuthTypeNetlogon = 0x44

// Security protects the PDUs of an authenticated connection: it makes the
// auth_value of the bind, checks the bind_ack's, and signs and seals
// request stubs and verifies and unseals response stubs (MS-RPCE 3.3.1.5.2).
// A Security belongs to one connection; calls are serialized by the Conn.
type Security interface {
	AuthType() uint8
	AuthLevel() uint8
	// BindToken is the auth_value of the bind PDU.
	BindToken() ([]byte, error)
	// BindAck checks the auth_value of the bind_ack.
	BindAck(token []byte) error
	// SignatureSize is the length of the auth_value of a protected PDU.
	SignatureSize() int
	// Seal checksums signed and encrypts data in place (data is part of
	// signed, or signed itself), and returns the auth_value.
	Seal(data, signed []byte) ([]byte, error)
	// Unseal decrypts data in place, checksums signed (which holds data,
	// now in the clear) and checks the auth_value.
	Unseal(data, signed, authValue []byte) error
}

// Limits of a connection.
const (
	// MaxFrag is the fragment size this client offers to send and receive.
	MaxFrag = 5840
	// MaxResponse bounds the reassembled stub of a response.
	MaxResponse = 4 << 20
)

// Conn is a connection-oriented DCE/RPC association with one presentation
// context. It is not safe for concurrent calls: the caller serializes them
// (a Netlogon secure channel's sequence numbers require it anyway).
type Conn struct {
	nc         net.Conn
	br         *bufio.Reader // reads nc: a PDU in one read where it can
	sec        Security
	callID     uint32
	maxXmit    int // the largest fragment we may send
	maxRecv    int // the largest fragment we accept
	headerSign bool
	authCtxID  uint32
	broken     error

	// Trace, when set, sees every PDU sent (out true) and received, whole
	// and as on the wire, for recording transcripts.
	Trace func(out bool, pdu []byte)
}

// Dial connects to addr ("host:port") over TCP.
func Dial(ctx context.Context, addr string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewConn(nc), nil
}

// NewConn wraps an established byte stream.
func NewConn(nc net.Conn) *Conn {
	return &Conn{nc: nc, br: bufio.NewReaderSize(nc, MaxFrag), maxXmit: MaxFrag, maxRecv: MaxFrag, authCtxID: 1}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Buffered reports the bytes read from the connection and not yet
// consumed: none between calls, unless the peer sent something
// unsolicited.
func (c *Conn) Buffered() int { return c.br.Buffered() }

// Broken reports why the connection cannot carry further calls: a call
// was interrupted or the peer broke the protocol. It is nil while the
// connection is usable.
func (c *Conn) Broken() error { return c.broken }

// HeaderSigning reports whether the bind negotiated header signing
// (PFC_SUPPORT_HEADER_SIGN): the checksum of a protected PDU then covers
// the whole PDU, not only the stub.
func (c *Conn) HeaderSigning() bool { return c.headerSign }

// withContext applies ctx's deadline to the connection and interrupts a
// blocked read or write when ctx is done. The returned func undoes it and
// returns the call's error: ctx's error (with the I/O error it caused)
// when ctx ended the I/O.
func (c *Conn) withContext(ctx context.Context) func(err error) error {
	dl, hasDeadline := ctx.Deadline()
	_ = c.nc.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	return func(err error) error {
		if stop() {
			_ = c.nc.SetDeadline(time.Time{})
		}
		// The deadline of ctx can cut the I/O a moment before ctx
		// reports it ended.
		if cerr := ctx.Err(); cerr != nil || hasDeadline && errors.Is(err, os.ErrDeadlineExceeded) {
			if cerr == nil {
				cerr = context.DeadlineExceeded
			}
			if err == nil {
				return cerr
			}
			var f *Fault
			if !errors.As(err, &f) {
				return fmt.Errorf("%w (%v)", cerr, err)
			}
		}
		return err
	}
}

func (c *Conn) write(pdu []byte) error {
	if c.Trace != nil {
		c.Trace(true, pdu)
	}
	_, err := c.nc.Write(pdu)
	return err
}

// read reads one PDU of at most c.maxRecv bytes.
func (c *Conn) read() ([]byte, header, error) {
	var hb [headerLen]byte
	if _, err := io.ReadFull(c.br, hb[:]); err != nil {
		return nil, header{}, err
	}
	h, err := parseHeader(hb[:])
	if err != nil {
		return nil, h, err
	}
	if int(h.fragLen) > c.maxRecv {
		return nil, h, protoErr("fragment of %d bytes over the negotiated %d", h.fragLen, c.maxRecv)
	}
	pdu := make([]byte, h.fragLen)
	copy(pdu, hb[:])
	if _, err := io.ReadFull(c.br, pdu[headerLen:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, h, err
	}
	if c.Trace != nil {
		c.Trace(false, pdu)
	}
	return pdu, h, nil
}

func (c *Conn) nextCallID() uint32 {
	c.callID++
	return c.callID
}

// Bind binds the interface with NDR, protected by sec when it is not nil
// (its token travels in the bind and its peer's in the bind_ack; no third
// leg). Header signing is offered with sec and used when the server
// accepts it.
func (c *Conn) Bind(ctx context.Context, iface SyntaxID, sec Security) (err error) {
	done := c.withContext(ctx)
	defer func() {
		if err = done(err); err != nil {
			c.broken = err
		}
	}()
	callID := c.nextCallID()
	var flags uint8 = pfcFirstFrag | pfcLastFrag
	var token []byte
	if sec != nil {
		if token, err = sec.BindToken(); err != nil {
			return err
		}
		flags |= pfcSupportHeaderSign
	}
	body := binary.LittleEndian.AppendUint16(nil, MaxFrag)
	body = binary.LittleEndian.AppendUint16(body, MaxFrag)
	body = binary.LittleEndian.AppendUint32(body, 0) // new association group
	body = append(body, 1, 0, 0, 0)                  // one context element
	body = binary.LittleEndian.AppendUint16(body, 0) // p_cont_id 0
	body = append(body, 1, 0)                        // one transfer syntax
	body = iface.append(body)
	body = NDR.append(body)
	pdu := c.frame(ptypeBind, flags, callID, body, sec, token)
	if err := c.write(pdu); err != nil {
		return err
	}
	resp, h, err := c.read()
	if err != nil {
		return err
	}
	if h.callID != callID {
		return protoErr("bind answered with call_id %d", h.callID)
	}
	switch h.ptype {
	case ptypeBindAck:
	case ptypeBindNak:
		if len(resp) < headerLen+2 {
			return protoErr("short bind_nak")
		}
		return &BindError{Nak: true, Reason: binary.LittleEndian.Uint16(resp[headerLen:])}
	default:
		return protoErr("bind answered with PDU type %d", h.ptype)
	}
	ack, err := parseBindAck(resp, h)
	if err != nil {
		return err
	}
	if ack.result != 0 {
		return &BindError{Result: ack.result, Reason: ack.reason}
	}
	if ack.transfer != NDR {
		return protoErr("bind_ack selects a transfer syntax other than NDR")
	}
	if ack.maxXmit < 1024 || ack.maxRecv < 1024 {
		return protoErr("bind_ack fragment sizes %d/%d", ack.maxXmit, ack.maxRecv)
	}
	c.maxXmit = min(int(ack.maxRecv), MaxFrag)
	c.maxRecv = min(int(ack.maxXmit), MaxFrag)
	if sec != nil {
		if ack.authValue == nil {
			return protoErr("bind_ack without an auth verifier")
		}
		if err := sec.BindAck(ack.authValue); err != nil {
			return err
		}
		c.headerSign = ack.flags&pfcSupportHeaderSign != 0
	}
	c.sec = sec
	return nil
}

// frame builds a PDU: the common header, body, and, with sec, the
// sec_trailer (padded to 4) and token as auth_value.
func (c *Conn) frame(ptype, flags uint8, callID uint32, body []byte, sec Security, token []byte) []byte {
	pdu := header{ptype: ptype, flags: flags, callID: callID}.append(make([]byte, 0, headerLen+len(body)+trailerLen+len(token)+3))
	pdu = append(pdu, body...)
	if sec != nil {
		pad := (4 - len(pdu)%4) % 4
		pdu = append(pdu, make([]byte, pad)...)
		pdu = secTrailer{authType: sec.AuthType(), authLevel: sec.AuthLevel(), padLen: uint8(pad), contextID: c.authCtxID}.append(pdu)
		pdu = append(pdu, token...)
		binary.LittleEndian.PutUint16(pdu[10:], uint16(len(token)))
	}
	binary.LittleEndian.PutUint16(pdu[8:], uint16(len(pdu)))
	return pdu
}

// Call runs operation opnum with the NDR-encoded stub of its [in]
// parameters and returns the stub of its [out] parameters. A fault PDU is
// a *Fault. When ctx ends before the response is read, or the response
// breaks the protocol, the connection is broken (Broken) and must be
// closed: its call and sequence state are lost.
func (c *Conn) Call(ctx context.Context, opnum uint16, stub []byte) (out []byte, err error) {
	if c.broken != nil {
		return nil, fmt.Errorf("dcerpc: connection unusable after an earlier failure: %w", c.broken)
	}
	done := c.withContext(ctx)
	defer func() {
		err = done(err)
		var f *Fault
		if err != nil && !errors.As(err, &f) {
			c.broken = err
		}
	}()
	callID := c.nextCallID()
	if err := c.sendRequest(callID, opnum, stub); err != nil {
		return nil, err
	}
	return c.readResponse(callID)
}

// sendRequest sends the stub in as many request fragments as the
// negotiated size needs, each protected on its own.
func (c *Conn) sendRequest(callID uint32, opnum uint16, stub []byte) error {
	room := c.maxXmit - requestHdrLen
	if c.sec != nil {
		room -= trailerLen + c.sec.SignatureSize()
		room -= room % authPadAlign
	}
	if room <= 0 {
		return protoErr("fragment size %d leaves no room for stub data", c.maxXmit)
	}
	first := true
	for {
		n := min(len(stub), room)
		chunk, rest := stub[:n], stub[n:]
		var flags uint8
		if first {
			flags |= pfcFirstFrag
		}
		if len(rest) == 0 {
			flags |= pfcLastFrag
		}
		pdu, err := c.requestPDU(callID, opnum, flags, uint32(len(stub)), chunk)
		if err != nil {
			return err
		}
		if err := c.write(pdu); err != nil {
			return err
		}
		if len(rest) == 0 {
			return nil
		}
		stub, first = rest, false
	}
}

func (c *Conn) requestPDU(callID uint32, opnum uint16, flags uint8, allocHint uint32, chunk []byte) ([]byte, error) {
	h := header{ptype: ptypeRequest, flags: flags, callID: callID}
	size := requestHdrLen + len(chunk)
	pad := 0
	if c.sec != nil {
		pad = (authPadAlign - len(chunk)%authPadAlign) % authPadAlign
		size += pad + trailerLen + c.sec.SignatureSize()
		h.authLen = uint16(c.sec.SignatureSize())
	}
	h.fragLen = uint16(size)
	pdu := h.append(make([]byte, 0, size))
	pdu = binary.LittleEndian.AppendUint32(pdu, allocHint)
	pdu = binary.LittleEndian.AppendUint16(pdu, 0) // p_cont_id
	pdu = binary.LittleEndian.AppendUint16(pdu, opnum)
	pdu = append(pdu, chunk...)
	if c.sec == nil {
		return pdu, nil
	}
	pdu = append(pdu, make([]byte, pad)...)
	pdu = secTrailer{authType: c.sec.AuthType(), authLevel: c.sec.AuthLevel(), padLen: uint8(pad), contextID: c.authCtxID}.append(pdu)
	data := pdu[requestHdrLen : requestHdrLen+len(chunk)+pad]
	signed := data
	if c.headerSign {
		signed = pdu
	}
	sig, err := c.sec.Seal(data, signed)
	if err != nil {
		return nil, err
	}
	if len(sig) != c.sec.SignatureSize() {
		return nil, fmt.Errorf("dcerpc: security provider made a %d-byte signature, not %d", len(sig), c.sec.SignatureSize())
	}
	return append(pdu, sig...), nil
}

// readResponse reads and reassembles the response fragments of callID.
func (c *Conn) readResponse(callID uint32) ([]byte, error) {
	var out []byte
	for i := 0; ; i++ {
		pdu, h, err := c.read()
		if err != nil {
			return nil, err
		}
		if h.callID != callID {
			return nil, protoErr("response for call_id %d, expected %d", h.callID, callID)
		}
		if i == 0 && h.flags&pfcFirstFrag == 0 {
			return nil, protoErr("first response fragment without PFC_FIRST_FRAG")
		}
		if i > 0 && h.flags&pfcFirstFrag != 0 {
			return nil, protoErr("PFC_FIRST_FRAG in a later response fragment")
		}
		switch h.ptype {
		case ptypeResponse:
		case ptypeFault:
			if len(pdu) < responseHdrLen+4 {
				return nil, protoErr("short fault PDU")
			}
			return nil, &Fault{Status: binary.LittleEndian.Uint32(pdu[responseHdrLen:]), DidNotExecute: h.flags&pfcDidNotExecute != 0}
		case ptypeShutdown:
			return nil, protoErr("the server shut the connection down")
		default:
			return nil, protoErr("PDU type %d in answer to a request", h.ptype)
		}
		stub, err := c.openResponse(pdu, h)
		if err != nil {
			return nil, err
		}
		if len(out)+len(stub) > MaxResponse {
			return nil, protoErr("response over %d bytes", MaxResponse)
		}
		out = append(out, stub...)
		if h.flags&pfcLastFrag != 0 {
			return out, nil
		}
	}
}

// openResponse returns the stub of one response fragment, verified and
// decrypted when the connection is protected.
func (c *Conn) openResponse(pdu []byte, h header) ([]byte, error) {
	if len(pdu) < responseHdrLen {
		return nil, protoErr("short response PDU")
	}
	if pdu[22] != 0 {
		return nil, protoErr("response with cancel_count %d", pdu[22])
	}
	body, t, av, err := splitAuth(pdu, h, responseHdrLen)
	if err != nil {
		return nil, err
	}
	if c.sec == nil {
		if av != nil {
			return nil, protoErr("auth verifier on an unauthenticated connection")
		}
		return body, nil
	}
	if av == nil {
		return nil, protoErr("unprotected response on a protected connection")
	}
	if t.authType != c.sec.AuthType() || t.authLevel != c.sec.AuthLevel() || t.contextID != c.authCtxID {
		return nil, protoErr("response sec_trailer type %d level %d context %d", t.authType, t.authLevel, t.contextID)
	}
	if int(t.padLen) > len(body) || t.padLen >= authPadAlign {
		return nil, protoErr("auth_pad_length %d for %d bytes of stub", t.padLen, len(body))
	}
	signed := body
	if c.headerSign {
		signed = pdu[:len(pdu)-len(av)]
	}
	if err := c.sec.Unseal(body, signed, av); err != nil {
		return nil, err
	}
	return body[:len(body)-int(t.padLen)], nil
}
