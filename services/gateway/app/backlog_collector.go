package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/store"
)

// backlogCollector exports, at scrape time, how many jobs wait in Postgres
// per queue and the age of the oldest: the signal for "no consumers" and
// "queue falling behind" alerts, whatever RabbitMQ holds.
type backlogCollector struct {
	store   *store.Store
	log     *zap.Logger
	waiting *prometheus.Desc
	oldest  *prometheus.Desc
}

func newBacklogCollector(st *store.Store, log *zap.Logger) *backlogCollector {
	return &backlogCollector{
		store: st, log: log,
		waiting: prometheus.NewDesc(metrics.QueueWaitingJobs,
			"Jobs queued (due, not yet claimed) per queue.", []string{"queue"}, nil),
		oldest: prometheus.NewDesc(metrics.QueueOldestWaitSeconds,
			"How long the oldest queued job of a queue has been due.", []string{"queue"}, nil),
	}
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.waiting
	ch <- c.oldest
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	rows, err := c.store.Backlog(ctx)
	if err != nil {
		c.log.Warn("backlog metrics unavailable", zap.Error(err))
		return
	}
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(r.Waiting), r.Queue)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, r.OldestSeconds, r.Queue)
	}
}
