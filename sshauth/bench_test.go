package sshauth

import (
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/testutil"
)

// BenchmarkLoginOpenSSH logs in to OpenSSH's sshd with gssapi-with-mic
// and runs `true`: our Client (x/crypto/ssh) beside OpenSSH's ssh (MIT's
// GSS-API), one process per login (ssh's figure includes its start).
func BenchmarkLoginOpenSSH(b *testing.B) {
	d := startSSHD(b)
	b.Run("ours", func(b *testing.B) {
		c := &Client{Host: newHost(b, ""), Identity: ccacheIdentity(realm.userCC)}
		for b.Loop() {
			if out, err := runRemote(b, d.addr, realm.account, c.AuthMethod(realm.hostname), "true"); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
	b.Run("openssh", func(b *testing.B) {
		bin := testutil.RequirePeer(b, "ssh")
		_, port, _ := net.SplitHostPort(d.addr)
		for b.Loop() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			// ssh names the service after the host it is given: sshd's
			// host name, reached on 127.0.0.1 (HostKeyAlias only for
			// known_hosts; HostName for the address).
			c := exec.CommandContext(ctx, bin, "-F", "/dev/null", "-p", port, "-o", "HostName=127.0.0.1",
				"-o", "GSSAPIServerIdentity="+realm.hostname,
				"-o", "BatchMode=yes", "-o", "GSSAPIAuthentication=yes", "-o", "PreferredAuthentications=gssapi-with-mic",
				"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
				realm.account+"@"+realm.hostname, "true")
			c.Env = testutil.Env(os.Environ(), "KRB5_CONFIG="+realm.Krb5Con, "KRB5CCNAME=FILE:"+realm.userCC)
			out, err := c.CombinedOutput()
			cancel()
			if err != nil {
				b.Fatalf("ssh: %v: %s", err, out)
			}
		}
	})
}

// BenchmarkLoginGoServer logs in to an x/crypto/ssh server that uses our
// Server (and runs a command): our Client beside OpenSSH's ssh.
func BenchmarkLoginGoServer(b *testing.B) {
	g := startGoServer(b, newAcceptor(b), AllowLocalUser(realm.Name))
	b.Run("ours", func(b *testing.B) {
		c := &Client{Host: newHost(b, ""), Identity: ccacheIdentity(realm.userCC)}
		for b.Loop() {
			if out, err := runRemote(b, g.addr, realm.account, c.AuthMethod("localhost"), "x"); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
	b.Run("openssh", func(b *testing.B) {
		for b.Loop() {
			if out, err := opensshClient(b, g.addr, realm.userCC, "x"); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
}
