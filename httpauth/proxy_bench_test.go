package httpauth

import (
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gosspi/gosspi/internal/testutil"
)

// BenchmarkProxySquid fetches an HTTPS page through Squid on a new
// connection each time (CONNECT, the 407 legs answered by `gosspi
// ntlm-auth`, TLS, GET): our ProxyDialer beside curl --proxy-ntlm /
// --proxy-negotiate, one process per fetch (curl's figure includes its
// start, about a few milliseconds).
func BenchmarkProxySquid(b *testing.B) {
	curl := testutil.RequirePeer(b, "curl")
	s := startSquid(b)
	srv, pool := origin(b, true)
	cafile := filepath.Join(b.TempDir(), "ca.pem")
	os.WriteFile(cafile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.TLS.Certificates[0].Certificate[0]}), 0o644)
	for _, tc := range []struct {
		name, scheme string
		ntlm         bool
	}{{"NTLM", SchemeNTLM, true}, {"Kerberos", SchemeNegotiate, false}} {
		b.Run("ours-"+tc.name, func(b *testing.B) {
			id := kerberosIdentity()
			if tc.ntlm {
				id = ntlmIdentity()
			}
			host := clientHost(b)
			for b.Loop() {
				d := &ProxyDialer{Host: host, Proxy: proxyURL(b, s), Identity: id, Schemes: []string{tc.scheme}}
				if body, err := fetchThrough(d, pool, srv.URL+"/bench"); err != nil {
					b.Fatalf("%v: %s", err, body)
				}
				d.Close()
			}
		})
		b.Run("curl-"+tc.name, func(b *testing.B) {
			args := []string{"-sS", "--fail", "-o", "/dev/null", "--proxy", s.URL, "--cacert", cafile}
			if tc.ntlm {
				args = append(args, "--proxy-ntlm", "--proxy-user", ntDomain+`\`+ntUser+":"+ntPW)
			} else {
				args = append(args, "--proxy-negotiate", "--proxy-user", ":")
			}
			args = append(args, srv.URL+"/bench")
			env := testutil.Env(os.Environ(), "KRB5_CONFIG="+realm.Krb5Con, "KRB5CCNAME=FILE:"+realm.ccache)
			for b.Loop() {
				cmd := exec.CommandContext(context.Background(), curl, args...)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("curl: %v: %s", err, out)
				}
			}
		})
	}
}
