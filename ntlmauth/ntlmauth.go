// Package ntlmauth speaks the stdio helper protocols of Samba's ntlm_auth,
// so that programs that run ntlm_auth as an authentication helper (Squid,
// FreeRADIUS, Apache mod_auth_ntlm_winbind...) can run gosspi instead
// (`gosspi ntlm-auth --helper-protocol=P`).
//
// A helper reads one request line and writes one reply line, in order,
// for as long as its input lasts. Tokens are base64. Each line starts with
// a two-letter code.
//
// # Server protocols
//
// squid-2.5-ntlmssp (Squid's NTLM scheme; package NTLM):
//
//	YR [token]   start a new handshake with the client's NEGOTIATE (a
//	             default one when absent)        -> TT <CHALLENGE>
//	KK token     the client's AUTHENTICATE       -> AF DOMAIN\user
//	                                             |  NA NT_STATUS_...
//
// gss-spnego (Squid's Negotiate scheme; package Negotiate: Kerberos from
// the keytab, NTLM from the account store). Replies carry the output
// token, or "*" when there is none:
//
//	YR [token]   start (no token: the server sends NegTokenInit2 first)
//	KK token     the next client token
//	             -> TT <token> *                 the handshake goes on
//	             -> AF <token|*> <user>          authenticated (user is
//	                                             DOMAIN\user or user@REALM)
//	             -> NA * NT_STATUS_...           refused
//
// # Client protocols
//
// ntlmssp-client-1 (package NTLM) and gss-spnego-client (package
// Negotiate, target from Config.Target):
//
//	YR            start                         -> YR <first token>
//	                                            |  PW  (no password yet)
//	TT token      the server's token            -> KK <token>  (more legs)
//	AF token      the server's final token          AF <token>  (the last
//	                                                token; done)
//	                                            |  AF  (done, nothing to send)
//	                                            |  NA NT_STATUS_...
//	PW base64     the password                  -> OK
//
// As with Samba, the NTLM client's last token comes as "AF <AUTHENTICATE>",
// not as KK: the client is done once it has sent it.
//
// # Common requests
//
//	GK            the session key               -> GK <base64> | BH No session key
//	GF            the negotiated NTLM flags     -> GF 0xXXXXXXXX
//	SF 0xXXXXXXXX feature flags (accepted)      -> OK
//
// A request the helper cannot parse gets "BH <reason>" (broken helper);
// a NA carries the NT status Samba would report (a wrong password and an
// unknown user are both NT_STATUS_LOGON_FAILURE). Lines longer than
// MaxLine are refused with BH.
package ntlmauth

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gosspi/gosspi/internal/ntlmssp"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

// Protocol names a helper protocol (ntlm_auth --helper-protocol).
type Protocol string

// The protocols implemented.
const (
	Squid25NTLMSSP  Protocol = "squid-2.5-ntlmssp"
	GSSSPNEGO       Protocol = "gss-spnego"
	NTLMSSPClient1  Protocol = "ntlmssp-client-1"
	GSSSPNEGOClient Protocol = "gss-spnego-client"
)

// Protocols lists the implemented protocols.
var Protocols = []Protocol{Squid25NTLMSSP, GSSSPNEGO, NTLMSSPClient1, GSSSPNEGOClient}

// MaxLine bounds a request line (a base64 token of a large Kerberos
// ticket fits comfortably).
const MaxLine = 256 << 10

// Config configures a Helper.
type Config struct {
	Protocol Protocol
	// Host is the package host the helper authenticates with. Required.
	Host *gosspi.Host
	// Identity is the client's credential (client protocols). Its
	// password may also arrive with a PW request.
	Identity *gosspi.Identity
	// Target is the service principal of gss-spnego-client
	// ("HTTP/host.example.com").
	Target string
	// Principal restricts the server protocols' acceptor to one service
	// principal; empty accepts any.
	Principal string
	// Timeout bounds one handshake step; zero means 30 seconds.
	Timeout time.Duration
	// Logger gets a line per authentication (never a token or a
	// password); nil means slog.Default().
	Logger *slog.Logger
	// Verifier checks the responses of ntlm-server-1 (NTLMServer1): a
	// domain controller through package netlogon. The NTLM of the other
	// server protocols verifies through the Host's ntlm.Config.
	Verifier ntlm.Verifier
}

// Helper runs one helper protocol. It is used by one goroutine at a time,
// like the process it stands for.
type Helper struct {
	cfg    Config
	pkg    string
	client bool
	log    *slog.Logger
	cred   *gosspi.Credential // server: one inbound credential

	ctx      *gosspi.SecurityContext
	done     bool
	ntlmFlag uint32
	key      []byte
}

// New returns a Helper for cfg.Protocol. A server protocol acquires its
// inbound credential at once, so that a missing keytab or account store
// is reported before the first request.
func New(cfg Config) (*Helper, error) {
	if cfg.Host == nil {
		return nil, errors.New("ntlmauth: Config.Host is nil")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	h := &Helper{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	switch cfg.Protocol {
	case Squid25NTLMSSP:
		h.pkg = ntlm.PackageName
	case GSSSPNEGO:
		h.pkg = "Negotiate"
	case NTLMSSPClient1:
		h.pkg, h.client = ntlm.PackageName, true
	case GSSSPNEGOClient:
		h.pkg, h.client = "Negotiate", true
	case NTLMServer1:
		if cfg.Verifier == nil {
			return nil, errors.New("ntlmauth: ntlm-server-1 needs Config.Verifier (a domain controller)")
		}
		return h, nil
	default:
		return nil, fmt.Errorf("ntlmauth: unsupported helper protocol %q (supported: %v)", cfg.Protocol, Protocols)
	}
	if !h.client {
		c, err := cfg.Host.AcquireCredential(context.Background(), gosspi.CredentialConfig{Package: h.pkg, Server: true, Principal: cfg.Principal})
		if err != nil {
			return nil, fmt.Errorf("ntlmauth: inbound %s credential: %w", h.pkg, err)
		}
		h.cred = c
	}
	return h, nil
}

// Close ends the handshake in progress and frees the credential.
func (h *Helper) Close() error {
	h.reset()
	if h.cred != nil {
		h.cred.Close()
		h.cred = nil
	}
	return nil
}

func (h *Helper) reset() {
	if h.ctx != nil {
		h.ctx.Close()
		h.ctx = nil
	}
	h.done, h.ntlmFlag, h.key = false, 0, nil
}

// Serve answers requests from r on w until r ends or ctx is done.
func (h *Helper) Serve(ctx context.Context, r io.Reader, w io.Writer) error {
	if h.cfg.Protocol == NTLMServer1 {
		return h.serveServer1(ctx, r, w)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriter(w)
	for ctx.Err() == nil {
		line, tooLong, err := readLine(br)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		reply := "BH request line too long"
		if !tooLong {
			reply = h.Handle(ctx, line)
		}
		bw.WriteString(reply)
		bw.WriteByte('\n')
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// readLine reads one line of at most MaxLine bytes; a longer one is
// consumed and reported.
func readLine(br *bufio.Reader) (string, bool, error) {
	var b []byte
	tooLong := false
	for {
		frag, err := br.ReadSlice('\n')
		if len(b)+len(frag) > MaxLine {
			tooLong = true
			b = b[:0]
		} else {
			b = append(b, frag...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && (len(b) == 0 && !tooLong || err != io.EOF) {
			return "", false, err
		}
		return strings.TrimRight(string(b), "\r\n"), tooLong, nil
	}
}

// Handle answers one request line (without its newline) and returns the
// reply line (without its newline).
func (h *Helper) Handle(ctx context.Context, line string) string {
	r := h.handle(ctx, line)
	if strings.ContainsAny(r, "\r\n") {
		r = strings.NewReplacer("\r", " ", "\n", " ").Replace(r)
	}
	return r
}

func (h *Helper) handle(ctx context.Context, line string) string {
	if h.cfg.Protocol == NTLMServer1 {
		return "BH ntlm-server-1 requests are blocks of lines: use Serve"
	}
	if len(line) < 2 {
		return "BH Command expected"
	}
	code, arg := line[:2], ""
	if len(line) > 2 {
		if line[2] != ' ' {
			return "BH Command expected"
		}
		arg = strings.TrimSpace(line[3:])
	}
	switch code {
	case "SF":
		return "OK"
	case "GF":
		return fmt.Sprintf("GF 0x%08x", h.ntlmFlag)
	case "GK":
		if len(h.key) == 0 {
			return "BH No session key"
		}
		return "GK " + base64.StdEncoding.EncodeToString(h.key)
	case "PW":
		if !h.client {
			return "BH PW is for client protocols"
		}
		pw, err := base64.StdEncoding.DecodeString(arg)
		if err != nil {
			return "BH bad base64 in PW"
		}
		id := gosspi.Identity{}
		if h.cfg.Identity != nil {
			id = *h.cfg.Identity
		}
		id.Password = string(pw)
		h.cfg.Identity = &id
		return "OK"
	case "YR":
		h.reset()
	case "KK", "TT", "AF", "NA":
		if h.ctx == nil {
			return "BH no handshake in progress: send YR first"
		}
	default:
		return "BH unknown request"
	}
	var in []byte
	if arg != "" && arg != "*" {
		var err error
		if in, err = base64.StdEncoding.DecodeString(arg); err != nil {
			h.reset()
			return "BH bad base64 token"
		}
	}
	if h.client {
		return h.clientStep(ctx, code, in)
	}
	return h.serverStep(ctx, code, in)
}

func (h *Helper) serverStep(ctx context.Context, code string, in []byte) string {
	if code != "YR" && code != "KK" {
		return "BH " + code + " is not a server request"
	}
	if code == "YR" {
		if len(in) == 0 && h.pkg == ntlm.PackageName {
			// A NEGOTIATE with default flags, as Samba does for a bare YR.
			in = (&ntlmssp.NegotiateMessage{Flags: ntlmssp.NegotiateUnicode | ntlmssp.NegotiateOEM | ntlmssp.RequestTarget | ntlmssp.NegotiateSign |
				ntlmssp.NegotiateSeal | ntlmssp.NegotiateNTLM | ntlmssp.NegotiateAlwaysSign | ntlmssp.NegotiateExtendedSessionSecurity |
				ntlmssp.Negotiate128 | ntlmssp.NegotiateKeyExch | ntlmssp.Negotiate56}).Marshal()
		}
		c, err := h.cfg.Host.NewServer(ctx, gosspi.ServerConfig{Package: h.pkg, Credential: h.cred})
		if err != nil {
			return "BH " + err.Error()
		}
		h.ctx = c
	}
	if h.done {
		return "BH handshake already complete: send YR"
	}
	if secpkg.RecognizeToken(in) == secpkg.TokenNTLMAuthenticate {
		if m, err := ntlmssp.ParseAuthenticate(in); err == nil {
			h.ntlmFlag = m.Flags
		}
	}
	sctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	out, done, err := h.ctx.Step(sctx, in)
	cancel()
	spnego := h.cfg.Protocol == GSSSPNEGO
	if err != nil {
		st := sspi.StatusOf(err)
		h.log.Warn("ntlm-auth: authentication failed", "protocol", h.cfg.Protocol, "status", st.String())
		h.reset()
		if spnego {
			return "NA " + tokenOrStar(out) + " " + ntStatus(st)
		}
		return "NA " + ntStatus(st)
	}
	if !done {
		if spnego {
			return "TT " + tokenOrStar(out) + " *"
		}
		return "TT " + base64.StdEncoding.EncodeToString(out)
	}
	h.done = true
	id, err := h.ctx.Identity()
	if err != nil {
		h.reset()
		return "BH no identity: " + err.Error()
	}
	h.key, _ = h.ctx.SessionKey()
	user := id.Principal
	if user == "" {
		user = id.User
	}
	h.log.Info("ntlm-auth: authenticated", "protocol", h.cfg.Protocol, "user", user, "package", h.ctx.Package())
	if spnego {
		return "AF " + tokenOrStar(out) + " " + user
	}
	return "AF " + user
}

func (h *Helper) clientStep(ctx context.Context, code string, in []byte) string {
	if code == "KK" {
		return "BH KK is not a client request"
	}
	if code == "NA" {
		h.reset()
		return "BH the server refused the authentication"
	}
	if code == "YR" {
		id := h.cfg.Identity
		if id != nil && id.User != "" && id.Password == "" && len(id.NTHash) == 0 && id.Options == nil {
			return "PW" // Samba asks for the password the same way
		}
		c, err := h.cfg.Host.NewClient(ctx, gosspi.ClientConfig{Package: h.pkg, Target: h.cfg.Target, Identity: id})
		if err != nil {
			return "NA " + ntStatus(sspi.StatusOf(err))
		}
		h.ctx = c
		in = nil
	} else if h.done {
		if len(in) == 0 {
			return "AF"
		}
		return "BH handshake already complete: send YR"
	}
	sctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	out, done, err := h.ctx.Step(sctx, in)
	cancel()
	if err != nil {
		st := sspi.StatusOf(err)
		h.log.Warn("ntlm-auth: client step failed", "protocol", h.cfg.Protocol, "status", st.String())
		h.reset()
		return "NA " + ntStatus(st)
	}
	if secpkg.RecognizeToken(out) == secpkg.TokenNTLMAuthenticate {
		if m, err := ntlmssp.ParseAuthenticate(out); err == nil {
			h.ntlmFlag = m.Flags
		}
	}
	if done {
		h.done = true
		h.key, _ = h.ctx.SessionKey()
		if len(out) == 0 {
			return "AF"
		}
		return "AF " + base64.StdEncoding.EncodeToString(out)
	}
	if code == "YR" {
		return "YR " + base64.StdEncoding.EncodeToString(out)
	}
	return "KK " + base64.StdEncoding.EncodeToString(out)
}

func tokenOrStar(b []byte) string {
	if len(b) == 0 {
		return "*"
	}
	return base64.StdEncoding.EncodeToString(b)
}

// ntStatus maps a status to the NT status name ntlm_auth would print.
// Like Samba, it does not tell a wrong password from an unknown user.
func ntStatus(st sspi.Status) string {
	switch st {
	case sspi.SEC_E_LOGON_DENIED, sspi.SEC_E_UNKNOWN_CREDENTIALS:
		return "NT_STATUS_LOGON_FAILURE"
	case sspi.SEC_E_INVALID_TOKEN, sspi.SEC_E_INCOMPLETE_MESSAGE:
		return "NT_STATUS_INVALID_PARAMETER"
	case sspi.SEC_E_TIME_SKEW:
		return "NT_STATUS_TIME_DIFFERENCE_AT_DC"
	case sspi.SEC_E_BAD_BINDINGS:
		return "NT_STATUS_BAD_BINDINGS"
	case sspi.SEC_E_MESSAGE_ALTERED, sspi.SEC_E_DOWNGRADE_DETECTED:
		return "NT_STATUS_ACCESS_DENIED"
	case sspi.SEC_E_NO_CREDENTIALS:
		return "NT_STATUS_NO_SUCH_USER"
	case sspi.SEC_E_SECPKG_NOT_FOUND:
		return "NT_STATUS_INVALID_PARAMETER"
	case sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY:
		return "NT_STATUS_NO_LOGON_SERVERS"
	}
	if s := st.String(); strings.HasPrefix(s, "STATUS_") {
		// An account's state from a domain controller (package
		// netlogon): NT_STATUS_ACCOUNT_DISABLED and the like.
		return "NT_" + s
	}
	return "NT_STATUS_LOGON_FAILURE"
}
