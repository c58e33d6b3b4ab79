package lsad

import (
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpServer serves a test daemon's metrics.
type httpServer struct{ reg *prometheus.Registry }

func (h *httpServer) serve(ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", MetricsHandler(h.reg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	_ = srv.Serve(ln)
}
