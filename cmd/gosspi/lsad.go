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

	"github.com/gosspi/gosspi/lsa/lsad"
)

const lsadUsage = `usage: gosspi lsad -config FILE

Runs the privilege-separated package host: the daemon that holds the
keytabs, NTLM account files, service passwords and tickets, and serves the
SSPI host boundary on a Unix socket. Applications use it with
gosspi.HostConfig{LSA: "unix:/run/gosspi/lsad.sock"}, the GOSSPI_LSA
environment variable, or the -lsa flag of serve, get and ntlm-auth; they
receive only the per-message keys of their established contexts.

The config file (JSON) names the socket, an optional Prometheus listener,
and the policy: which callers (uid/gid, from SO_PEERCRED) may use which
packages, inbound or outbound, with which keytab and account file. A caller
in no section is refused. See contrib/lsad/lsad.json; with systemd, use
contrib/lsad/gosspi-lsad.socket and .service (socket activation).

SIGHUP rereads the policy (the services) for new connections.

Logs (one JSON line per call: uid, package, status; never secrets) go to
standard error.

` + exitCodesHelp

func init() {
	register(&command{name: "lsad", summary: "run the privilege-separated LSA daemon that holds every secret", usage: lsadUsage, run: runLsad})
}

func runLsad(args []string) int {
	fs := flag.NewFlagSet("lsad", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "the daemon's configuration file (JSON)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), lsadUsage+"\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if *cfgPath == "" || fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	f, err := lsad.LoadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosspi lsad:", err)
		return exitConfig
	}
	level := slog.LevelInfo
	switch strings.ToLower(f.LogLevel) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := func() (*lsad.FileConfig, error) { return lsad.LoadConfig(*cfgPath) }
	if err := lsad.Run(ctx, f, log, nil, hup, reload); err != nil {
		fmt.Fprintln(os.Stderr, "gosspi lsad:", err)
		return exitConfig
	}
	return exitOK
}
