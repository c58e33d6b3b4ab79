package kerberos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// wantKDCError checks the status, the KRB-ERROR code under it and the
// message "NAME for PRINCIPAL".
func wantKDCError(t *testing.T, err error, st sspi.Status, code int32, principal string) {
	t.Helper()
	if !errors.Is(err, st) {
		t.Fatalf("err = %v, want %v", err, st)
	}
	var ke *KDCError
	if !errors.As(err, &ke) || ke.Code != code {
		t.Fatalf("err = %v, want a KDCError with code %d", err, code)
	}
	want := KRBErrorName(code) + " for " + principal
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %q, want it to say %q", err, want)
	}
	if strings.Contains(err.Error(), "KDC error") {
		t.Fatalf("err = %q still prints the bare number", err)
	}
}

func TestKRBErrorName(t *testing.T) {
	for code, want := range map[int32]string{6: "KDC_ERR_C_PRINCIPAL_UNKNOWN", 7: "KDC_ERR_S_PRINCIPAL_UNKNOWN",
		24: "KDC_ERR_PREAUTH_FAILED", 37: "KRB_AP_ERR_SKEW", 68: "KDC_ERR_WRONG_REALM", 1000: "KRB-ERROR 1000"} {
		if got := KRBErrorName(code); got != want {
			t.Errorf("KRBErrorName(%d) = %q, want %q", code, got, want)
		}
	}
	e := &KDCError{Code: 7, Principal: "HTTP/vm@EXAMPLE.TEST", Text: cleanText("no\x00such\nservice")}
	if got := e.Error(); got != `KDC_ERR_S_PRINCIPAL_UNKNOWN for HTTP/vm@EXAMPLE.TEST ("nosuchservice")` {
		t.Errorf("Error() = %q", got)
	}
}

// TestKDCErrors: the KRB-ERRORs of the MIT KDC, by their RFC 4120 names
// with the principal, under the SSPI status Windows gives them.
func TestKDCErrors(t *testing.T) {
	realm := liveRealm(t)
	ctx := context.Background()
	p := New(Config{})
	outbound := func(p *Package, user, pw string) error {
		c, _, err := p.AcquireCredentialsHandle(ctx, &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: user, Password: pw}})
		if err == nil {
			c.Free()
		}
		return err
	}
	t.Run("preauth-failed", func(t *testing.T) {
		err := outbound(p, "alice", "wrong-password")
		wantKDCError(t, err, sspi.SEC_E_LOGON_DENIED, 24, "alice@"+realm.Name)
	})
	t.Run("client-unknown", func(t *testing.T) {
		err := outbound(p, "nosuchuser", "x")
		wantKDCError(t, err, sspi.SEC_E_NO_CREDENTIALS, 6, "nosuchuser@"+realm.Name)
	})
	t.Run("server-unknown", func(t *testing.T) {
		_, _, err := p.InitLsaModeContext(ctx, clientCred(t, p), nil, &secpkg.InitContextParams{TargetName: "HTTP/vm.localhost", ContextReq: stdISC})
		wantKDCError(t, err, sspi.SEC_E_TARGET_UNKNOWN, 7, "HTTP/vm.localhost@"+realm.Name)
	})
	t.Run("server-unknown-through-sspi", func(t *testing.T) {
		host, err := lsa.New(lsa.Config{}, New(Config{}))
		if err != nil {
			t.Fatal(err)
		}
		defer host.Close()
		ft := sspi.InitSecurityInterface(host, UserMode())
		defer ft.Close()
		var cred sspi.CredHandle
		if err := ft.WithContext(ctx).AcquireCredentialsHandle("", PackageName, sspi.SECPKG_CRED_OUTBOUND, nil, &cred, nil); err != nil {
			t.Fatal(err)
		}
		defer ft.FreeCredentialsHandle(&cred)
		var cc sspi.CtxtHandle
		out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		_, err = ft.WithContext(ctx).InitializeSecurityContext(&cred, nil, "HTTP/vm.localhost", stdISC, 0, nil, &cc, out, nil, nil)
		wantKDCError(t, err, sspi.SEC_E_TARGET_UNKNOWN, 7, "HTTP/vm.localhost@"+realm.Name)
		if !strings.HasPrefix(err.Error(), "InitializeSecurityContext: SEC_E_TARGET_UNKNOWN") {
			t.Fatalf("err = %q", err)
		}
	})
	// A client clock ten minutes ahead: the KDC refuses the
	// PA-ENC-TIMESTAMP, and then the TGS-REQ authenticator.
	skewed := New(Config{Now: func() time.Time { return time.Now().Add(10 * time.Minute) }})
	t.Run("skew-as", func(t *testing.T) {
		err := outbound(skewed, "alice", realm.userPW)
		wantKDCError(t, err, sspi.SEC_E_TIME_SKEW, 37, "alice@"+realm.Name)
	})
	t.Run("skew-tgs", func(t *testing.T) {
		ccache, err := realm.Kinit("alice", realm.userPW)
		if err != nil {
			t.Fatal(err)
		}
		cred, _, err := skewed.AcquireCredentialsHandle(ctx, &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
			AuthData: &sspi.AuthIdentity{Options: map[string]string{"ccache": "FILE:" + ccache}}})
		if err != nil {
			t.Fatal(err)
		}
		defer cred.Free()
		_, _, err = skewed.InitLsaModeContext(ctx, cred, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC})
		wantKDCError(t, err, sspi.SEC_E_TIME_SKEW, 37, svcSPN+"@"+realm.Name)
	})
	t.Run("no-kdc-listening", func(t *testing.T) {
		conf := filepath.Join(t.TempDir(), "krb5.conf")
		writeFile(t, conf, []byte(fmt.Sprintf("[libdefaults]\n default_realm = %s\n[realms]\n %s = {\n  kdc = 127.0.0.1:1\n }\n", realm.Name, realm.Name)))
		err := outbound(New(Config{Krb5Conf: conf}), "alice", realm.userPW)
		if !errors.Is(err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY) || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no-kdc-configured", func(t *testing.T) {
		err := outbound(New(Config{Krb5Conf: krb5Conf(t)}), "alice", realm.userPW)
		if !errors.Is(err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY) || !strings.Contains(err.Error(), "no KDC for realm GOSSPI.TEST") {
			t.Fatalf("err = %v", err)
		}
	})
}

// silentKDC is a KDC that takes requests over TCP and UDP on one port and
// never answers. got receives a value for each request read.
type silentKDC struct {
	port  int
	got   chan string
	tcp   net.Listener
	udp   net.PacketConn
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startSilentKDC(t *testing.T) *silentKDC {
	t.Helper()
	k := &silentKDC{got: make(chan string, 16)}
	for i := 0; ; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			l.Close()
			if i > 20 {
				t.Fatal(err)
			}
			continue
		}
		k.tcp, k.udp, k.port = l, u, port
		break
	}
	k.wg.Add(2)
	go func() {
		defer k.wg.Done()
		for {
			c, err := k.tcp.Accept()
			if err != nil {
				return
			}
			k.mu.Lock()
			k.conns = append(k.conns, c)
			k.mu.Unlock()
			k.wg.Add(1)
			go func() {
				defer k.wg.Done()
				b := make([]byte, 4096)
				if n, _ := c.Read(b); n > 0 {
					k.got <- "tcp"
				}
				c.Read(b) // until the client or Close ends it
			}()
		}
	}()
	go func() {
		defer k.wg.Done()
		b := make([]byte, 65536)
		for {
			n, _, err := k.udp.ReadFrom(b)
			if err != nil {
				return
			}
			if n > 0 {
				k.got <- "udp"
			}
		}
	}()
	t.Cleanup(k.close)
	return k
}

func (k *silentKDC) close() {
	k.tcp.Close()
	k.udp.Close()
	k.mu.Lock()
	for _, c := range k.conns {
		c.Close()
	}
	k.mu.Unlock()
	k.wg.Wait()
}

// krb5ConfFor writes a krb5.conf whose realm's KDC is 127.0.0.1:port,
// with dns_canonicalize_hostname = false unless the lines set it.
func krb5ConfFor(t *testing.T, realm string, port int, libdefaults ...string) string {
	t.Helper()
	if !strings.Contains(strings.Join(libdefaults, "\n"), "dns_canonicalize_hostname") {
		libdefaults = append(libdefaults, "dns_canonicalize_hostname = false")
	}
	return writeKrb5Conf(t, realm, port, libdefaults)
}

func writeKrb5Conf(t *testing.T, realm string, port int, libdefaults []string, domainRealm ...string) string {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	domainRealm = append(domainRealm, ".localhost = "+realm, "localhost = "+realm)
	writeFile(t, conf, []byte(fmt.Sprintf("[libdefaults]\n default_realm = %s\n %s\n[realms]\n %s = {\n  kdc = 127.0.0.1:%d\n }\n[domain_realm]\n %s\n",
		realm, strings.Join(libdefaults, "\n "), realm, port, strings.Join(domainRealm, "\n "))))
	return conf
}

// ourGoroutines lists the goroutines, other than the caller's, that run
// code of this package outside its tests.
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the caller
		}
		for _, line := range strings.Split(g, "\n") {
			line = strings.TrimSpace(line)
			if strings.Contains(line, "/kerberos/") && strings.Contains(line, ".go:") && !strings.Contains(line, "_test.go:") {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// TestKDCContextDeadline: a KDC that never answers, over TCP and over UDP.
// An AS exchange (AcquireCredentialsHandle) and a TGS exchange (the first
// InitializeSecurityContext) end when their context does, with an error
// that is both SEC_E_NO_AUTHENTICATING_AUTHORITY and the context's error,
// and leave no goroutine behind.
func TestKDCContextDeadline(t *testing.T) {
	realm := liveRealm(t)
	const deadline = 300 * time.Millisecond
	const slack = 2 * time.Second
	for _, tc := range []struct {
		name  string
		limit string
	}{
		{"tcp", "udp_preference_limit = 1"},
		{"udp", "udp_preference_limit = 32700"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kdc := startSilentKDC(t)
			p := New(Config{Krb5Conf: krb5ConfFor(t, realm.Name, kdc.port, tc.limit)})
			check := func(t *testing.T, what string, start time.Time, err error, cause error) {
				t.Helper()
				if elapsed := time.Since(start); elapsed > deadline+slack {
					t.Errorf("%s took %v with a %v deadline", what, elapsed, deadline)
				}
				if !errors.Is(err, cause) || !errors.Is(err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY) {
					t.Fatalf("%s: err = %v, want %v and SEC_E_NO_AUTHENTICATING_AUTHORITY", what, err, cause)
				}
				select {
				case proto := <-kdc.got:
					if proto != tc.name {
						t.Errorf("%s: the request went over %s first", what, proto)
					}
				default:
					t.Fatalf("%s: the KDC never saw the request", what)
				}
				for len(kdc.got) > 0 {
					<-kdc.got
				}
				if g := ourGoroutines(); len(g) > 0 {
					t.Fatalf("%s: goroutines left running:\n%s", what, strings.Join(g, "\n\n"))
				}
			}

			// AS exchange.
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			start := time.Now()
			_, _, err := p.AcquireCredentialsHandle(ctx, &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
				AuthData: &sspi.AuthIdentity{User: "alice", Password: realm.userPW}})
			cancel()
			check(t, "AS exchange", start, err, context.DeadlineExceeded)

			// TGS exchange: a TGT from the ccache, the KDC silent. Through
			// the SSPI surface, as an application calls it.
			host, err := lsa.New(lsa.Config{}, p)
			if err != nil {
				t.Fatal(err)
			}
			defer host.Close()
			ft := sspi.InitSecurityInterface(host, UserMode())
			defer ft.Close()
			// A ccache of its own: MIT peers of other tests add service
			// tickets to the shared one.
			ccache, err := realm.Kinit("alice", realm.userPW)
			if err != nil {
				t.Fatal(err)
			}
			var cred sspi.CredHandle
			if err := ft.WithContext(context.Background()).AcquireCredentialsHandle("", PackageName, sspi.SECPKG_CRED_OUTBOUND,
				&sspi.AuthIdentity{Options: map[string]string{"ccache": "FILE:" + ccache}}, &cred, nil); err != nil {
				t.Fatal(err)
			}
			defer ft.FreeCredentialsHandle(&cred)
			ctx, cancel = context.WithTimeout(context.Background(), deadline)
			start = time.Now()
			var cc sspi.CtxtHandle
			_, err = ft.WithContext(ctx).InitializeSecurityContext(&cred, nil, svcSPN, stdISC, 0, nil, &cc,
				sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}), nil, nil)
			cancel()
			check(t, "TGS exchange", start, err, context.DeadlineExceeded)

			// Cancellation, once the KDC has the request.
			ctx, cancel = context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := ft.WithContext(ctx).InitializeSecurityContext(&cred, nil, svcSPN, stdISC, 0, nil, &cc,
					sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN}), nil, nil)
				done <- err
			}()
			proto := <-kdc.got
			start = time.Now()
			cancel()
			err = <-done
			kdc.got <- proto // for check
			check(t, "cancelled TGS exchange", start, err, context.Canceled)
		})
	}
}

// TestKDCTransportRealKDC: the MIT KDC answers over UDP as over TCP.
func TestKDCTransportRealKDC(t *testing.T) {
	realm := liveRealm(t)
	for _, limit := range []string{"udp_preference_limit = 1", "udp_preference_limit = 32700"} {
		conf := krb5ConfFor(t, realm.Name, realm.Port, limit)
		p := New(Config{Krb5Conf: conf})
		c, _, err := p.AcquireCredentialsHandle(context.Background(), &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND,
			AuthData: &sspi.AuthIdentity{User: "alice", Password: realm.userPW}})
		if err != nil {
			t.Fatalf("%s: %v", limit, err)
		}
		_, _, err = p.InitLsaModeContext(context.Background(), c, nil, &secpkg.InitContextParams{TargetName: svcSPN, ContextReq: stdISC})
		c.Free()
		if err != nil {
			t.Fatalf("%s: %v", limit, err)
		}
	}
}
