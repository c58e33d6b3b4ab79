package httpauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi"
)

// squidTranscript is what Squid answered to the CONNECTs of an NTLM
// handshake (two 407s, then the 200 header), recorded by
// TestProxySquidRecord with -record: the seed of FuzzProxyResponse.
const squidTranscript = "testdata/proxy-squid-ntlm.txt"

// recordingConn keeps what the proxy sent, up to the tunnel's first
// bytes.
type recordingConn struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.got.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

// TestProxySquidRecord makes an NTLM tunnel through Squid and, with
// -record, writes Squid's answers to testdata. Without -record it checks
// that the recording still has the shape the fuzz seed needs.
func TestProxySquidRecord(t *testing.T) {
	s := startSquid(t, "ntlm")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	var rec *recordingConn
	d := &ProxyDialer{Host: clientHost(t), Proxy: proxyURL(t, s), Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			rec = &recordingConn{Conn: c}
			return rec, nil
		}}
	defer d.Close()
	c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	rec.mu.Lock()
	got := rec.got.String()
	rec.mu.Unlock()
	if n := strings.Count(got, "HTTP/1.1 407 "); n != 2 || !strings.Contains(got, "HTTP/1.1 200 ") || !strings.Contains(got, "Proxy-Authenticate: NTLM T") {
		t.Fatalf("Squid's answers are not 407, 407 with a CHALLENGE, 200:\n%s", got)
	}
	if *record {
		if err := os.WriteFile(squidTranscript, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(squidTranscript)
	if err != nil {
		t.Fatalf("%v (run go test -run TestProxySquidRecord -record)", err)
	}
	if !bytes.Contains(b, []byte("Proxy-Authenticate: NTLM T")) {
		t.Fatalf("%s has no NTLM CHALLENGE", squidTranscript)
	}
}

// scriptConn is a connection to a fake proxy: reads return script (then
// EOF, or block until closed when hang is set), writes are dropped.
type scriptConn struct {
	r      io.Reader
	hang   bool
	closed chan struct{}
	once   sync.Once
	mu     sync.Mutex
	dl     time.Time
}

func newScriptConn(script []byte, hang bool) *scriptConn {
	return &scriptConn{r: bytes.NewReader(script), hang: hang, closed: make(chan struct{})}
}

func (c *scriptConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 || !c.hang {
		return n, err
	}
	c.mu.Lock()
	dl := c.dl
	c.mu.Unlock()
	var timeout <-chan time.Time
	if !dl.IsZero() {
		timer := time.NewTimer(time.Until(dl))
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	case <-timeout:
		return 0, os.ErrDeadlineExceeded
	}
}

func (c *scriptConn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
		return len(p), nil
	}
}

func (c *scriptConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *scriptConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

func (c *scriptConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3128}
}
func (c *scriptConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.dl = t
	c.mu.Unlock()
	return nil
}
func (c *scriptConn) SetReadDeadline(t time.Time) error  { return c.SetDeadline(t) }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }

// scriptDialer is a ProxyDialer whose every connection to the proxy
// answers script.
func scriptDialer(t testing.TB, host *gosspi.Host, script []byte, hang bool) (*ProxyDialer, *[]*scriptConn) {
	var conns []*scriptConn
	var mu sync.Mutex
	d := &ProxyDialer{Host: host, Proxy: &url.URL{Scheme: "http", Host: "proxy.test:3128"}, Identity: ntlmIdentity(), Schemes: []string{SchemeNTLM},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c := newScriptConn(script, hang)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			return c, nil
		}}
	return d, &conns
}

// A hostile or broken proxy: a header flood, a body flood, silence, a
// refusal, an endless 407. Each fails with an error within its bound and
// leaves no connection open.
func TestProxyDialerHostile(t *testing.T) {
	host := clientHost(t)
	flood := "HTTP/1.1 407 x\r\nProxy-Authenticate: NTLM\r\n" + strings.Repeat("X-Junk: "+strings.Repeat("a", 1000)+"\r\n", 200) + "\r\n"
	bodyFlood := "HTTP/1.1 407 x\r\nProxy-Authenticate: NTLM\r\nContent-Length: 5000000\r\n\r\n" + strings.Repeat("b", 2<<20)
	endless := strings.Repeat("HTTP/1.1 407 x\r\nProxy-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n", 20)
	for _, tc := range []struct {
		name   string
		script string
		hang   bool
		check  func(error) bool
	}{
		{"header-flood", flood, false, func(err error) bool { return errors.Is(err, ErrProxyHeaderTooLarge) }},
		{"body-flood", bodyFlood, false, func(err error) bool { return err != nil }},
		{"silent", "", true, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"refused", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", false, func(err error) bool {
			var pe *ProxyError
			return errors.As(err, &pe) && pe.StatusCode == 403
		}},
		{"no-scheme", "HTTP/1.1 407 x\r\nProxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 0\r\n\r\n", false, func(err error) bool {
			var pe *ProxyError
			return errors.As(err, &pe) && pe.StatusCode == 407
		}},
		{"bare-407", endless, false, func(err error) bool { return errors.Is(err, gosspi.ErrLogonDenied) }},
		{"garbage", "SSH-2.0-OpenSSH\r\n", false, func(err error) bool { return err != nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, conns := scriptDialer(t, host, []byte(tc.script), tc.hang)
			defer d.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			c, err := d.DialContext(ctx, "tcp", "origin.test:443")
			if c != nil || !tc.check(err) {
				t.Fatalf("conn %v, err %v", c, err)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
			for i, sc := range *conns {
				if !sc.isClosed() {
					t.Fatalf("connection %d left open", i)
				}
			}
		})
	}
}

// FuzzProxyResponse sends any bytes as a proxy's answers to the
// dialer's CONNECTs (an NTLM handshake), seeded with Squid's real
// answers: an error or a tunnel, never a panic or an unbounded read, and
// no connection left open on failure.
func FuzzProxyResponse(f *testing.F) {
	if b, err := os.ReadFile(squidTranscript); err == nil {
		f.Add(b)
	} else {
		f.Fatal(err)
	}
	f.Add([]byte("HTTP/1.1 200 Connection established\r\n\r\nearly"))
	f.Add([]byte("HTTP/1.0 407 x\r\nProxy-Authenticate: NTLM\r\nConnection: close\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 407 x\r\nProxy-Authenticate: Negotiate\r\nProxy-Authenticate: NTLM\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	host, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		f.Fatal(err)
	}
	defer host.Close()
	f.Fuzz(func(t *testing.T, script []byte) {
		d, conns := scriptDialer(t, host, script, false)
		d.MaxHeaderBytes = 8 << 10
		defer d.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// A watchdog: an exec that takes seconds is a hang to report,
		// with where it is.
		watch := time.AfterFunc(3*time.Second, func() {
			buf := make([]byte, 1<<20)
			panic(fmt.Sprintf("DialContext hangs on %q:\n%s", script, buf[:runtime.Stack(buf, true)]))
		})
		c, err := d.DialContext(ctx, "tcp", "origin.test:443")
		watch.Stop()
		if err == nil {
			c.Close()
			return
		}
		if c != nil {
			t.Fatal("a connection with an error")
		}
		for i, sc := range *conns {
			if !sc.isClosed() {
				t.Fatalf("connection %d left open after %v", i, err)
			}
		}
	})
}
