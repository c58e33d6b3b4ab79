package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gosspi/gosspi/kerberos"
	"github.com/gosspi/gosspi/sspi"
	"github.com/gosspi/gosspi/sspi/secpkg"
)

const kinitUsage = `usage: gosspi kinit [-c CCACHE] [-k [-t KEYTAB]] [-S SPN]... [PRINCIPAL]

Logs on to the KDC as PRINCIPAL (user, user@REALM) like MIT's kinit and
stores the TGT in a credential cache, where MIT's klist and GSSAPI programs
(and gosspi get) find it. The password is read from the terminal without
echo, or from the first line of standard input; it is not kept. With -k the
keys come from a keytab instead, and PRINCIPAL defaults to the keytab's
first.

The cache is -c (FILE:/path, DIR:/dir, DIR::/dir/tktNAME,
KEYRING:persistent:UID and the other keyring anchors, KCM: or KCM:NAME);
without -c, the default cache ($KRB5CCNAME, else krb5.conf's
default_ccache_name, else FILE:/tmp/krb5cc_UID) as kinit picks it: in a
collection (DIR:, KEYRING:, KCM:), the cache that already holds PRINCIPAL,
else a new one when the default holds another principal, and that cache
becomes the primary. The name of the cache written is printed on standard
output. krb5.conf is $KRB5_CONFIG or /etc/krb5.conf; the KCM daemon's socket
is its kcm_socket.

` + exitCodesHelp

type kinitOptions struct {
	ccache, keytab string
	useKeytab      bool
	spns           headerList
	timeout        time.Duration
}

func init() {
	register(&command{
		name:    "kinit",
		summary: "log on with a password or keytab and store the TGT in a credential cache, like kinit",
		usage:   kinitUsage,
		run:     runKinit,
	})
}

func runKinit(args []string) int {
	var o kinitOptions
	fs := flag.NewFlagSet("kinit", flag.ContinueOnError)
	fs.StringVar(&o.ccache, "c", "", "the credential cache to write (default: the default cache, kinit's way)")
	fs.BoolVar(&o.useKeytab, "k", false, "take the keys from a keytab, not a password")
	fs.StringVar(&o.keytab, "t", "", "the keytab for -k (default $KRB5_KTNAME, else /etc/krb5.keytab)")
	fs.Var(&o.spns, "S", "also get a service ticket for this SPN and store it (repeatable)")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), kinitUsage+"\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 1 || o.keytab != "" && !o.useKeytab {
		fs.Usage()
		return exitUsage
	}
	code, err := kinit(context.Background(), &o, fs.Arg(0), os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosspi kinit:", err)
	}
	return code
}

// kinit logs on and stores the credential; it returns the exit code.
func kinit(ctx context.Context, o *kinitOptions, principal string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req := &secpkg.CredentialRequest{Use: sspi.SECPKG_CRED_OUTBOUND, AuthData: &sspi.AuthIdentity{User: principal}}
	if o.useKeytab {
		kt := o.keytab
		if kt == "" {
			kt = os.Getenv("KRB5_KTNAME")
		}
		if kt == "" {
			kt = "/etc/krb5.keytab"
		}
		if _, err := os.Stat(strings.TrimPrefix(kt, "FILE:")); err != nil {
			return exitConfig, fmt.Errorf("keytab: %w", err)
		}
		if principal == "" {
			ps, err := kerberos.KeytabPrincipals(kt)
			if err != nil || len(ps) == 0 {
				return exitConfig, fmt.Errorf("keytab %s: no principal to log on as (%v)", kt, err)
			}
			req.AuthData.User = ps[0]
		}
		req.AuthData.Options = map[string]string{"client_keytab": kt}
	} else {
		if principal == "" {
			return exitUsage, errors.New("a PRINCIPAL is needed to log on with a password")
		}
		pw, err := readPassword(stdin, stderr, "Password for "+principal+": ")
		if err != nil {
			return exitUsage, err
		}
		if pw == "" {
			return exitUsage, errors.New("empty password")
		}
		req.AuthData.Password = pw
	}
	p := kerberos.New(kerberos.Config{})
	cred, _, err := p.AcquireCredentialsHandle(ctx, req)
	req.AuthData.Password = ""
	if err != nil {
		return authOrFailure(err), err
	}
	defer cred.Free()
	for _, spn := range o.spns {
		if _, _, err := p.InitLsaModeContext(ctx, cred, nil, &secpkg.InitContextParams{TargetName: spn}); err != nil {
			return authOrFailure(err), fmt.Errorf("service ticket for %s: %w", spn, err)
		}
	}
	name, err := p.StoreCCache(ctx, cred, o.ccache)
	if err != nil {
		return exitFailure, err
	}
	fmt.Fprintln(stdout, name)
	return exitOK, nil
}

// authOrFailure is exitAuth for the KDC's refusals (a wrong password, an
// unknown principal, a disabled account: SEC_E_LOGON_DENIED,
// SEC_E_NO_CREDENTIALS), exitConfig for a krb5.conf that names no KDC or
// cannot be read, exitFailure otherwise.
func authOrFailure(err error) int {
	switch sspi.StatusOf(err) {
	case sspi.SEC_E_LOGON_DENIED, sspi.SEC_E_NO_CREDENTIALS, sspi.SEC_E_TARGET_UNKNOWN:
		return exitAuth
	case sspi.SEC_E_NO_AUTHENTICATING_AUTHORITY:
		return exitConfig
	}
	return exitFailure
}
