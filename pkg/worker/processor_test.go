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
	"github.com/hopperq/hopper/pkg/testkit"
	"github.com/hopperq/hopper/pkg/worker"
)

// TestProcessorStartsHighestPriorityWaiting: with its only slot busy, a
// processor holding prefetched low-priority deliveries starts a
// high-priority one that arrived after them first, then the low ones in
// the order they came.
func TestProcessorStartsHighestPriorityWaiting(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := store.Open(ctx, testkit.DatabaseURL(t), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.Migrate(ctx))
	owner, err := st.CreateUser(ctx, testkit.UniqueName("u")+"@example.com", store.RoleUser, "")
	require.NoError(t, err)
	_, err = st.SetUserPlan(ctx, owner.ID, "unlimited") // no fairness cap in the way
	require.NoError(t, err)
	reg, err := jobs.DefaultRegistry()
	require.NoError(t, err)
	noop, ok := reg.Lookup(jobs.KindNoop)
	require.True(t, ok)

	topo := broker.NewTopology(testkit.Prefix(t), "")
	t.Cleanup(func() { testkit.DeleteTopology(t, topo.Prefix) })
	pub := broker.NewPublisher(testkit.AMQPURL(), topo, broker.PublisherOptions{Logger: zaptest.NewLogger(t)})
	background(t, pub.Run)
	require.NoError(t, pub.WaitReady(ctx))
	cons := broker.NewConsumer(testkit.AMQPURL(), topo, broker.ConsumerOptions{
		Queues: []string{"maintenance"}, Prefetch: 8, Logger: zaptest.NewLogger(t)})
	background(t, cons.Run)
	testkit.WaitFor(t, testkit.Deadline, cons.Ready, "consumer ready")

	submit := func(p jobs.Priority) uuid.UUID {
		t.Helper()
		spec := jobs.Spec{Kind: noop, Priority: p, MaxAttempts: 1, Timeout: time.Minute}
		j, _, err := st.CreateJob(ctx, store.NewJob{OwnerID: owner.ID, Spec: spec}, time.Now())
		require.NoError(t, err)
		require.NoError(t, pub.Publish(ctx, broker.Message{JobID: j.ID.String(), Kind: j.Kind, Priority: uint8(j.Priority)}))
		return j.ID
	}

	blocker := submit(jobs.PriorityLow)
	release := make(chan struct{})
	started := make(chan uuid.UUID, 16)
	proc := worker.NewProcessor(worker.Options{Store: st, Registry: reg, WorkerID: "w", Service: "test",
		Concurrency: 1, Logger: zaptest.NewLogger(t), Paused: cons.IsPaused})
	proc.Handle(jobs.KindNoop, func(ctx context.Context, j *worker.Job) (any, error) {
		started <- j.ID
		if j.ID == blocker {
			<-release
		}
		return nil, nil
	})
	background(t, func(ctx context.Context) error { return proc.Run(ctx, cons.Deliveries()) })
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
