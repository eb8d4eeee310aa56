package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// backlogCollector exports, at scrape time, how many jobs wait in Postgres
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
}

// backlogStore reads what waits in Postgres per queue.
type backlogStore interface {
	Backlog(ctx context.Context) ([]jobstore.QueueBacklog, error)
}

func newBacklogCollector(st backlogStore, inspector *broker.Inspector, log *zap.Logger) *backlogCollector {
	return &backlogCollector{
		store: st, inspector: inspector, log: log,
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
