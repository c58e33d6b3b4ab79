package gosspi_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/lsa/lsad"
	"github.com/gosspi/gosspi/sspi"
)

// NewHost with HostConfig.LSA (or GOSSPI_LSA) runs the packages in a
// gosspi lsad: an NTLM client and server authenticate through it and
// wrap messages in the application; with the daemon gone, NewHost fails
// with a status that says so.
func TestNewHostThroughLsad(t *testing.T) {
	dir := t.TempDir()
	accounts := filepath.Join(dir, "users")
	if err := os.WriteFile(accounts, []byte("CONTOSO:alice:correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "lsad.sock")
	f, err := lsad.ParseConfig([]byte(`{"allow_ntlm_reflection": true, "services": [{"name": "t", "uids": [` +
		strconv.Itoa(os.Getuid()) + `], "inbound": true, "outbound": true, "ntlm_accounts": "` + accounts + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := lsad.New(lsad.Config{File: f})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Setenv("GOSSPI_LSA", "unix:"+sock)
	host, err := gosspi.NewHost(gosspi.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	cli, err := host.NewClient(ctx, gosspi.ClientConfig{Package: "NTLM", Target: "host/srv", Identity: &gosspi.Identity{User: `CONTOSO\alice`, Password: "correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := host.NewServer(ctx, gosspi.ServerConfig{Package: "NTLM"})
	if err != nil {
		t.Fatal(err)
	}
	out, cdone, err := cli.Step(ctx, nil)
	for sdone := false; err == nil && !(cdone && sdone); {
		if out, sdone, err = srv.Step(ctx, out); err != nil || cdone {
			break
		}
		out, cdone, err = cli.Step(ctx, out)
	}
	if err != nil {
		t.Fatalf("handshake through lsad: %v", err)
	}
	id, err := srv.Identity()
	if err != nil || id.Principal != `CONTOSO\alice` {
		t.Fatalf("identity: %+v %v", id, err)
	}
	s.Close() // the daemon goes; established contexts still wrap
	w, err := cli.Wrap([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := srv.Unwrap(w); err != nil || string(got) != "hello" {
		t.Fatalf("unwrap without the daemon: %q %v", got, err)
	}
	cli.Close()
	srv.Close()
	host.Close()
	if _, err := gosspi.NewHost(gosspi.HostConfig{}); !errors.Is(err, sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY) {
		t.Errorf("NewHost with the daemon down: %v", err)
	}
}
