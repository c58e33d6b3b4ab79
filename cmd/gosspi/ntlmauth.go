package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/httpauth"
	"github.com/gosspi/gosspi/ntlm"
	"github.com/gosspi/gosspi/ntlmauth"
)

const ntlmAuthUsage = `usage: gosspi ntlm-auth --helper-protocol=PROTOCOL [flags]
       gosspi ntlm-auth --request-nt-key --username=U [--domain=D] --challenge=HEX --nt-response=HEX -dc ... -machine ...

A drop-in for Samba's 'ntlm_auth --helper-protocol=...': it reads requests
from standard input, one a line, and answers each on standard output, so
that Squid, FreeRADIUS and the like can authenticate through gosspi.

Server protocols (they check what clients send):
  squid-2.5-ntlmssp   NTLM (Squid's auth_param ntlm):
                        YR [NEGOTIATE] -> TT <CHALLENGE>
                        KK <AUTHENTICATE> -> AF DOMAIN\user | NA NT_STATUS_...
  gss-spnego          Negotiate (Squid's auth_param negotiate), Kerberos from
                      the keytab and NTLM from the account file:
                        YR|KK <token> -> TT <token> * | AF <token|*> <user> | NA * NT_STATUS_...

Client protocols (they authenticate as --username):
  ntlmssp-client-1    NTLM:      YR -> YR <NEGOTIATE>; TT <CHALLENGE> -> AF <AUTHENTICATE>
  gss-spnego-client   Negotiate: YR -> YR <token>; TT <token> -> KK <token> | AF [<token>]
                      (target: --target-service and --target-hostname)
  Without --password the client answers YR with PW; send "PW <base64>".

  ntlm-server-1       a challenge and its responses, checked at the domain
                      controller (-dc): "Username: u", "NT-Domain: d",
                      "LANMAN-Challenge: hex", "NT-Response: hex", "." ->
                      "Authenticated: Yes|No" ... "."

With --challenge and --nt-response (and no --helper-protocol), one MS-CHAP
or NTLM response is checked at the domain controller, as FreeRADIUS's mschap
module runs Samba's ntlm_auth: success prints "NT_KEY: <hex>" with
--request-nt-key and exits 0; a refusal prints "NT_STATUS_... (0x...)" and
exits 1. --allow-mschapv2 is accepted (a 24-byte response is always checked
as MS-CHAP, which a DC that refuses NTLMv1 still takes).

All protocols: GK -> GK <session key>, GF -> GF 0x<NTLM flags>, SF <flags> -> OK,
a malformed request -> BH <reason>.

The server's accounts are -accounts, else $GOSSPI_NTLM_ACCOUNTS, else
` + defaultAccountFile + ` (see 'gosspi accounts'); its keytab is -keytab, else
$KRB5_KTNAME, else /etc/krb5.keytab. Logs go to standard error.

` + dcUsage + `

` + exitCodesHelp

func init() {
	register(&command{
		name:    "ntlm-auth",
		summary: "Samba ntlm_auth-compatible helper (squid-2.5-ntlmssp, gss-spnego and clients)",
		usage:   ntlmAuthUsage,
		run:     runNTLMAuth,
	})
}

func runNTLMAuth(args []string) int {
	fs := flag.NewFlagSet("ntlm-auth", flag.ContinueOnError)
	proto := fs.String("helper-protocol", "", "the helper protocol")
	user := fs.String("username", "", "client: the user name")
	domain := fs.String("domain", "", "client: the domain")
	password := fs.String("password", "", "client: the password (else a PW request)")
	workstation := fs.String("workstation", "", "client: the workstation name")
	var lsaSock string
	lsaFlag(fs, &lsaSock)
	service := fs.String("target-service", "host", "gss-spnego-client: the target service")
	hostname := fs.String("target-hostname", "", "gss-spnego-client: the target host")
	accounts := fs.String("accounts", "", "server: the NTLM account file")
	keytab := fs.String("keytab", "", "server: the Kerberos keytab")
	principal := fs.String("principal", "", "server: accept only this service principal")
	demo := fs.Bool("demo", false, "server: add the embedded demo account "+demoDomain+`\`+demoUser)
	var spnFlags []string
	fs.Func("spn", "server: a name of the service for NTLM service binding, e.g. HTTP/proxy.example.com (repeat for each; "+
		"'any' turns the check off; default: HTTP/ and the host name and its DNS name)", func(v string) error {
		spnFlags = append(spnFlags, v)
		return nil
	})
	debug := fs.Int("d", 0, "debug level (1 or more logs every request)")
	fs.Int("debuglevel", 0, "as -d")
	fs.String("configfile", "", "accepted for compatibility with Samba; ignored")
	var dco dcOptions
	dcFlags(fs, &dco)
	var crap crapOptions
	crapFlags(fs, &crap)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), ntlmAuthUsage+"\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if *proto == "" && crap.wanted() && fs.NArg() == 0 {
		crap.user, crap.domain, crap.workstation = *user, *domain, *workstation
		return runCrap(&crap, &dco)
	}
	if *proto == "" || fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	known := false
	for _, p := range ntlmauth.Protocols {
		known = known || string(p) == *proto
	}
	if !known {
		fmt.Fprintf(os.Stderr, "gosspi ntlm-auth: unknown helper protocol %q (supported: %v)\n", *proto, ntlmauth.Protocols)
		return exitUsage
	}
	level := slog.LevelWarn
	if *debug > 0 {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cfg := gosspi.HostConfig{LSA: lsaAddress(lsaSock)}
	p := ntlmauth.Protocol(*proto)
	server := p == ntlmauth.Squid25NTLMSSP || p == ntlmauth.GSSSPNEGO
	dc, err := dco.client()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosspi ntlm-auth:", err)
		return exitCodeOf(err)
	}
	if dc != nil {
		defer dc.Close()
		if !server && p != ntlmauth.NTLMServer1 {
			fmt.Fprintln(os.Stderr, "gosspi ntlm-auth: -dc is for the server protocols")
			return exitUsage
		}
		cfg.NTLM.Verifier = dc
	}
	if p == ntlmauth.NTLMServer1 && dc == nil {
		fmt.Fprintln(os.Stderr, "gosspi ntlm-auth: ntlm-server-1 checks responses at a domain controller: give -dc and -machine")
		return exitUsage
	}
	if dc != nil && cfg.LSA != "" {
		fmt.Fprintln(os.Stderr, "gosspi ntlm-auth: -dc and -lsa: with gosspi lsad the daemon checks the logons (its config's netlogon section names the DC and the machine secret)")
		return exitUsage
	}
	if server && cfg.LSA == "" {
		nt, err := serveAccounts(&serveOptions{accounts: *accounts, demo: *demo})
		if err != nil {
			fmt.Fprintln(os.Stderr, "gosspi ntlm-auth:", err)
			return exitConfig
		}
		cfg.NTLM.Accounts = nt.store
		if dc != nil {
			checkDC(context.Background(), dc, logger)
		}
		cfg.Kerberos.Keytab = *keytab
		spns := serviceNames(context.Background(), spnFlags, "")
		httpauth.ApplyServiceBinding(&cfg, spns)
		logger.Debug("gosspi ntlm-auth: NTLM service binding", "ntlm_service_names", spnList(spns))
	}
	if *workstation != "" {
		cfg.NTLM.Workstation = *workstation
	}
	host, err := gosspi.NewHost(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosspi ntlm-auth:", err)
		return exitConfig
	}
	defer host.Close()
	hc := ntlmauth.Config{Protocol: p, Host: host, Principal: *principal, Logger: logger}
	if dc != nil {
		hc.Verifier = dc
	}
	if !server {
		if *user != "" {
			u, d := *user, *domain
			if d == "" {
				u, d = ntlm.SplitUserName(u)
			}
			hc.Identity = &gosspi.Identity{User: u, Domain: d, Password: *password}
		}
		if *hostname != "" {
			svc := *service
			if strings.EqualFold(svc, "http") {
				svc = "HTTP"
			}
			hc.Target = svc + "/" + *hostname
		}
	}
	h, err := ntlmauth.New(hc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosspi ntlm-auth:", err)
		return exitConfig
	}
	defer h.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := h.Serve(ctx, os.Stdin, os.Stdout); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "gosspi ntlm-auth:", err)
		return exitFailure
	}
	return exitOK
}
