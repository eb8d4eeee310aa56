package app

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// backlogCollector exports, at scrape time (at most once per its cache
// period, one gathering at a time: concurrent scrapes wait for it and share
// its figures), how many jobs wait in Postgres
// per queue and the age of the oldest: the signal for "no consumers" and
// "queue falling behind" alerts, whatever RabbitMQ holds. Jobs a fairness
// cap holds back count apart, as held: workers cannot start them, so they
// must not raise those alerts.
type backlogCollector struct {
	store     backlogStore
	inspector *broker.Inspector
	log       *zap.Logger
	waiting   *prometheus.Desc
	held      *prometheus.Desc
	oldest    *prometheus.Desc
	depth     *prometheus.Desc
	consumers *prometheus.Desc

	// every is how long gathered figures are reused (0: every scrape).
	every time.Duration
	// mu makes one gathering at a time: a burst of scrapes costs one
	// count in Postgres, not one each.
	mu       sync.Mutex
	cached   []prometheus.Metric
	gathered time.Time
}

// backlogStore reads what waits in Postgres per queue.
type backlogStore interface {
	Backlog(ctx context.Context) ([]jobstore.QueueBacklog, error)
}

func newBacklogCollector(st backlogStore, inspector *broker.Inspector, log *zap.Logger, every time.Duration) *backlogCollector {
	return &backlogCollector{
		store: st, inspector: inspector, log: log, every: every,
		depth: prometheus.NewDesc(metrics.QueueDepth,
			"Messages in the broker queue: ready plus unacked (unacked only with the management API).", []string{"queue"}, nil),
		consumers: prometheus.NewDesc(metrics.QueueConsumers,
			"Consumers attached to the broker queue.", []string{"queue"}, nil),
		waiting: prometheus.NewDesc(metrics.QueueWaitingJobs,
			"Jobs queued for a worker (due, admitted, not yet claimed) per queue.", []string{"queue"}, nil),
		held: prometheus.NewDesc(metrics.QueueHeldJobs,
			"Jobs queued but held back by their owner's fairness cap (not yet published) per queue.", []string{"queue"}, nil),
		oldest: prometheus.NewDesc(metrics.QueueOldestWaitSeconds,
			"How long the oldest job queued for a worker has been due, per queue.", []string{"queue"}, nil),
	}
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.waiting
	ch <- c.held
	ch <- c.oldest
	ch <- c.depth
	ch <- c.consumers
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gathered.IsZero() || time.Since(c.gathered) >= c.every {
		buf := make(chan prometheus.Metric, 64)
		go func() {
			c.gather(buf)
			close(buf)
		}()
		c.cached = c.cached[:0]
		for m := range buf {
			c.cached = append(c.cached, m)
		}
		c.gathered = time.Now()
	}
	for _, m := range c.cached {
		ch <- m
	}
}

// gather reads the figures from RabbitMQ and Postgres.
func (c *backlogCollector) gather(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if c.inspector != nil {
		for _, q := range c.inspector.Queues(ctx) {
			if q.Err != nil {
				continue
			}
			depth := q.Ready
			if q.Unacked != nil {
				depth += *q.Unacked
			}
			ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(depth), q.Queue)
			ch <- prometheus.MustNewConstMetric(c.consumers, prometheus.GaugeValue, float64(q.Consumers), q.Queue)
		}
	}
	rows, err := c.store.Backlog(ctx)
	if err != nil {
		c.log.Warn("backlog metrics unavailable", zap.Error(err))
		return
	}
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(r.Waiting), r.Queue)
		ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(r.Held), r.Queue)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, r.OldestSeconds, r.Queue)
	}
}
