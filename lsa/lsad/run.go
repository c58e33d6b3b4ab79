package lsad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// daemonEnv are the variables that would point the packages at files of
// the daemon's own: Run clears them, so that nothing is resolved in the
// daemon's environment (the caller's come with its requests), and points
// MIT's client keytab at a file that does not exist.
var daemonEnv = []string{"KRB5CCNAME", "KRB5_KTNAME", "KRB5_CONFIG", "NTLM_USER_FILE", "KRB5_KCM_SOCKET", "GOSSPI_NTLM_ACCOUNTS"}

// SanitizeEnvironment clears the daemon's own Kerberos and NTLM
// environment (see Run).
func SanitizeEnvironment() {
	for _, v := range daemonEnv {
		os.Unsetenv(v)
	}
	os.Setenv("KRB5_CLIENT_KTNAME", "FILE:"+noKeytab)
}

// Listen returns the daemon's listeners: the sockets systemd passed, else
// a new socket at f.Socket (a stale socket file there is replaced).
func Listen(f *FileConfig) ([]net.Listener, error) {
	lns, err := Listeners()
	if err != nil || len(lns) > 0 {
		return lns, err
	}
	if f.Socket == "" {
		return nil, errors.New("lsad: no socket: set \"socket\" in the config or start through systemd socket activation")
	}
	mode := os.FileMode(0o666)
	if f.SocketMode != "" {
		m, err := strconv.ParseUint(f.SocketMode, 8, 32)
		if err != nil || m > 0o777 {
			return nil, fmt.Errorf("lsad: config: socket_mode %q: not an octal mode", f.SocketMode)
		}
		mode = os.FileMode(m)
	}
	if err := os.MkdirAll(filepath.Dir(f.Socket), 0o755); err != nil {
		return nil, fmt.Errorf("lsad: %w", err)
	}
	if fi, err := os.Lstat(f.Socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(f.Socket)
	}
	ln, err := net.Listen("unix", f.Socket)
	if err != nil {
		return nil, fmt.Errorf("lsad: %w", err)
	}
	if err := os.Chmod(f.Socket, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("lsad: %w", err)
	}
	return []net.Listener{ln}, nil
}

// Run is `gosspi lsad`: it clears the daemon's environment, starts the
// server and the metrics listener, serves until ctx ends, then closes
// every connection. ready, when set, gets the listeners' addresses.
// reload, when set, returns a new configuration whose policy (Services)
// replaces the running one each time hup receives (SIGHUP).
func Run(ctx context.Context, f *FileConfig, log *slog.Logger, ready func(addrs []string), hup <-chan os.Signal, reload func() (*FileConfig, error)) error {
	SanitizeEnvironment()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s, err := New(Config{File: f, Logger: log, Registerer: reg})
	if err != nil {
		return err
	}
	lns, err := Listen(f)
	if err != nil {
		s.Close()
		return err
	}
	var msrv *http.Server
	if f.Metrics != "" {
		mln, err := net.Listen("tcp", f.Metrics)
		if err != nil {
			s.Close()
			return fmt.Errorf("lsad: metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", MetricsHandler(reg))
		msrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go msrv.Serve(mln)
		log.Info("lsad: metrics", "addr", mln.Addr().String())
	}
	errc := make(chan error, len(lns))
	var addrs []string
	for _, ln := range lns {
		addrs = append(addrs, ln.Addr().String())
		go func() { errc <- s.Serve(ln) }()
	}
	log.Info("lsad: listening", "sockets", addrs, "services", len(f.Services))
	if ready != nil {
		ready(addrs)
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-errc:
			break loop
		case <-hup:
			if reload == nil {
				continue
			}
			nf, rerr := reload()
			if rerr == nil {
				rerr = s.SetPolicy(nf)
			}
			if rerr != nil {
				log.Error("lsad: policy not reloaded", "err", rerr)
				continue
			}
			log.Info("lsad: policy reloaded", "services", len(nf.Services))
		}
	}
	if msrv != nil {
		msrv.Close()
	}
	s.Close()
	log.Info("lsad: stopped")
	return err
}
