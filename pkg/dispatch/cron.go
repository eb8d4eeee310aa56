package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/jobs"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/store"
)

// CronOptions configure a Cron.
type CronOptions struct {
	Store     *store.Store
	Publisher *broker.Publisher
	Registry  *jobs.Registry
	Logger    *zap.Logger
	// LockKey names the leader lock, like Options.LockKey (the AMQP
	// prefix).
	LockKey string
	// Interval between passes (default 1s): a tick is served at most this
	// late.
	Interval time.Duration
	// Parallel bounds concurrent publishes (default 64).
	Parallel int
	// Metrics counts created jobs; nil builds a private set.
	Metrics *metrics.Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Cron creates the jobs of due cron schedules. Like the Dispatcher, one
// gateway replica leads (its own advisory lock, so it never waits on the
// dispatcher's passes) and the others stand by. Exactly one job per
// schedule and tick comes from three layers: the leader lock, the claim's
// FOR UPDATE SKIP LOCKED, and the tick's idempotency key.
type Cron struct {
	opts    CronOptions
	log     *zap.Logger
	leading atomic.Bool
}

// NewCron returns a Cron with defaults filled in.
func NewCron(opts CronOptions) (*Cron, error) {
	if opts.Store == nil || opts.Publisher == nil || opts.Registry == nil {
		return nil, errors.New("cron: store, publisher and registry are required")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 64
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New("gateway")
	}
	if opts.LockKey == "" {
		opts.LockKey = "hopper"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Cron{opts: opts, log: opts.Logger.With(zap.String("component", "cron"))}, nil
}

// Run competes for leadership and, while leading, runs a pass every
// Interval until ctx ends.
func (c *Cron) Run(ctx context.Context) error {
	sqlDB, err := c.opts.Store.DB().DB()
	if err != nil {
		return fmt.Errorf("cron: %w", err)
	}
	l := &leader{db: sqlDB, role: "cron", key: "cron:" + c.opts.LockKey, retry: c.opts.Interval, log: c.log, leading: &c.leading}
	return l.Run(ctx, c.lead)
}

// Leading reports whether this replica's cron loop holds its leader lock.
func (c *Cron) Leading() bool { return c.leading.Load() }

func (c *Cron) lead(ctx context.Context) error {
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		if _, err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("cron pass failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Pass creates the jobs of the schedules due now and publishes them; it
// returns how many jobs it created. A job whose publish fails stays in
// the outbox, which the dispatcher publishes.
func (c *Cron) Pass(ctx context.Context) (int, error) {
	runs, err := c.opts.Store.ClaimDueSchedules(ctx, c.opts.Now(), c.opts.Registry)
	if err != nil {
		return 0, err
	}
	created := make([]store.Job, 0, len(runs))
	for _, r := range runs {
		fields := []zap.Field{zap.String("schedule", r.Schedule.Name), zap.Time("tick", r.Tick),
			zap.Timep("next_run_at", r.Schedule.NextRunAt)}
		if r.Job == nil {
			c.log.Warn("schedule tick created no job", append(fields, hlog.Kind(r.Schedule.Kind), zap.String("reason", r.Skipped))...)
			continue
		}
		created = append(created, *r.Job)
		c.opts.Metrics.ScheduleJobs.WithLabelValues(r.Schedule.Name).Inc()
		c.log.Info("schedule fired", append(fields, hlog.JobID(r.Job.ID.String()), hlog.Kind(r.Job.Kind))...)
	}
	if len(created) > 0 && c.opts.Publisher.Ready() {
		PublishJobs(ctx, PublishDeps{Store: c.opts.Store, Publisher: c.opts.Publisher,
			Metrics: c.opts.Metrics, Logger: c.log, Parallel: c.opts.Parallel}, created)
	}
	return len(created), nil
}
