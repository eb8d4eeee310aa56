package app

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hopperq/hopper/pkg/metrics"
)

// metricsInFlight bounds concurrent scrapes; more answer 503 at once.
// The expensive figures are cached anyway (backlogCollector).
const metricsInFlight = 2

// newMetricsServer serves /metrics on HOPPER_METRICS_ADDR, apart from the
// public API: a scrape reads Postgres and RabbitMQ, which no client of
// the API should be able to make the gateway do at will.
func newMetricsServer(m *metrics.Metrics) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		Registry: m.Registry, MaxRequestsInFlight: metricsInFlight,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
}
