package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"os"
	"strings"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/httpauth"
	"github.com/gosspi/gosspi/sspi"
)

const getUsage = `usage: gosspi get [flags] URL

Fetches URL like 'curl --negotiate -u :', answering 401 (and 407 from a
proxy) with Negotiate, Kerberos or NTLM, and writes the body to standard
output. Credentials are what curl and MIT Kerberos use:

  - no -u: the Kerberos ticket in $KRB5CCNAME (run kinit first), with the
    realm from $KRB5_CONFIG or /etc/krb5.conf; for NTLM, $NTLM_USER_FILE;
  - -u 'DOMAIN\user:password' or -u user@REALM:password; with -u user and no
    password, the password is read from the first line of standard input.

Mutual authentication is required (the server must prove who it is) unless
-no-mutual is given. Over HTTPS the channel bindings of the server's
certificate are sent.

With -proxy http://PROXY:PORT the request goes through that proxy, like
curl --proxy-negotiate / --proxy-ntlm: an HTTPS URL through a CONNECT
tunnel whose 407 is answered with Negotiate, Kerberos or NTLM (service
principal HTTP/PROXY), a plain-HTTP URL as a proxied request whose 407 is
answered on the kept-alive connection. -proxy-user gives the proxy's
credentials like -u (default: those of -u, else the ticket cache); over
plain HTTP one credential answers both, -proxy-user's when given. A
https://PROXY:PORT proxy is reached over TLS (-cacert and -k apply to it
too). The environment's proxy settings (HTTPS_PROXY...) are not used.

Exit status: 0 for a 1xx-3xx answer; 4 when authentication failed (a 401,
403 or 407 answer, or a handshake that failed with a status such as
SEC_E_LOGON_DENIED); 1 for another failure (the network, a 4xx or 5xx
answer); 2 for a usage error; 3 for a configuration error (-cacert).`

type getOptions struct {
	user, method, data, out, scheme, spn, cacert string
	lsa                                          string // -lsa (serve_lsa.go)
	proxy, proxyUser                             string
	headers                                      headerList
	include, verbose, insecure, noMutual, noCB   bool
	timeout                                      time.Duration
}

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

func init() {
	register(&command{
		name:    "get",
		summary: "fetch a URL with Negotiate/Kerberos/NTLM, like curl --negotiate",
		usage:   getUsage,
		run:     runGet,
	})
}

func runGet(args []string) int {
	var o getOptions
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.StringVar(&o.user, "u", "", "credentials: user[:password] (DOMAIN\\user or user@REALM)")
	fs.StringVar(&o.method, "X", "", "request method (default GET, or POST with -d)")
	fs.StringVar(&o.data, "d", "", "request body; @FILE reads a file, @- standard input")
	fs.Var(&o.headers, "H", "extra header 'Name: value' (repeatable)")
	fs.StringVar(&o.out, "o", "", "write the body to this file instead of standard output")
	fs.StringVar(&o.scheme, "scheme", "", "answer only this scheme: Negotiate, Kerberos or NTLM")
	fs.StringVar(&o.spn, "spn", "", "service principal (default HTTP/<host>)")
	fs.StringVar(&o.cacert, "cacert", "", "trust the CA certificates in this PEM file")
	lsaFlag(fs, &o.lsa)
	fs.StringVar(&o.proxy, "proxy", "", "go through this HTTP proxy (http://host:port), answering its 407")
	fs.StringVar(&o.proxyUser, "proxy-user", "", "the proxy's credentials: user[:password] (default: those of -u)")
	fs.BoolVar(&o.include, "i", false, "print the response status and headers")
	fs.BoolVar(&o.verbose, "v", false, "print each handshake leg to standard error")
	fs.BoolVar(&o.insecure, "k", false, "do not verify the server's TLS certificate")
	fs.BoolVar(&o.noMutual, "no-mutual", false, "do not require mutual authentication")
	fs.BoolVar(&o.noCB, "no-channel-bindings", false, "do not send TLS channel bindings")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), getUsage+"\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	code, err := get(context.Background(), &o, fs.Arg(0), os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosspi get:", err)
	}
	return code
}

// get fetches url and returns the exit code.
func get(ctx context.Context, o *getOptions, url string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	id, err := getIdentity(o.user, "-u", stdin, stderr)
	if err != nil {
		return exitUsage, err
	}
	proxyID := id
	if o.proxyUser != "" {
		if proxyID, err = getIdentity(o.proxyUser, "-proxy-user", stdin, stderr); err != nil {
			return exitUsage, err
		}
	}
	var body io.Reader
	var getBody func() (io.ReadCloser, error)
	method := o.method
	if o.data != "" {
		var b []byte
		switch {
		case o.data == "@-":
			var err error
			if b, err = io.ReadAll(stdin); err != nil {
				return exitFailure, err
			}
		case strings.HasPrefix(o.data, "@"):
			var err error
			if b, err = os.ReadFile(o.data[1:]); err != nil {
				return exitFailure, err
			}
		default:
			b = []byte(o.data)
		}
		body = strings.NewReader(string(b))
		getBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(b))), nil }
		if method == "" {
			method = http.MethodPost
		}
	}
	if method == "" {
		method = http.MethodGet
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return exitUsage, err
	}
	req.GetBody = getBody
	for _, h := range o.headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return exitUsage, fmt.Errorf("bad header %q (want 'Name: value')", h)
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if o.data != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}

	host, err := gosspi.NewHost(gosspi.HostConfig{LSA: lsaAddress(o.lsa)})
	if err != nil {
		return exitConfig, err
	}
	defer host.Close()
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = &tls.Config{InsecureSkipVerify: o.insecure}
	if o.cacert != "" {
		pem, err := os.ReadFile(o.cacert)
		if err != nil {
			return exitConfig, fmt.Errorf("-cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return exitConfig, fmt.Errorf("-cacert %s: no PEM certificates", o.cacert)
		}
		base.TLSClientConfig.RootCAs = pool
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelDebug
	}
	tr := &httpauth.Transport{
		Host: host, Base: base, Identity: id, NoChannelBindings: o.noCB,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	if o.scheme != "" {
		tr.Schemes = []string{o.scheme}
	}
	if o.spn != "" {
		spn := o.spn
		tr.SPN = func(string) string { return spn }
	}
	if o.noMutual {
		tr.Flags = gosspi.DefaultFlags &^ gosspi.FlagMutualAuth
	}
	defer tr.Close()
	if o.proxy != "" {
		pu, err := neturl.Parse(o.proxy)
		if err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https") {
			return exitUsage, fmt.Errorf("-proxy %q: want http://host:port", o.proxy)
		}
		d := &httpauth.ProxyDialer{Host: host, Proxy: pu, Identity: proxyID, Logger: tr.Logger, TLSConfig: base.TLSClientConfig}
		if o.scheme != "" {
			d.Schemes = tr.Schemes
		}
		defer d.Close()
		d.ConfigureTransport(base)
		if o.proxyUser != "" {
			tr.Identity = proxyID // plain HTTP: one credential answers the proxy and the server
		}
	}
	client := &http.Client{Transport: tr}
	resp, err := client.Do(req)
	if err != nil {
		var st sspi.Status
		if errors.As(err, &st) {
			return exitAuth, err // the handshake failed: SEC_E_LOGON_DENIED and the like
		}
		var pe *httpauth.ProxyError
		if errors.As(err, &pe) && pe.StatusCode == http.StatusProxyAuthRequired {
			return exitAuth, err // the proxy's 407 could not be answered
		}
		return exitFailure, err
	}
	defer resp.Body.Close()
	if o.verbose {
		if id, ok := identityHint(resp); ok {
			fmt.Fprintln(stderr, "gosspi get:", id)
		}
	}
	if o.include {
		fmt.Fprintf(stdout, "%s %s\r\n", resp.Proto, resp.Status)
		resp.Header.Write(stdout)
		fmt.Fprint(stdout, "\r\n")
	}
	w := stdout
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return exitFailure, err
		}
		defer f.Close()
		w = f
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return exitFailure, err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden ||
		resp.StatusCode == http.StatusProxyAuthRequired:
		if why := httpauth.Refusal(resp); why != nil {
			return exitAuth, fmt.Errorf("%s %s: authentication failed: %w", resp.Proto, resp.Status, why)
		}
		return exitAuth, fmt.Errorf("%s %s: authentication failed", resp.Proto, resp.Status)
	case resp.StatusCode >= 400:
		return exitFailure, fmt.Errorf("%s %s", resp.Proto, resp.Status)
	}
	return exitOK, nil
}

// getIdentity parses -u or -proxy-user: user[:password], the password
// read from stdin when absent. An empty value is nil (the defaults).
func getIdentity(v, flagName string, stdin io.Reader, stderr io.Writer) (*gosspi.Identity, error) {
	if v == "" {
		return nil, nil
	}
	user, pw, hasPW := strings.Cut(v, ":")
	if !hasPW {
		var err error
		if pw, err = readPassword(stdin, stderr, "password for "+user+": "); err != nil {
			return nil, fmt.Errorf("%s without a password: %w", flagName, err)
		}
	}
	return &gosspi.Identity{User: user, Password: pw}, nil
}

// identityHint says whether the server proved itself in the final answer.
func identityHint(resp *http.Response) (string, bool) {
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if scheme, tok, err := httpauth.ParseAuthorization(v); err == nil && tok != nil {
			return fmt.Sprintf("%s %s: the server sent a %d-byte final token (mutual authentication)", resp.Proto, resp.Status, len(tok)) +
				" in " + scheme, true
		}
	}
	return "", false
}
