package kerberos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// fakeDNS is a DNS server on loopback with a few records, for a
// net.Resolver the tests control.
type fakeDNS struct {
	conn    net.PacketConn
	cname   map[string]string // name. -> target.
	a       map[string]string // name. -> IPv4
	ptr     map[string]string // address -> name.
	queries atomic.Int32
	done    chan struct{}
}

func startFakeDNS(t *testing.T) *fakeDNS {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDNS{conn: c, done: make(chan struct{}),
		cname: map[string]string{"web.example.test.": "svc.localhost."},
		a:     map[string]string{"svc.localhost.": "127.0.0.2"},
		ptr:   map[string]string{"127.0.0.2": "svc.localhost.", "192.0.2.1": "svc.localhost."},
	}
	go d.serve()
	t.Cleanup(func() { c.Close(); <-d.done })
	return d
}

// resolver is a pure-Go resolver that asks only this server (after
// /etc/hosts, as every Go resolver does).
func (d *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, "udp", d.conn.LocalAddr().String())
	}}
}

func (d *fakeDNS) serve() {
	defer close(d.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		d.queries.Add(1)
		rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true}
		var answers []dnsmessage.Resource
		name := strings.ToLower(q.Name.String())
		known := false
		rr := func(n string, typ dnsmessage.Type, body dnsmessage.ResourceBody) dnsmessage.Resource {
			return dnsmessage.Resource{Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(n), Type: typ, Class: dnsmessage.ClassINET, TTL: 60}, Body: body}
		}
		switch q.Type {
		case dnsmessage.TypeA, dnsmessage.TypeAAAA:
			for i := 0; i < 8; i++ {
				target, ok := d.cname[name]
				if !ok {
					break
				}
				known = true
				answers = append(answers, rr(name, dnsmessage.TypeCNAME, &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(target)}))
				name = target
			}
			if ip, ok := d.a[name]; ok {
				known = true
				if q.Type == dnsmessage.TypeA {
					a := net.ParseIP(ip).To4()
					answers = append(answers, rr(name, dnsmessage.TypeA, &dnsmessage.AResource{A: [4]byte(a)}))
				}
			}
		case dnsmessage.TypePTR:
			for addr, n := range d.ptr {
				if arpa, _ := reverseArpa(addr); arpa == name {
					known = true
					answers = append(answers, rr(name, dnsmessage.TypePTR, &dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(n)}))
				}
			}
		}
		if !known {
			rh.RCode = dnsmessage.RCodeNameError
		}
		b := dnsmessage.NewBuilder(nil, rh)
		b.EnableCompression()
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		for _, a := range answers {
			switch body := a.Body.(type) {
			case *dnsmessage.CNAMEResource:
				b.CNAMEResource(a.Header, *body)
			case *dnsmessage.AResource:
				b.AResource(a.Header, *body)
			case *dnsmessage.PTRResource:
				b.PTRResource(a.Header, *body)
			}
		}
		if msg, err := b.Finish(); err == nil {
			d.conn.WriteTo(msg, from)
		}
	}
}

func reverseArpa(addr string) (string, error) {
	ip := net.ParseIP(addr).To4()
	if ip == nil {
		return "", errors.New("not IPv4")
	}
	return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", ip[3], ip[2], ip[1], ip[0]), nil
}

// TestTargetIPAddress: an IP-address target fails at once, before any KDC
// traffic, unless reverse DNS names it.
func TestTargetIPAddress(t *testing.T) {
	realm := liveRealm(t)
	kdc := startSilentKDC(t)
	ccache, err := realm.Kinit("alice", realm.userPW)
	if err != nil {
		t.Fatal(err)
	}
	for _, conf := range [][]string{{"dns_canonicalize_hostname = false"}, {"dns_canonicalize_hostname = true", "rdns = false"}} {
		p := New(Config{Krb5Conf: krb5ConfFor(t, realm.Name, kdc.port, conf...)})
		cred, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
			AuthData: &sspi.AuthIdentity{Options: map[string]string{"ccache": "FILE:" + ccache}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []string{"HTTP/192.0.2.1", "HTTP@192.0.2.1", "HTTP/[2001:db8::1]", "HTTP/192.0.2.1:8080", "HTTP/2001:db8::1"} {
			// A deadline far away: the call must not wait for the KDC.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, _, err := p.InitLsaModeContext(ctx, cred, nil, &secpkg.InitContextParams{TargetName: target, ContextReq: stdISC})
			cancel()
			if !errors.Is(err, sspi.SEC_E_TARGET_UNKNOWN) || !strings.Contains(err.Error(), "is an IP address; Kerberos needs a host name") {
				t.Fatalf("%v %s: err = %v", conf, target, err)
			}
		}
		cred.Free()
	}
	if len(kdc.got) != 0 {
		t.Fatalf("the KDC got %d requests for IP-address targets", len(kdc.got))
	}
	// With its realm, an address names a principal: the KDC is asked.
	p := New(Config{})
	_, _, err = p.InitLsaModeContext(context.Background(), clientCred(t, p), nil, &secpkg.InitContextParams{TargetName: "HTTP/192.0.2.1@" + realm.Name, ContextReq: stdISC})
	wantKDCError(t, err, sspi.SEC_E_TARGET_UNKNOWN, 7, "HTTP/192.0.2.1@"+realm.Name)
}

var localhostSPN sync.Once

// TestTargetCanonicalization: dns_canonicalize_hostname (true, false,
// fallback) and rdns, against the MIT realm, with a DNS server the test
// controls and /etc/hosts' localhost.
func TestTargetCanonicalization(t *testing.T) {
	realm := liveRealm(t)
	localhostSPN.Do(func() {
		if _, err := realm.AddService("HTTP/localhost"); err != nil {
			t.Fatal(err)
		}
	})
	dns := startFakeDNS(t)
	sp := New(Config{})
	svc := serverCred(t, sp, realm.svcKeytab, svcSPN)
	for _, tc := range []struct {
		name    string
		conf    []string
		target  string
		want    string // the service the ticket is for; "" for KDC_ERR_S_PRINCIPAL_UNKNOWN
		queries bool   // whether DNS is asked
	}{
		{"default is false: the name as given, no DNS", nil, "HTTP/web.example.test", "", false},
		{"true: CNAME", []string{"dns_canonicalize_hostname = true", "rdns = false"}, "HTTP/web.example.test", svcSPN, true},
		{"true: CNAME, mixed case", []string{"dns_canonicalize_hostname = yes", "rdns = false"}, "HTTP/Web.Example.TEST", svcSPN, true},
		{"true+rdns: CNAME, A, PTR", []string{"dns_canonicalize_hostname = true", "rdns = true"}, "HTTP@web.example.test", svcSPN, true},
		{"true+rdns: IP address", []string{"dns_canonicalize_hostname = true", "rdns = true"}, "HTTP/192.0.2.1", svcSPN, true},
		{"true: localhost from /etc/hosts", []string{"dns_canonicalize_hostname = true", "rdns = false"}, "HTTP/LOCALHOST", "HTTP/localhost", false},
		{"true+rdns: localhost", []string{"dns_canonicalize_hostname = true", "rdns = true"}, "HTTP/localhost", "HTTP/localhost", false},
		{"true: explicit realm kept", []string{"dns_canonicalize_hostname = true"}, "HTTP/web.example.test@" + realm.Name, "", false},
		{"false", []string{"dns_canonicalize_hostname = false"}, "HTTP/web.example.test", "", false},
		{"false: LOCALHOST as given", []string{"dns_canonicalize_hostname = false"}, "HTTP/LOCALHOST", "", false},
		{"fallback: known name, no DNS", []string{"dns_canonicalize_hostname = fallback"}, svcSPN, svcSPN, false},
		{"fallback: unknown name, then CNAME", []string{"dns_canonicalize_hostname = fallback", "rdns = false"}, "HTTP/web.example.test", svcSPN, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Config{Krb5Conf: krb5ConfWith(t, realm, tc.conf...), Resolver: dns.resolver()})
			before := dns.queries.Load()
			cred := clientCred(t, p)
			_, out, err := p.InitLsaModeContext(context.Background(), cred, nil, &secpkg.InitContextParams{TargetName: tc.target, ContextReq: stdISC})
			asked := dns.queries.Load() != before
			if asked != tc.queries {
				t.Errorf("DNS asked: %v, want %v", asked, tc.queries)
			}
			if tc.want == "" {
				_, host, _, _ := targetHost(strings.Replace(tc.target, "@"+realm.Name, "", 1))
				wantKDCError(t, err, sspi.SEC_E_TARGET_UNKNOWN, 7, "HTTP/"+host+"@"+realm.Name)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == svcSPN {
				// The acceptor of HTTP/svc.localhost takes the ticket.
				if _, err := accept(sp, svc, outToken(out), nil, 0); err != nil {
					t.Fatalf("accept: %v", err)
				}
			}
			tkt := parseAPReqToken(t, outToken(out)).Ticket
			if got := strings.Join(tkt.SName.NameString, "/"); got != tc.want {
				t.Fatalf("ticket for %s, want %s", got, tc.want)
			}
		})
	}
}

// krb5ConfWith is a krb5.conf for the realm with the given [libdefaults]
// lines and no dns_canonicalize_hostname of its own (gosspi's default:
// off), and
// example.test mapped to the realm.
func krb5ConfWith(t *testing.T, realm *testRealm, lines ...string) string {
	t.Helper()
	return writeKrb5Conf(t, realm.Name, realm.Port, lines, ".example.test = "+realm.Name)
}
