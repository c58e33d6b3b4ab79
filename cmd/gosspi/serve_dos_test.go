package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeTimeoutDefaults: serve bounds every phase of a connection by
// default (issue 10, item 1: it used to set no read timeout).
func TestServeTimeoutDefaults(t *testing.T) {
	var o serveOptions
	if err := serveFlags(&o).Parse(nil); err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]time.Duration{"read-header": o.timeouts.readHeader, "read": o.timeouts.read,
		"write": o.timeouts.write, "idle": o.timeouts.idle, "handshake": o.timeouts.handshake} {
		if d <= 0 {
			t.Errorf("-%s-timeout defaults to %v", name, d)
		}
	}
	if got := (serveTimeouts{}).withDefaults(); got != defaultServeTimeouts {
		t.Errorf("zero timeouts become %+v", got)
	}
}

// TestServeCutsOffStalledClients: a client that stops in the middle of
// its headers, or of the body of an NTLM leg, is disconnected once the
// read timeouts pass, instead of keeping its connection (and, before
// issue 10, its handshake slot) forever.
func TestServeCutsOffStalledClients(t *testing.T) {
	url, logs := startServe(t, serveOptions{demo: true, schemes: "NTLM",
		timeouts: serveTimeouts{readHeader: 200 * time.Millisecond, read: 400 * time.Millisecond}})
	addr := strings.TrimPrefix(url, "http://")
	neg := "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=="
	for _, tc := range []struct{ name, req string }{
		{"headers", "GET / HTTP/1.1\r\nHost: test\r\n"},
		{"NTLM body", fmt.Sprintf("POST / HTTP/1.1\r\nHost: test\r\nAuthorization: NTLM %s\r\nContent-Length: 1000000\r\n\r\nx", neg)},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// The real clock: a server without read timeouts fails here.
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, tc.req)
		br := bufio.NewReader(c)
		if tc.name == "NTLM body" {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: %v\n%s", tc.name, err, logs.String())
			}
			resp.Body.Close()
			if resp.StatusCode != 401 || !resp.Close {
				t.Errorf("%s: %d close=%v", tc.name, resp.StatusCode, resp.Close)
			}
		}
		if _, err := io.Copy(io.Discard, br); err != nil {
			t.Errorf("%s: connection not closed by the server: %v", tc.name, err)
		}
		c.Close()
	}
	if !strings.Contains(logs.String(), "closing the connection") {
		t.Errorf("no log line for the stalled body:\n%s", logs.String())
	}
}
