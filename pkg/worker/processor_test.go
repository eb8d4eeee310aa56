package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/testkit"
	"github.com/hopperq/hopper/pkg/worker"
)

// TestProcessorStartsHighestPriorityWaiting: with its only slot busy, a
// processor holding prefetched low-priority deliveries starts a
// high-priority one that arrived after them first, then the low ones in
// the order they came.
func TestProcessorStartsHighestPriorityWaiting(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	submit := r.submit

	blocker := submit(jobs.PriorityLow)
	release := make(chan struct{})
	started := make(chan uuid.UUID, 16)
	proc := r.processor(worker.Options{Concurrency: 1}, func(ctx context.Context, j *worker.Job) (any, error) {
		started <- j.ID
		if j.ID == blocker {
			<-release
		}
		return nil, nil
	})
	require.Equal(t, blocker, next(t, started))

	var lows []uuid.UUID
	for range 5 {
		lows = append(lows, submit(jobs.PriorityLow))
	}
	high := submit(jobs.PriorityHigh)
	testkit.WaitFor(t, testkit.Deadline, func() bool { return proc.Waiting() == 6 }, "6 deliveries waiting")
	close(release)

	require.Equal(t, high, next(t, started), "the high-priority job starts first")
	for i, id := range lows {
		require.Equal(t, id, next(t, started), "low job %d", i)
	}
}

// TestProcessorRenewsLeaseWhileJobRuns: the heartbeat, started one
// interval into the job, keeps extending the lease of a running job.
func TestProcessorRenewsLeaseWhileJobRuns(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	id := r.submit(jobs.PriorityNormal)
	started := make(chan uuid.UUID, 1)
	release := make(chan struct{})
	r.processor(worker.Options{Concurrency: 1, Lease: time.Hour, HeartbeatEvery: 20 * time.Millisecond},
		func(ctx context.Context, j *worker.Job) (any, error) {
			started <- j.ID
			select {
			case <-release:
			case <-ctx.Done(): // the test failed and is ending
			}
			return nil, nil
		})
	require.Equal(t, id, next(t, started))
	first := r.job(id).LeaseExpiresAt
	require.NotNil(t, first)
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		l := r.job(id).LeaseExpiresAt
		return l != nil && l.After(*first)
	}, "lease renewed while the job runs")
	close(release)
	testkit.WaitFor(t, testkit.Deadline, func() bool { return r.job(id).State == jobs.StateSucceeded }, "job succeeded")
}

// TestProcessorHandsSlotOnWhileOutcomeIsWritten: with one slot, the next
// job starts while the previous job's outcome cannot be written yet (its
// row is locked), and both outcomes land once the lock goes.
func TestProcessorHandsSlotOnWhileOutcomeIsWritten(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	first := r.submit(jobs.PriorityNormal)
	lock := testkit.NewLocker(t, r.dsn)

	started := make(chan uuid.UUID, 2)
	r.processor(worker.Options{Concurrency: 1}, func(ctx context.Context, j *worker.Job) (any, error) {
		if j.ID == first {
			// Lock the row before the handler returns, so the outcome
			// write waits for the test.
			lock.Lock("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", j.ID)
		}
		started <- j.ID
		return nil, nil
	})
	require.Equal(t, first, next(t, started))
	second := r.submit(jobs.PriorityNormal)
	require.Equal(t, second, next(t, started), "the second job starts while the first outcome waits")
	require.Equal(t, jobs.StateRunning, r.job(first).State, "the first outcome is not written yet")

	lock.Release()
	for _, id := range []uuid.UUID{first, second} {
		testkit.WaitFor(t, testkit.Deadline, func() bool { return r.job(id).State == jobs.StateSucceeded }, "job succeeded")
	}
}

// TestProcessorClaimsHighPriorityBesideABusyBatch: while a low-priority
// claim is stuck (its row locked by the test), a high-priority delivery
// is claimed and run at once instead of queueing behind that batch.
func TestProcessorClaimsHighPriorityBesideABusyBatch(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	lock := testkit.NewLocker(t, r.dsn)
	low := r.submit(jobs.PriorityLow)
	lock.Lock("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", low)
	started := make(chan uuid.UUID, 2)
	r.processor(worker.Options{Concurrency: 2}, func(ctx context.Context, j *worker.Job) (any, error) {
		started <- j.ID
		return nil, nil
	})
	testkit.WaitFor(t, testkit.Deadline, lock.Blocking, "the low claim waits for the locked row")

	high := r.submit(jobs.PriorityHigh)
	require.Equal(t, high, next(t, started))
	require.True(t, lock.Blocking(), "the high job ran while the low claim was still stuck, not after its batch gave up")
	lock.Release()
	require.Equal(t, low, next(t, started))
}

// rig is a store, a publisher and a consumer of the maintenance queue,
// isolated by schema and AMQP prefix.
type rig struct {
	t     *testing.T
	dsn   string
	st    *store.Store
	reg   *jobs.Registry
	owner uuid.UUID
	pub   *broker.Publisher
	cons  *broker.Consumer
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := t.Context()
	r := &rig{t: t, dsn: testkit.DatabaseURL(t)}
	st, err := store.Open(ctx, r.dsn, store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.Migrate(ctx))
	r.st = st
	owner, err := st.CreateUser(ctx, testkit.UniqueName("u")+"@example.com", accounts.RoleUser, "")
	require.NoError(t, err)
	_, err = st.SetUserPlan(ctx, owner.ID, "unlimited") // no fairness cap in the way
	require.NoError(t, err)
	r.owner = owner.ID
	r.reg, err = jobs.DefaultRegistry()
	require.NoError(t, err)

	topo := testTopology(testkit.Prefix(t), "")
	t.Cleanup(func() { testkit.DeleteTopology(t, topo.Prefix) })
	r.pub = broker.NewPublisher(testkit.AMQPURL(), topo, broker.PublisherOptions{Logger: zaptest.NewLogger(t)})
	background(t, r.pub.Run)
	require.NoError(t, r.pub.WaitReady(ctx))
	r.cons = broker.NewConsumer(testkit.AMQPURL(), topo, broker.ConsumerOptions{
		Queues: []string{"maintenance"}, Prefetch: 8, Logger: zaptest.NewLogger(t)})
	background(t, r.cons.Run)
	testkit.WaitFor(t, testkit.Deadline, r.cons.Ready, "consumer ready")
	return r
}

// submit stores a noop job with priority p and publishes it.
func (r *rig) submit(p jobs.Priority) uuid.UUID {
	r.t.Helper()
	noop, ok := r.reg.Lookup(jobs.KindNoop)
	require.True(r.t, ok)
	spec := jobs.Spec{Kind: noop, Priority: p, MaxAttempts: 1, Timeout: time.Minute}
	res, err := r.st.Enqueue(r.t.Context(), []jobstore.NewJob{{OwnerID: r.owner, Spec: spec}}, time.Now())
	require.NoError(r.t, err)
	j := res[0].Job
	require.NoError(r.t, r.pub.Publish(r.t.Context(), broker.Message{JobID: j.ID.String(), Kind: j.Kind, Priority: uint8(j.Priority)}))
	return j.ID
}

// processor runs a processor with opts (store, registry and names filled
// in) and noop handled by h, until the test ends.
func (r *rig) processor(opts worker.Options, h worker.HandlerFunc) *worker.Processor {
	opts.Store, opts.Registry, opts.WorkerID, opts.Service = r.st, r.reg, "w", "test"
	opts.Logger, opts.Paused = zaptest.NewLogger(r.t), r.cons.IsPaused
	proc := worker.NewProcessor(opts)
	proc.Handle(jobs.KindNoop, h)
	background(r.t, func(ctx context.Context) error { return proc.Run(ctx, r.cons.Deliveries()) })
	return proc
}

func (r *rig) job(id uuid.UUID) jobstore.Job {
	r.t.Helper()
	j, err := r.st.GetJob(r.t.Context(), nil, id)
	require.NoError(r.t, err)
	return j
}

// background runs run until the test ends.
func background(t *testing.T, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func next(t *testing.T, started <-chan uuid.UUID) uuid.UUID {
	t.Helper()
	select {
	case id := <-started:
		return id
	case <-time.After(testkit.Deadline):
		t.Fatal("no job started")
		return uuid.Nil
	}
}
