package dispatch

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// republisher publishes again the jobs whose message RabbitMQ confirmed
// but no worker ever claimed within after: the message may be gone (a
// purged or deleted queue, a classic queue's node lost with its disk).
// The outbox covers only jobs never marked published, so without this
// step such a job would stay queued forever. A job that was merely
// waiting behind a backlog gets a duplicate, which its claim drops
// (claims are conditional); marking it published again restarts its
// clock, so a job is republished at most once per after.
type republisher struct {
	store   republishStore
	pub     *JobPublisher
	after   time.Duration
	batch   int
	metrics *metrics.Metrics
	log     *zap.Logger
}

// republishStore finds the published, unclaimed jobs and marks them again.
type republishStore interface {
	Unclaimed(ctx context.Context, publishedBefore time.Time, limit int) ([]jobstore.Job, error)
	MarkPublished(ctx context.Context, ids ...uuid.UUID) error
}

func newRepublisher(d *Dispatcher) *republisher {
	r := &republisher{store: d.opts.Store, after: d.opts.RepublishAfter, batch: d.opts.Batch,
		metrics: d.opts.Metrics, log: d.log}
	r.pub = &JobPublisher{Broker: d.opts.Publisher, Metrics: d.opts.Metrics, Logger: d.log}
	return r
}

// pass republishes one batch of jobs unclaimed for longer than after and
// counts the confirmed ones per queue. The caller checks the broker is
// ready: with it down the jobs wait for the next pass.
func (r *republisher) pass(ctx context.Context) error {
	list, err := r.store.Unclaimed(ctx, time.Now().Add(-r.after), r.batch)
	if err != nil {
		return fmt.Errorf("read unclaimed jobs: %w", err)
	}
	if len(list) == 0 {
		return nil
	}
	queues := make(map[uuid.UUID]string, len(list))
	for _, j := range list {
		queues[j.ID] = j.Queue
	}
	pub := *r.pub
	pub.Mark = func(ctx context.Context, ids ...uuid.UUID) error {
		for _, id := range ids {
			r.metrics.Republished.WithLabelValues(queues[id]).Inc()
		}
		return r.store.MarkPublished(ctx, ids...)
	}
	if n := pub.Publish(ctx, list)(); n > 0 {
		r.log.Warn("republished jobs published but never claimed (lost messages?)",
			zap.Int("jobs", n), zap.Duration("unclaimed_for", r.after))
	}
	return nil
}
