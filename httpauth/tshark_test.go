package httpauth

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gosspi/gosspi/internal/testutil"
)

// Wireshark's dissectors as a peer: the bytes our client and server put on
// the wire are written to a pcap and read back by tshark, which must decode
// every NTLMSSP, SPNEGO and Kerberos field it knows without a malformed or
// error-level expert item.

// tapConn records what a client connection writes and reads, in order.
type tapConn struct {
	net.Conn
	mu   *sync.Mutex
	segs *[]segment
}

type segment struct {
	fromClient bool
	data       []byte
}

func (c *tapConn) rec(fromClient bool, b []byte) {
	if len(b) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := *c.segs
	if n := len(s); n > 0 && s[n-1].fromClient == fromClient {
		s[n-1].data = append(s[n-1].data, b...)
	} else {
		s = append(s, segment{fromClient, append([]byte(nil), b...)})
	}
	*c.segs = s
}

// Write records before writing, so that the peer's answer, recorded by
// Read on another goroutine, can only come after it.
func (c *tapConn) Write(b []byte) (int, error) {
	c.rec(true, b)
	return c.Conn.Write(b)
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.rec(false, b[:n])
	return n, err
}

// writePcap writes one TCP conversation (client 10.0.0.1:50000, server
// 10.0.0.2:80) as a classic pcap, one packet per segment of at most
// 1400 bytes, with correct sequence numbers so that tshark reassembles HTTP.
func writePcap(t *testing.T, path string, segs []segment) {
	var out bytes.Buffer
	le := binary.LittleEndian
	hdr := make([]byte, 24)
	le.PutUint32(hdr[0:], 0xa1b2c3d4)
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535)
	le.PutUint32(hdr[20:], 1) // Ethernet
	out.Write(hdr)
	seq := map[bool]uint32{true: 1000, false: 5000}
	ts := uint32(1)
	packet := func(fromClient bool, flags byte, payload []byte) {
		src, dst := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}
		sport, dport := uint16(50000), uint16(80)
		if !fromClient {
			src, dst, sport, dport = dst, src, dport, sport
		}
		var p []byte
		p = append(p, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00) // Ethernet, IPv4
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+20+len(payload)))
		ip[8], ip[9] = 64, 6
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[i:]))
		}
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		p = append(p, ip...)
		tcp := make([]byte, 20)
		binary.BigEndian.PutUint16(tcp[0:], sport)
		binary.BigEndian.PutUint16(tcp[2:], dport)
		binary.BigEndian.PutUint32(tcp[4:], seq[fromClient])
		binary.BigEndian.PutUint32(tcp[8:], seq[!fromClient])
		tcp[12] = 5 << 4
		tcp[13] = flags
		binary.BigEndian.PutUint16(tcp[14:], 65535)
		p = append(p, tcp...)
		p = append(p, payload...)
		rec := make([]byte, 16)
		le.PutUint32(rec[0:], ts)
		le.PutUint32(rec[8:], uint32(len(p)))
		le.PutUint32(rec[12:], uint32(len(p)))
		ts++
		out.Write(rec)
		out.Write(p)
		n := uint32(len(payload))
		if flags&0x02 != 0 { // SYN takes one sequence number
			n = 1
		}
		seq[fromClient] += n
	}
	packet(true, 0x02, nil)  // SYN
	packet(false, 0x12, nil) // SYN-ACK
	packet(true, 0x10, nil)  // ACK
	for _, s := range segs {
		for d := s.data; len(d) > 0; {
			k := min(len(d), 1400)
			packet(s.fromClient, 0x18, d[:k])
			d = d[k:]
		}
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// capture runs one authenticated GET with tr against url and returns the
// conversation of every connection it used, concatenated in order.
func capture(t *testing.T, tr *Transport, url string) [][]segment {
	var mu sync.Mutex
	var convs []*[]segment
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		segs := &[]segment{}
		mu.Lock()
		convs = append(convs, segs)
		mu.Unlock()
		return &tapConn{Conn: c, mu: &mu, segs: segs}, nil
	}
	tr.Base = base
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	decodeWhoami(t, resp)
	tr.CloseIdleConnections()
	mu.Lock()
	defer mu.Unlock()
	var out [][]segment
	for _, c := range convs {
		out = append(out, *c)
	}
	return out
}

// tsharkFields dissects the pcap and returns, per packet, the values of
// the fields asked for (tab-separated, as tshark -T fields prints them).
func tsharkFields(t *testing.T, pcap string, opts []string, fields ...string) []string {
	args := append([]string{"-r", pcap, "-n", "-o", "tcp.check_checksum:FALSE", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"}, opts...)
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command("tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	var rows []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Trim(l, "\t ") != "" {
			rows = append(rows, l)
		}
	}
	return rows
}

func noMalformed(t *testing.T, pcap string) {
	out, err := exec.Command("tshark", "-r", pcap, "-n", "-o", "tcp.check_checksum:FALSE",
		"-Y", "_ws.malformed || _ws.expert.severity >= error").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		detail, _ := exec.Command("tshark", "-r", pcap, "-n", "-V", "-Y", "_ws.malformed || _ws.expert.severity >= error").CombinedOutput()
		t.Errorf("tshark reports malformed or error-level packets:\n%s\n%s", s, detail)
	}
}

func TestTsharkDissectsNTLM(t *testing.T) {
	testutil.RequirePeer(t, "tshark")
	s := newServer(t, Config{Schemes: []string{SchemeNTLM}}, BindingsWhenSupported, nil)
	tr := &Transport{Host: clientHost(t), Identity: ntlmIdentity()}
	defer tr.Close()
	convs := capture(t, tr, s.URL)
	var all []segment
	for _, c := range convs {
		all = append(all, c...)
	}
	pcap := filepath.Join(t.TempDir(), "ntlm.pcap")
	writePcap(t, pcap, all)
	noMalformed(t, pcap)
	rows := tsharkFields(t, pcap, nil, "ntlmssp.messagetype", "ntlmssp.auth.username", "ntlmssp.auth.domain",
		"ntlmssp.ntlmv2_response.ntproofstr", "ntlmssp.version.major", "ntlmssp.authenticate.mic")
	joined := strings.Join(rows, "\n")
	for _, want := range []string{"0x00000001", "0x00000002", "0x00000003", ntUser, ntDomain} {
		if !strings.Contains(joined, want) {
			t.Errorf("tshark did not decode %q; fields:\n%s", want, joined)
		}
	}
	// The AUTHENTICATE row: NTProofStr, Version and the MIC.
	var auth string
	for _, r := range rows {
		if strings.HasPrefix(r, "0x00000003") {
			auth = r
		}
	}
	f := strings.Split(auth, "\t")
	if len(f) < 6 || len(f[3]) != 32 || f[4] == "" || f[5] == "" {
		t.Errorf("AUTHENTICATE fields = %q; all rows:\n%s", auth, joined)
	}
}

func TestTsharkDissectsKerberosNegotiate(t *testing.T) {
	testutil.RequirePeer(t, "tshark")
	s := newServer(t, Config{}, BindingsWhenSupported, nil)
	tr := &Transport{Host: clientHost(t), Identity: kerberosIdentity()}
	defer tr.Close()
	url := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	var all []segment
	for _, c := range capture(t, tr, url) {
		all = append(all, c...)
	}
	pcap := filepath.Join(t.TempDir(), "krb.pcap")
	writePcap(t, pcap, all)
	noMalformed(t, pcap)
	// With the service keytab tshark decrypts the ticket, the
	// authenticator and (with the session key it learns) the AP-REP.
	decrypt := []string{"-o", "kerberos.decrypt:TRUE", "-o", "kerberos.file:" + realm.keytab}
	rows := tsharkFields(t, pcap, decrypt, "spnego.MechType", "spnego.negResult", "spnego.supportedMech",
		"kerberos.msg_type", "kerberos.realm", "kerberos.SNameString", "kerberos.cksumtype", "kerberos.etype", "kerberos.CNameString")
	joined := strings.Join(rows, "\n")
	for _, want := range []string{
		"1.2.840.113554.1.2.2", // Kerberos offered, and
		"14",                   // an AP-REQ
		"15",                   // and an AP-REP (mutual authentication)
		realm.Name,             // realm in the ticket
		"HTTP,localhost",       // service principal
		"32771",                // GSS checksum type 0x8003 (RFC 4121 4.1.1)
		"0",                    // negState accept-completed
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("tshark did not decode %q; fields:\n%s", want, joined)
		}
	}
}
