package dispatch

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/jobs"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// cron creates the jobs of due cron schedules, a step of the leader's
// pass like the follow-ups. Exactly one job per schedule and tick comes
// from three layers: the dispatcher's leader lock, the claim's FOR UPDATE
// SKIP LOCKED, and the tick's idempotency key. Running inside the leader's
// one loop, it never runs beside PromoteDue or a fairness release, whose
// per-owner locks it could otherwise take in another order.
type cron struct {
	store    cronStore
	registry jobs.Catalog
	metrics  *metrics.Metrics
	log      *zap.Logger
	now      func() time.Time
}

func newCron(d *Dispatcher) *cron {
	return &cron{store: d.opts.Store, registry: d.opts.Registry, metrics: d.opts.Metrics,
		log: d.log.With(zap.String("step", "cron")), now: time.Now}
}

// pass creates the jobs of the schedules due now and returns them for the
// leader to publish; a job whose publish fails stays in the outbox.
func (c *cron) pass(ctx context.Context) ([]jobstore.Job, error) {
	runs, err := c.store.ClaimDueSchedules(ctx, c.now(), c.registry)
	if err != nil {
		return nil, fmt.Errorf("cron: %w", err)
	}
	created := make([]jobstore.Job, 0, len(runs))
	for _, r := range runs {
		fields := []zap.Field{zap.String("schedule", r.Schedule.Name), zap.Time("tick", r.Tick),
			zap.Timep("next_run_at", r.Schedule.NextRunAt)}
		if r.Job == nil {
			c.log.Warn("schedule tick created no job", append(fields, hlog.Kind(r.Schedule.Kind), zap.String("reason", r.Skipped))...)
			continue
		}
		created = append(created, *r.Job)
		c.metrics.ScheduleJobs.WithLabelValues(r.Schedule.Name).Inc()
		c.log.Info("schedule fired", append(fields, hlog.JobID(r.Job.ID.String()), hlog.Kind(r.Job.Kind))...)
	}
	return created, nil
}
