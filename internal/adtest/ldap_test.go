//go:build linux

// Samba 4.17 generates its TLS certificate with a random serial number,
// negative half the time, which crypto/x509 refuses by default.
//
//go:debug x509negativeserial=1

package adtest

// LDAP binds to the DC's own LDAP server (Samba's, on 389 and 636) with
// package sasl and sasl/ldapsasl, and go-ldap for the operations: GSSAPI
// with signing and sealing, GSS-SPNEGO with NTLM and with Kerberos, then
// searches that must return Alice's entry through the layer. The DC's
// default "ldap server require strong auth = yes" refuses binds that
// neither sign nor seal on plain LDAP.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/addc"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sasl"
	"github.com/gosspi/gosspi/sasl/ldapsasl"
)

const (
	ldapSPN    = "ldap/" + addc.HostName + "." + addc.DNSDomain
	ldapBaseDN = "DC=addc,DC=gosspi,DC=test"
)

func dialLDAP(t testing.TB, port string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addc.Addr, port), 5*time.Second)
	if err != nil {
		t.Fatalf("dial the DC's LDAP: %v", err)
	}
	return c
}

// searchAlice looks Alice up by sAMAccountName and checks her entry.
func searchAlice(t testing.TB, l *ldap.Conn) *ldap.Entry {
	t.Helper()
	res, err := l.Search(ldap.NewSearchRequest(ldapBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 10, false,
		"(sAMAccountName="+addc.Alice.Name+")", []string{"sAMAccountName", "memberOf", "userPrincipalName"}, nil))
	if err != nil {
		t.Fatalf("search through the layer: %v", err)
	}
	if len(res.Entries) != 1 || !strings.EqualFold(res.Entries[0].DN, "CN=alice,CN=Users,"+ldapBaseDN) {
		t.Fatalf("search returned %d entries: %v", len(res.Entries), res.Entries)
	}
	e := res.Entries[0]
	if e.GetAttributeValue("sAMAccountName") != addc.Alice.Name {
		t.Fatalf("entry %s has sAMAccountName %q", e.DN, e.GetAttributeValue("sAMAccountName"))
	}
	return e
}

// checkBoundAsAlice checks who the bind made us: the rootDSE's tokenGroups
// (the bound user's groups, as the DC computed them) hold GroupA's SID,
// and only Alice is in GroupA. Samba has no WhoAmI extended operation.
func checkBoundAsAlice(t testing.TB, l *ldap.Conn) {
	t.Helper()
	g, err := l.Search(ldap.NewSearchRequest(ldapBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 10, false,
		"(sAMAccountName="+addc.GroupA+")", []string{"objectSid"}, nil))
	if err != nil || len(g.Entries) != 1 {
		t.Fatalf("search %s: %v", addc.GroupA, err)
	}
	sid := g.Entries[0].GetRawAttributeValue("objectSid")
	root, err := l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 10, false,
		"(objectClass=*)", []string{"tokenGroups"}, nil))
	if err != nil || len(root.Entries) != 1 {
		t.Fatalf("rootDSE tokenGroups: %v", err)
	}
	groups := root.Entries[0].GetRawAttributeValues("tokenGroups")
	for _, v := range groups {
		if string(v) == string(sid) && len(sid) > 0 {
			return
		}
	}
	t.Fatalf("the bound user's %d tokenGroups do not hold %s's SID: not bound as alice", len(groups), addc.GroupA)
}

// aliceIdentities are Alice with her password, for Kerberos (or
// Negotiate's choice) and for NTLM only (Negotiate without Kerberos).
func aliceIdentities() (kerberos, ntlm *gosspi.Identity) {
	return password(addc.Alice.Name, addc.Alice.Password),
		&gosspi.Identity{User: addc.Alice.Name, Domain: addc.Domain, Password: addc.Alice.Password, Packages: "!kerberos"}
}

// aliceClient makes a SASL client for Alice.
func aliceClient(t testing.TB, h *gosspi.Host, mech string, layers sasl.Layer, id *gosspi.Identity, cb *gosspi.ChannelBindings) *sasl.Client {
	t.Helper()
	c, err := sasl.NewClient(context.Background(), h, sasl.ClientConfig{Mechanism: mech, Layers: layers,
		Context: gosspi.ClientConfig{Target: ldapSPN, Identity: id, ChannelBindings: cb}})
	if err != nil {
		t.Fatalf("sasl.NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestLDAPGoLDAPGSSAPIBind: go-ldap's own GSSAPIBind with ldapsasl's
// GSSAPIClient, signing and sealing on the Conn go-ldap runs on.
func TestLDAPGoLDAPGSSAPIBind(t *testing.T) {
	dc := addc.Start(t)
	cli := clientHost(t, dc, "")
	for _, tc := range []struct {
		name   string
		layers sasl.Layer
		want   sasl.Layer
	}{
		{"sealing", sasl.AllLayers, sasl.LayerConfidentiality},
		{"signing", sasl.LayerIntegrity, sasl.LayerIntegrity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := ldapsasl.NewConn(dialLDAP(t, "389"))
			l := ldap.NewConn(conn, false)
			l.Start()
			defer l.Close()
			g, err := ldapsasl.NewGSSAPIClient(context.Background(), cli.Host, conn, sasl.ClientConfig{Layers: tc.layers,
				Context: gosspi.ClientConfig{Identity: password(addc.Alice.Name, addc.Alice.Password)}})
			if err != nil {
				t.Fatal(err)
			}
			if err := l.GSSAPIBind(g, ldapSPN, ""); err != nil {
				t.Fatalf("GSSAPIBind: %v", err)
			}
			sec := conn.Security()
			if sec == nil || sec.Layer() != tc.want {
				t.Fatalf("layer after the bind: %v, want %v", sec, tc.want)
			}
			searchAlice(t, l)
			checkBoundAsAlice(t, l)
		})
	}
}

// TestLDAPBind: ldapsasl.Bind on the raw connection, GSSAPI and
// GSS-SPNEGO (Kerberos, NTLM), then go-ldap over the layer.
func TestLDAPBind(t *testing.T) {
	dc := addc.Start(t)
	cli := clientHost(t, dc, "")
	alice, aliceNTLM := aliceIdentities()
	for _, tc := range []struct {
		name    string
		mech    string
		id      *gosspi.Identity
		layers  sasl.Layer
		want    sasl.Layer
		wantPkg string
	}{
		{"GSSAPI sealing", sasl.GSSAPI, alice, sasl.AllLayers, sasl.LayerConfidentiality, "Kerberos"},
		{"GSSAPI signing", sasl.GSSAPI, alice, sasl.LayerIntegrity, sasl.LayerIntegrity, "Kerberos"},
		{"GSS-SPNEGO Kerberos sealing", sasl.GSSSPNEGO, alice, sasl.AllLayers, sasl.LayerConfidentiality, "Kerberos"},
		{"GSS-SPNEGO NTLM sealing", sasl.GSSSPNEGO, aliceNTLM, sasl.AllLayers, sasl.LayerConfidentiality, "NTLM"},
		{"GSS-SPNEGO NTLM signing", sasl.GSSSPNEGO, aliceNTLM, sasl.LayerIntegrity, sasl.LayerConfidentiality, "NTLM"},
		{"GSS-SPNEGO Kerberos signing", sasl.GSSSPNEGO, alice, sasl.LayerIntegrity, sasl.LayerConfidentiality, "Kerberos"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := aliceClient(t, cli.Host, tc.mech, tc.layers, tc.id, nil)
			rec := &recordingConn{Conn: dialLDAP(t, "389")}
			conn, sec, err := ldapsasl.Bind(ctx, rec, c)
			if err != nil {
				t.Fatalf("bind: %v", err)
			}
			rec.reset()
			defer func() {
				if os.Getenv("SASL_RECORD") != "" && !t.Failed() {
					recordFrames(t, "samba-"+strings.ReplaceAll(tc.name, " ", "-"), rec.bytes())
				}
			}()
			if sec.Layer() != tc.want || sec.Context().Package() != tc.wantPkg {
				t.Fatalf("layer %v with %s, want %v with %s", sec.Layer(), sec.Context().Package(), tc.want, tc.wantPkg)
			}
			l := ldap.NewConn(conn, false)
			l.Start()
			defer l.Close()
			t.Cleanup(func() {
				if t.Failed() {
					t.Log(dc.Log()[max(0, len(dc.Log())-3000):])
				}
			})
			searchAlice(t, l)
			checkBoundAsAlice(t, l)
		})
	}
}

// TestLDAPUnsignedRefused: on plain LDAP the DC refuses what neither
// signs nor seals: a simple bind, and a GSSAPI bind that chooses no layer.
func TestLDAPUnsignedRefused(t *testing.T) {
	dc := addc.Start(t)
	cli := clientHost(t, dc, "")
	t.Run("simple bind", func(t *testing.T) {
		l := ldap.NewConn(dialLDAP(t, "389"), false)
		l.Start()
		defer l.Close()
		err := l.Bind("CN=alice,CN=Users,"+ldapBaseDN, addc.Alice.Password)
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultStrongAuthRequired) {
			t.Fatalf("simple bind on plain LDAP: %v, want strongerAuthRequired", err)
		}
	})
	t.Run("GSSAPI without a layer", func(t *testing.T) {
		c := aliceClient(t, cli.Host, sasl.GSSAPI, sasl.LayerNone, password(addc.Alice.Name, addc.Alice.Password), nil)
		_, _, err := ldapsasl.Bind(context.Background(), dialLDAP(t, "389"), c)
		var ne *sasl.NegotiationError
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultStrongAuthRequired) && !errors.As(err, &ne) {
			t.Fatalf("GSSAPI bind with no layer on plain LDAP: %v, want strongerAuthRequired", err)
		}
		t.Logf("refused: %v", err)
	})
}

// dcTLSConfig trusts the certificate authority Samba generated for the DC
// (private/tls/ca.pem) and names the DC as its certificate does.
func dcTLSConfig(t testing.TB, dc *addc.DC) *tls.Config {
	t.Helper()
	// Samba generates its keys on the first TLS connection: make one
	// (whose certificate is checked below), then wait for the files.
	probe := tls.Client(dialLDAP(t, "636"), &tls.Config{InsecureSkipVerify: true})
	if err := probe.Handshake(); err != nil {
		t.Fatalf("LDAPS probe: %v", err)
	}
	probe.Close()
	pool := x509.NewCertPool()
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var pem []byte
		filepath.WalkDir(dc.Dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == "ca.pem" {
				pem, _ = os.ReadFile(path)
			}
			return nil
		})
		if pool.AppendCertsFromPEM(pem) {
			break
		}
		select {
		case <-timeout.C:
			t.Fatalf("no ca.pem of the DC under %s", dc.Dir)
		case <-tick.C:
		}
	}
	// Samba's generated certificate names the DC in its Common Name only,
	// which crypto/tls no longer matches: check the chain, then the name.
	name := addc.HostName + "." + addc.DNSDomain
	return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			leaf := cs.PeerCertificates[0]
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter}); err != nil {
				return err
			}
			if !strings.EqualFold(leaf.Subject.CommonName, name) {
				return fmt.Errorf("the DC's certificate names %q", leaf.Subject.CommonName)
			}
			return nil
		}}
}

// TestLDAPChannelBindings: over LDAPS and StartTLS, GSSAPI binds that
// carry the tls-server-end-point channel bindings (RFC 5929) of the DC's
// certificate and choose no layer, then searches over TLS. Samba 4.17 has
// no LDAP channel-binding setting (it neither requires nor checks them);
// the refusal of wrong bindings is shown against gosspi's own acceptor
// (sasl's TestChannelBindings). Sign or seal over TLS is refused, as a
// Windows DC refuses it: unwillingToPerform. GSS-SPNEGO over TLS cannot be
// done with gosspi's packages today: its NTLM always negotiates signing
// and its Kerberos always offers confidentiality, so the DC sees a layer.
func TestLDAPChannelBindings(t *testing.T) {
	dc := addc.Start(t)
	cli := clientHost(t, dc, "")
	alice, aliceNTLM := aliceIdentities()
	for _, tc := range []struct {
		name     string
		starttls bool
		mech     string
		id       *gosspi.Identity
		layers   sasl.Layer
		refused  bool // unwillingToPerform: a layer over TLS
	}{
		{"LDAPS GSSAPI", false, sasl.GSSAPI, alice, sasl.LayerNone, false},
		{"StartTLS GSSAPI", true, sasl.GSSAPI, alice, sasl.LayerNone, false},
		{"LDAPS GSSAPI sealing refused", false, sasl.GSSAPI, alice, sasl.LayerConfidentiality, true},
		{"LDAPS GSS-SPNEGO Kerberos refused", false, sasl.GSSSPNEGO, alice, sasl.AllLayers, true},
		{"StartTLS GSS-SPNEGO NTLM refused", true, sasl.GSSSPNEGO, aliceNTLM, sasl.AllLayers, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var tc2 *tls.Conn
			var err error
			if tc.starttls {
				tc2, err = ldapsasl.StartTLS(ctx, dialLDAP(t, "389"), dcTLSConfig(t, dc))
			} else {
				tc2 = tls.Client(dialLDAP(t, "636"), dcTLSConfig(t, dc))
				err = tc2.HandshakeContext(ctx)
			}
			if err != nil {
				t.Fatalf("TLS: %v", err)
			}
			cb, err := ldapsasl.ChannelBindings(tc2.ConnectionState())
			if err != nil {
				t.Fatal(err)
			}
			c := aliceClient(t, cli.Host, tc.mech, tc.layers, tc.id, cb)
			conn, sec, err := ldapsasl.Bind(ctx, tc2, c)
			if tc.refused {
				if !ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) {
					t.Fatalf("a layer over TLS: %v, want unwillingToPerform", err)
				}
				tc2.Close()
				return
			}
			if err != nil {
				t.Fatalf("bind: %v", err)
			}
			if sec.Layer() != sasl.LayerNone || conn != net.Conn(tc2) {
				t.Fatalf("layer %v over TLS", sec.Layer())
			}
			l := ldap.NewConn(conn, true)
			l.Start()
			defer l.Close()
			searchAlice(t, l)
			checkBoundAsAlice(t, l)
		})
	}
}

// TestLDAPGoLDAPStartTLSBindings: go-ldap's own StartTLS, then its
// GSSAPIBind with ldapsasl's GSSAPIClient carrying the channel bindings of
// the certificate go-ldap's TLS connection saw, and no layer.
func TestLDAPGoLDAPStartTLSBindings(t *testing.T) {
	dc := addc.Start(t)
	cli := clientHost(t, dc, "")
	l := ldap.NewConn(dialLDAP(t, "389"), false)
	l.Start()
	defer l.Close()
	if err := l.StartTLS(dcTLSConfig(t, dc)); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	cs, _ := l.TLSConnectionState()
	cb, err := ldapsasl.ChannelBindings(cs)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ldapsasl.NewGSSAPIClient(context.Background(), cli.Host, nil, sasl.ClientConfig{
		Context: gosspi.ClientConfig{Identity: password(addc.Alice.Name, addc.Alice.Password), ChannelBindings: cb}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.GSSAPIBind(g, ldapSPN, ""); err != nil {
		t.Fatalf("GSSAPIBind over StartTLS: %v", err)
	}
	searchAlice(t, l)
	checkBoundAsAlice(t, l)
}

// recordingConn keeps what is read from the DC, for fuzz seeds.
type recordingConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

func (r *recordingConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.buf = append(r.buf, p[:n]...)
	r.mu.Unlock()
	return n, err
}

func (r *recordingConn) reset() { r.mu.Lock(); r.buf = nil; r.mu.Unlock() }

func (r *recordingConn) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.buf...)
}

// recordFrames writes the DC's security-layer frames as a seed of package
// sasl's FuzzReadFrame (SASL_RECORD=1).
func recordFrames(t testing.TB, name string, stream []byte) {
	dir := filepath.Join("..", "..", "sasl", "testdata", "fuzz", "FuzzReadFrame")
	body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(stream)) + ")\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLDAPNTLMSignOnlyLDAPStyle: a client that, as Windows' LDAP client
// does, asks NTLM only for signing (NEGOTIATE without SEAL) and then
// seals, with ntlm.Config.SealWhenSigning: the DC applies the same rule
// (it handles the signing session as sealed), so the bind and a search
// through the layer work. Without the rule the DC refuses the first
// signed frame ("NTLM2 packet check failed").
func TestLDAPNTLMSignOnlyLDAPStyle(t *testing.T) {
	dc := addc.Start(t)
	h, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{SealWhenSigning: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	_, aliceNTLM := aliceIdentities()
	c, err := sasl.NewClient(context.Background(), h, sasl.ClientConfig{Mechanism: sasl.GSSSPNEGO, Layers: sasl.LayerIntegrity,
		Context: gosspi.ClientConfig{Target: ldapSPN, Identity: aliceNTLM,
			Flags: gosspi.FlagMutualAuth | gosspi.FlagIntegrity | gosspi.FlagReplayDetect | gosspi.FlagSequenceDetect}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, sec, err := ldapsasl.Bind(ctx, dialLDAP(t, "389"), c)
	if err != nil {
		t.Fatalf("bind: %v\n%s", err, dc.Log())
	}
	if sec.Layer() != sasl.LayerConfidentiality || sec.Context().Package() != "NTLM" {
		t.Fatalf("layer %v with %s, want confidentiality with NTLM", sec.Layer(), sec.Context().Package())
	}
	l := ldap.NewConn(conn, false)
	l.Start()
	defer l.Close()
	searchAlice(t, l)
	checkBoundAsAlice(t, l)
}
