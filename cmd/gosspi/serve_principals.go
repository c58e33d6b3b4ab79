package main

import (
	"flag"
	"strings"
)

// defaultAcceptPrincipals is what serve accepts unless -accept-principals
// says otherwise: tickets for the keytab's HTTP/ principals only, so that a
// machine keytab's host/ (or other service) keys do not log anyone on to
// the web service (issue 10).
const defaultAcceptPrincipals = "HTTP/*"

func acceptPrincipalsFlag(fs *flag.FlagSet, o *serveOptions) {
	fs.StringVar(&o.acceptPrincipals, "accept-principals", defaultAcceptPrincipals,
		"Kerberos: accept tickets only for keytab principals matching these comma-separated patterns\n"+
			"(case-insensitive globs on service/host, @REALM optional); 'any' accepts every principal of the keytab")
}

// acceptorPrincipals is kerberos.Config.AcceptorPrincipals for the options:
// the patterns of -accept-principals ("" is the default, HTTP/*), none for
// "any", and none when -principal names the one principal to accept and
// -accept-principals was left at its default.
func acceptorPrincipals(o *serveOptions) []string {
	v := strings.TrimSpace(o.acceptPrincipals)
	if v == "" {
		v = defaultAcceptPrincipals
	}
	if strings.EqualFold(v, "any") || v == defaultAcceptPrincipals && o.principal != "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
