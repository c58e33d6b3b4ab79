package testutil

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Peer is a real implementation driven as a subprocess that speaks one JSON
// object per line on stdin and stdout, such as the python3-gssapi driver
// scripts under each package's testdata/. It is stopped when the test ends,
// after at most a minute; its stderr is logged if the test fails.
type Peer struct {
	t      testing.TB
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr *SyncBuffer
}

// StartPeer runs name with args and env added to the environment (or, when
// env is not nil and replace is true, as the whole environment). It fails
// the test when name is not installed.
func StartPeer(t testing.TB, env []string, replace bool, name string, args ...string) *Peer {
	t.Helper()
	RequirePeer(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, name, args...)
	if replace {
		cmd.Env = env
	} else {
		cmd.Env = append(os.Environ(), env...)
	}
	p := &Peer{t: t, stderr: &SyncBuffer{}}
	cmd.Stderr = p.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
		cancel()
		if t.Failed() && p.stderr.String() != "" {
			t.Logf("%s stderr:\n%s", name, p.stderr.String())
		}
	})
	p.in = in
	p.out = bufio.NewScanner(out)
	p.out.Buffer(make([]byte, 1<<20), 1<<20)
	return p
}

// Send writes one request line.
func (p *Peer) Send(v any) {
	p.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		p.t.Fatalf("peer: %v", err)
	}
}

// Recv decodes the next answer line into v. It fails the test if the peer
// ended or wrote something that is not JSON.
func (p *Peer) Recv(v any) {
	p.t.Helper()
	if !p.out.Scan() {
		p.t.Fatalf("peer ended: %v", p.out.Err())
	}
	if err := json.Unmarshal(p.out.Bytes(), v); err != nil {
		p.t.Fatalf("peer said %q: %v", p.out.Text(), err)
	}
}
