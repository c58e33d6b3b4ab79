package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/httpauth"
	"github.com/gosspi/gosspi/internal/preflight"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/sspi"
)

const serveUsage = `usage: gosspi serve [flags]

Serves HTTP (or HTTPS) protected by Negotiate (Kerberos, with NTLM inside
SPNEGO) and NTLM, as RFC 4559 and IIS do. Every path needs authentication:

  /          who you are, as HTML
  /whoami    who you are, as JSON (user, domain, principal, package, SID, groups)

Kerberos needs a keytab with the service's key (HTTP/<host>): -keytab, else
$KRB5_KTNAME, else /etc/krb5.keytab. NTLM needs an account file of NT
hashes made with 'gosspi accounts': -accounts, else $GOSSPI_NTLM_ACCOUNTS,
else ` + defaultAccountFile + ` (or gss-ntlmssp's $NTLM_USER_FILE). -demo adds
the embedded demo account ` + demoDomain + `\` + demoUser + ` (password ` + demoPassword + `), in memory.

serve checks its inputs at start: a keytab or account file that is named
(by a flag or the environment) but missing, unreadable or not what it should
be, a -principal that is not in the keytab (or a keytab with no principal
matching -accept-principals), a TLS file that is missing or does not match
its pair, or a scheme of -schemes that has no credential stops it with a
message that names the file and says what to fix. Without -schemes, a
scheme that has no credential is left out, and the log says why.

NTLM service binding (MS-NLMP 3.2.5.1.2): an NTLM client that names the
service it means (MsvAvTargetName, as Windows does) must name this one, or
its logon is refused. The names are -spn (repeatable), by default HTTP/ and
the -addr host, the host name and its DNS name; -spn any turns the check
off. Clients that name no service (curl) pass.

Try it:
  gosspi accounts -file ./accounts add 'EXAMPLE\alice'     # asks for a password
  gosspi serve -accounts ./accounts &
  curl --ntlm -u 'EXAMPLE\alice:PASSWORD' http://127.0.0.1:8080/whoami
  kinit alice@REALM && curl --negotiate -u : http://HOST:8080/whoami

` + dcUsage + `

` + replayCacheUsage + `
Logs go to standard error.

` + exitCodesHelp

type serveOptions struct {
	acceptPrincipals string // -accept-principals (serve_principals.go)

	addr, accounts, keytab, principal, schemes string
	schemesExplicit                            bool // -schemes was given: each scheme must have a credential
	certFile, keyFile, bindings                string
	persist, demo, verbose                     bool
	maxHandshakes, maxHeader                   int
	timeouts                                   serveTimeouts
	replay                                     serveReplay // -replay-cache (serve_replay.go)
	dc                                         dcOptions   // -dc: NETLOGON pass-through (dc.go)
	spns                                       []string    // -spn: NTLM service binding
	lsa                                        string      // -lsa: gosspi lsad's socket (serve_lsa.go)
	logOut                                     io.Writer   // default os.Stderr
}

// serveTimeouts bound what a client can make the server wait for: a
// connection that sends nothing, or sends its request slowly, is closed.
type serveTimeouts struct {
	readHeader, read, write, idle, handshake time.Duration
}

// Defaults of serveTimeouts.
var defaultServeTimeouts = serveTimeouts{
	readHeader: 10 * time.Second,
	read:       30 * time.Second,
	write:      time.Minute,
	idle:       2 * time.Minute,
	handshake:  httpauth.DefaultHandshakeTimeout,
}

func init() {
	register(&command{
		name:    "serve",
		summary: "serve HTTP protected by Negotiate and NTLM; / and /whoami show who you are",
		usage:   serveUsage,
		run:     runServe,
	})
}

func serveFlags(o *serveOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	acceptPrincipalsFlag(fs, o)
	replayCacheFlags(fs, o)
	lsaFlag(fs, &o.lsa)
	dcFlags(fs, &o.dc)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&o.accounts, "accounts", "", "NTLM account file (see 'gosspi accounts')")
	fs.StringVar(&o.keytab, "keytab", "", "Kerberos keytab (default $KRB5_KTNAME, /etc/krb5.keytab)")
	fs.StringVar(&o.principal, "principal", "", "accept only this service principal, e.g. HTTP/web.example.com")
	fs.StringVar(&o.schemes, "schemes", "Negotiate,NTLM", "schemes to offer, in order (when given, each must have a credential)")
	fs.StringVar(&o.certFile, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	fs.StringVar(&o.keyFile, "tls-key", "", "the certificate's private key (PEM)")
	fs.StringVar(&o.bindings, "channel-bindings", "when-supported", "Extended Protection over HTTPS: off, when-supported or required")
	fs.BoolVar(&o.persist, "persist", true, "keep a connection authenticated after its first handshake")
	fs.BoolVar(&o.demo, "demo", false, "add the embedded demo account "+demoDomain+`\`+demoUser)
	fs.BoolVar(&o.verbose, "v", false, "log every handshake leg")
	fs.IntVar(&o.maxHandshakes, "max-handshakes", httpauth.DefaultMaxHandshakes, "handshakes in progress at most")
	fs.IntVar(&o.maxHeader, "max-header", httpauth.DefaultMaxHeaderBytes, "largest Authorization header in bytes")
	fs.Func("spn", "a name of the service for NTLM service binding, e.g. HTTP/web.example.com (repeat for each; "+
		"'any' turns the check off; default: HTTP/ and the -addr host, the host name and its DNS name)", func(v string) error {
		o.spns = append(o.spns, v)
		return nil
	})
	d := defaultServeTimeouts
	fs.DurationVar(&o.timeouts.readHeader, "read-header-timeout", d.readHeader, "time a client has to send a request's headers")
	fs.DurationVar(&o.timeouts.read, "read-timeout", d.read, "time a client has to send a whole request, body included")
	fs.DurationVar(&o.timeouts.write, "write-timeout", d.write, "time a response may take to write")
	fs.DurationVar(&o.timeouts.idle, "idle-timeout", d.idle, "time a kept-alive connection may stay idle")
	fs.DurationVar(&o.timeouts.handshake, "handshake-timeout", d.handshake, "time a client has to finish a handshake it started (NTLM's legs)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), serveUsage+"\n\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

func runServe(args []string) int {
	var o serveOptions
	fs := serveFlags(&o)
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs.Visit(func(f *flag.Flag) { o.schemesExplicit = o.schemesExplicit || f.Name == "schemes" })
	if err := serve(ctx, &o, nil); err != nil {
		fmt.Fprintln(os.Stderr, "gosspi serve:", err)
		return exitCodeOf(err)
	}
	return exitOK
}

// chainStore looks accounts up in each store in turn.
type chainStore []ntlm.AccountStore

func (c chainStore) LookupAccount(ctx context.Context, domain, user string) (*ntlm.Account, error) {
	var err error
	for _, s := range c {
		var a *ntlm.Account
		if a, err = s.LookupAccount(ctx, domain, user); err == nil {
			return a, nil
		}
		if !errors.Is(err, ntlm.ErrNoAccount) {
			return nil, err
		}
	}
	return nil, err
}

// serve runs the server until ctx ends. ready, when set, gets the URL once
// the server listens. It checks its inputs first: a flag value that cannot
// work is a usageError, a file or credential that is missing or wrong a
// configError, each naming the file or principal and saying what to do.
func serve(ctx context.Context, o *serveOptions, ready func(url string)) error {
	policy, err := sspi.ParseBindingPolicy(o.bindings)
	if err != nil {
		return &usageError{"-channel-bindings: " + err.Error()}
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return &usageError{"HTTPS needs both -tls-cert and -tls-key"}
	}
	if policy == gosspi.BindingsRequired && o.certFile == "" {
		return &usageError{"-channel-bindings required needs HTTPS (-tls-cert and -tls-key)"}
	}
	schemes, err := parseSchemes(o.schemes)
	if err != nil {
		return err
	}
	var tlsConfig *tls.Config
	if o.certFile != "" {
		cert, err := preflight.TLSKeyPair(o.certFile, "-tls-cert", o.keyFile, "-tls-key")
		if err != nil {
			return &configError{err}
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if addr := lsaAddress(o.lsa); addr != "" {
		return serveLSA(ctx, o, addr, schemes, policy, tlsConfig, ready) // serve_lsa.go
	}
	krb, err := resolveKerberos(o, schemes)
	if err != nil {
		return err
	}
	nt, err := serveAccounts(o)
	if err != nil {
		return err
	}
	dc, err := o.dc.client()
	if err != nil {
		return err
	}
	if dc != nil {
		defer dc.Close()
		nt.verifier = dc
		d, _, dns, _ := dc.TargetNames()
		dcDesc := "domain users of " + d + " (" + dns + ") through the domain controller " + o.dc.dc
		if nt.store == nil {
			nt.desc = dcDesc
		} else {
			nt.desc += " + " + dcDesc
		}
	}
	replay, closeReplay, err := openReplayCache(o)
	if err != nil {
		return err
	}
	defer closeReplay()
	schemes, dropped, err := usableSchemes(schemes, o.schemesExplicit, krb, nt)
	if err != nil {
		return err
	}

	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	logOut := o.logOut
	if logOut == nil {
		logOut = os.Stderr
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	for _, s := range []string{httpauth.SchemeNegotiate, httpauth.SchemeNTLM, httpauth.SchemeKerberos} {
		if why, ok := dropped[s]; ok {
			logger.Info("gosspi serve: scheme not offered", "scheme", s, "reason", why)
		}
	}

	cfg := gosspi.HostConfig{}
	cfg.Kerberos.ReplayCache, cfg.Kerberos.Logger = replay, logger
	if krb.keytab != nil {
		checkReplayCache(ctx, replay, o, logger)
	}
	cfg.NTLM.Accounts = nt.store
	if dc != nil {
		cfg.NTLM.Verifier = dc
		checkDC(ctx, dc, logger)
	}
	// The acceptor patterns stay set when Kerberos is off, so that the
	// package refuses a default keytab that serve found unusable.
	cfg.Kerberos.AcceptorPrincipals = acceptorPrincipals(o)
	if krb.keytab != nil {
		cfg.Kerberos.Keytab = krb.keytab.Path
	}
	cfg.ChannelBindings = policy
	listenHost, _, _ := net.SplitHostPort(o.addr)
	spns := serviceNames(ctx, o.spns, listenHost)
	httpauth.ApplyServiceBinding(&cfg, spns)
	host, err := gosspi.NewHost(cfg)
	if err != nil {
		return &configError{err}
	}
	defer host.Close()
	return listenAndServe(ctx, o, host, schemes, logger, tlsConfig, ready,
		"keytab", krb.logValue(), "ntlm_accounts", nt.logValue(),
		"persist", o.persist, "channel_bindings", policy.String(), "ntlm_service_names", spnList(spns))
}

// listenAndServe serves HTTP with the host's authentication until ctx
// ends; logAttrs describe the setup in the "listening" line.
func listenAndServe(ctx context.Context, o *serveOptions, host *gosspi.Host, schemes []string, logger *slog.Logger, tlsConfig *tls.Config, ready func(string), logAttrs ...any) error {
	to := o.timeouts.withDefaults()
	auth, err := httpauth.New(httpauth.Config{
		Host: host, Schemes: schemes, Principal: o.principal, Persist: o.persist,
		MaxHandshakes: o.maxHandshakes, MaxHeaderBytes: o.maxHeader, Logger: logger,
		HandshakeTimeout: to.handshake,
	})
	if err != nil {
		return &configError{err}
	}
	defer auth.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/whoami", whoamiJSON)
	mux.HandleFunc("/", whoamiHTML)
	srv := &http.Server{
		Handler:           auth.Middleware(mux),
		ReadHeaderTimeout: to.readHeader,
		ReadTimeout:       to.read,
		WriteTimeout:      to.write,
		IdleTimeout:       to.idle,
		MaxHeaderBytes:    o.maxHeader + 16<<10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	auth.Install(srv)
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	url := scheme + "://" + ln.Addr().String()
	logger.Info("gosspi serve: listening", append([]any{"url", url, "schemes", strings.Join(schemes, ",")}, logAttrs...)...)
	if ready != nil {
		ready(url)
	}
	errc := make(chan error, 1)
	go func() {
		if scheme == "https" {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	logger.Info("gosspi serve: shutting down")
	return srv.Shutdown(shutdown)
}

// serviceNames returns the NTLM service binding of the -spn flags: the
// names given, none for "any", or when none is given the names derived
// from the listen host and the machine's names (httpauth.ServiceNames).
func serviceNames(ctx context.Context, flags []string, listenHost string) []string {
	var spns []string
	for _, f := range flags {
		for _, v := range strings.Split(f, ",") {
			if v = strings.TrimSpace(v); strings.EqualFold(v, "any") {
				return nil
			} else if v != "" {
				spns = append(spns, v)
			}
		}
	}
	if len(spns) > 0 {
		return spns
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return httpauth.ServiceNames(ctx, listenHost)
}

func spnList(spns []string) string {
	if len(spns) == 0 {
		return "any"
	}
	return strings.Join(spns, ",")
}

// withDefaults fills the zero timeouts with the defaults, so that serve
// never runs without a bound by accident. A negative value turns the
// http.Server timeout off (and means the default for the handshake).
func (t serveTimeouts) withDefaults() serveTimeouts {
	d := defaultServeTimeouts
	for _, f := range []struct{ v, def *time.Duration }{
		{&t.readHeader, &d.readHeader}, {&t.read, &d.read}, {&t.write, &d.write}, {&t.idle, &d.idle}, {&t.handshake, &d.handshake},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		} else if *f.v < 0 {
			*f.v = 0
		}
	}
	return t
}

// whoamiView is what / and /whoami show.
type whoamiView struct {
	User      string   `json:"user"`
	Domain    string   `json:"domain"`
	Principal string   `json:"principal"`
	Package   string   `json:"package"`
	SID       string   `json:"sid,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	Delegated bool     `json:"delegated,omitempty"`
	Anonymous bool     `json:"anonymous,omitempty"`
	Remote    string   `json:"remote"`
	TLS       bool     `json:"tls"`
}

func viewOf(r *http.Request) (whoamiView, bool) {
	id, ok := httpauth.IdentityFromContext(r.Context())
	if !ok {
		return whoamiView{}, false
	}
	return whoamiView{User: id.User, Domain: id.Domain, Principal: id.Principal, Package: id.Package, SID: id.SID,
		Groups: id.Groups, Delegated: id.Delegated, Anonymous: id.Anonymous, Remote: r.RemoteAddr, TLS: r.TLS != nil}, true
}

func whoamiJSON(w http.ResponseWriter, r *http.Request) {
	v, ok := viewOf(r)
	if !ok {
		http.Error(w, "not authenticated", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

var whoamiPage = template.Must(template.New("whoami").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>gosspi: who you are</title>
<style>body{font-family:sans-serif;margin:2em}th{text-align:left;padding-right:1em}</style></head>
<body><h1>Hello, {{.Principal}}</h1>
<p>You authenticated with <b>{{.Package}}</b>{{if .TLS}} over HTTPS{{end}}.</p>
<table>
<tr><th>User</th><td>{{.User}}</td></tr>
<tr><th>Domain</th><td>{{.Domain}}</td></tr>
<tr><th>Package</th><td>{{.Package}}</td></tr>
{{if .SID}}<tr><th>SID</th><td>{{.SID}}</td></tr>{{end}}
{{range .Groups}}<tr><th>Group</th><td>{{.}}</td></tr>{{end}}
<tr><th>Delegated credentials</th><td>{{.Delegated}}</td></tr>
<tr><th>From</th><td>{{.Remote}}</td></tr>
</table>
<p><a href="/whoami">/whoami</a> has the same as JSON.</p>
</body></html>
`))

func whoamiHTML(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	v, ok := viewOf(r)
	if !ok {
		http.Error(w, "not authenticated", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	whoamiPage.Execute(w, v)
}
