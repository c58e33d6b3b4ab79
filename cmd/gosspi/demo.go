package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/lsa"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// Demo account: embedded, in memory only, for the demo's loopback runs.
const (
	demoDomain   = "GOSSPI"
	demoUser     = "demo"
	demoPassword = "Demo-Passw0rd!"
)

// demoSection is one part of the demo report. Sections register from init
// in the file of the feature they show, and run in order.
type demoSection struct {
	order int
	title string
	run   func(w io.Writer) error
}

var demoSections []demoSection

func registerDemo(order int, title string, run func(w io.Writer) error) {
	demoSections = append(demoSections, demoSection{order, title, run})
}

func init() {
	register(&command{
		name:    "demo",
		summary: "run every package end to end over loopback and print a report",
		usage: "usage: gosspi demo [-only TITLE]\n\nRuns the security packages end to end, in process and over loopback TCP,\n" +
			"with an embedded in-memory demo account (" + demoDomain + `\` + demoUser + "), and prints each leg:\n" +
			"status, flags and token size. Kerberos runs when a KDC is configured\n(KRB5_CONFIG and a ccache or keytab); otherwise the report says how to enable it.",
		run: runDemo,
	})
	registerDemo(10, "Package host (LSA) and SSPI surface", demoHost)
}

func runDemo(args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	only := fs.String("only", "", "run only the section whose title contains this")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), commands["demo"].usage) }
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	sort.SliceStable(demoSections, func(i, j int) bool { return demoSections[i].order < demoSections[j].order })
	w := os.Stdout
	failed := 0
	start := sysenv.Now()
	for _, s := range demoSections {
		if *only != "" && !containsFold(s.title, *only) {
			continue
		}
		fmt.Fprintf(w, "== %s ==\n", s.title)
		t0 := sysenv.Now()
		if err := s.run(w); err != nil {
			failed++
			fmt.Fprintf(w, "   FAILED: %v\n\n", err)
			fmt.Fprintf(os.Stderr, "gosspi demo: %s: %v\n", s.title, err)
			continue
		}
		fmt.Fprintf(w, "   ok (%s)\n\n", sysenv.Now().Sub(t0).Round(time.Microsecond))
	}
	if failed > 0 {
		fmt.Fprintf(w, "demo: %d section(s) failed\n", failed)
		return exitFailure
	}
	fmt.Fprintf(w, "demo: all sections passed in %s\n", sysenv.Now().Sub(start).Round(time.Millisecond))
	return exitOK
}

func containsFold(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (indexFold(s, sub) >= 0)
}

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		match := true
		for j := 0; j < len(sub); j++ {
			a, b := s[i+j], sub[j]
			if 'A' <= a && a <= 'Z' {
				a += 'a' - 'A'
			}
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			if a != b {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}

// demoAccounts is the in-memory account store with the demo account.
func demoAccounts() *ntlm.MemoryStore {
	s := ntlm.NewMemoryStore()
	s.Add(demoDomain, demoUser, demoPassword)
	return s
}

func demoIdentity() *gosspi.Identity {
	return &gosspi.Identity{User: demoUser, Domain: demoDomain, Password: demoPassword}
}

// demoAuthIdentity is demoIdentity for the faithful calls.
func demoAuthIdentity() *sspi.AuthIdentity {
	return &sspi.AuthIdentity{User: demoUser, Domain: demoDomain, Password: demoPassword}
}

// demoHost shows the host itself: the registry, a handshake through the
// faithful calls with the server side asynchronous, the mapped user-mode
// contexts, and a context moved into a second host by its ContextData.
func demoHost(w io.Writer) error {
	// The host logs its own client on to itself, which a host refuses by
	// default (NTLM reflection): this demo allows it.
	host, err := gosspi.NewHost(gosspi.HostConfig{NTLM: ntlm.Config{Accounts: demoAccounts()}, AllowNTLMReflection: true})
	if err != nil {
		return err
	}
	defer host.Close()
	t := host.SSPI()
	pkgs, st := t.EnumerateSecurityPackages()
	if st.Failed() {
		return st
	}
	for _, p := range pkgs {
		fmt.Fprintf(w, "   registered %-10s max token %d, %s\n", p.Name, p.MaxToken, sspi.CapabilityString(p.Capabilities&(sspi.SECPKG_FLAG_INTEGRITY|sspi.SECPKG_FLAG_PRIVACY|sspi.SECPKG_FLAG_CONNECTION)))
	}
	var cc, sc sspi.CredHandle
	if st := t.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_OUTBOUND, demoAuthIdentity(), &cc, nil); st.Failed() {
		return fmt.Errorf("AcquireCredentialsHandle(outbound): %v", st)
	}
	defer t.FreeCredentialsHandle(&cc)
	if st := t.AcquireCredentialsHandle("", "NTLM", sspi.SECPKG_CRED_INBOUND, nil, &sc, nil); st.Failed() {
		return fmt.Errorf("AcquireCredentialsHandle(inbound): %v", st)
	}
	defer t.FreeCredentialsHandle(&sc)

	req := sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_SEQUENCE_DETECT | sspi.ISC_REQ_REPLAY_DETECT | sspi.ISC_REQ_CONNECTION
	areq := sspi.ASC_REQ_CONFIDENTIALITY | sspi.ASC_REQ_INTEGRITY | sspi.ASC_REQ_SEQUENCE_DETECT | sspi.ASC_REQ_REPLAY_DETECT | sspi.ASC_REQ_CONNECTION
	var cli, srv sspi.CtxtHandle
	var cliPrev, srvPrev *sspi.CtxtHandle
	var tok []byte
	ac := sspi.SspiCreateAsyncContext()
	defer sspi.SspiFreeAsyncContext(ac)
	notified := make(chan sspi.Status, 1)
	sspi.SspiSetAsyncNotifyCallback(ac, func(a *sspi.AsyncContext, _ any) { notified <- sspi.SspiGetAsyncCallStatus(a) }, nil)
	for leg := 1; leg <= 6; leg++ {
		var in *sspi.SecBufferDesc
		if tok != nil {
			in = sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: tok}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_EMPTY})
		}
		out := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN})
		if leg%2 == 1 {
			var attr sspi.ISCRet
			st := t.InitializeSecurityContext(&cc, cliPrev, "host/localhost", req, sspi.SECURITY_NATIVE_DREP, in, &cli, out, &attr, nil)
			fmt.Fprintf(w, "   client InitializeSecurityContext      -> %-21s token %4d bytes  %s\n", st.String(), len(out.Token()), attr)
			if st.Failed() {
				return st
			}
			cliPrev = &cli
			tok = out.Token()
			if st == sspi.SEC_E_OK && len(tok) == 0 {
				break
			}
			continue
		}
		var attr sspi.ASCRet
		if st := t.SspiAcceptSecurityContextAsync(ac, &sc, srvPrev, in, areq, sspi.SECURITY_NATIVE_DREP, &srv, out, &attr, nil); st.Failed() {
			return fmt.Errorf("SspiAcceptSecurityContextAsync: %v", st)
		}
		st := <-notified
		fmt.Fprintf(w, "   server SspiAcceptSecurityContextAsync -> %-21s token %4d bytes  %s\n", st.String(), len(out.Token()), attr)
		if st.Failed() {
			return st
		}
		srvPrev = &srv
		tok = out.Token()
		if st == sspi.SEC_E_OK && len(tok) == 0 {
			break
		}
	}
	defer t.DeleteSecurityContext(&cli)
	defer t.DeleteSecurityContext(&srv)
	var names sspi.SecPkgContextNames
	if st := t.QueryContextAttributes(&srv, sspi.SECPKG_ATTR_NAMES, &names); st.Failed() {
		return fmt.Errorf("NAMES: %v", st)
	}
	fmt.Fprintf(w, "   server sees %s; contexts in the host: %d\n", names.UserName, host.Stats().Contexts)

	// Move the client's user-mode context into a second host with no
	// LSA-mode packages: it seals from its ContextData alone.
	pkg, data, st := t.ExportSecurityContext(&cli)
	if st.Failed() {
		return fmt.Errorf("ExportSecurityContext: %v", st)
	}
	host2, err := lsa.New(lsa.Config{})
	if err != nil {
		return err
	}
	defer host2.Close()
	t2 := sspi.InitSecurityInterface(host2, ntlm.UserMode())
	var moved sspi.CtxtHandle
	if st := t2.ImportSecurityContext(pkg, data, &moved); st.Failed() {
		return fmt.Errorf("ImportSecurityContext: %v", st)
	}
	defer t2.DeleteSecurityContext(&moved)
	msg := []byte("sealed by a context rebuilt from ContextData in a second host")
	var sz sspi.SecPkgContextSizes
	t2.QueryContextAttributes(&moved, sspi.SECPKG_ATTR_SIZES, &sz)
	d := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_TOKEN, Buffer: make([]byte, 0, sz.SecurityTrailer)},
		sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA, Buffer: append([]byte(nil), msg...)})
	if st := t2.EncryptMessage(&moved, 0, d, 0); st.Failed() {
		return fmt.Errorf("EncryptMessage: %v", st)
	}
	sealed := append(append([]byte(nil), d.Buffers[0].Buffer...), d.Buffers[1].Buffer...)
	d2 := sspi.NewDesc(sspi.SecBuffer{BufferType: sspi.SECBUFFER_STREAM, Buffer: sealed}, sspi.SecBuffer{BufferType: sspi.SECBUFFER_DATA})
	if st := t.DecryptMessage(&srv, d2, 0, nil); st.Failed() {
		return fmt.Errorf("DecryptMessage: %v", st)
	}
	fmt.Fprintf(w, "   %d-byte %s context data -> second host sealed %d bytes -> server unsealed %q\n", len(data), pkg, len(sealed), d2.Buffers[1].Buffer)
	return nil
}
