package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/gosspi/gosspi/internal/spnego"

	"github.com/gosspi/gosspi/internal/ntlmssp"

	"github.com/gosspi/gosspi/internal/gss"
	"github.com/gosspi/gosspi/internal/oid"
	"github.com/gosspi/gosspi/sspi/secpkg"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

const decodeUsage = `usage: gosspi decode [-json] [TOKEN | -]

Decodes an authentication token and prints its fields: NTLM NEGOTIATE,
CHALLENGE and AUTHENTICATE (flags, names, AV pairs, the NTLMv2 response),
SPNEGO NegTokenInit/NegTokenResp (mechanisms, state, the inner token), and
Kerberos AP-REQ, AP-REP and KRB-ERROR (realm, service, enctypes, kvno).
Nothing is decrypted: no key is needed or used.

TOKEN is base64 (as in an HTTP header) or hex; a whole header line
("Authorization: Negotiate YII...") works too. With no TOKEN or "-", it is
read from standard input. Exit status 1 when the token is not recognised.

  -json   print the fields as JSON`

func init() {
	register(&command{
		name:    "decode",
		summary: "decode an NTLM, SPNEGO or Kerberos token (base64 or hex) and print its fields",
		usage:   decodeUsage,
		run:     runDecode,
	})
}

// node is one decoded field; a token is a tree of them.
type node struct {
	Name   string  `json:"name"`
	Value  string  `json:"value,omitempty"`
	Fields []*node `json:"fields,omitempty"`
}

func (n *node) add(name, format string, args ...any) *node {
	c := &node{Name: name, Value: fmt.Sprintf(format, args...)}
	n.Fields = append(n.Fields, c)
	return c
}

func (n *node) addNode(c *node) { n.Fields = append(n.Fields, c) }

func (n *node) write(w io.Writer, depth int) {
	pad := strings.Repeat("  ", depth)
	if n.Value != "" {
		fmt.Fprintf(w, "%s%s: %s\n", pad, n.Name, n.Value)
	} else {
		fmt.Fprintf(w, "%s%s\n", pad, n.Name)
	}
	for _, c := range n.Fields {
		c.write(w, depth+1)
	}
}

func runDecode(args []string) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), decodeUsage) }
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	var in string
	switch {
	case fs.NArg() > 1:
		fs.Usage()
		return exitUsage
	case fs.NArg() == 1 && fs.Arg(0) != "-":
		in = fs.Arg(0)
	default:
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		if err != nil {
			fmt.Fprintln(os.Stderr, "gosspi decode:", err)
			return exitFailure
		}
		in = string(b)
	}
	raw, err := decodeInput(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosspi decode:", err)
		return exitUsage
	}
	n, err := decodeToken(raw)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if n != nil {
			enc.Encode(n)
		}
	} else if n != nil {
		n.write(os.Stdout, 0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosspi decode:", err)
		return exitFailure
	}
	return exitOK
}

// decodeInput strips a header name and scheme and decodes base64 or hex.
func decodeInput(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, ":"); i > 0 && !strings.ContainsAny(s[:i], " \t") {
		switch strings.ToLower(s[:i]) {
		case "authorization", "www-authenticate", "proxy-authorization", "proxy-authenticate":
			s = strings.TrimSpace(s[i+1:])
		}
	}
	if f := strings.Fields(s); len(f) == 2 {
		switch strings.ToLower(f[0]) {
		case "negotiate", "ntlm", "kerberos":
			s = f[1]
		}
	}
	if s == "" {
		return nil, errors.New("no token")
	}
	var hexed, b64 []byte
	compact := strings.NewReplacer(" ", "", "\n", "", "\r", "", "\t", "", ":", "").Replace(s)
	if len(compact)%2 == 0 && isHex(compact) {
		hexed, _ = hex.DecodeString(compact)
	}
	compact = strings.NewReplacer(" ", "", "\n", "", "\r", "", "\t", "").Replace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(compact); err == nil && len(b) > 0 {
			b64 = b
			break
		}
	}
	switch {
	case hexed != nil && b64 != nil:
		// Both readings work ("AAAA..."): take the one that is a token.
		if _, err := decodeToken(b64); err == nil {
			return b64, nil
		}
		return hexed, nil
	case hexed != nil:
		return hexed, nil
	case b64 != nil:
		return b64, nil
	}
	return nil, errors.New("the token is neither base64 nor hex")
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return len(s) > 0
}

// decodeToken recognises the token (secpkg.RecognizeToken) and decodes it.
func decodeToken(b []byte) (*node, error) {
	k := secpkg.RecognizeToken(b)
	switch {
	case k.Framed():
		tok, n, err := gss.Parse(b)
		if err != nil {
			return &node{Name: fmt.Sprintf("GSS InitialContextToken (%d bytes)", len(b))}, fmt.Errorf("GSS framing: %v", err)
		}
		mech := tok.Mech.String()
		switch {
		case k.Base() == secpkg.TokenSPNEGOInit:
			return decodeSPNEGO(b[:n])
		case k.IsKerberos():
			return decodeKrb5Mech(tok.Inner, mech)
		case k.IsNTLM():
			return decodeNTLM(tok.Inner)
		}
		return &node{Name: fmt.Sprintf("GSS InitialContextToken, mechanism %s (unknown), %d bytes", mech, len(b))}, nil
	case k.IsNTLM():
		return decodeNTLM(b)
	case k == secpkg.TokenSPNEGOResp:
		return decodeSPNEGO(b)
	case k.IsKerberos():
		return decodeKerberos(b)
	}
	return nil, fmt.Errorf("not an NTLM, SPNEGO or Kerberos token (first bytes % x)", b[:min(len(b), 8)])
}

// --- SPNEGO ---

func mechName(o string) string {
	if m, ok := oid.ByDotted(o); ok {
		return o + " (" + m.Name + ")"
	}
	return o
}

func decodeSPNEGO(b []byte) (*node, error) {
	init, resp, err := spnego.ParseToken(b)
	if err != nil {
		return &node{Name: fmt.Sprintf("SPNEGO token (%d bytes)", len(b))}, err
	}
	if init != nil {
		name := "NegTokenInit"
		if init.Init2 {
			name = "NegTokenInit2"
		}
		n := &node{Name: fmt.Sprintf("SPNEGO %s (RFC 4178, %d bytes)", name, len(b))}
		var mechs []string
		for _, m := range init.MechTypes {
			mechs = append(mechs, mechName(m.String()))
		}
		n.add("mechTypes", "%s", strings.Join(mechs, ", "))
		if init.HasReqFlags {
			n.add("reqFlags", "0x%02x", uint8(init.ReqFlags))
		}
		if init.NegHints != nil {
			n.add("negHints.hintName", "%s", init.NegHints.HintName)
		}
		if init.MechToken != nil {
			inner(n, "mechToken", init.MechToken)
		}
		if init.MechListMIC != nil {
			n.add("mechListMIC", "%d bytes", len(init.MechListMIC))
		}
		return n, nil
	}
	n := &node{Name: fmt.Sprintf("SPNEGO NegTokenResp (RFC 4178, %d bytes)", len(b))}
	if resp.NegState != spnego.NegStateAbsent {
		n.add("negState", "%s", resp.NegState)
	}
	if resp.SupportedMech != nil {
		n.add("supportedMech", "%s", mechName(resp.SupportedMech.String()))
	}
	if resp.ResponseToken != nil {
		inner(n, "responseToken", resp.ResponseToken)
	}
	if resp.MechListMIC != nil {
		n.add("mechListMIC", "%d bytes", len(resp.MechListMIC))
	}
	return n, nil
}

// inner decodes a token nested in a field.
func inner(n *node, field string, b []byte) {
	if len(b) == 0 {
		n.add(field, "empty")
		return
	}
	c, err := decodeToken(b)
	if c == nil {
		n.add(field, "%d bytes, not recognised: %v", len(b), err)
		return
	}
	c.Value = c.Name
	c.Name = field
	if err != nil {
		c.add("error", "%v", err)
	}
	n.addNode(c)
}

// --- Kerberos ---

func decodeKrb5Mech(b []byte, mech string) (*node, error) {
	if len(b) < 2 {
		return &node{Name: "Kerberos GSS token"}, errors.New("no TOK_ID")
	}
	n, err := decodeKerberos(b[2:])
	if n != nil {
		n.Name = fmt.Sprintf("Kerberos GSS token, TOK_ID %02x %02x, mech %s: %s", b[0], b[1], mechName(mech), n.Name)
	}
	return n, err
}

// etypeNames are the RFC 3961/3962/4757/8009 encryption types, by MIT name.
var etypeNames = map[int32]string{
	1: "des-cbc-crc", 3: "des-cbc-md5", 16: "des3-cbc-sha1", 17: "aes128-cts-hmac-sha1-96",
	18: "aes256-cts-hmac-sha1-96", 19: "aes128-cts-hmac-sha256-128", 20: "aes256-cts-hmac-sha384-192",
	23: "arcfour-hmac", 24: "arcfour-hmac-exp",
}

func etypeName(e int32) string {
	if n, ok := etypeNames[e]; ok {
		return fmt.Sprintf("%s (%d)", n, e)
	}
	return fmt.Sprintf("%d", e)
}

func principal(p types.PrincipalName, realm string) string {
	s := strings.Join(p.NameString, "/")
	if realm != "" {
		s += "@" + realm
	}
	return s
}

func encPart(n *node, name string, e types.EncryptedData) {
	c := n.add(name, "etype %s, %d bytes of ciphertext", etypeName(e.EType), len(e.Cipher))
	if e.KVNO != 0 {
		c.Value += fmt.Sprintf(", kvno %d", e.KVNO)
	}
}

func decodeKerberos(b []byte) (*node, error) {
	switch secpkg.RecognizeToken(b) {
	case secpkg.TokenKerberosAPReq:
		var ap messages.APReq
		if err := ap.Unmarshal(b); err != nil {
			return &node{Name: fmt.Sprintf("Kerberos AP-REQ (%d bytes)", len(b))}, fmt.Errorf("AP-REQ: %v", err)
		}
		n := &node{Name: fmt.Sprintf("Kerberos AP-REQ (RFC 4120 5.5.1, %d bytes)", len(b))}
		var opts []string
		if len(ap.APOptions.Bytes) > 0 {
			if ap.APOptions.At(1) != 0 {
				opts = append(opts, "use-session-key")
			}
			if ap.APOptions.At(2) != 0 {
				opts = append(opts, "mutual-required")
			}
		}
		if len(opts) == 0 {
			opts = []string{"none"}
		}
		n.add("apOptions", "%s", strings.Join(opts, " "))
		t := n.add("ticket", "")
		t.add("realm", "%s", ap.Ticket.Realm)
		t.add("sname", "%s", principal(ap.Ticket.SName, ""))
		encPart(t, "enc-part", ap.Ticket.EncPart)
		encPart(n, "authenticator", ap.EncryptedAuthenticator)
		return n, nil
	case secpkg.TokenKerberosAPRep:
		var rep messages.APRep
		if err := rep.Unmarshal(b); err != nil {
			return &node{Name: fmt.Sprintf("Kerberos AP-REP (%d bytes)", len(b))}, fmt.Errorf("AP-REP: %v", err)
		}
		n := &node{Name: fmt.Sprintf("Kerberos AP-REP (RFC 4120 5.5.2, %d bytes)", len(b))}
		encPart(n, "enc-part", rep.EncPart)
		return n, nil
	case secpkg.TokenKerberosError:
		var ke messages.KRBError
		if err := ke.Unmarshal(b); err != nil {
			return &node{Name: fmt.Sprintf("Kerberos KRB-ERROR (%d bytes)", len(b))}, fmt.Errorf("KRB-ERROR: %v", err)
		}
		n := &node{Name: fmt.Sprintf("Kerberos KRB-ERROR (RFC 4120 5.9.1, %d bytes)", len(b))}
		n.add("error-code", "%d", ke.ErrorCode)
		n.add("realm", "%s", ke.Realm)
		n.add("sname", "%s", principal(ke.SName, ""))
		n.add("stime", "%s", ke.STime.UTC().Format(time.RFC3339))
		if ke.EText != "" {
			n.add("e-text", "%s", ke.EText)
		}
		return n, nil
	}
	return nil, errors.New("not a Kerberos message")
}

// --- NTLM ---

var ntlmFlagNames = []struct {
	bit  uint32
	name string
}{
	{ntlmssp.NegotiateUnicode, "UNICODE"}, {ntlmssp.NegotiateOEM, "OEM"}, {ntlmssp.RequestTarget, "REQUEST_TARGET"},
	{ntlmssp.NegotiateSign, "SIGN"}, {ntlmssp.NegotiateSeal, "SEAL"}, {ntlmssp.NegotiateDatagram, "DATAGRAM"},
	{ntlmssp.NegotiateLMKey, "LM_KEY"}, {ntlmssp.NegotiateNTLM, "NTLM"}, {ntlmssp.NegotiateAnonymous, "ANONYMOUS"},
	{ntlmssp.NegotiateOEMDomainSupplied, "OEM_DOMAIN_SUPPLIED"}, {ntlmssp.NegotiateOEMWorkstationSupplied, "OEM_WORKSTATION_SUPPLIED"},
	{ntlmssp.NegotiateAlwaysSign, "ALWAYS_SIGN"}, {ntlmssp.TargetTypeDomain, "TARGET_TYPE_DOMAIN"}, {ntlmssp.TargetTypeServer, "TARGET_TYPE_SERVER"},
	{ntlmssp.NegotiateExtendedSessionSecurity, "EXTENDED_SESSIONSECURITY"}, {ntlmssp.NegotiateIdentify, "IDENTIFY"},
	{ntlmssp.RequestNonNTSessionKey, "REQUEST_NON_NT_SESSION_KEY"}, {ntlmssp.NegotiateTargetInfo, "TARGET_INFO"},
	{ntlmssp.NegotiateVersion, "VERSION"}, {ntlmssp.Negotiate128, "128"}, {ntlmssp.NegotiateKeyExch, "KEY_EXCH"}, {ntlmssp.Negotiate56, "56"},
}

func ntlmFlags(f uint32) string {
	var names []string
	for _, fl := range ntlmFlagNames {
		if f&fl.bit != 0 {
			names = append(names, fl.name)
			f &^= fl.bit
		}
	}
	if f != 0 {
		names = append(names, fmt.Sprintf("0x%08x", f))
	}
	return strings.Join(names, " ")
}

func ntlmVersion(n *node, v *ntlmssp.Version) {
	if v != nil {
		n.add("version", "%d.%d build %d, NTLM revision %d", v.Major, v.Minor, v.Build, v.Revision)
	}
}

var avNames = map[uint16]string{
	ntlmssp.AvNbComputerName: "MsvAvNbComputerName", ntlmssp.AvNbDomainName: "MsvAvNbDomainName",
	ntlmssp.AvDnsComputerName: "MsvAvDnsComputerName", ntlmssp.AvDnsDomainName: "MsvAvDnsDomainName",
	ntlmssp.AvDnsTreeName: "MsvAvDnsTreeName", ntlmssp.AvFlags: "MsvAvFlags", ntlmssp.AvTimestamp: "MsvAvTimestamp",
	ntlmssp.AvSingleHost: "MsvAvSingleHost", ntlmssp.AvTargetName: "MsvAvTargetName", ntlmssp.AvChannelBindings: "MsvAvChannelBindings",
}

func filetime(v []byte) string {
	if len(v) != 8 {
		return hex.EncodeToString(v)
	}
	ft := binary.LittleEndian.Uint64(v)
	const epochDiff = 116444736000000000 // 1601 to 1970 in 100 ns
	if ft < epochDiff {
		return fmt.Sprintf("FILETIME %d", ft)
	}
	return time.Unix(0, int64(ft-epochDiff)*100).UTC().Format(time.RFC3339Nano)
}

func utf16String(v []byte) string {
	u := make([]uint16, len(v)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(v[2*i:])
	}
	return string(utf16.Decode(u))
}

func avPairs(n *node, name string, raw []byte) {
	ps, err := ntlmssp.ParseAvPairs(raw)
	c := n.add(name, "%d bytes", len(raw))
	if err != nil {
		c.add("error", "%v", err)
		return
	}
	for _, p := range ps {
		label := avNames[p.ID]
		if label == "" {
			label = fmt.Sprintf("AvId 0x%04x", p.ID)
		}
		switch p.ID {
		case ntlmssp.AvNbComputerName, ntlmssp.AvNbDomainName, ntlmssp.AvDnsComputerName, ntlmssp.AvDnsDomainName, ntlmssp.AvDnsTreeName, ntlmssp.AvTargetName:
			c.add(label, "%s", utf16String(p.Value))
		case ntlmssp.AvFlags:
			var fl []string
			if len(p.Value) == 4 {
				f := binary.LittleEndian.Uint32(p.Value)
				for _, x := range []struct {
					b uint32
					s string
				}{{ntlmssp.AvFlagConstrained, "constrained"}, {ntlmssp.AvFlagMICPresent, "MIC present"}, {ntlmssp.AvFlagUntrustedSPN, "untrusted SPN"}} {
					if f&x.b != 0 {
						fl = append(fl, x.s)
					}
				}
				c.add(label, "0x%08x %s", f, strings.Join(fl, ", "))
			} else {
				c.add(label, "%x", p.Value)
			}
		case ntlmssp.AvTimestamp:
			c.add(label, "%s", filetime(p.Value))
		case ntlmssp.AvChannelBindings:
			if strings.Trim(string(p.Value), "\x00") == "" {
				c.add(label, "none (zeros)")
			} else {
				c.add(label, "MD5 %x", p.Value)
			}
		default:
			c.add(label, "%x", p.Value)
		}
	}
}

func decodeNTLM(b []byte) (*node, error) {
	switch ntlmssp.MessageType(b) {
	case 1:
		m, err := ntlmssp.ParseNegotiate(b)
		n := &node{Name: fmt.Sprintf("NTLM NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1, %d bytes)", len(b))}
		if err != nil {
			return n, err
		}
		n.add("flags", "0x%08x %s", m.Flags, ntlmFlags(m.Flags))
		if m.Domain != "" {
			n.add("domain", "%s", m.Domain)
		}
		if m.Workstation != "" {
			n.add("workstation", "%s", m.Workstation)
		}
		ntlmVersion(n, m.Version)
		return n, nil
	case 2:
		m, err := ntlmssp.ParseChallenge(b)
		n := &node{Name: fmt.Sprintf("NTLM CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2, %d bytes)", len(b))}
		if err != nil {
			return n, err
		}
		n.add("flags", "0x%08x %s", m.Flags, ntlmFlags(m.Flags))
		n.add("targetName", "%s", m.TargetName)
		n.add("serverChallenge", "%x", m.ServerChallenge)
		if len(m.TargetInfo) > 0 {
			avPairs(n, "targetInfo", m.TargetInfo)
		}
		ntlmVersion(n, m.Version)
		return n, nil
	case 3:
		m, err := ntlmssp.ParseAuthenticate(b)
		n := &node{Name: fmt.Sprintf("NTLM AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3, %d bytes)", len(b))}
		if err != nil {
			return n, err
		}
		n.add("flags", "0x%08x %s", m.Flags, ntlmFlags(m.Flags))
		n.add("domain", "%s", m.Domain)
		n.add("user", "%s", m.User)
		n.add("workstation", "%s", m.Workstation)
		n.add("lmChallengeResponse", "%d bytes", len(m.LmChallengeResponse))
		nt := m.NtChallengeResponse
		switch {
		case len(nt) == 0:
			n.add("ntChallengeResponse", "empty (anonymous)")
		case len(nt) == 24:
			n.add("ntChallengeResponse", "24 bytes: NTLMv1")
		case len(nt) >= 16+28:
			c := n.add("ntChallengeResponse", "%d bytes: NTLMv2 (MS-NLMP 2.2.2.8)", len(nt))
			c.add("NTProofStr", "%x", nt[:16])
			c.add("timestamp", "%s", filetime(nt[24:32]))
			c.add("clientChallenge", "%x", nt[32:40])
			avPairs(c, "avPairs", nt[44:])
		default:
			n.add("ntChallengeResponse", "%d bytes (malformed)", len(nt))
		}
		n.add("encryptedRandomSessionKey", "%d bytes", len(m.EncryptedRandomSessionKey))
		if m.HasMIC {
			n.add("MIC", "%x", m.MIC)
		} else {
			n.add("MIC", "absent")
		}
		ntlmVersion(n, m.Version)
		return n, nil
	}
	return &node{Name: fmt.Sprintf("NTLMSSP message (%d bytes)", len(b))}, fmt.Errorf("unknown NTLM message type %d", ntlmssp.MessageType(b))
}
