package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/gosspi/gosspi"
	"github.com/gosspi/gosspi/lsa/remote"
)

// lsaFlag adds -lsa, the socket of gosspi lsad, to a command's flags.
func lsaFlag(fs *flag.FlagSet, v *string) {
	fs.StringVar(v, "lsa", "", "use the privilege-separated gosspi lsad at this socket (unix:/path; default $"+remote.EnvVar+
		"): it holds the keytab, accounts and tickets, this process only per-message keys")
}

// lsaAddress is the -lsa flag, else GOSSPI_LSA.
func lsaAddress(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv(remote.EnvVar)
}

// serveLSA is serve with the packages in gosspi lsad: this process reads
// no keytab or account file (the daemon's policy names them), and a
// scheme is offered when the daemon grants an inbound credential for it.
func serveLSA(ctx context.Context, o *serveOptions, addr string, schemes []string, policy gosspi.BindingPolicy, tlsConfig *tls.Config, ready func(string)) error {
	if o.dc.dc != "" || o.keytab != "" || o.accounts != "" {
		return &usageError{"-lsa: the keytab, the NTLM accounts and the domain controller are gosspi lsad's (its policy names the keytab and accounts, its netlogon section the DC and the machine secret); drop -keytab, -accounts and -dc"}
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
	host, err := gosspi.NewHost(gosspi.HostConfig{LSA: addr, ChannelBindings: policy})
	if err != nil {
		return &configError{err}
	}
	defer host.Close()
	var usable []string
	for _, s := range schemes {
		c, err := host.AcquireCredential(ctx, gosspi.CredentialConfig{Package: s, Server: true, Principal: o.principal})
		if err != nil {
			if o.schemesExplicit {
				return &configError{fmt.Errorf("scheme %s has no credential in gosspi lsad: %w", s, err)}
			}
			logger.Info("gosspi serve: scheme not offered", "scheme", s, "reason", err.Error())
			continue
		}
		c.Close()
		usable = append(usable, s)
	}
	if len(usable) == 0 {
		return &configError{fmt.Errorf("gosspi lsad at %s grants no inbound credential for %v", addr, schemes)}
	}
	return listenAndServe(ctx, o, host, usable, logger, tlsConfig, ready, "lsa", addr, "persist", o.persist, "channel_bindings", policy.String())
}
