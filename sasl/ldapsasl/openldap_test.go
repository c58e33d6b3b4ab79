package ldapsasl_test

// Binds to OpenLDAP's slapd with Cyrus SASL's GSSAPI on an MIT realm,
// started by the test, with `ldapwhoami -Y GSSAPI` as the control: our
// bind, searches and whoami through the layer, slapd's olcSecurity ssf=1
// (signing) and ssf=56 (sealing).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/krbtest"
	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/sasl"
	"github.com/gosspi/gosspi/sasl/ldapsasl"
)

const (
	suffix   = "dc=gosspi,dc=test"
	aliceDN  = "uid=alice,ou=people," + suffix
	alicePW  = "alice-Secret-1"
	slapdSPN = "ldap/localhost"
)

// slapd is a running slapd.
type slapd struct {
	port int
	dir  string
	env  []string // for ldap-utils: the realm, alice's ccache, SASL_NOCANON
	log  string
}

func lookTool(t testing.TB, name string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatalf("%s not found: install slapd and ldap-utils (.ci/apt-packages)", name)
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startSlapd starts slapd with security (olcSecurity, "" for none) on the
// realm r, whose keytab holds ldap/localhost.
func startSlapd(t testing.TB, r *krbtest.Realm, keytab, ccache, security string) *slapd {
	t.Helper()
	dir := t.TempDir()
	s := &slapd{port: freePort(t), dir: dir, log: filepath.Join(dir, "slapd.log")}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	sec := ""
	if security != "" {
		sec = "security " + security
	}
	// The SASL identity uid=alice,cn=GOSSPI.TEST,cn=gssapi,cn=auth (or
	// cn=gss-spnego) is
	// alice's entry.
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
sasl-host localhost
sasl-realm %[2]s
authz-regexp "^uid=([^,]*),cn=%[2]s,cn=(gssapi|gss-spnego),cn=auth$" "uid=$1,ou=people,%[3]s"
%[4]s
database mdb
suffix "%[3]s"
rootdn "cn=admin,%[3]s"
directory %[1]s/db
access to * by users read by * none
`, dir, r.Name, suffix, sec)
	confPath := filepath.Join(dir, "slapd.conf")
	ldif := fmt.Sprintf(`dn: %[1]s
objectClass: dcObject
objectClass: organization
o: gosspi
dc: gosspi

dn: ou=people,%[1]s
objectClass: organizationalUnit
ou: people

dn: %[2]s
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Liddell
mail: alice@gosspi.test
`, suffix, aliceDN)
	ldifPath := filepath.Join(dir, "base.ldif")
	for p, b := range map[string]string{confPath: conf, ldifPath: ldif} {
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(lookTool(t, "slapadd"), "-f", confPath, "-l", ldifPath).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lookTool(t, "slapd"), "-d", "256", "-f", confPath, "-h", "ldap://127.0.0.1:"+strconv.Itoa(s.port)+"/")
	cmd.Env = append(r.Env(), "KRB5_KTNAME=FILE:"+keytab)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("slapd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(s.log)
			t.Logf("slapd log:\n%s", b)
		}
	})
	// Ready when it accepts connections: waited for on timers.
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.Dial("tcp", s.addr()); err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			b, _ := os.ReadFile(s.log)
			t.Fatalf("slapd exited:\n%s", b)
		case <-timeout.C:
			t.Fatal("slapd does not listen after 20 s")
		case <-tick.C:
		}
	}
	ldapConf := filepath.Join(dir, "ldap.conf")
	if err := os.WriteFile(ldapConf, []byte("SASL_NOCANON on\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.env = append(r.Env(), "KRB5CCNAME=FILE:"+ccache, "LDAPCONF="+ldapConf)
	return s
}

func (s *slapd) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// url names the server as localhost: the host of its principal.
func (s *slapd) url() string { return "ldap://localhost:" + strconv.Itoa(s.port) }

// whoamiControl runs `ldapwhoami -Y GSSAPI` with alice's ticket.
func (s *slapd) whoamiControl(t testing.TB, secprops string) string {
	t.Helper()
	args := []string{"-Q", "-N", "-Y", "GSSAPI", "-H", s.url()}
	if secprops != "" {
		args = append(args, "-O", secprops)
	}
	cmd := exec.Command(lookTool(t, "ldapwhoami"), args...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ldapwhoami -Y GSSAPI (the control): %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

type mitSetup struct {
	r              *krbtest.Realm
	keytab, ccache string
	host           *gosspi.Host
}

func newMIT(t testing.TB) *mitSetup {
	t.Helper()
	r := krbtest.NewRealm(t, krbtest.Options{})
	kt, cc, err := r.UserAndService("alice", alicePW, slapdSPN)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(t.TempDir(), "none"))
	t.Setenv("KRB5_CLIENT_KTNAME", "FILE:"+filepath.Join(t.TempDir(), "none.keytab"))
	h, err := gosspi.NewHost(gosspi.HostConfig{Kerberos: kerberos.Config{Krb5Conf: r.Krb5Con}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &mitSetup{r: r, keytab: kt, ccache: cc, host: h}
}

func (m *mitSetup) identity() *gosspi.Identity {
	return &gosspi.Identity{Options: map[string]string{"ccache": "FILE:" + m.ccache}}
}

// searchAlice reads alice's entry through l.
func searchAlice(t testing.TB, l *ldap.Conn) {
	t.Helper()
	res, err := l.Search(ldap.NewSearchRequest(suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 10, false,
		"(uid=alice)", []string{"mail", "cn"}, nil))
	if err != nil {
		t.Fatalf("search through the layer: %v", err)
	}
	if len(res.Entries) != 1 || res.Entries[0].DN != aliceDN || res.Entries[0].GetAttributeValue("mail") != "alice@gosspi.test" {
		t.Fatalf("search returned %v", res.Entries)
	}
}

func TestOpenLDAP(t *testing.T) {
	m := newMIT(t)
	for _, tc := range []struct {
		name     string
		security string // slapd's olcSecurity
		layers   sasl.Layer
		want     sasl.Layer
	}{
		{"no requirement", "", sasl.AllLayers, sasl.LayerConfidentiality},
		{"ssf=1 signing", "ssf=1", sasl.LayerIntegrity, sasl.LayerIntegrity},
		{"ssf=56 sealing", "ssf=56", sasl.AllLayers, sasl.LayerConfidentiality},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSlapd(t, m.r, m.keytab, m.ccache, tc.security)
			control := s.whoamiControl(t, "")
			if control != "dn:"+aliceDN {
				t.Fatalf("the control's whoami: %q", control)
			}
			t.Run("GSSAPIBind", func(t *testing.T) {
				raw, err := net.Dial("tcp", s.addr())
				if err != nil {
					t.Fatal(err)
				}
				conn := ldapsasl.NewConn(raw)
				l := ldap.NewConn(conn, false)
				l.Start()
				defer l.Close()
				g, err := ldapsasl.NewGSSAPIClient(context.Background(), m.host, conn, sasl.ClientConfig{Layers: tc.layers,
					Context: gosspi.ClientConfig{Identity: m.identity()}})
				if err != nil {
					t.Fatal(err)
				}
				if err := l.GSSAPIBind(g, slapdSPN, ""); err != nil {
					t.Fatalf("GSSAPIBind: %v", err)
				}
				if sec := conn.Security(); sec == nil || sec.Layer() != tc.want {
					t.Fatalf("layer %v, want %v", sec, tc.want)
				}
				who, err := l.WhoAmI(nil)
				if err != nil || who.AuthzID != control {
					t.Fatalf("whoami through the layer: %v, %v; the control says %q", who, err, control)
				}
				searchAlice(t, l)
			})
			t.Run("Bind", func(t *testing.T) {
				raw, err := net.Dial("tcp", s.addr())
				if err != nil {
					t.Fatal(err)
				}
				c, err := sasl.NewClient(context.Background(), m.host, sasl.ClientConfig{Layers: tc.layers,
					Context: gosspi.ClientConfig{Target: slapdSPN, Identity: m.identity()}})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				rec := ldapsasl.NewRecorder(raw)
				conn, sec, err := ldapsasl.Bind(context.Background(), rec, c)
				if err != nil {
					t.Fatalf("Bind: %v", err)
				}
				if os.Getenv("SASL_RECORD") != "" {
					// slapd's BindResponses, as sent.
					ldapsasl.RecordMessages(t, "slapd-"+strings.NewReplacer(" ", "-", "=", "").Replace(tc.name), rec.Recorded())
				}
				if sec.Layer() != tc.want {
					t.Fatalf("layer %v, want %v", sec.Layer(), tc.want)
				}
				l := ldap.NewConn(conn, false)
				l.Start()
				defer l.Close()
				who, err := l.WhoAmI(nil)
				if err != nil || who.AuthzID != control {
					t.Fatalf("whoami through the layer: %v, %v", who, err)
				}
				searchAlice(t, l)
			})
		})
	}
}

// TestOpenLDAPGSSSPNEGO: Cyrus SASL's GSS-SPNEGO, which like Windows
// negotiates no layer but takes it from the context's flags (Kerberos
// here: MIT's acceptor sees gosspi's GSS_C_CONF_FLAG, so the session is
// sealed), against slapd with ssf=56; ldapwhoami -Y GSS-SPNEGO is the
// control.
func TestOpenLDAPGSSSPNEGO(t *testing.T) {
	m := newMIT(t)
	s := startSlapd(t, m.r, m.keytab, m.ccache, "ssf=56")
	cmd := exec.Command(lookTool(t, "ldapwhoami"), "-Q", "-N", "-Y", "GSS-SPNEGO", "-H", s.url())
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ldapwhoami -Y GSS-SPNEGO (the control): %v\n%s", err, out)
	}
	control := strings.TrimSpace(string(out))
	raw, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	c, err := sasl.NewClient(context.Background(), m.host, sasl.ClientConfig{Mechanism: sasl.GSSSPNEGO,
		Context: gosspi.ClientConfig{Target: slapdSPN, Identity: m.identity()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, sec, err := ldapsasl.Bind(context.Background(), raw, c)
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	if sec.Layer() != sasl.LayerConfidentiality || sec.Context().Package() != "Kerberos" {
		t.Fatalf("layer %v with %s", sec.Layer(), sec.Context().Package())
	}
	l := ldap.NewConn(conn, false)
	l.Start()
	defer l.Close()
	who, err := l.WhoAmI(nil)
	if err != nil || who.AuthzID != control || control != "dn:"+aliceDN {
		t.Fatalf("whoami through the layer: %v, %v; the control says %q", who, err, control)
	}
	searchAlice(t, l)
}

// TestOpenLDAPTooWeak: slapd with ssf=56 refuses the operations of a bind
// that only signs, as it refuses the control's with -O maxssf=1.
func TestOpenLDAPTooWeak(t *testing.T) {
	m := newMIT(t)
	s := startSlapd(t, m.r, m.keytab, m.ccache, "ssf=56")
	cmd := exec.Command(lookTool(t, "ldapwhoami"), "-Q", "-N", "-Y", "GSSAPI", "-O", "maxssf=1", "-H", s.url())
	cmd.Env = s.env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Confidentiality required") {
		t.Fatalf("the control with maxssf=1: %v: %s", err, out)
	} else {
		t.Logf("control refused: %s", strings.TrimSpace(string(out)))
	}
	raw, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	c, err := sasl.NewClient(context.Background(), m.host, sasl.ClientConfig{Layers: sasl.LayerIntegrity,
		Context: gosspi.ClientConfig{Target: slapdSPN, Identity: m.identity()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, _, err := ldapsasl.Bind(context.Background(), raw, c)
	if err != nil {
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultConfidentialityRequired) && !ldap.IsErrorWithCode(err, ldap.LDAPResultStrongAuthRequired) {
			t.Fatalf("bind: %v, want confidentialityRequired", err)
		}
		return
	}
	l := ldap.NewConn(conn, false)
	l.Start()
	defer l.Close()
	_, err = l.Search(ldap.NewSearchRequest(suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 10, false, "(uid=alice)", nil, nil))
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode != ldap.LDAPResultConfidentialityRequired {
		t.Fatalf("a search over a signing-only layer on ssf=56: %v, want confidentialityRequired", err)
	}
}
