package hopper_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/testkit"
)

// EnqueueTx against a real Postgres schema: what it writes, and what it
// refuses. That a committed job runs, and reaches a worker even when
// nothing could publish it at the commit, is proven with a gateway in
// services/gateway/app/enqueue_tx_test.go; that the dispatcher publishes
// at the commit, in pkg/dispatch.

// txEnv is a migrated schema, a store on it for the checks, a
// database/sql handle as a service would hold, and a user.
type txEnv struct {
	st    *store.Store
	db    *sql.DB
	owner uuid.UUID
}

func newTxEnv(t *testing.T) txEnv {
	t.Helper()
	dsn := testkit.DatabaseURL(t)
	st, err := store.Open(t.Context(), dsn, store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.Migrate(t.Context()))
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	u, err := st.CreateUser(t.Context(), testkit.UniqueName("u")+"@example.com", accounts.RoleUser, "unlimited")
	require.NoError(t, err)
	// A kind a worker service published, with a payload schema and
	// defaults of its own.
	require.NoError(t, st.PublishKinds(t.Context(), []jobs.Kind{{
		Name: "acme.resize", Queue: "acme", Service: "acme", DefaultPriority: jobs.PriorityHigh,
		MaxAttempts: 5, Timeout: 2 * time.Minute, MaxTimeout: 10 * time.Minute,
		BackoffBase: time.Second, BackoffCap: time.Minute, Version: "1",
		Schema: []byte(`{"type":"object","properties":{"url":{"type":"string"},"width":{"type":"integer"}},
			"required":["url","width"],"additionalProperties":false}`),
	}}))
	return txEnv{st: st, db: db, owner: u.ID}
}

type resize struct {
	URL   string `json:"url"`
	Width int    `json:"width,omitempty"`
}

func (e txEnv) job(t *testing.T, id string) (jobstore.Job, error) {
	t.Helper()
	return e.st.GetJob(context.WithoutCancel(t.Context()), nil, uuid.MustParse(id))
}

// A job enqueued in a transaction exists only if it commits, with the
// kind's defaults from the catalogue and its created event.
func TestEnqueueTxCommitsWithTheTransaction(t *testing.T) {
	t.Parallel()
	e := newTxEnv(t)
	ctx := t.Context()

	tx, err := e.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	rolled, err := hopper.EnqueueTx(ctx, tx, e.owner, "acme.resize", resize{URL: "https://example.com/a.png", Width: 64})
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
	_, err = e.job(t, rolled.ID)
	require.ErrorIs(t, err, pg.ErrNotFound, "a rolled-back transaction leaves no job")

	tx, err = e.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	res, err := hopper.EnqueueTx(ctx, tx, e.owner, "acme.resize", resize{URL: "https://example.com/a.png", Width: 64})
	require.NoError(t, err)
	assert.Equal(t, hopper.JobStateQueued, res.State)
	_, err = e.job(t, res.ID)
	require.ErrorIs(t, err, pg.ErrNotFound, "invisible before the commit")
	require.NoError(t, tx.Commit())

	j, err := e.job(t, res.ID)
	require.NoError(t, err)
	assert.Equal(t, e.owner, j.OwnerID)
	assert.Equal(t, "acme", j.Queue)
	assert.Equal(t, int(jobs.PriorityHigh), j.Priority)
	assert.Equal(t, 5, j.MaxAttempts)
	assert.Equal(t, (2 * time.Minute).Milliseconds(), j.TimeoutMS)
	assert.JSONEq(t, `{"url":"https://example.com/a.png","width":64}`, string(j.Payload))
	assert.Equal(t, byte(7), j.ID[6]>>4, "a UUIDv7")
	evs, err := e.st.Events(ctx, j.ID)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, jobstore.EventCreated, evs[0].Type)

	sched, err := hopper.EnqueueTx(ctx, e.db, e.owner, "system.noop", nil,
		hopper.WithRunAt(time.Now().Add(time.Hour)), hopper.WithPriority(1), hopper.WithMaxAttempts(2), hopper.WithJobTimeout(5*time.Second))
	require.NoError(t, err, "a *sql.DB works too, each statement committing on its own")
	assert.Equal(t, hopper.JobStateScheduled, sched.State)
	j, err = e.job(t, sched.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, j.Priority)
	assert.Equal(t, 2, j.MaxAttempts)
	assert.Equal(t, int64(5000), j.TimeoutMS)
}

// A submission the gateway would refuse is refused before anything is
// written, so the caller's transaction stays usable: a schema violation
// names the field, an unknown kind lists the kinds, an option out of
// range names the option.
func TestEnqueueTxValidatesAgainstTheCatalogue(t *testing.T) {
	t.Parallel()
	e := newTxEnv(t)
	ctx := t.Context()
	tx, err := e.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()

	_, err = hopper.EnqueueTx(ctx, tx, e.owner, "acme.resize", resize{URL: "https://example.com/a.png"})
	var ve *hopper.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.ErrorIs(t, err, hopper.ErrUnprocessable)
	assert.Equal(t, "payload.width", ve.Field)
	assert.Contains(t, err.Error(), "payload.width: is required")

	_, err = hopper.EnqueueTx(ctx, tx, e.owner, "acme.resize", map[string]any{"url": "u", "width": 1, "height": 2})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "payload.height", ve.Field)

	_, err = hopper.EnqueueTx(ctx, tx, e.owner, "acme.nope", nil)
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "kind", ve.Field)
	assert.Contains(t, ve.ValidKinds, "acme.resize", "published kinds are listed")
	assert.Contains(t, ve.ValidKinds, "system.noop", "and the built-in ones")
	assert.Contains(t, err.Error(), "acme.resize")

	_, err = hopper.EnqueueTx(ctx, tx, e.owner, "system.noop", nil, hopper.WithMaxAttempts(99))
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "max_attempts", ve.Field)
	_, err = hopper.EnqueueTx(ctx, tx, e.owner, "system.noop", nil, hopper.WithIdempotencyKey("schedule:x"))
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "idempotency_key", ve.Field)
	_, err = hopper.EnqueueTx(ctx, tx, e.owner, "system.noop", []int{1})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "payload", ve.Field)

	_, err = hopper.EnqueueTx(ctx, tx, e.owner, "system.noop", nil)
	require.NoError(t, err, "the refusals left the transaction usable")
	require.NoError(t, tx.Commit())
}

// EnqueueManyTx stores all items in one statement or none; a bad item is
// named by its index.
func TestEnqueueManyTx(t *testing.T) {
	t.Parallel()
	e := newTxEnv(t)
	ctx := t.Context()

	items := []hopper.BatchItem{
		{Kind: "system.noop"},
		{Kind: "acme.resize", Payload: resize{URL: "u", Width: 1}, Options: []hopper.EnqueueOption{hopper.WithPriority(2)}},
		{Kind: "system.noop", Options: []hopper.EnqueueOption{hopper.WithRunAt(time.Now().Add(time.Hour))}},
	}
	tx, err := e.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	res, err := hopper.EnqueueManyTx(ctx, tx, e.owner, items)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	require.Len(t, res, 3)
	assert.Equal(t, []hopper.JobState{hopper.JobStateQueued, hopper.JobStateQueued, hopper.JobStateScheduled},
		[]hopper.JobState{res[0].State, res[1].State, res[2].State})
	for i, kind := range []string{"system.noop", "acme.resize", "system.noop"} {
		j, err := e.job(t, res[i].ID)
		require.NoError(t, err)
		assert.Equal(t, kind, j.Kind, "results in the items' order")
	}
	j, err := e.job(t, res[1].ID)
	require.NoError(t, err)
	assert.Equal(t, 2, j.Priority)

	bad := append(items[:1:1], hopper.BatchItem{Kind: "acme.resize", Payload: resize{URL: "u"}})
	_, err = hopper.EnqueueManyTx(ctx, e.db, e.owner, bad)
	var ve *hopper.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, 1, ve.Index)
	assert.Contains(t, err.Error(), "jobs[1]: payload.width")
	list, _, err := e.st.ListJobs(ctx, jobstore.ListFilter{OwnerID: &e.owner})
	require.NoError(t, err)
	assert.Len(t, list, 3, "the refused batch stored nothing")

	_, err = hopper.EnqueueManyTx(ctx, e.db, e.owner, make([]hopper.BatchItem, hopper.MaxBatchItems+1))
	assert.ErrorIs(t, err, hopper.ErrUnprocessable)
}

// An idempotency key replays the owner's job; reused for another payload
// it is a conflict. An owner that is no user is ErrNotFound.
func TestEnqueueTxIdempotencyAndOwner(t *testing.T) {
	t.Parallel()
	e := newTxEnv(t)
	ctx := t.Context()

	first, err := hopper.EnqueueTx(ctx, e.db, e.owner, "system.noop", map[string]int{"n": 1}, hopper.WithIdempotencyKey("order-7"))
	require.NoError(t, err)
	assert.False(t, first.Replayed)
	again, err := hopper.EnqueueTx(ctx, e.db, e.owner, "system.noop", map[string]int{"n": 1}, hopper.WithIdempotencyKey("order-7"))
	require.NoError(t, err)
	assert.True(t, again.Replayed)
	assert.Equal(t, first.ID, again.ID)
	_, err = hopper.EnqueueTx(ctx, e.db, e.owner, "system.noop", map[string]int{"n": 2}, hopper.WithIdempotencyKey("order-7"))
	assert.ErrorIs(t, err, hopper.ErrConflict)

	_, err = hopper.EnqueueTx(ctx, e.db, uuid.New(), "system.noop", nil)
	assert.ErrorIs(t, err, hopper.ErrNotFound)
	assert.False(t, errors.Is(err, hopper.ErrUnprocessable))
}
