package jobstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx": a caller's own handle
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/storetest"
	"github.com/hopperq/hopper/pkg/testkit"
)

// txStore is a migrated store and a database/sql handle of the caller's
// own on the same schema.
func txStore(t *testing.T) (*store.Store, *sql.DB) {
	t.Helper()
	dsn := testkit.DatabaseURL(t)
	s := storetest.Open(t, dsn)
	require.NoError(t, s.Migrate(t.Context()))
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return s, db
}

// nextIDs waits for the listener's next notification.
func nextIDs(t *testing.T, l *jobstore.EnqueuedListener, within time.Duration) ([]uuid.UUID, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	return l.Next(ctx)
}

// A job enqueued in a transaction exists only once it commits, and the
// notification naming it reaches the listener only then; a rolled-back
// one leaves neither a job nor a notification.
func TestEnqueueTxCommitsWithTheCaller(t *testing.T) {
	t.Parallel()
	s, db := txStore(t)
	owner := storetest.User(t, s)
	ctx := t.Context()
	l, err := s.ListenEnqueued(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close(context.Background()) })

	now := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	rolled, err := jobstore.EnqueueTx(ctx, tx, []jobstore.NewJob{{OwnerID: owner.ID, Spec: storetest.Spec(t, time.Time{})}}, now)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	_, err = s.GetJob(ctx, nil, rolled[0].Job.ID)
	require.ErrorIs(t, err, pg.ErrNotFound)

	tx, err = db.BeginTx(ctx, nil)
	require.NoError(t, err)
	batch := []jobstore.NewJob{
		{OwnerID: owner.ID, Spec: storetest.Spec(t, time.Time{})},
		{OwnerID: owner.ID, Spec: storetest.Spec(t, now.Add(time.Hour))}, // scheduled: published when due
		{OwnerID: owner.ID, Spec: storetest.Spec(t, time.Time{})},
	}
	res, err := jobstore.EnqueueTx(ctx, tx, batch, now)
	require.NoError(t, err)
	created := storetest.JobsOf(res)
	require.Len(t, created, 3)
	assert.Equal(t, []jobs.State{jobs.StateQueued, jobs.StateScheduled, jobs.StateQueued},
		[]jobs.State{created[0].State, created[1].State, created[2].State})
	_, err = s.GetJob(ctx, nil, created[0].ID)
	require.ErrorIs(t, err, pg.ErrNotFound, "not visible before the commit")
	require.NoError(t, tx.Commit())

	ids, err := nextIDs(t, l, testkit.Deadline)
	require.NoError(t, err, "the rolled-back transaction sent nothing; the committed one names its due jobs")
	assert.Equal(t, []uuid.UUID{created[0].ID, created[2].ID}, ids)
	assert.Equal(t, []string{"created/queued/0"}, storetest.Timeline(t, s, created[0].ID))
	assert.Equal(t, []string{"created/scheduled/0"}, storetest.Timeline(t, s, created[1].ID))

	got, err := s.UnpublishedOf(ctx, ids)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.NoError(t, s.MarkPublished(ctx, created[0].ID))
	got, err = s.UnpublishedOf(ctx, ids)
	require.NoError(t, err)
	require.Len(t, got, 1, "a published job is not published again")
	assert.Equal(t, created[2].ID, got[0].ID)
}

// A keyed enqueue replays the owner's job for a key already used, without
// a second row or a notification; an unknown owner is ErrNotFound.
func TestEnqueueTxIdempotencyAndOwner(t *testing.T) {
	t.Parallel()
	s, db := txStore(t)
	owner := storetest.User(t, s)
	ctx := t.Context()
	now := time.Now()

	nj := jobstore.NewJob{OwnerID: owner.ID, Spec: storetest.Spec(t, time.Time{}), IdempotencyKey: "order-42"}
	first, err := jobstore.EnqueueTx(ctx, db, []jobstore.NewJob{nj}, now)
	require.NoError(t, err)
	require.True(t, first[0].Created)

	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	again, err := jobstore.EnqueueTx(ctx, tx, []jobstore.NewJob{nj}, now)
	require.NoError(t, err)
	require.False(t, again[0].Created)
	require.Equal(t, first[0].Job.ID, again[0].Job.ID)
	require.NoError(t, tx.Commit())

	_, err = jobstore.EnqueueTx(ctx, db, []jobstore.NewJob{{OwnerID: uuid.New(), Spec: storetest.Spec(t, time.Time{})}}, now)
	require.ErrorIs(t, err, pg.ErrNotFound)
	_, err = jobstore.EnqueueTx(ctx, db, []jobstore.NewJob{{OwnerID: owner.ID, Spec: storetest.Spec(t, time.Time{}), JobsPerHour: 10}}, now)
	require.Error(t, err, "no quota is applied, so asking for one is a mistake")
}

// ReadKinds reads the named kinds, or all, with any Querier.
func TestReadKinds(t *testing.T) {
	t.Parallel()
	s, db := txStore(t)
	ctx := t.Context()
	schema := []byte(`{"type":"object","required":["board"]}`)
	require.NoError(t, s.PublishKinds(ctx, []jobs.Kind{
		{Name: "acme.a", Queue: "acme", Service: "acme", MaxAttempts: 2, Timeout: time.Second, MaxTimeout: time.Second,
			BackoffBase: time.Second, BackoffCap: time.Second, Schema: schema, Version: "1"},
		{Name: "acme.b", Queue: "acme", Service: "acme", MaxAttempts: 3, Timeout: time.Minute, MaxTimeout: time.Minute,
			BackoffBase: time.Second, BackoffCap: time.Second, Version: "1"},
	}))
	all, err := jobstore.ReadKinds(ctx, db)
	require.NoError(t, err)
	require.Len(t, all, 2)
	named, err := jobstore.ReadKinds(ctx, db, "acme.a", "acme.missing")
	require.NoError(t, err)
	require.Len(t, named, 1)
	assert.Equal(t, "acme.a", named[0].Name)
	assert.JSONEq(t, string(schema), string(named[0].Schema))
	assert.Equal(t, time.Second, named[0].Timeout)
}
