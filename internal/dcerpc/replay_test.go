package dcerpc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

var record = flag.Bool("record", false, "record testdata/epm-netlogon.json from the Samba DC")

var netlogonIf = SyntaxID{UUID: ParseUUID("12345678-1234-abcd-ef00-01234567cffb"), Major: 1}

// recording is the PDUs of a few connections.
type recording struct {
	mu    sync.Mutex
	Port  int          `json:"port"`
	Conns [][]recorded `json:"connections"`
}

type recorded struct {
	Out bool   `json:"out"`
	PDU string `json:"pdu"`
}

func (r *recording) add(n int) func(bool, []byte) {
	return func(out bool, pdu []byte) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for len(r.Conns) <= n {
			r.Conns = append(r.Conns, nil)
		}
		r.Conns[n] = append(r.Conns[n], recorded{out, hex.EncodeToString(pdu)})
	}
}

func loadRecording(t testing.TB) *recording {
	t.Helper()
	b, err := os.ReadFile("testdata/epm-netlogon.json")
	if err != nil {
		t.Fatal(err)
	}
	var r recording
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replay serves one recorded connection over a pipe: the client's PDUs
// must be the recorded ones.
func replay(t *testing.T, pdus []recorded) *Conn {
	cli, srv := net.Pipe()
	t.Cleanup(func() { cli.Close(); srv.Close() })
	go func() {
		for _, p := range pdus {
			b := unhex(t, p.PDU)
			if !p.Out {
				if _, err := srv.Write(b); err != nil {
					return
				}
				continue
			}
			got := make([]byte, len(b))
			if _, err := io.ReadFull(srv, got); err != nil {
				return
			}
			if !bytes.Equal(got, b) {
				t.Errorf("sent\n %x\nrecorded %x", got, b)
				return
			}
		}
	}()
	return NewConn(cli)
}

// TestReplayEptMap replays the recorded ept_map and NETLOGON bind: the
// same PDUs go out, the same port and fault come back.
func TestReplayEptMap(t *testing.T) {
	r := loadRecording(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	port, err := replay(t, r.Conns[0]).EptMap(ctx, netlogonIf)
	if err != nil || port != r.Port {
		t.Fatalf("port %d, %v; recorded %d", port, err, r.Port)
	}
	c := replay(t, r.Conns[1])
	if err := c.Bind(ctx, netlogonIf, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(ctx, 200, nil)
	if f, ok := err.(*Fault); !ok || f.Status != FaultOpRangeError {
		t.Fatalf("opnum 200: %v", err)
	}
}

// streamConn is a net.Conn that reads a fixed byte stream and discards
// writes.
type streamConn struct {
	net.Conn
	r io.Reader
}

func (s *streamConn) Read(p []byte) (int, error)       { return s.r.Read(p) }
func (s *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (s *streamConn) SetDeadline(time.Time) error      { return nil }
func (s *streamConn) Close() error                     { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzResponse feeds arbitrary byte streams to the reader of response
// PDUs (reassembly, faults, lengths), to the bind_ack parser and to the
// ept_map decoder, seeded with the recorded DC replies.
func FuzzResponse(f *testing.F) {
	r := loadRecording(f)
	for _, conn := range r.Conns {
		var stream []byte
		for _, p := range conn {
			if !p.Out {
				b := unhex(f, p.PDU)
				f.Add(b)
				stream = append(stream, b...)
			}
		}
		f.Add(stream)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := NewConn(&streamConn{r: bytes.NewReader(b)})
		c.callID = 1
		out, err := c.readResponse(1)
		if err == nil && len(out) > MaxResponse {
			t.Fatalf("a %d-byte response", len(out))
		}
		if h, err := parseHeader(b); err == nil && int(h.fragLen) <= len(b) {
			parseBindAck(b[:h.fragLen], h)
		}
		parseEptMap(b, netlogonIf)
		parseTower(b, netlogonIf)
	})
}

// TestBrokenResponses: what the reader refuses, each with ErrProtocol or
// an I/O error, none with a panic.
func TestBrokenResponses(t *testing.T) {
	r := loadRecording(t)
	var resp []byte
	for _, p := range r.Conns[1] {
		if b := unhex(t, p.PDU); !p.Out && b[2] == ptypeFault {
			resp = b
		}
	}
	if resp == nil {
		t.Fatal("no fault PDU recorded")
	}
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), resp...)) }
	for name, b := range map[string][]byte{
		"truncated":   resp[:len(resp)-1],
		"version":     mut(func(b []byte) []byte { b[0] = 4; return b }),
		"big endian":  mut(func(b []byte) []byte { b[4] = 0; return b }),
		"frag_length": mut(func(b []byte) []byte { b[8], b[9] = 0xff, 0xff; return b }),
		"short frag":  mut(func(b []byte) []byte { b[8], b[9] = 10, 0; return b }),
		"auth_length": mut(func(b []byte) []byte { b[10] = 200; return b }),
		"call_id":     mut(func(b []byte) []byte { b[12] ^= 0xff; return b }),
		"not first":   mut(func(b []byte) []byte { b[3] &^= pfcFirstFrag; return b }),
		"bind_ack":    mut(func(b []byte) []byte { b[2] = ptypeBindAck; return b }),
	} {
		c := NewConn(&streamConn{r: bytes.NewReader(b)})
		c.callID = 2
		_, err := c.readResponse(2)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, ok := err.(*Fault); ok {
			t.Errorf("%s: read as a fault", name)
		}
	}
}

// TestFragmentation sends a stub over the negotiated fragment size: it
// goes out in several request PDUs, flagged first and last, and a response
// in several fragments is reassembled.
func TestFragmentation(t *testing.T) {
	cli, srv := net.Pipe()
	defer cli.Close()
	defer srv.Close()
	c := NewConn(cli)
	c.maxXmit = 1024
	stub := make([]byte, 3000)
	for i := range stub {
		stub[i] = byte(i)
	}
	done := make(chan error, 1)
	go func() {
		var got []byte
		var flags []uint8
		for {
			var hb [headerLen]byte
			if _, err := io.ReadFull(srv, hb[:]); err != nil {
				done <- err
				return
			}
			h, err := parseHeader(hb[:])
			if err != nil {
				done <- err
				return
			}
			rest := make([]byte, int(h.fragLen)-headerLen)
			io.ReadFull(srv, rest)
			if h.fragLen > 1024 {
				t.Errorf("fragment of %d bytes", h.fragLen)
			}
			flags = append(flags, h.flags)
			got = append(got, rest[8:]...)
			if h.flags&pfcLastFrag != 0 {
				break
			}
		}
		if !bytes.Equal(got, stub) || len(flags) != 3 || flags[0] != pfcFirstFrag || flags[2] != pfcLastFrag {
			t.Errorf("server got %d bytes in fragments %v", len(got), flags)
		}
		// Answer in two fragments.
		for i, part := range [][]byte{stub[:1500], stub[1500:]} {
			var fl uint8 = pfcFirstFrag
			if i == 1 {
				fl = pfcLastFrag
			}
			pdu := header{ptype: ptypeResponse, flags: fl, fragLen: uint16(responseHdrLen + len(part)), callID: 1}.append(nil)
			pdu = append(pdu, make([]byte, 8)...)
			pdu = append(pdu, part...)
			srv.Write(pdu)
		}
		done <- nil
	}()
	out, err := c.Call(context.Background(), 7, stub)
	if err != nil || !bytes.Equal(out, stub) {
		t.Fatalf("response of %d bytes, %v", len(out), err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
