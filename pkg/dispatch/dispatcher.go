package dispatch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// Options configure a Dispatcher.
type Options struct {
	Store     Store
	Publisher *broker.Publisher
	Registry  jobs.Catalog
	Logger    *zap.Logger
	// LockKey names the leader lock; use the AMQP prefix so stacks sharing
	// a database schema but not a broker elect separately.
	LockKey string
	// Interval between passes (default 1s).
	Interval time.Duration
	// OutboxAge is how long a queued job may stay unpublished before the
	// dispatcher publishes it (default 5s: longer than a normal confirm).
	OutboxAge time.Duration
	// RepublishAfter is how long a job confirmed published may stay
	// unclaimed before the leader publishes it again, its message
	// presumed lost (default 5m; negative: never).
	RepublishAfter time.Duration
	// Batch bounds the rows one pass handles per step (default 500).
	Batch int
	// Metrics receives publish latencies; nil builds a private set.
	Metrics *metrics.Metrics
	// Wake, when set, signals that jobs changed (a JobNotifier
	// subscription to every job): the leader then admits held jobs at once
	// rather than at the next pass, and keeps doing so every ReleaseEvery
	// for ReleaseWindow after each wake (releaser), so a capped user's
	// next job follows the one that just finished within milliseconds.
	Wake <-chan struct{}
	// ReleaseEvery spaces the releases while jobs change (default 10ms):
	// a burst of finishes costs one release statement.
	ReleaseEvery time.Duration
	// ReleaseWindow is how long after a wake the leader keeps releasing
	// (default 150ms: three of the notifier's 50 ms polls, so a steady
	// stream of changes keeps the window open).
	ReleaseWindow time.Duration
	// FollowUps are the jobs the leader creates when jobs finish (the
	// product's webhooks and notices).
	FollowUps []FollowUp
}

// Dispatcher moves jobs from Postgres to RabbitMQ when they are due.
type Dispatcher struct {
	opts    Options
	log     *zap.Logger
	leading atomic.Bool
	// marker marks the transactionally enqueued jobs' publishes, late
	// (as the gateway's submits are marked).
	marker *PublishedMarker
	// publisher publishes what a pass finds and marks it at once; the
	// jobs have waited, so their mark cannot race a claim much.
	// enqueuedPublisher publishes what transactions just committed and
	// marks it through marker.
	publisher, enqueuedPublisher *JobPublisher
}

// New returns a Dispatcher with defaults filled in.
func New(opts Options) (*Dispatcher, error) {
	if opts.Store == nil || opts.Publisher == nil || opts.Registry == nil {
		return nil, errors.New("dispatch: store, publisher and registry are required")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.OutboxAge <= 0 {
		opts.OutboxAge = 5 * time.Second
	}
	if opts.RepublishAfter == 0 {
		opts.RepublishAfter = 5 * time.Minute
	}
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New("gateway")
	}
	if opts.LockKey == "" {
		opts.LockKey = "hopper"
	}
	if opts.ReleaseEvery <= 0 {
		opts.ReleaseEvery = 10 * time.Millisecond
	}
	if opts.ReleaseWindow <= 0 {
		opts.ReleaseWindow = 150 * time.Millisecond
	}
	d := &Dispatcher{opts: opts, log: opts.Logger.With(zap.String("component", "dispatcher"))}
	// Marks land well before the outbox would take a job for unpublished.
	d.marker = NewPublishedMarker(opts.Store, d.log, opts.OutboxAge*2/5, opts.OutboxAge/10)
	d.publisher = &JobPublisher{Broker: opts.Publisher, Mark: opts.Store.MarkPublished, Metrics: opts.Metrics, Logger: d.log}
	d.enqueuedPublisher = &JobPublisher{Broker: opts.Publisher, Mark: d.marker.MarkAll, Metrics: opts.Metrics, Logger: d.log}
	return d, nil
}

// Run competes for leadership and, while leading, runs a pass every
// Interval and publishes transactionally enqueued jobs as their
// transactions commit, until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	l := &leader{conn: d.opts.Store.Conn, role: "dispatcher", key: "dispatcher:" + d.opts.LockKey, retry: d.opts.Interval, log: d.log, leading: &d.leading}
	enqueued := make(chan []uuid.UUID, 64)
	listening := make(chan struct{})
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.marker.Run(gctx) })
	g.Go(func() error { d.listenEnqueued(gctx, listening, enqueued); return nil })
	g.Go(func() error { d.publishEnqueued(gctx, enqueued); return nil })
	// Stand for election once listening was tried, so a leader (Leading)
	// hears the transactions committed from then on.
	select {
	case <-listening:
	case <-ctx.Done():
	}
	g.Go(func() error { return l.Run(gctx, d.lead) })
	return g.Wait()
}

// Leading reports whether this replica's dispatcher holds the leader lock.
// A leader also listens for transactionally enqueued jobs (unless its
// database connection for that failed, when the outbox publishes them).
func (d *Dispatcher) Leading() bool { return d.leading.Load() }

func (d *Dispatcher) lead(ctx context.Context) error {
	r := &reaper{store: d.opts.Store, registry: d.opts.Registry, batch: d.opts.Batch, log: d.log}
	var republish *republisher
	if d.opts.RepublishAfter > 0 {
		republish = newRepublisher(d)
	}
	follow := newFollowUps(d)
	releases := newReleaser(d)
	schedules := newCron(d)
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	for {
		fired, err := schedules.pass(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("cron pass failed", zap.Error(err))
		}
		d.publishAll(ctx, fired)
		if err := d.Pass(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("dispatch pass failed", zap.Error(err))
		}
		if err := r.pass(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("reaper pass failed", zap.Error(err))
		}
		if republish != nil && d.opts.Publisher.Ready() {
			if err := republish.pass(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("republish pass failed", zap.Error(err))
			}
		}
		for _, u := range follow {
			created, err := u.pass(ctx)
			if err != nil && ctx.Err() == nil {
				d.log.Warn("follow-up pass failed", zap.Error(err))
			}
			d.publishAll(ctx, created)
		}
		if !releases.wait(ctx, t.C) {
			return nil
		}
	}
}

// release admits the held jobs their owners' caps make room for and
// publishes them; jobs it cannot publish are ordinary outbox entries. It
// does not wait for the confirms: they are marked behind its back, and
// the next release (10 ms later while jobs move) need not wait for the
// broker's round trip and the mark's statement, which a loaded box
// stretched to tens of milliseconds per released job.
func (d *Dispatcher) release(ctx context.Context) error {
	for {
		list, err := d.opts.Store.ReleaseHeld(ctx, d.opts.Batch)
		if err != nil {
			return err
		}
		if len(list) > 0 && d.opts.Publisher.Ready() {
			d.publisher.Publish(ctx, list)
		}
		if len(list) < d.opts.Batch {
			return nil
		}
	}
}

// Pass publishes due scheduled/retrying jobs, admits and publishes held
// jobs there is room for, and publishes outbox leftovers, once.
func (d *Dispatcher) Pass(ctx context.Context) error {
	now := time.Now()
	due, err := d.opts.Store.PromoteDue(ctx, now, d.opts.Batch)
	if err != nil {
		return fmt.Errorf("promote due jobs: %w", err)
	}
	d.publishAll(ctx, due)
	if err := d.release(ctx); err != nil {
		return fmt.Errorf("admit held jobs: %w", err)
	}
	if !d.opts.Publisher.Ready() {
		return nil
	}
	stale, err := d.opts.Store.Unpublished(ctx, now.Add(-d.opts.OutboxAge), d.opts.Batch)
	if err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	d.publishAll(ctx, stale)
	return nil
}

// publishAll publishes the jobs a pass found and marks the confirmed
// ones, waiting for their confirms; with the broker down they stay in
// the outbox.
func (d *Dispatcher) publishAll(ctx context.Context, list []jobstore.Job) {
	if len(list) == 0 || !d.opts.Publisher.Ready() {
		return
	}
	n := d.publisher.Publish(ctx, list)()
	d.log.Debug("published", zap.Int("jobs", n))
}

// retryAt picks when a reaped job runs again.
func retryAt(reg jobs.Catalog, j jobstore.Job) time.Time {
	k, ok := reg.Lookup(j.Kind)
	if !ok {
		return time.Now()
	}
	return time.Now().Add(jobs.Backoff(k, j.Attempt, rand.Float64()))
}
