package sshauth

import (
	"crypto/rand"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/testutil"
)

var record = flag.Bool("record", false, "rewrite testdata/ from real peer runs")

// opensshTranscript is a login of OpenSSH's ssh (MIT's GSS-API) to our
// server: the keytab it was accepted with, MIT's tokens and MIC, and the
// SSH session they were bound to.
const opensshTranscript = "testdata/openssh-gssapi.json"

type transcript struct {
	Time      time.Time `json:"time"`
	Keytab    []byte    `json:"keytab"` // host/localhost of a throwaway realm
	Tokens    [][]byte  `json:"tokens"` // the client's context tokens
	SessionID []byte    `json:"session_id"`
	User      string    `json:"user"`
	MIC       []byte    `json:"mic"`
	Principal string    `json:"principal"`
	Rand      []byte    `json:"rand"` // what the acceptor drew (its AP-REP's subkey, which MIT's MIC is made with)
}

// recordingServer is a Server that keeps what the client sent.
type recordingServer struct {
	*Server
	tr *transcript
}

func (r *recordingServer) AcceptSecContext(token []byte) ([]byte, string, bool, error) {
	r.tr.Tokens = append(r.tr.Tokens, append([]byte(nil), token...))
	return r.Server.AcceptSecContext(token)
}

func (r *recordingServer) VerifyMIC(field, mic []byte) error {
	r.tr.MIC = append([]byte(nil), mic...)
	return r.Server.VerifyMIC(field, mic)
}

// TestOpenSSHRecord logs in with OpenSSH's ssh and, with -record, writes
// the transcript that TestOpenSSHReplay replays without the peers.
func TestOpenSSHRecord(t *testing.T) {
	tee := &testutil.TeeReader{R: rand.Reader}
	tr := &transcript{Time: time.Now().UTC()}
	cfg := gosspi.HostConfig{Rand: tee, Now: func() time.Time { return tr.Time }}
	cfg.Kerberos.Keytab = realm.goKT
	h, err := gosspi.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	acc, err := NewAcceptor(t.Context(), h, "")
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	done := make(chan struct{}, 1)
	g := startGoServerWith(t, func() *ssh.GSSAPIWithMICConfig {
		s := acc.NewServer()
		rs := &recordingServer{Server: s, tr: tr}
		return &ssh.GSSAPIWithMICConfig{Server: rs, AllowLogin: func(conn ssh.ConnMetadata, src string) (*ssh.Permissions, error) {
			tr.SessionID, tr.User, tr.Principal = conn.SessionID(), conn.User(), src
			done <- struct{}{}
			return AllowLocalUser(realm.Name)(conn, gosspi.PeerIdentity{Principal: src})
		}}
	})
	if out, err := opensshClient(t, g.addr, realm.userCC, "x"); err != nil {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	<-done
	if len(tr.Tokens) != 1 || len(tr.MIC) == 0 || tr.Principal != realm.Principal(realm.account) {
		t.Fatalf("transcript: %d tokens, %d-byte MIC, principal %q", len(tr.Tokens), len(tr.MIC), tr.Principal)
	}
	if !*record {
		return
	}
	kt, err := os.ReadFile(realm.goKT)
	if err != nil {
		t.Fatal(err)
	}
	tr.Keytab = kt
	tr.Rand = append([]byte(nil), tee.Got...)
	b, err := json.MarshalIndent(tr, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(opensshTranscript), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(opensshTranscript, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func loadTranscript(t testing.TB) *transcript {
	t.Helper()
	b, err := os.ReadFile(opensshTranscript)
	if err != nil {
		t.Fatalf("%v (run go test -run TestOpenSSHRecord -args -record)", err)
	}
	var tr transcript
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return &tr
}

// TestOpenSSHReplay accepts MIT's recorded AP-REQ and MIC on the clock of
// the recording, without a KDC or OpenSSH: the principal comes out in the
// KDC's spelling and the MIC verifies over the recorded session, and
// over nothing else.
func TestOpenSSHReplay(t *testing.T) {
	tr := loadTranscript(t)
	kt := filepath.Join(t.TempDir(), "host.keytab")
	if err := os.WriteFile(kt, tr.Keytab, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := gosspi.HostConfig{Now: testutil.PinClock(t, tr.Time), Rand: testutil.NewReplayReader(tr.Rand)}
	cfg.Kerberos.Keytab = kt
	h, err := gosspi.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	s := &Server{Host: h}
	defer s.DeleteSecContext()
	out, src, more, err := s.AcceptSecContext(tr.Tokens[0])
	if err != nil || more || len(out) == 0 {
		t.Fatalf("AcceptSecContext: %v (continue %v, %d-byte AP-REP)", err, more, len(out))
	}
	if src != tr.Principal {
		t.Fatalf("srcName %q, want %q", src, tr.Principal)
	}
	other := buildMICField(append([]byte("x"), tr.SessionID...), tr.User)
	if err := s.VerifyMIC(other, tr.MIC); err == nil {
		t.Fatal("MIT's MIC verified over another session")
	}
	if err := s.VerifyMIC(buildMICField(tr.SessionID, tr.User), tr.MIC); err != nil {
		t.Fatalf("VerifyMIC: %v", err)
	}
	if p, ok := s.Peer(); !ok || p.Principal != tr.Principal {
		t.Fatalf("Peer %+v %v", p, ok)
	}
	// The same AP-REQ again is a replay.
	s2 := &Server{Host: h}
	defer s2.DeleteSecContext()
	if _, _, _, err := s2.AcceptSecContext(tr.Tokens[0]); err == nil {
		t.Fatal("a replayed AP-REQ was accepted")
	}
}
