package ntlm

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosspi/gosspi/internal/ntlmssp"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// A test-only HTTP endpoint backed by our server: the NTLM legs of one
// client are bound to its keep-alive connection (RFC 4559 style), so that
// curl --ntlm can authenticate against it.

type connKey struct{}

type connState struct {
	mu  sync.Mutex
	ctx secpkg.LsaContext
}

type ntlmHTTP struct {
	t      testing.TB
	p      *Package
	cred   secpkg.LsaCredential
	mu     sync.Mutex
	tokens [][]byte // the legs, as they passed
	err    error
}

func (h *ntlmHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cs := r.Context().Value(connKey{}).(*connState)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "NTLM ") {
		w.Header().Set("WWW-Authenticate", "NTLM")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	tok, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "NTLM "))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.record(tok)
	if ntlmssp.MessageType(tok) == ntlmssp.MsgNegotiate {
		cs.ctx = nil
	}
	ctx, out, err := h.p.AcceptLsaModeContext(r.Context(), h.cred, cs.ctx, &secpkg.AcceptContextParams{Input: withCB(tok, nil)})
	if err != nil {
		h.mu.Lock()
		h.err = err
		h.mu.Unlock()
		cs.ctx = nil
		w.Header().Set("WWW-Authenticate", "NTLM")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	cs.ctx = ctx
	if out.Status == sspi.SEC_I_CONTINUE_NEEDED {
		h.record(out.Output[0].Buffer)
		w.Header().Set("WWW-Authenticate", "NTLM "+base64.StdEncoding.EncodeToString(out.Output[0].Buffer))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	names, _ := ctx.QueryAttributes(sspi.SECPKG_ATTR_NAMES)
	fmt.Fprintf(w, "hello %s", names.(sspi.SecPkgContextNames).UserName)
}

func (h *ntlmHTTP) record(tok []byte) {
	h.mu.Lock()
	h.tokens = append(h.tokens, append([]byte(nil), tok...))
	h.mu.Unlock()
}

func serveNTLM(t *testing.T, p *Package) (string, *ntlmHTTP) {
	h := &ntlmHTTP{t: t, p: p, cred: serverCred(t, p)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, &connState{})
	}, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/", h
}

func runCurl(t *testing.T, url, user, password string) (string, error) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl missing (see .ci/apt-packages)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, "-s", "--fail", "--ntlm", "-u", user+":"+password, url).Output()
	return string(out), err
}

func TestInteropCurl(t *testing.T) {
	tr := newTranscript("curl-client", nil)
	tr.Peer = "curl --ntlm"
	p := testPackage(fixedConfig(t, tr, Config{}))
	url, h := serveNTLM(t, p)
	body, err := runCurl(t, url, testDomain+`\`+testUser, testPassword)
	h.mu.Lock()
	serr, toks := h.err, h.tokens
	h.mu.Unlock()
	if err != nil {
		t.Fatalf("curl: %v (server error %v)", err, serr)
	}
	if body != `hello EXAMPLE\alice` {
		t.Fatalf("body %q", body)
	}
	if len(toks) != 3 || len(toks[0]) != 32 {
		t.Fatalf("legs %d, NEGOTIATE %d bytes (curl sends 32)", len(toks), len(toks[0]))
	}
	for _, tok := range toks {
		tr.Tokens = append(tr.Tokens, b64e(tok))
	}
	saveTranscript(t, "curl.json", tr)

	// A wrong password fails, with SEC_E_LOGON_DENIED on our side.
	h.mu.Lock()
	h.err = nil
	h.mu.Unlock()
	if _, err := runCurl(t, url, testDomain+`\`+testUser, "wrong"); err == nil {
		t.Fatal("curl with a wrong password succeeded")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if sspi.StatusOf(h.err) != sspi.SEC_E_LOGON_DENIED {
		t.Fatalf("server said %v", h.err)
	}
}

// TestReplayCurl replays curl's recorded legs against our server.
func TestReplayCurl(t *testing.T) {
	tr := loadTranscript(t, "curl.json")
	p := testPackage(fixedConfig(t, tr, Config{}))
	cred := serverCred(t, p)
	tok := func(i int) []byte { return b64d(t, tr.Tokens[i]) }
	if len(tok(0)) != 32 {
		t.Fatalf("recorded NEGOTIATE is %d bytes", len(tok(0)))
	}
	ctx, out, err := p.AcceptLsaModeContext(context.Background(), cred, nil, &secpkg.AcceptContextParams{Input: withCB(tok(0), nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Output[0].Buffer, tok(1)) {
		t.Fatal("CHALLENGE differs from the recording")
	}
	am, err := ntlmssp.ParseAuthenticate(tok(2))
	if err != nil {
		t.Fatal(err)
	}
	// curl keeps NTLMSSP_NEGOTIATE_VERSION but sends neither Version nor
	// MIC: presence is decided by the payload offsets.
	if am.Flags&ntlmssp.NegotiateVersion == 0 || am.HasMIC || am.Version != nil {
		t.Errorf("curl AUTHENTICATE: flags %08x version %v mic %v", am.Flags, am.Version, am.HasMIC)
	}
	_, out, err = p.AcceptLsaModeContext(context.Background(), cred, ctx, &secpkg.AcceptContextParams{Input: withCB(tok(2), nil)})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := mappedOn(t, p, out).QueryAttributes(sspi.SECPKG_ATTR_GOSSPI_IDENTITY)
	if i := id.(sspi.Identity); i.User != testUser {
		t.Fatalf("identity %+v", i)
	}
}
