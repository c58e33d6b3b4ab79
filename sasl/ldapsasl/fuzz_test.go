package ldapsasl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sasl"
)

// FuzzReadMessage reads an LDAP stream as Bind, StartTLS and the armed
// Conn do: messages within the bound, responses decoded or refused,
// never a panic. Seeds: streams of slapd and of libldap/Cyrus
// (testdata/fuzz/FuzzReadMessage, written by SASL_RECORD=1).
func FuzzReadMessage(f *testing.F) {
	f.Add(bindRequest(1, "GSSAPI", []byte{0x60, 0x01, 0x00}))
	f.Add(startTLSRequest(2))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for range 4 {
			msg, err := readMessage(r)
			if err != nil {
				return
			}
			if len(msg) > maxMessage+16 {
				t.Fatalf("a message of %d octets", len(msg))
			}
			if n, err := elementLength(msg); err != nil || n != len(msg) {
				t.Fatalf("readMessage returned %d octets, elementLength says %d, %v", len(msg), n, err)
			}
			if resp, err := parseResponse(msg); err == nil {
				_ = resp.err()
			}
		}
	})
}

// pipeConn reads b and discards writes.
type pipeConn struct {
	net.Conn
	r io.Reader
}

func (p *pipeConn) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return len(b), nil }
func (p *pipeConn) Close() error                { return nil }

// FuzzConnArmed feeds an armed Conn (a layer negotiated, the BindResponse
// pending) arbitrary bytes: the BindResponse decides, the rest is
// plaintext or frames, errors are typed, never a panic.
func FuzzConnArmed(f *testing.F) {
	accounts := ntlm.NewMemoryStore()
	accounts.Add("CONTOSO", "alice", "correct horse")
	sh, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: accounts}, HandshakeTimeout: time.Minute})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sh.Close() })
	ch, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ch.Close() })
	ctx := context.Background()
	// A fresh NTLM layer per input (a failed BindResponse deletes it); the
	// fuzzed frames do not verify, which is the point.
	newSec := func(t *testing.T) *sasl.Security {
		c, err := sasl.NewClient(ctx, ch, sasl.ClientConfig{Mechanism: sasl.GSSSPNEGO, Context: gosspi.ClientConfig{Package: "NTLM",
			Target: "ldap/x", Identity: &gosspi.Identity{User: `CONTOSO\alice`, Password: "correct horse"}}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := sasl.NewServer(ctx, sh, sasl.ServerConfig{Mechanism: sasl.GSSSPNEGO, Context: gosspi.ServerConfig{Package: "NTLM"}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Start(ctx)
		var sec *sasl.Security
		for err == nil && sec == nil {
			var chal []byte
			var done bool
			if chal, done, err = s.Next(ctx, resp); err == nil {
				if done {
					sec, err = c.Finish(ctx, chal)
				} else {
					resp, err = c.Next(ctx, chal)
				}
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		s.Security().Close()
		return sec
	}
	f.Add([]byte{0x30, 0x0c, 0x02, 0x01, 0x03, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00, 0, 0, 0, 20, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		conn := NewConn(&pipeConn{r: bytes.NewReader(b)})
		conn.arm(newSec(t))
		defer conn.Close()
		buf := make([]byte, 512)
		for range 8 {
			if _, err := conn.Read(buf); err != nil {
				var fe *sasl.FrameError
				var le *sasl.LayerError
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &fe) && !errors.As(err, &le) {
					t.Fatalf("untyped error %T %v", err, err)
				}
				return
			}
		}
	})
}
