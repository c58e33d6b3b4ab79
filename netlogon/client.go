package netlogon

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gosspi/gosspi/internal/dcerpc"
	"github.com/gosspi/gosspi/internal/sysenv"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

// Config configures a Client: where the domain controller is, and the
// machine account whose secure channel carries the logons.
type Config struct {
	// DC is the domain controller: a host name or address, with the
	// NETLOGON TCP port when it is known ("dc1.example.com",
	// "192.0.2.10:49152"). Without a port, the endpoint mapper on port 135
	// is asked for it. Empty, DNS finds a DC of DNSDomain (its
	// _ldap._tcp.dc._msdcs SRV records).
	DC string
	// Domain is the NetBIOS name of the domain ("CONTOSO"). Required.
	Domain string
	// DNSDomain is the DNS name of the domain ("contoso.com"): the name
	// DC discovery looks up, and the DNS domain an NTLM server using the
	// Client advertises (TargetNames).
	DNSDomain string
	// Account is the machine account ("WS1$"); the computer's NetBIOS
	// name is the account without its "$". Required.
	Account string
	// NTHash is the NT hash of the machine account's password (see
	// LoadMachineSecret). Required.
	NTHash [16]byte
	// MaxConcurrent bounds the logons in flight at the DC, like Windows'
	// MaxConcurrentApi (default 10): more wait for a slot while their
	// context allows. Each slot keeps at most one idle sealed connection.
	MaxConcurrent int
	// Timeout bounds each logon, from the wait for a slot to the DC's
	// answer, including dialing and setting up the secure channel when
	// that is needed (default 15 seconds).
	Timeout time.Duration
	// Now and Rand replace the clock (for the authenticators) and the
	// random source (challenges, confounders).
	Now  func() time.Time
	Rand io.Reader
	// Resolver looks up the DC's SRV records and name (default
	// net.DefaultResolver).
	Resolver *net.Resolver
}

// Client is a NETLOGON client (MS-NRPC) that verifies NTLM and MS-CHAP
// responses at a domain controller; it implements ntlm.Verifier.
//
// It sets up one secure channel per process: NetrServerReqChallenge and
// NetrServerAuthenticate3 with AES session keys and secure RPC, checked
// with NetrLogonGetCapabilities over the first sealed connection. Logons
// are NetrLogonSamLogonEx calls on connections bound with the Netlogon
// security provider at the privacy level (sealed, AES), at most
// Config.MaxConcurrent at a time; idle connections are kept for the next
// logons. A connection the DC closed is replaced, and a secure channel the
// DC no longer accepts (ACCESS_DENIED: it restarted, or another process
// set up a channel for the same machine account) is set up again and the
// logon retried once. A refused logon is never retried.
//
// A Client is safe for concurrent use.
type Client struct {
	cfg      Config
	computer string
	slots    chan struct{}
	setup    chan struct{} // held while a secure channel is set up

	mu     sync.Mutex
	sess   *session
	gen    uint64
	idle   []*channel
	addr   string // NETLOGON's "host:port", once known
	closed bool

	// trace, when set (tests), sees every PDU of every connection, the
	// connections numbered in the order they are dialed.
	trace  func(conn int, out bool, pdu []byte)
	nconns int
}

// session is a secure channel: its session key and negotiated flags.
type session struct {
	sk    [16]byte
	flags uint32
	gen   uint64
}

// channel is a sealed connection of a session.
type channel struct {
	conn *dcerpc.Conn
	sess *session
}

// Default limits.
const (
	DefaultMaxConcurrent = 10
	DefaultTimeout       = 15 * time.Second
)

// New returns a Client for cfg. It does not contact the DC: the secure
// channel is set up by the first logon, or by Check.
func New(cfg Config) (*Client, error) {
	if cfg.Domain == "" {
		return nil, errors.New("netlogon: Config.Domain (the NetBIOS domain name) is required")
	}
	if cfg.Account == "" {
		return nil, errors.New("netlogon: Config.Account (the machine account, NAME$) is required")
	}
	if cfg.NTHash == ([16]byte{}) {
		return nil, errors.New("netlogon: Config.NTHash (the machine account's NT hash) is required")
	}
	if cfg.DC == "" && cfg.DNSDomain == "" {
		return nil, errors.New("netlogon: Config.DC or Config.DNSDomain (to find a DC) is required")
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	cfg.Now = sysenv.Clock(cfg.Now)
	cfg.Rand = sysenv.Reader(cfg.Rand)
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	computer := strings.ToUpper(strings.TrimSuffix(cfg.Account, "$"))
	if computer == "" || len(computer) > 15 {
		return nil, fmt.Errorf("netlogon: machine account %q: the computer name must be 1 to 15 characters", cfg.Account)
	}
	return &Client{cfg: cfg, computer: computer,
		slots: make(chan struct{}, cfg.MaxConcurrent), setup: make(chan struct{}, 1)}, nil
}

// TargetNames are the names an NTLM server verifying through this Client
// advertises in its CHALLENGE (MsvAvNbDomainName, MsvAvNbComputerName,
// MsvAvDnsDomainName, MsvAvDnsComputerName): the domain's and the machine
// account's, as a hardened DC expects.
func (c *Client) TargetNames() (netbiosDomain, netbiosComputer, dnsDomain, dnsComputer string) {
	dns := strings.ToLower(c.cfg.DNSDomain)
	host := strings.ToLower(c.computer)
	if dns != "" {
		host += "." + dns
	}
	return strings.ToUpper(c.cfg.Domain), c.computer, dns, host
}

// Close closes the idle connections; logons in flight finish and close
// theirs. The Client refuses logons afterwards.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, ch := range c.idle {
		ch.conn.Close()
	}
	c.idle = nil
	if c.sess != nil {
		c.sess.sk = [16]byte{}
		c.sess = nil
	}
	c.cfg.NTHash = [16]byte{}
	return nil
}

// Check sets up the secure channel now, if there is none, and reports why
// it cannot: for a server to fail at start on a wrong machine password
// rather than at the first logon.
func (c *Client) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	ch, err := c.channel(ctx)
	if err != nil {
		return err
	}
	c.put(ch)
	return nil
}

// unavailable is the error of a logon that could not reach a DC that
// accepts the secure channel.
func unavailable(detail string, err error) error {
	return &sspi.Error{Op: "netlogon", Status: sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY, Detail: detail, Err: err}
}

// VerifyResponse implements ntlm.Verifier with NetrLogonSamLogonEx
// (NetlogonNetworkTransitiveInformation, NETLOGON_VALIDATION_SAM_INFO4).
func (c *Client) VerifyResponse(ctx context.Context, r *ntlm.VerifyRequest) (*ntlm.VerifiedLogon, error) {
	if len(r.NTResponse) > 0xffff || len(r.LMResponse) > 0xffff || len(r.User) > 512 || len(r.Domain) > 512 || len(r.Workstation) > 512 {
		return nil, &sspi.Error{Op: "netlogon", Status: sspi.SEC_E_INVALID_TOKEN, Detail: "names or responses too long for NETLOGON"}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, unavailable(fmt.Sprintf("no free slot for a logon at the domain controller (%d in flight)", c.cfg.MaxConcurrent), ctx.Err())
	}
	defer func() { <-c.slots }()

	info := &networkInfo{
		domain: r.Domain, user: r.User, workstation: r.Workstation,
		parameterControl: msv1_0AllowServerTrustAccount | msv1_0AllowWorkstationTrustAccount,
		challenge:        r.ServerChallenge, nt: r.NTResponse, lm: r.LMResponse,
	}
	if r.MSCHAP {
		info.parameterControl |= msv1_0AllowMSVChapV2
	}
	stub := encodeSamLogonEx(c.computer, netlogonNetworkTransitiveInformation, info, validationSamInfo4)
	res, err := c.call(ctx, opLogonSamLogonEx, stub, func(out []byte) (uint32, any, error) {
		res, err := decodeSamLogonEx(out, validationSamInfo4)
		if err != nil {
			return 0, nil, err
		}
		return res.status, res, nil
	})
	if err != nil {
		return nil, err
	}
	sr := res.(*samLogonResult)
	if sr.status != statusSuccess {
		st, detail := logonStatus(sr.status)
		return nil, &sspi.Error{Op: "netlogon", Status: st, Detail: detail}
	}
	v := sr.validation
	if v == nil || v.logonDomainID == "" || v.effectiveName == "" {
		return nil, unavailable("the domain controller's logon reply has no validation information", nil)
	}
	l := &ntlm.VerifiedLogon{
		User: v.effectiveName, Domain: v.logonDomainName,
		SID: v.userSID(), Groups: v.groupSIDs(),
		SessionKey: v.userSessionKey,
		DNSDomain:  v.dnsLogonDomainName, UPN: v.upn,
	}
	v.userSessionKey, v.lmKey = [16]byte{}, [8]byte{}
	return l, nil
}

// call runs one operation on a sealed connection. decode reads the
// response and returns its NTSTATUS. A stale secure channel (a fault or
// NTSTATUS of ACCESS_DENIED: the DC could not verify the call, so it did
// not run it) is set up again and the call retried once; no other failure
// is retried.
func (c *Client) call(ctx context.Context, op uint16, stub []byte, decode func([]byte) (uint32, any, error)) (any, error) {
	for attempt := 0; ; attempt++ {
		ch, err := c.channel(ctx)
		if err != nil {
			return nil, err
		}
		out, err := ch.conn.Call(ctx, op, stub)
		if err != nil {
			ch.conn.Close()
			if attempt == 0 && staleFault(err) {
				c.invalidate(ch.sess)
				continue
			}
			return nil, unavailable("the call to the domain controller failed", err)
		}
		status, res, err := decode(out)
		if err != nil {
			ch.conn.Close()
			return nil, unavailable("the domain controller's reply is malformed", err)
		}
		if status == statusAccessDenied {
			ch.conn.Close()
			if attempt == 0 {
				c.invalidate(ch.sess)
				continue
			}
			return nil, unavailable("the domain controller refuses the secure channel (STATUS_ACCESS_DENIED)", nil)
		}
		c.put(ch)
		return res, nil
	}
}

// staleFault reports whether a call's failure means the DC no longer
// accepts the secure channel's key: it could not verify the call.
func staleFault(err error) bool {
	var f *dcerpc.Fault
	return errors.As(err, &f) && (f.Status == dcerpc.FaultAccessDenied || f.Status == dcerpc.FaultSecPkgError)
}

// channel returns an idle sealed connection of the current secure
// channel, or a new one, setting up the secure channel first if there is
// none. A new connection whose bind fails for an established secure
// channel sets the channel up again once.
func (c *Client) channel(ctx context.Context) (*channel, error) {
	retried := false
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, unavailable("the NETLOGON client is closed", nil)
		}
		for len(c.idle) > 0 {
			ch := c.idle[len(c.idle)-1]
			c.idle = c.idle[:len(c.idle)-1]
			if ch.sess == c.sess && ch.conn.Buffered() == 0 && alive(ch.conn.NetConn()) {
				c.mu.Unlock()
				return ch, nil
			}
			ch.conn.Close()
		}
		sess := c.sess
		c.mu.Unlock()
		if sess == nil {
			ch, err := c.establish(ctx)
			if err != nil {
				return nil, err
			}
			if ch != nil {
				return ch, nil
			}
			continue // another goroutine set it up
		}
		ch, err := c.dialSealed(ctx, sess)
		if err == nil {
			return ch, nil
		}
		var be *dcerpc.BindError
		if !retried && (errors.As(err, &be) || staleFault(err)) {
			retried = true
			c.invalidate(sess)
			continue
		}
		return nil, unavailable("cannot open a sealed NETLOGON connection to the domain controller", err)
	}
}

// put returns a healthy connection to the idle list, unless the client
// closed or the secure channel changed meanwhile.
func (c *Client) put(ch *channel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || ch.sess != c.sess || len(c.idle) >= c.cfg.MaxConcurrent || ch.conn.Broken() != nil {
		ch.conn.Close()
		return
	}
	c.idle = append(c.idle, ch)
}

// invalidate drops the secure channel sess, when it is still the current
// one, and its idle connections.
func (c *Client) invalidate(sess *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != sess {
		return
	}
	c.sess = nil
	for _, ch := range c.idle {
		ch.conn.Close()
	}
	c.idle = nil
}

// establish sets up a secure channel unless another goroutine does so
// first; it returns the sealed connection the check ran on (nil when the
// other goroutine won).
func (c *Client) establish(ctx context.Context) (*channel, error) {
	select {
	case c.setup <- struct{}{}:
	case <-ctx.Done():
		return nil, unavailable("waiting for the secure channel to be set up", ctx.Err())
	}
	defer func() { <-c.setup }()
	c.mu.Lock()
	done := c.sess != nil
	c.mu.Unlock()
	if done {
		return nil, nil
	}
	sess, ch, err := c.handshake(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		ch.conn.Close()
		return nil, unavailable("the NETLOGON client is closed", nil)
	}
	c.gen++
	sess.gen = c.gen
	c.sess = sess
	return ch, nil
}

// trustError is the error of a secure channel the DC refuses to set up.
func trustError(detail string, err error) error {
	return unavailable("the secure channel to the domain controller cannot be set up: "+detail, err)
}

// handshake negotiates a session key (MS-NRPC 3.1.4.1): a challenge each
// way, NetrServerAuthenticate3 with the client credential, the server's
// credential checked, AES and secure RPC required; then it opens the first
// sealed connection and confirms the negotiated flags with
// NetrLogonGetCapabilities and the authenticator chain (3.1.4.5).
func (c *Client) handshake(ctx context.Context) (*session, *channel, error) {
	addr, err := c.netlogonAddr(ctx)
	if err != nil {
		return nil, nil, unavailable("cannot find the domain controller's NETLOGON endpoint", err)
	}
	conn, err := dcerpc.Dial(ctx, addr)
	if err != nil {
		c.forgetAddr(addr)
		return nil, nil, unavailable("cannot connect to the domain controller", err)
	}
	defer conn.Close()
	c.traceConn(conn)
	if err := conn.Bind(ctx, netlogonIf, nil); err != nil {
		return nil, nil, unavailable("cannot bind NETLOGON at the domain controller", err)
	}
	var cc [8]byte
	if _, err := io.ReadFull(c.cfg.Rand, cc[:]); err != nil {
		return nil, nil, unavailable("no randomness for the client challenge", err)
	}
	out, err := conn.Call(ctx, opServerReqChallenge, encodeReqChallenge(c.computer, cc))
	if err != nil {
		return nil, nil, unavailable("NetrServerReqChallenge failed", err)
	}
	sc, status, err := decodeReqChallenge(out)
	if err != nil {
		return nil, nil, unavailable("NetrServerReqChallenge", err)
	}
	if status != statusSuccess {
		return nil, nil, trustError("NetrServerReqChallenge: "+statusName(status), nil)
	}
	c.mu.Lock()
	ntHash := c.cfg.NTHash // Close wipes it
	c.mu.Unlock()
	sk := computeSessionKey(ntHash, cc, sc)
	ntHash = [16]byte{}
	cred := computeCredential(cc, sk)
	out, err = conn.Call(ctx, opServerAuthenticate3, encodeAuthenticate3(c.cfg.Account, c.computer, cred, clientFlags))
	if err != nil {
		return nil, nil, unavailable("NetrServerAuthenticate3 failed", err)
	}
	srvCred, flags, _, status, err := decodeAuthenticate3(out)
	if err != nil {
		return nil, nil, unavailable("NetrServerAuthenticate3", err)
	}
	switch status {
	case statusSuccess:
	case statusAccessDenied, statusNoTrustSAMAccount:
		return nil, nil, trustError("the domain controller refuses the machine account "+c.cfg.Account+
			" ("+statusName(status)+"): its password is wrong, or the account is missing or disabled", nil)
	case statusDowngradeDetected:
		return nil, nil, trustError("the domain controller requires stronger negotiate flags ("+statusName(status)+")", nil)
	default:
		return nil, nil, trustError("NetrServerAuthenticate3: "+statusName(status), nil)
	}
	want := computeCredential(sc, sk)
	if subtle.ConstantTimeCompare(want[:], srvCred[:]) != 1 {
		return nil, nil, trustError("the domain controller's credential does not match: it does not know the machine account's password", nil)
	}
	if flags&requiredFlags != requiredFlags {
		return nil, nil, trustError(fmt.Sprintf("the domain controller did not negotiate AES and secure RPC (flags 0x%08x)", flags), nil)
	}
	sess := &session{sk: sk, flags: flags}
	chain := credentialChain{sk: sk, stored: cred}
	ch, err := c.dialSealed(ctx, sess)
	if err != nil {
		return nil, nil, unavailable("cannot open a sealed NETLOGON connection to the domain controller", err)
	}
	if err := c.checkCapabilities(ctx, ch, &chain, flags); err != nil {
		ch.conn.Close()
		return nil, nil, err
	}
	return sess, ch, nil
}

// checkCapabilities asks the DC, over the sealed connection, which flags
// it negotiated (NetrLogonGetCapabilities level 1) and compares them with
// NetrServerAuthenticate3's answer: a difference is a downgrade by someone
// between (MS-NRPC 3.4.5.2.10). The return authenticator proves the
// answer comes from the DC that holds the session key.
func (c *Client) checkCapabilities(ctx context.Context, ch *channel, chain *credentialChain, flags uint32) error {
	now := c.cfg.Now().Unix()
	if now < 0 || now > 1<<32-1 {
		return unavailable("the clock is outside the range of a Netlogon authenticator", nil)
	}
	a, ts := chain.authenticator(uint32(now))
	server := `\\` + hostOf(c.dcHost())
	out, err := ch.conn.Call(ctx, opLogonGetCapabilities, encodeGetCapabilities(server, c.computer, a, ts))
	var f *dcerpc.Fault
	if errors.As(err, &f) && f.Status == dcerpc.FaultOpRangeError {
		return nil // a DC older than the call
	}
	if err != nil {
		return unavailable("NetrLogonGetCapabilities failed", err)
	}
	ret, caps, status, err := decodeGetCapabilities(out)
	if err != nil {
		return unavailable("NetrLogonGetCapabilities", err)
	}
	if status != statusSuccess {
		return trustError("NetrLogonGetCapabilities: "+statusName(status), nil)
	}
	if !chain.checkReturn(ret) {
		return trustError("NetrLogonGetCapabilities: the return authenticator does not verify", nil)
	}
	if caps != flags {
		return trustError(fmt.Sprintf("negotiate flags downgraded: 0x%08x at NetrServerAuthenticate3, 0x%08x over the secure channel", flags, caps), nil)
	}
	return nil
}

// dialSealed opens a connection to NETLOGON bound with the Netlogon
// security provider at the privacy level for sess.
func (c *Client) dialSealed(ctx context.Context, sess *session) (*channel, error) {
	addr, err := c.netlogonAddr(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := dcerpc.Dial(ctx, addr)
	if err != nil {
		c.forgetAddr(addr)
		return nil, err
	}
	c.traceConn(conn)
	sec := &schannel{sk: sess.sk, domain: strings.ToUpper(c.cfg.Domain), computer: c.computer, rand: c.cfg.Rand}
	if err := conn.Bind(ctx, netlogonIf, sec); err != nil {
		conn.Close()
		return nil, err
	}
	return &channel{conn: conn, sess: sess}, nil
}

// traceConn hooks a new connection to c.trace.
func (c *Client) traceConn(conn *dcerpc.Conn) {
	if c.trace == nil {
		return
	}
	c.mu.Lock()
	n := c.nconns
	c.nconns++
	c.mu.Unlock()
	conn.Trace = func(out bool, pdu []byte) { c.trace(n, out, pdu) }
}

// dcHost is the DC's host as configured ("" when it is discovered).
func (c *Client) dcHost() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.addr != "" {
		return c.addr
	}
	return c.cfg.DC
}

func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// netlogonAddr returns NETLOGON's "host:port": Config.DC when it has a
// port, else the endpoint mapper's answer for the DC (found by DNS when
// Config.DC is empty), remembered until a dial to it fails.
func (c *Client) netlogonAddr(ctx context.Context) (string, error) {
	c.mu.Lock()
	addr := c.addr
	c.mu.Unlock()
	if addr != "" {
		return addr, nil
	}
	if _, _, err := net.SplitHostPort(c.cfg.DC); err == nil {
		return c.cfg.DC, nil
	}
	hosts := []string{c.cfg.DC}
	if c.cfg.DC == "" {
		var err error
		if hosts, err = discoverDCs(ctx, c.cfg.Resolver, c.cfg.DNSDomain); err != nil {
			return "", err
		}
		// The SRV targets' addresses come from the same resolver as the
		// records (a deployment that points Resolver at the domain's DNS
		// expects every name of the domain to be looked up there).
		var ips []string
		for _, h := range hosts {
			a, err := c.cfg.Resolver.LookupHost(ctx, h)
			if err != nil {
				continue
			}
			ips = append(ips, a...)
		}
		if len(ips) == 0 {
			return "", fmt.Errorf("netlogon: no address for the domain controllers %v of %s", hosts, c.cfg.DNSDomain)
		}
		hosts = ips
	}
	var last error
	for _, h := range hosts {
		port, err := dcerpc.LookupPort(ctx, h, netlogonIf)
		if err != nil {
			last = err
			continue
		}
		addr = net.JoinHostPort(h, strconv.Itoa(port))
		c.mu.Lock()
		c.addr = addr
		c.mu.Unlock()
		return addr, nil
	}
	return "", last
}

// forgetAddr drops a remembered endpoint that failed, so that the next
// connection asks the endpoint mapper again (a restarted DC may listen
// elsewhere).
func (c *Client) forgetAddr(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.addr == addr {
		c.addr = ""
	}
}
