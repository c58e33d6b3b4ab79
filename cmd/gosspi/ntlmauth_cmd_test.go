package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestNTLMAuthCommandWithSamba runs `gosspi ntlm-auth
// --helper-protocol=squid-2.5-ntlmssp -demo` (in process, on pipes) and
// Samba's `ntlm_auth --helper-protocol=ntlmssp-client-1` (package winbind,
// standalone), and relays between them as Squid does.
func TestNTLMAuthCommandWithSamba(t *testing.T) {
	path, err := exec.LookPath("ntlm_auth")
	if err != nil {
		t.Fatal("ntlm_auth not found: install the Debian package winbind")
	}
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	oldIn, oldOut := os.Stdin, os.Stdout
	os.Stdin, os.Stdout = inR, outW
	done := make(chan int, 1)
	go func() { done <- runNTLMAuth([]string{"--helper-protocol=squid-2.5-ntlmssp", "-demo"}) }()
	defer func() {
		inW.Close()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("gosspi ntlm-auth exit %d", code)
			}
		case <-time.After(5 * time.Second):
			t.Error("gosspi ntlm-auth did not exit at end of input")
		}
		os.Stdin, os.Stdout = oldIn, oldOut
		inR.Close()
		outW.Close()
		outR.Close()
	}()
	ours := bufio.NewReader(outR)
	askOurs := func(l string) string {
		io.WriteString(inW, l+"\n")
		r, err := ours.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(r)
	}

	cli := exec.Command(path, "--helper-protocol=ntlmssp-client-1", "--username="+demoUser, "--domain="+demoDomain, "--password="+demoPassword)
	cin, _ := cli.StdinPipe()
	cout, _ := cli.StdoutPipe()
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cin.Close(); cli.Wait() }()
	samba := bufio.NewReader(cout)
	askSamba := func(l string) string {
		io.WriteString(cin, l+"\n")
		r, err := samba.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(r)
	}
	neg := askSamba("YR")
	chal := askOurs("YR " + strings.TrimPrefix(neg, "YR "))
	if !strings.HasPrefix(chal, "TT ") {
		t.Fatalf("YR -> %q", chal)
	}
	auth := askSamba("TT " + strings.TrimPrefix(chal, "TT "))
	if !strings.HasPrefix(auth, "AF ") {
		t.Fatalf("samba: %q", auth)
	}
	if res := askOurs("KK " + strings.TrimPrefix(auth, "AF ")); res != `AF GOSSPI\demo` {
		t.Fatalf("KK -> %q", res)
	}
	if k1, k2 := askOurs("GK"), askSamba("GK"); k1 != k2 {
		t.Errorf("session keys differ: %q %q", k1, k2)
	}
}
