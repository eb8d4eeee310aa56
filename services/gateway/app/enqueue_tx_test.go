package app_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx": a service's own handle
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/testkit"
)

// Transactional enqueue (hopper.EnqueueTx) with a gateway and a worker:
// a service's transaction stores the job, the gateway publishes it.

// serviceDB is a database/sql handle on the stack's database, as a Go
// service sharing Hopper's Postgres holds one.
func (s *stack) serviceDB() *sql.DB {
	s.t.Helper()
	db, err := sql.Open("pgx", s.cfg.DatabaseURL)
	require.NoError(s.t, err)
	s.t.Cleanup(func() { _ = db.Close() })
	return db
}

// waitLeading waits until the stack's dispatcher leads, and so listens
// for transactionally enqueued jobs.
func (s *stack) waitLeading() {
	s.t.Helper()
	testkit.WaitFor(s.t, testkit.Deadline, func() bool {
		_, body := s.do("GET", "/readyz", "", nil, nil)
		return body["dispatcher_leader"] == true
	}, "the dispatcher leads")
}

// TestEnqueueTxRunsPromptly: a rolled-back transaction leaves no job; a
// committed one runs to succeeded, started before the outbox would have
// published it (so the commit's notification did); a bulk insert runs
// every job.
func TestEnqueueTxRunsPromptly(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	userID, key := s.newUser("user")
	owner := uuid.MustParse(userID)
	c := s.goClient(key)
	ctx := clientTestContext(t)
	db := s.serviceDB()
	s.waitLeading()

	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	rolled, err := hopper.EnqueueTx(ctx, tx, owner, "system.noop", nil)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	_, err = c.Get(ctx, rolled.ID)
	require.ErrorIs(t, err, hopper.ErrNotFound, "a rolled-back transaction leaves no job")

	tx, err = db.BeginTx(ctx, nil)
	require.NoError(t, err)
	res, err := hopper.EnqueueTx(ctx, tx, owner, "system.noop", map[string]int{"n": 1})
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	job, err := c.Wait(ctx, res.ID)
	require.NoError(t, err)
	assert.Equal(t, hopper.JobStateSucceeded, job.State)
	require.NotNil(t, job.StartedAt)
	// The outbox takes a job only once it is 5 s old; this one was
	// published as its transaction committed.
	assert.Less(t, job.StartedAt.Sub(job.CreatedAt), 5*time.Second, "started by the notification's publish, not the outbox's")

	items := make([]hopper.BatchItem, 100)
	for i := range items {
		items[i] = hopper.BatchItem{Kind: "system.noop", Payload: map[string]int{"i": i}}
	}
	tx, err = db.BeginTx(ctx, nil)
	require.NoError(t, err)
	many, err := hopper.EnqueueManyTx(ctx, tx, owner, items)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	require.Len(t, many, len(items))
	for _, r := range many {
		job, err := c.Wait(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, hopper.JobStateSucceeded, job.State)
	}
}

// TestEnqueueTxPublishedByTheOutbox: a job committed while no gateway can
// publish (its broker is unreachable; the leader hears the commit and
// cannot act on it) stays queued in Postgres, and runs once a gateway
// that can publish is up: its outbox does it.
func TestEnqueueTxPublishedByTheOutbox(t *testing.T) {
	t.Parallel()
	dsn := testkit.DatabaseURL(t)
	env := map[string]string{"HOPPER_DATABASE_URL": dsn}
	down := startStack(t, stackOptions{amqpURL: "amqp://guest:guest@127.0.0.1:1/", env: env})
	userID, key := down.newUser("user")
	down.waitLeading()
	ctx := clientTestContext(t)

	tx, err := down.serviceDB().BeginTx(ctx, nil)
	require.NoError(t, err)
	res, err := hopper.EnqueueTx(ctx, tx, uuid.MustParse(userID), "system.noop", nil)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	job, err := down.goClient(key).Get(ctx, res.ID)
	require.NoError(t, err)
	assert.Equal(t, hopper.JobStateQueued, job.State)

	up := startStack(t, stackOptions{withWorker: true, env: env})
	job, err = up.goClient(key).Wait(ctx, res.ID)
	require.NoError(t, err)
	assert.Equal(t, hopper.JobStateSucceeded, job.State)
}
