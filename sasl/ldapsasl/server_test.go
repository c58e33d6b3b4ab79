package ldapsasl

// gosspi's SASL server side against Cyrus SASL's client: a small LDAP
// server built on sasl.Server (bind, WhoAmI, unbind) answers
// `ldapwhoami -Y GSSAPI` (libldap with Cyrus SASL's GSSAPI plugin on MIT
// krb5) with each security layer, and the whoami goes through it.

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/sasl"
)

// recorder keeps what was read from a connection.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.buf.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

// miniServer serves one LDAP connection with a SASL server of mech.
type miniServer struct {
	h      *gosspi.Host
	mech   string
	layers sasl.Layer
	cb     *gosspi.ChannelBindings // the server's view of the TLS channel

	mu       sync.Mutex
	sec      *sasl.Security
	creds    [][]byte // the client's SASL messages
	frames   []byte   // what the client sent after the bind
	requests []byte   // the client's bind requests, as sent
	err      error
	whoamis  int
}

func ldapResponse(id int64, op ber.Tag, code int64, diag string, extra ...*ber.Packet) []byte {
	env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
	env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	r := ber.Encode(ber.ClassApplication, ber.TypeConstructed, op, nil, "Response")
	r.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, "resultCode"))
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diag, "diagnosticMessage"))
	for _, e := range extra {
		r.AppendChild(e)
	}
	env.AppendChild(r)
	return env.Bytes()
}

func (m *miniServer) fail(err error) {
	m.mu.Lock()
	if m.err == nil {
		m.err = err
	}
	m.mu.Unlock()
}

func (m *miniServer) serve(raw net.Conn) {
	defer raw.Close()
	ctx := context.Background()
	rec := &recorder{Conn: raw}
	var conn net.Conn = rec
	var srv *sasl.Server
	defer func() {
		if srv != nil {
			srv.Close()
		}
	}()
	for {
		msg, err := readMessage(conn)
		if err != nil {
			return
		}
		p, err := ber.DecodePacketErr(msg)
		if err != nil || len(p.Children) < 2 {
			m.fail(errMessage)
			return
		}
		id, _ := p.Children[0].Value.(int64)
		op := p.Children[1]
		switch op.Tag {
		case ldap.ApplicationBindRequest:
			if len(op.Children) < 3 || len(op.Children[2].Children) < 1 {
				m.fail(errMessage)
				return
			}
			auth := op.Children[2]
			var creds []byte
			if len(auth.Children) > 1 {
				creds = auth.Children[1].ByteValue
				if creds == nil {
					creds = auth.Children[1].Data.Bytes()
				}
			}
			m.mu.Lock()
			m.creds = append(m.creds, append([]byte{}, creds...))
			m.mu.Unlock()
			if srv == nil {
				if srv, err = sasl.NewServer(ctx, m.h, sasl.ServerConfig{Mechanism: m.mech, Layers: m.layers, Context: gosspi.ServerConfig{ChannelBindings: m.cb}}); err != nil {
					m.fail(err)
					return
				}
			}
			chal, done, err := srv.Next(ctx, creds)
			switch {
			case err != nil:
				m.fail(err)
				conn.Write(ldapResponse(id, ldap.ApplicationBindResponse, ldap.LDAPResultInvalidCredentials, err.Error()))
				return
			case !done:
				conn.Write(ldapResponse(id, ldap.ApplicationBindResponse, ldap.LDAPResultSaslBindInProgress, "",
					ber.NewString(ber.ClassContext, ber.TypePrimitive, 7, string(chal), "serverSaslCreds")))
			default:
				var extra []*ber.Packet
				if len(chal) > 0 {
					extra = append(extra, ber.NewString(ber.ClassContext, ber.TypePrimitive, 7, string(chal), "serverSaslCreds"))
				}
				conn.Write(ldapResponse(id, ldap.ApplicationBindResponse, ldap.LDAPResultSuccess, "", extra...))
				sec := srv.Security()
				m.mu.Lock()
				m.sec = sec
				m.mu.Unlock()
				rec.mu.Lock()
				m.requests = append([]byte(nil), rec.buf.Bytes()...)
				rec.buf.Reset()
				rec.mu.Unlock()
				if sec.Layer() != sasl.LayerNone {
					conn = sasl.NewConn(rec, sec)
				}
			}
		case ldap.ApplicationExtendedRequest:
			m.mu.Lock()
			sec := m.sec
			m.mu.Unlock()
			if sec == nil {
				conn.Write(ldapResponse(id, ldap.ApplicationExtendedResponse, ldap.LDAPResultOperationsError, "bind first"))
				continue
			}
			peer, err := sec.Context().Identity()
			if err != nil {
				m.fail(err)
				return
			}
			m.mu.Lock()
			m.whoamis++
			m.mu.Unlock()
			conn.Write(ldapResponse(id, ldap.ApplicationExtendedResponse, ldap.LDAPResultSuccess, "",
				ber.NewString(ber.ClassContext, ber.TypePrimitive, 11, "u:"+peer.Principal, "responseValue")))
			rec.mu.Lock()
			m.mu.Lock()
			m.frames = append([]byte(nil), rec.buf.Bytes()...)
			m.mu.Unlock()
			rec.mu.Unlock()
		case ldap.ApplicationUnbindRequest:
			return
		default:
			conn.Write(ldapResponse(id, op.Tag+1, ldap.LDAPResultUnwillingToPerform, "not here"))
		}
	}
}

// TestServerAgainstCyrus: ldapwhoami -Y GSSAPI (Cyrus SASL, MIT krb5)
// binds to sasl.Server with each layer, as its -O security properties ask,
// and reads its whoami through the layer.
func TestServerAgainstCyrus(t *testing.T) {
	r := krbtest.NewRealm(t, krbtest.Options{})
	kt, cc, err := r.UserAndService("alice", "alice-Secret-1", "ldap/localhost")
	if err != nil {
		t.Fatal(err)
	}
	h, err := gosspi.NewHost(gosspi.HostConfig{Kerberos: kerberos.Config{Krb5Conf: r.Krb5Con, Keytab: kt}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ldapwhoami, err := exec.LookPath("ldapwhoami")
	if err != nil {
		t.Fatal("ldapwhoami not found: install ldap-utils and libsasl2-modules-gssapi-mit (.ci/apt-packages)")
	}
	for _, tc := range []struct {
		name     string
		secprops string
		offer    sasl.Layer
		want     sasl.Layer
	}{
		{"sealing", "minssf=56", sasl.AllLayers, sasl.LayerConfidentiality},
		{"signing", "minssf=1,maxssf=1", sasl.AllLayers, sasl.LayerIntegrity},
		{"none", "maxssf=0", sasl.AllLayers, sasl.LayerNone},
		{"server requires sealing", "", sasl.LayerConfidentiality, sasl.LayerConfidentiality},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			m := &miniServer{h: h, mech: sasl.GSSAPI, layers: tc.offer}
			done := make(chan struct{})
			go func() {
				defer close(done)
				if c, err := l.Accept(); err == nil {
					m.serve(c)
				}
			}()
			args := []string{"-Q", "-N", "-Y", "GSSAPI", "-H", "ldap://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)}
			if tc.secprops != "" {
				args = append(args, "-O", tc.secprops)
			}
			cmd := exec.Command(ldapwhoami, args...)
			cmd.Env = append(r.Env(), "KRB5CCNAME=FILE:"+cc, "LDAPCONF="+filepath.Join(t.TempDir(), "none.conf"))
			out, err := cmd.CombinedOutput()
			l.Close()
			<-done
			if m.err != nil || err != nil {
				t.Fatalf("ldapwhoami: %v\n%s\nserver: %v", err, out, m.err)
			}
			if got := strings.TrimSpace(string(out)); got != "u:alice@"+r.Name {
				t.Fatalf("ldapwhoami printed %q", got)
			}
			if m.sec == nil || m.sec.Layer() != tc.want || m.whoamis != 1 {
				t.Fatalf("server: layer %v, %d whoamis; want %v", m.sec, m.whoamis, tc.want)
			}
			if tc.want != sasl.LayerNone && (len(m.frames) < 4 || m.frames[0] != 0) {
				t.Fatalf("the client's whoami did not come in a frame: % x", m.frames[:min(8, len(m.frames))])
			}
			if os.Getenv("SASL_RECORD") != "" {
				recordSeeds(t, "cyrus-"+strings.ReplaceAll(tc.name, " ", "-"), m.creds, m.frames)
				recordMessages(t, "cyrus-requests-"+strings.ReplaceAll(tc.name, " ", "-"), m.requests)
			}
		})
	}
}

// recordSeeds writes a real client's messages and frames as seeds of
// package sasl's fuzz targets.
func recordSeeds(t testing.TB, name string, creds [][]byte, frames []byte) {
	write := func(target, file string, b []byte) {
		dir := filepath.Join("..", "testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range creds {
		write("FuzzServerNext", name+"-"+strconv.Itoa(i), c)
	}
	if len(frames) > 0 {
		write("FuzzReadFrame", name, frames)
	}
}

// recordMessages writes a real LDAP stream as a seed of FuzzReadMessage.
func recordMessages(t testing.TB, name string, stream []byte) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReadMessage")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(stream)) + ")\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
