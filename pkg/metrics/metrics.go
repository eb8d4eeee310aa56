// Package metrics defines Hopper's Prometheus metrics. Each process builds
// one Metrics on its own registry (no global default registry), hands it to
// the parts it instruments, and serves it at /metrics.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Buckets for job run time and queue wait: from 5 ms (a noop) to 30 min
// (a long ingestion).
var jobBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800}

// Names of the per-queue series the gateway exports at scrape time (from
// Postgres); the collector lives with the gateway, the names here so
// dashboards and alerts can be checked against one list.
const (
	QueueWaitingJobs       = "hopper_queue_waiting_jobs"
	QueueOldestWaitSeconds = "hopper_queue_oldest_waiting_seconds"
	// Jobs their owners' fairness caps hold back (not yet published).
	QueueHeldJobs = "hopper_queue_held_jobs"
	// From the broker: messages ready + unacked (unacked only with the
	// management API), and consumers attached.
	QueueDepth     = "hopper_queue_depth"
	QueueConsumers = "hopper_queue_consumers"
)

// Metrics holds every collector a Hopper process may update. Fields a
// process does not use simply stay at zero.
type Metrics struct {
	Registry *prometheus.Registry
	// registerer adds the service label to everything registered through it.
	registerer prometheus.Registerer

	JobsSubmitted  *prometheus.CounterVec   // kind
	JobsFinished   *prometheus.CounterVec   // kind, state (succeeded, failed, cancelled, retrying, released)
	JobRunSeconds  *prometheus.HistogramVec // kind
	JobQueueWait   *prometheus.HistogramVec // kind, priority
	JobRetries     *prometheus.CounterVec   // kind
	ScheduleJobs   *prometheus.CounterVec   // schedule
	InFlight       prometheus.Gauge
	PublishSeconds *prometheus.HistogramVec // outcome (ok, error)
	Reconnects     *prometheus.CounterVec   // component (publisher, consumer, control)
	Republished    *prometheus.CounterVec   // queue
	HTTPRequests   *prometheus.CounterVec   // method, route, code
	HTTPSeconds    *prometheus.HistogramVec // method, route
}

// New builds the metrics of service on a fresh registry, with the Go
// runtime and process collectors.
func New(service string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{Registry: reg, registerer: prometheus.WrapRegistererWith(prometheus.Labels{"service": service}, reg)}
	f := func(c prometheus.Collector) prometheus.Collector {
		m.registerer.MustRegister(c)
		return c
	}
	m.JobsSubmitted = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopper_jobs_submitted_total", Help: "Jobs accepted by the gateway (idempotent replays not counted).",
	}, []string{"kind"})).(*prometheus.CounterVec)
	m.JobsFinished = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopper_jobs_finished_total", Help: "Attempts ended by a worker, by the state they left the job in.",
	}, []string{"kind", "state"})).(*prometheus.CounterVec)
	m.JobRunSeconds = f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hopper_job_run_seconds", Help: "Handler run time of one attempt.", Buckets: jobBuckets,
	}, []string{"kind"})).(*prometheus.HistogramVec)
	m.JobQueueWait = f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hopper_job_queue_wait_seconds", Help: "Time from due (run_at) to claim by a worker.", Buckets: jobBuckets,
	}, []string{"kind", "priority"})).(*prometheus.HistogramVec)
	m.JobRetries = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopper_job_retries_total", Help: "Attempts that failed and were scheduled for a retry.",
	}, []string{"kind"})).(*prometheus.CounterVec)
	m.ScheduleJobs = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopper_schedule_jobs_total", Help: "Jobs created by cron schedules at their ticks (manual triggers not counted).",
	}, []string{"schedule"})).(*prometheus.CounterVec)
	m.InFlight = f(prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hopper_worker_in_flight", Help: "Jobs this worker instance is running now.",
	})).(prometheus.Gauge)
	m.PublishSeconds = f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hopper_publish_confirm_seconds", Help: "Publish to broker confirm latency.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
	}, []string{"outcome"})).(*prometheus.HistogramVec)
	m.Reconnects = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopper_amqp_reconnects_total", Help: "Broker connections re-established after a loss.",
	}, []string{"component"})).(*prometheus.CounterVec)
	m.Republished = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopper_jobs_republished_total", Help: "Jobs published again by the dispatcher leader because they stayed unclaimed HOPPER_REPUBLISH_AFTER after a confirmed publish (lost messages, or a backlog older than that).",
	}, []string{"queue"})).(*prometheus.CounterVec)
	m.HTTPRequests = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopper_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"method", "route", "code"})).(*prometheus.CounterVec)
	m.HTTPSeconds = f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hopper_http_request_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"method", "route"})).(*prometheus.HistogramVec)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds a process-specific collector, labelled with the service.
func (m *Metrics) Register(c prometheus.Collector) error {
	return m.registerer.Register(c)
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObservePublish records one publish's confirm latency and outcome.
func (m *Metrics) ObservePublish(started time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.PublishSeconds.WithLabelValues(outcome).Observe(time.Since(started).Seconds())
}

// PriorityLabel renders a priority for the priority label.
func PriorityLabel(p int) string { return strconv.Itoa(p) }
