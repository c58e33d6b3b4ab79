package ntlmauth

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// NTLMServer1 is Samba's ntlm-server-1 protocol: a challenge and the
// responses to it, checked by Config.Verifier (the domain controller,
// package netlogon), as pppd's winbind plugin and MS-CHAP servers use it.
// A request is "key: value" lines ("key:: base64") ended by a line ".";
// the answer is lines ended by ".":
//
//	Username: alice
//	NT-Domain: CONTOSO
//	LANMAN-Challenge: 0123456789abcdef
//	NT-Response: <hex, 24 bytes for MS-CHAP or NTLMv1, more for NTLMv2>
//	LANMAN-Response: <hex>                     (optional)
//	Request-User-Session-Key: Yes              (optional)
//	.
//	-> Authenticated: Yes
//	   User-Session-Key: <hex>                 (when asked for)
//	   .
//	-> Authenticated: No
//	   Authentication-Error: <NT status and text>
//	   .
//
// A 24-byte NT response is checked as MS-CHAP (MSV1_0_ALLOW_MSVCHAPV2),
// which a DC accepts even when it refuses NTLMv1. A plaintext Password is
// refused: the helper does not hold passwords.
const NTLMServer1 Protocol = "ntlm-server-1"

func init() { Protocols = append(Protocols, NTLMServer1) }

// server1Request is the request being read.
type server1Request struct {
	user, domain, workstation string
	challenge, nt, lm         []byte
	wantUserKey, wantLMKey    bool
	password                  bool
	err                       string
}

// serveServer1 runs ntlm-server-1 on r and w.
func (h *Helper) serveServer1(ctx context.Context, r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriter(w)
	req := &server1Request{}
	for ctx.Err() == nil {
		line, tooLong, err := readLine(br)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if tooLong {
			req.err = "request line too long"
			continue
		}
		if line != "." {
			req.add(line)
			continue
		}
		for _, l := range h.answerServer1(ctx, req) {
			bw.WriteString(l)
			bw.WriteByte('\n')
		}
		bw.WriteString(".\n")
		if err := bw.Flush(); err != nil {
			return err
		}
		req = &server1Request{}
	}
	return ctx.Err()
}

// add reads one "key: value" or "key:: base64" line.
func (r *server1Request) add(line string) {
	k, v, ok := strings.Cut(line, ":")
	if !ok {
		r.err = "malformed request line"
		return
	}
	if strings.HasPrefix(v, ":") {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[1:]))
		if err != nil {
			r.err = "bad base64 in " + k
			return
		}
		v = string(b)
	}
	v = strings.TrimSpace(v)
	hexField := func(dst *[]byte) {
		b, err := hex.DecodeString(v)
		if err != nil {
			r.err = "bad hex in " + k
			return
		}
		*dst = b
	}
	switch strings.ToLower(strings.TrimSpace(k)) {
	case "username":
		r.user = v
	case "nt-domain":
		r.domain = v
	case "workstation":
		r.workstation = v
	case "lanman-challenge":
		hexField(&r.challenge)
	case "nt-response":
		hexField(&r.nt)
	case "lanman-response":
		hexField(&r.lm)
	case "password":
		r.password = true
	case "request-user-session-key":
		r.wantUserKey = strings.EqualFold(v, "yes")
	case "request-lanman-session-key":
		r.wantLMKey = strings.EqualFold(v, "yes")
	default:
		r.err = "unknown request " + k
	}
}

func (h *Helper) answerServer1(ctx context.Context, r *server1Request) []string {
	no := func(msg string) []string { return []string{"Authenticated: No", "Authentication-Error: " + msg} }
	switch {
	case r.err != "":
		return []string{"Error: " + r.err}
	case r.password:
		return no("plaintext passwords are not supported: send LANMAN-Challenge and NT-Response")
	case len(r.challenge) != 8:
		return []string{"Error: LANMAN-Challenge not supplied or not 8 bytes"}
	case len(r.nt) == 0 || r.user == "":
		return []string{"Error: Username and NT-Response are required"}
	}
	if h.cfg.Verifier == nil {
		return no("NT_STATUS_NO_LOGON_SERVERS (0xc000005e): no domain controller configured")
	}
	req := &ntlm.VerifyRequest{User: r.user, Domain: r.domain, Workstation: r.workstation, NTResponse: r.nt, LMResponse: r.lm,
		MSCHAP: len(r.nt) == 24}
	copy(req.ServerChallenge[:], r.challenge)
	vctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	l, err := h.cfg.Verifier.VerifyResponse(vctx, req)
	cancel()
	if err != nil {
		name, code := NTStatus(err)
		h.log.Warn("ntlm-auth: authentication failed", "protocol", h.cfg.Protocol, "status", name)
		return no(fmt.Sprintf("%s (0x%08x)", name, code))
	}
	h.log.Info("ntlm-auth: authenticated", "protocol", h.cfg.Protocol, "user", l.Domain+`\`+l.User)
	out := []string{"Authenticated: Yes"}
	if r.wantUserKey {
		out = append(out, "User-Session-Key: "+strings.ToUpper(hex.EncodeToString(l.SessionKey[:])))
	}
	l.SessionKey = [16]byte{}
	return out
}

// NTStatus is the NT status name and value that Samba's ntlm_auth prints
// for a failed logon, from the error's sspi.Status: a wrong password and
// an unknown user are both NT_STATUS_LOGON_FAILURE (0xc000006d), an
// unreachable domain NT_STATUS_NO_LOGON_SERVERS, and an account's state
// its own status (NT_STATUS_ACCOUNT_DISABLED...).
func NTStatus(err error) (name string, code uint32) {
	st := sspi.StatusOf(err)
	if errors.Is(err, context.DeadlineExceeded) && st == sspi.SEC_E_INTERNAL_ERROR {
		st = sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY
	}
	name = ntStatus(st)
	if c, ok := ntStatusCodes[name]; ok {
		return name, c
	}
	return name, uint32(st)
}

var ntStatusCodes = map[string]uint32{
	"NT_STATUS_LOGON_FAILURE":         0xc000006d,
	"NT_STATUS_INVALID_PARAMETER":     0xc000000d,
	"NT_STATUS_TIME_DIFFERENCE_AT_DC": 0xc0000133,
	"NT_STATUS_BAD_BINDINGS":          0xc000035b,
	"NT_STATUS_ACCESS_DENIED":         0xc0000022,
	"NT_STATUS_NO_SUCH_USER":          0xc0000064,
	"NT_STATUS_NO_LOGON_SERVERS":      0xc000005e,
}
