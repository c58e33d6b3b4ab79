package mitkrb

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// gpTokenEnv names the AP-REQ file of a child run of
// BenchmarkAcceptProxiedChild.
const gpTokenEnv = "GOSSPI_BENCH_GSSPROXY_TOKEN"

// startGssproxy runs Debian's gssproxy in the foreground with one
// acceptor service holding the benchmark keytab on its own socket, and
// returns the socket.
func startGssproxy(b *testing.B) string {
	b.Helper()
	bin, err := exec.LookPath("gssproxy")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/gssproxy"); err != nil {
			b.Fatal("gssproxy not found: install the Debian package gssproxy")
		}
		bin = "/usr/sbin/gssproxy"
	}
	dir := b.TempDir()
	sock := filepath.Join(dir, "service.sock")
	conf := filepath.Join(dir, "gssproxy.conf")
	cfg := "[gssproxy]\n  debug_level = 0\n\n[service/bench]\n  mechs = krb5\n  socket = " + sock +
		"\n  cred_store = keytab:" + keytabPath + "\n  cred_usage = accept\n  euid = " + strconv.Itoa(os.Geteuid()) + "\n"
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-i", "-c", conf, "-s", filepath.Join(dir, "default.sock"))
	cmd.Env = []string{"KRB5_CONFIG=" + realm.Krb5Con, "KRB5RCACHETYPE=none", "PATH=/usr/sbin:/usr/bin:/bin"}
	out, _ := os.Create(filepath.Join(dir, "gssproxy.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); out.Close() })
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		time.Sleep(10 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "gssproxy.log"))
	b.Fatalf("gssproxy did not create %s:\n%s", sock, log)
	return ""
}

// BenchmarkAcceptGssproxy is MIT's gss_accept_sec_context of one AP-REQ
// (replay cache off) directly and through gssproxy (GSS_USE_PROXY=yes,
// GSSPROXY_BEHAVIOR=REMOTE_ONLY), in the same run: the proxied loop runs
// in a child process, since libgssapi reads the variables once, and its
// ns/op is reported here as ns/accept.
func BenchmarkAcceptGssproxy(b *testing.B) {
	var ic Context
	tok, _, err := ic.Init(hostName, FlagMutual|FlagConf|FlagInteg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ic.Delete()
	b.Run("direct", func(b *testing.B) {
		if err := AcceptLoop(tok, b.N); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/accept")
	})
	b.Run("gssproxy", func(b *testing.B) {
		if b.N == 1 {
			return // the child measures; the count of the parent does not matter
		}
		sock := startGssproxy(b)
		tf := filepath.Join(b.TempDir(), "apreq")
		if err := os.WriteFile(tf, tok, 0o600); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkAcceptProxiedChild$", "-test.benchtime=2s")
		cmd.Env = append(os.Environ(), gpTokenEnv+"="+tf, "GSS_USE_PROXY=yes", "GSSPROXY_SOCKET="+sock, "GSSPROXY_BEHAVIOR=REMOTE_ONLY")
		out, err := cmd.CombinedOutput()
		m := regexp.MustCompile(`BenchmarkAcceptProxiedChild\S*\s+\d+\s+([0-9.]+) ns/op`).FindSubmatch(out)
		if err != nil || m == nil {
			b.Fatalf("proxied child: %v\n%s", err, out)
		}
		ns, _ := strconv.ParseFloat(string(m[1]), 64)
		b.ReportMetric(ns, "ns/accept")
	})
}

// BenchmarkAcceptProxiedChild is the proxied loop, run only as the child
// of BenchmarkAcceptGssproxy.
func BenchmarkAcceptProxiedChild(b *testing.B) {
	tf := os.Getenv(gpTokenEnv)
	if tf == "" {
		b.Skip("run by BenchmarkAcceptGssproxy")
	}
	tok, err := os.ReadFile(tf)
	if err != nil {
		b.Fatal(err)
	}
	if err := AcceptLoop(tok, b.N); err != nil {
		b.Fatal(err)
	}
}
