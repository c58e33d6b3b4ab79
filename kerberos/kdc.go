package kerberos

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"

	"github.com/gosspi/gosspi/sspi"
)

// The KDC transport (RFC 4120 section 7.2): UDP datagrams and TCP records
// with a four-byte length, sent with the caller's context so that its
// deadline and cancellation end the exchange. gokrb5 encodes and decodes
// the messages; its own client has no context and is not used.

const (
	// kdcAttemptTimeout bounds one try of one KDC over one transport when
	// the caller's context has no earlier deadline (gokrb5's value).
	kdcAttemptTimeout = 5 * time.Second
	// maxKDCReply bounds a reply over TCP. Tickets with large PACs are
	// tens of kilobytes.
	maxKDCReply = 1 << 20
	// defaultUDPPreferenceLimit is MIT's udp_preference_limit.
	defaultUDPPreferenceLimit = 1465
	// errResponseTooBig is KRB_ERR_RESPONSE_TOO_BIG: retry over TCP.
	errResponseTooBig = 52
)

// aLongTimeAgo is a deadline in the past: setting it makes blocked I/O
// return at once.
var aLongTimeAgo = time.Unix(1, 0)

// KDCError is a KRB-ERROR a KDC answered (RFC 4120 section 5.9.1). It is
// the cause (sspi.Error.Err) of a failed AS or TGS exchange, so errors.As
// finds it under the SSPI status:
//
//	var ke *kerberos.KDCError
//	if errors.As(err, &ke) && ke.Code == 24 { /* KDC_ERR_PREAUTH_FAILED */ }
type KDCError struct {
	// Code is the error-code (RFC 4120 section 7.5.9).
	Code int32
	// Principal is the client (AS exchange) or service (TGS exchange)
	// principal the request was for, as "name@REALM".
	Principal string
	// Text is the KDC's e-text, when it sent one, with control characters
	// removed.
	Text string
}

// Error formats the RFC 4120 name of the code, the principal and the
// KDC's text: "KDC_ERR_S_PRINCIPAL_UNKNOWN for HTTP/vm@EXAMPLE.TEST".
func (e *KDCError) Error() string {
	s := KRBErrorName(e.Code)
	if e.Principal != "" {
		s += " for " + e.Principal
	}
	if e.Text != "" {
		s += " (" + strconv.Quote(e.Text) + ")"
	}
	return s
}

// KRBErrorName returns the RFC 4120 (and RFC 6113, RFC 4556) name of a
// Kerberos error code, such as "KDC_ERR_PREAUTH_FAILED" for 24, or
// "KRB-ERROR 123" for a code it does not know.
func KRBErrorName(code int32) string {
	if n, ok := krbErrorNames[code]; ok {
		return n
	}
	return "KRB-ERROR " + strconv.Itoa(int(code))
}

var krbErrorNames = map[int32]string{
	0: "KDC_ERR_NONE", 1: "KDC_ERR_NAME_EXP", 2: "KDC_ERR_SERVICE_EXP", 3: "KDC_ERR_BAD_PVNO",
	4: "KDC_ERR_C_OLD_MAST_KVNO", 5: "KDC_ERR_S_OLD_MAST_KVNO", 6: "KDC_ERR_C_PRINCIPAL_UNKNOWN",
	7: "KDC_ERR_S_PRINCIPAL_UNKNOWN", 8: "KDC_ERR_PRINCIPAL_NOT_UNIQUE", 9: "KDC_ERR_NULL_KEY",
	10: "KDC_ERR_CANNOT_POSTDATE", 11: "KDC_ERR_NEVER_VALID", 12: "KDC_ERR_POLICY", 13: "KDC_ERR_BADOPTION",
	14: "KDC_ERR_ETYPE_NOSUPP", 15: "KDC_ERR_SUMTYPE_NOSUPP", 16: "KDC_ERR_PADATA_TYPE_NOSUPP",
	17: "KDC_ERR_TRTYPE_NOSUPP", 18: "KDC_ERR_CLIENT_REVOKED", 19: "KDC_ERR_SERVICE_REVOKED",
	20: "KDC_ERR_TGT_REVOKED", 21: "KDC_ERR_CLIENT_NOTYET", 22: "KDC_ERR_SERVICE_NOTYET",
	23: "KDC_ERR_KEY_EXPIRED", 24: "KDC_ERR_PREAUTH_FAILED", 25: "KDC_ERR_PREAUTH_REQUIRED",
	26: "KDC_ERR_SERVER_NOMATCH", 27: "KDC_ERR_MUST_USE_USER2USER", 28: "KDC_ERR_PATH_NOT_ACCEPTED",
	29: "KDC_ERR_SVC_UNAVAILABLE", 31: "KRB_AP_ERR_BAD_INTEGRITY", 32: "KRB_AP_ERR_TKT_EXPIRED",
	33: "KRB_AP_ERR_TKT_NYV", 34: "KRB_AP_ERR_REPEAT", 35: "KRB_AP_ERR_NOT_US", 36: "KRB_AP_ERR_BADMATCH",
	37: "KRB_AP_ERR_SKEW", 38: "KRB_AP_ERR_BADADDR", 39: "KRB_AP_ERR_BADVERSION", 40: "KRB_AP_ERR_MSG_TYPE",
	41: "KRB_AP_ERR_MODIFIED", 42: "KRB_AP_ERR_BADORDER", 44: "KRB_AP_ERR_BADKEYVER", 45: "KRB_AP_ERR_NOKEY",
	46: "KRB_AP_ERR_MUT_FAIL", 47: "KRB_AP_ERR_BADDIRECTION", 48: "KRB_AP_ERR_METHOD", 49: "KRB_AP_ERR_BADSEQ",
	50: "KRB_AP_ERR_INAPP_CKSUM", 51: "KRB_AP_PATH_NOT_ACCEPTED", 52: "KRB_ERR_RESPONSE_TOO_BIG",
	60: "KRB_ERR_GENERIC", 61: "KRB_ERR_FIELD_TOOLONG", 62: "KDC_ERR_CLIENT_NOT_TRUSTED",
	63: "KDC_ERR_KDC_NOT_TRUSTED", 64: "KDC_ERR_INVALID_SIG", 65: "KDC_ERR_DH_KEY_PARAMETERS_NOT_ACCEPTED",
	66: "KDC_ERR_CERTIFICATE_MISMATCH", 67: "KRB_AP_ERR_NO_TGT", 68: "KDC_ERR_WRONG_REALM",
	69: "KRB_AP_ERR_USER_TO_USER_REQUIRED", 70: "KDC_ERR_CANT_VERIFY_CERTIFICATE",
	71: "KDC_ERR_INVALID_CERTIFICATE", 72: "KDC_ERR_REVOKED_CERTIFICATE",
	73: "KDC_ERR_REVOCATION_STATUS_UNKNOWN", 74: "KDC_ERR_REVOCATION_STATUS_UNAVAILABLE",
	75: "KDC_ERR_CLIENT_NAME_MISMATCH", 76: "KDC_ERR_KDC_NAME_MISMATCH",
	77: "KDC_ERR_INCONSISTENT_KEY_PURPOSE", 78: "KDC_ERR_DIGEST_IN_CERT_NOT_ACCEPTED",
	79: "KDC_ERR_PA_CHECKSUM_MUST_BE_INCLUDED", 80: "KDC_ERR_DIGEST_IN_SIGNED_DATA_NOT_ACCEPTED",
	81: "KDC_ERR_PUBLIC_KEY_ENCRYPTION_NOT_SUPPORTED", 90: "KDC_ERR_PREAUTH_EXPIRED",
	91: "KDC_ERR_MORE_PREAUTH_DATA_REQUIRED", 93: "KDC_ERR_UNKNOWN_CRITICAL_FAST_OPTIONS",
}

// cleanText keeps a KDC's e-text printable and short: it is the peer's
// text and ends up in logs.
func cleanText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 200 {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			continue
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// kdcStatusErr is the *sspi.Error of a KRB-ERROR from a KDC.
func kdcStatusErr(op string, code int32, principal, text string) error {
	ke := &KDCError{Code: code, Principal: principal, Text: cleanText(text)}
	return &sspi.Error{Status: krbErrorStatus(code), Detail: op, Err: ke}
}

// noAuthority is the error of an exchange no KDC answered. The cause is
// the context's error when the context ended it, so that errors.Is(err,
// context.DeadlineExceeded) holds.
func noAuthority(detail string, cause error) error {
	return &sspi.Error{Status: sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY, Detail: detail, Err: cause}
}

// kdcAddrs returns the KDCs of a realm ("host:port"), from krb5.conf, or
// from DNS SRV records (_kerberos._udp / _kerberos._tcp) when the realm
// lists none and dns_lookup_kdc is set.
func (p *Package) kdcAddrs(ctx context.Context, cfg *config.Config, realm, proto string) ([]string, error) {
	for _, r := range cfg.Realms {
		if r.Realm == realm && len(r.KDC) > 0 {
			out := make([]string, 0, len(r.KDC))
			for _, k := range r.KDC {
				out = append(out, strings.TrimSuffix(strings.TrimSpace(k), "*"))
			}
			return out, nil
		}
	}
	if !cfg.LibDefaults.DNSLookupKDC {
		return nil, noAuthority(fmt.Sprintf("no KDC for realm %s in krb5.conf %s (add kdc = HOST to [realms] %s, or set dns_lookup_kdc = true)", realm, p.krb5ConfPath(), realm), nil)
	}
	_, srvs, err := p.resolver().LookupSRV(ctx, "kerberos", proto, realm)
	if err != nil || len(srvs) == 0 {
		if ctx.Err() != nil {
			return nil, noAuthority("looking up the KDCs of realm "+realm, ctx.Err())
		}
		return nil, noAuthority(fmt.Sprintf("no KDC for realm %s: no DNS SRV record _kerberos._%s.%s", realm, proto, realm), err)
	}
	out := make([]string, 0, len(srvs))
	for _, s := range srvs {
		out = append(out, net.JoinHostPort(strings.TrimSuffix(s.Target, "."), strconv.Itoa(int(s.Port))))
	}
	return out, nil
}

func (p *Package) resolver() *net.Resolver {
	if p.cfg.Resolver != nil {
		return p.cfg.Resolver
	}
	return net.DefaultResolver
}

// sendToKDC sends a request to the KDCs of a realm and returns the first
// reply, which may be a KRB-ERROR. Requests up to udp_preference_limit
// bytes go over UDP first, larger ones over TCP first, as MIT sends them;
// a KRB_ERR_RESPONSE_TOO_BIG over UDP is retried over TCP. Each try is
// bounded by kdcAttemptTimeout and by ctx: when ctx ends, so does the
// exchange, with ctx's error as the cause.
func (p *Package) sendToKDC(ctx context.Context, cfg *config.Config, realm string, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, noAuthority("before contacting the KDC of "+realm, err)
	}
	limit := cfg.LibDefaults.UDPPreferenceLimit
	if limit <= 0 {
		limit = defaultUDPPreferenceLimit
	}
	protos := []string{"udp", "tcp"}
	if len(req) > limit {
		protos = []string{"tcp", "udp"}
	}
	var tried []string
	var last, cfgErr error
	for _, proto := range protos {
		addrs, err := p.kdcAddrs(ctx, cfg, realm, proto)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			cfgErr = err
			continue
		}
		for _, addr := range addrs {
			rep, err := p.tryKDC(ctx, proto, addr, req)
			if err == nil {
				if proto == "udp" && isResponseTooBig(rep) {
					tried = append(tried, addr+" over UDP: response too big")
					break // on to TCP
				}
				return rep, nil
			}
			if ctx.Err() != nil {
				return nil, noAuthority(fmt.Sprintf("no answer from the KDC of %s (%s over %s) before the context ended", realm, addr, strings.ToUpper(proto)), ctx.Err())
			}
			tried = append(tried, fmt.Sprintf("%s over %s: %v", addr, strings.ToUpper(proto), err))
			last = err
		}
	}
	if len(tried) == 0 && cfgErr != nil {
		return nil, cfgErr
	}
	if last != nil && len(tried) > 0 {
		// The last try's error is the cause, printed after the detail.
		tried[len(tried)-1] = strings.TrimSuffix(tried[len(tried)-1], ": "+last.Error())
	}
	return nil, noAuthority(fmt.Sprintf("no KDC of %s answered: %s", realm, strings.Join(tried, "; ")), last)
}

func isResponseTooBig(b []byte) bool {
	if len(b) == 0 || b[0] != 0x7e {
		return false
	}
	e, err := parseKRBError(b)
	return err == nil && e.ErrorCode == errResponseTooBig
}

// tryKDC makes one try of one KDC over one transport.
func (p *Package) tryKDC(ctx context.Context, proto, addr string, req []byte) ([]byte, error) {
	actx, cancel := context.WithTimeout(ctx, kdcAttemptTimeout)
	defer cancel()
	d := net.Dialer{Resolver: p.cfg.Resolver}
	conn, err := d.DialContext(actx, proto, addr)
	if err != nil {
		return nil, plainNetErr(err)
	}
	defer conn.Close()
	if dl, ok := actx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// Cancellation without a deadline: unblock the I/O at once. When the
	// function has started, wait for it, so that nothing of this exchange
	// outlives the call.
	unblocked := make(chan struct{})
	stop := context.AfterFunc(actx, func() {
		conn.SetDeadline(aLongTimeAgo)
		close(unblocked)
	})
	defer func() {
		if !stop() {
			<-unblocked
		}
	}()
	var rep []byte
	if proto == "udp" {
		rep, err = udpExchange(conn, req)
	} else {
		rep, err = tcpExchange(conn, req)
	}
	if err != nil {
		if actx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("no answer within %v", kdcAttemptTimeout)
		}
		return nil, plainNetErr(err)
	}
	return rep, nil
}

// plainNetErr drops the Op/Net/Addr wrapping the caller already names.
func plainNetErr(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

func udpExchange(conn net.Conn, req []byte) ([]byte, error) {
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	buf := make([]byte, 65536)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return buf[:n:n], nil
		}
	}
}

func tcpExchange(conn net.Conn, req []byte) ([]byte, error) {
	msg := make([]byte, 4+len(req))
	binary.BigEndian.PutUint32(msg, uint32(len(req)))
	copy(msg[4:], req)
	if _, err := conn.Write(msg); err != nil {
		return nil, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the KDC closed the connection without an answer")
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n&0x80000000 != 0 {
		return nil, errors.New("reply uses the reserved high bit of the TCP length (RFC 4120 section 7.2.2)")
	}
	if n == 0 || n > maxKDCReply {
		return nil, fmt.Errorf("reply length %d out of range", n)
	}
	rep, err := io.ReadAll(io.LimitReader(conn, int64(n)))
	if err != nil {
		return nil, err
	}
	if len(rep) != int(n) {
		return nil, fmt.Errorf("reply cut short: %d of %d bytes", len(rep), n)
	}
	return rep, nil
}
