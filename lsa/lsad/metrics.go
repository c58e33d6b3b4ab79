package lsad

import (
	"net/http"
	"time"

	"github.com/gosspi/gosspi/internal/lsarpc"
	"github.com/gosspi/gosspi/sspi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the daemon's Prometheus collectors.
type metrics struct {
	calls     *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	conns     prometheus.Gauge
	refused   prometheus.Counter
	malformed prometheus.Counter
	quota     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gosspi_lsad", Name: "calls_total", Help: "SSPI calls served, by call and status.",
		}, []string{"call", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gosspi_lsad", Name: "call_duration_seconds", Help: "Time to serve one SSPI call in the daemon.",
			Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2, 0.25, 1},
		}, []string{"call"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "gosspi_lsad", Name: "connections", Help: "Client connections open.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gosspi_lsad", Name: "refused_callers_total", Help: "Connections refused by the policy.",
		}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gosspi_lsad", Name: "malformed_requests_total", Help: "Connections closed for a malformed request.",
		}),
		quota: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gosspi_lsad", Name: "quota_refusals_total", Help: "Calls refused by a per-caller quota.",
		}),
	}
	if reg != nil {
		ctxs := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "gosspi_lsad", Name: "contexts", Help: "Contexts held by the package host (half-built and unmapped).",
		}, func() float64 { return float64(s.host.Stats().Contexts) })
		creds := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "gosspi_lsad", Name: "credentials", Help: "Credentials held by the package host.",
		}, func() float64 { return float64(s.host.Stats().Credentials) })
		reg.MustRegister(m.calls, m.latency, m.conns, m.refused, m.malformed, m.quota, ctxs, creds)
	}
	return m
}

func (m *metrics) observe(op lsarpc.Op, st sspi.Status, d time.Duration) {
	m.calls.WithLabelValues(op.String(), st.String()).Inc()
	m.latency.WithLabelValues(op.String()).Observe(d.Seconds())
}

// MetricsHandler serves the metrics of reg in the Prometheus text format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
