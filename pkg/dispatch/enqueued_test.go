package dispatch_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx": the caller's own handle
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/dispatch"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/testkit"
)

// TestEnqueuedTxPublishedAtCommit: jobs inserted in a caller's
// transaction are published by the leader as the transaction commits,
// once each, with the outbox out of the picture (OutboxAge is an hour, so
// nothing else could publish them); a rolled-back transaction publishes
// nothing; a standby dispatcher hears the same notifications and stays
// quiet.
func TestEnqueuedTxPublishedAtCommit(t *testing.T) {
	t.Parallel()
	dsn := testkit.DatabaseURL(t)
	prefix := testkit.Prefix(t)
	ctx := t.Context()
	log := zaptest.NewLogger(t)
	reg, err := jobs.DefaultRegistry()
	require.NoError(t, err)

	open := func() *store.Store {
		s, err := store.Open(ctx, dsn, store.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	st := open()
	require.NoError(t, st.Migrate(ctx))
	owner, err := st.CreateUser(ctx, testkit.UniqueName("u")+"@example.com", accounts.RoleUser, "unlimited")
	require.NoError(t, err)
	noop, _ := reg.Lookup(jobs.KindNoop)

	topo := testTopology(prefix, "")
	pub := broker.NewPublisher(testkit.AMQPURL(), topo, broker.PublisherOptions{AppID: "enqueued-test", Logger: log})
	var wg sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	wg.Go(func() { _ = pub.Run(runCtx) })
	var disps []*dispatch.Dispatcher
	for range 2 {
		d, err := dispatch.New(dispatch.Options{Store: open(), Publisher: pub, Registry: reg, Logger: log,
			LockKey: prefix, Interval: 50 * time.Millisecond, OutboxAge: time.Hour})
		require.NoError(t, err)
		disps = append(disps, d)
		wg.Go(func() { assert.NoError(t, d.Run(runCtx)) })
	}
	t.Cleanup(func() {
		stop()
		wg.Wait()
	})
	testkit.WaitFor(t, testkit.Deadline, func() bool { return pub.Ready() && disps[0].Leading() != disps[1].Leading() },
		"the publisher is ready and one dispatcher leads")

	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	enqueue := func(n int, commit bool) []uuid.UUID {
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		batch := make([]jobstore.NewJob, n)
		for i := range batch {
			batch[i] = jobstore.NewJob{OwnerID: owner.ID, Spec: jobs.Spec{Kind: noop, Payload: []byte(`{}`),
				Priority: jobs.PriorityNormal, MaxAttempts: 1, Timeout: time.Second}}
		}
		created, err := jobstore.EnqueueTx(ctx, tx, batch, time.Now())
		require.NoError(t, err)
		if commit {
			require.NoError(t, tx.Commit())
		} else {
			require.NoError(t, tx.Rollback())
		}
		ids := make([]uuid.UUID, n)
		for i, r := range created {
			ids[i] = r.Job.ID
		}
		return ids
	}

	take := queueTaker(t, topo.QueueName("maintenance"))
	delivered := map[uuid.UUID]int{}
	// drain takes every message waiting in the maintenance queue.
	drain := func() {
		for _, id := range take() {
			delivered[id]++
		}
	}
	waitDelivered := func(ids []uuid.UUID) {
		testkit.WaitFor(t, testkit.Deadline, func() bool {
			drain()
			for _, id := range ids {
				if delivered[id] == 0 {
					return false
				}
			}
			return true
		}, "%d enqueued jobs published", len(ids))
	}

	rolledBack := enqueue(3, false)
	committed := enqueue(450, true) // three notifications of up to 200 ids
	waitDelivered(committed)
	// A last job is a barrier: the standby and the rolled-back transaction
	// would have published before it.
	last := enqueue(1, true)
	waitDelivered(last)
	for _, id := range rolledBack {
		assert.Zero(t, delivered[id], "a rolled-back job is never published")
	}
	for _, id := range append(committed, last...) {
		assert.Equal(t, 1, delivered[id], "job %s published once", id)
	}
}
