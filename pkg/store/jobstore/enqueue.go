package jobstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/groupcommit"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// Every job is created by Enqueue: the API's submits and batches, cron
// ticks and manual triggers, follow-ups, document uploads, jobs stored
// with their input artifact, and the transactional enqueue (EnqueueTx).
// It validates the rows, applies the owner's jobs-per-hour quota, and
// inserts through two statements: insertBatchSQL (over arrays, for jobs
// without an idempotency key; group commit writes the same one) and
// createJobSQL (one keyed job, or none when the key is taken). Each
// writes the job and its created event together, and the fairness
// trigger admits or holds each row. Store.Enqueue is the same on the
// Store's own connections, with group commit for a lone submit.

// MaxBatch bounds one Enqueue (and so the batch endpoint): 1,000 jobs
// stay one short statement.
const MaxBatch = 1000

// idempotentCreateTries bounds insertKeyed's insert-or-select loop. A
// second pass is only needed if the conflicting row vanished between the
// two statements; a third means something is badly wrong.
const idempotentCreateTries = 3

// NewJob is a validated submission for owner.
type NewJob struct {
	OwnerID        uuid.UUID
	Spec           jobs.Spec
	IdempotencyKey string // "" means none
	// JobsPerHour is the owner's plan limit (Plan.JobsPerHour): above 0
	// the insert runs under the owner's quota lock and fails with a
	// *pg.QuotaError when the sliding hour is full; 0 skips the check.
	JobsPerHour int
	// Workflow, when set, makes the job a step's (or a fan-out element's)
	// of a workflow; such jobs carry no idempotency key.
	Workflow *WorkflowRef
}

// WorkflowRef names the workflow step a job runs.
type WorkflowRef struct {
	ID      uuid.UUID
	Step    string
	Element *int // position in a fan-out step; nil for a step of one job
}

// Enqueued is a submission as Enqueue left it.
type Enqueued struct {
	Job Job
	// Created is false when the owner's idempotency key already named
	// Job: nothing was stored, and Job is that earlier job.
	Created bool
}

// Enqueue stores batch as of now with q — a transaction (a gorm
// transaction's connection, a caller's *sql.Tx) or a pool — and returns
// each submission's job in the order given. A submission whose owner
// already used its idempotency key yields that job, Created false;
// concurrent identical submits yield one job. Jobs without a key are
// written by one statement, all or none; keyed ones one statement each.
//
// With JobsPerHour set (the same in every submission, and one owner), q
// must be a transaction: Enqueue takes the owner's quota lock in it,
// answers replayed keys (which count for nothing, even when the hour is
// full), then counts the window and refuses the batch with a *pg.QuotaError
// if the new jobs do not fit.
func Enqueue(ctx context.Context, q pg.Querier, batch []NewJob, now time.Time) ([]Enqueued, error) {
	rows, err := newJobRows(batch, now)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	out := make([]Enqueued, len(rows))
	fresh := make([]int, 0, len(rows)) // indexes of rows not yet answered
	for i := range rows {
		fresh = append(fresh, i)
	}
	if perHour := batch[0].JobsPerHour; perHour > 0 {
		owner := batch[0].OwnerID
		if err := LockQuota(ctx, q, owner); err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
		// A replay answers its job whatever the quota says.
		if fresh, err = answerReplays(ctx, q, rows, fresh, out); err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
		used, retry, err := jobsWindow(ctx, q, owner, perHour, len(fresh), now)
		if err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
		if len(fresh) > 0 && used+len(fresh) > perHour {
			return nil, &pg.QuotaError{Limit: pg.LimitJobsPerHour, Max: perHour, Used: used, Requested: len(fresh), RetryAfter: retry}
		}
	}
	var plain []jobRow
	for _, i := range fresh {
		if rows[i].key == nil {
			plain = append(plain, rows[i])
			continue
		}
		// A key inserted meanwhile (by a submit that took no quota lock:
		// the plan changed) has committed: insertKeyed answers it.
		job, created, err := insertKeyed(ctx, q, rows[i])
		if err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
		out[i] = Enqueued{Job: job, Created: created}
	}
	if len(plain) > 0 {
		created, err := insertRows(ctx, q, plain)
		if err != nil {
			return nil, fmt.Errorf("enqueue: %w", ownerError(plain[0].owner, err))
		}
		for _, i := range fresh {
			if rows[i].key == nil {
				out[i], created = Enqueued{Job: created[0], Created: true}, created[1:]
			}
		}
	}
	return out, nil
}

// Enqueue stores batch (see the function Enqueue) with the Store's own
// connections. A lone submission without idempotency key or quota — the
// hot path — joins the group-committed insert, one statement for every
// submit in flight (urgent priorities do not wait behind a batch); a
// quota runs in a transaction of its own; anything else is one Enqueue
// on the pool.
func (s *Store) Enqueue(ctx context.Context, batch []NewJob, now time.Time) ([]Enqueued, error) {
	if len(batch) == 1 && batch[0].IdempotencyKey == "" && batch[0].JobsPerHour <= 0 {
		row, err := newJobRow(batch[0], now)
		if err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
		insert := s.grouped.inserts.Do
		if batch[0].Spec.Priority.Urgent() {
			insert = s.grouped.inserts.DoUrgent
		}
		job, err := insert(ctx, row)
		if err != nil {
			return nil, fmt.Errorf("enqueue: %w", ownerError(row.owner, err))
		}
		return []Enqueued{{Job: job, Created: true}}, nil
	}
	if len(batch) > 0 && batch[0].JobsPerHour > 0 {
		var out []Enqueued
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var err error
			out, err = Enqueue(ctx, tx.Statement.ConnPool, batch, now)
			return err
		})
		return out, err
	}
	// Keyed inserts answer from the general pool; plain ones run the
	// batched statement on the hot path's pool, whose plans are pinned.
	q := s.hot
	for _, nj := range batch {
		if nj.IdempotencyKey != "" {
			q = s.sql
			break
		}
	}
	return Enqueue(ctx, q, batch, now)
}

// newJobRows checks batch and makes its rows as of now.
func newJobRows(batch []NewJob, now time.Time) ([]jobRow, error) {
	if len(batch) > MaxBatch {
		return nil, fmt.Errorf("enqueue: %d jobs, limit %d", len(batch), MaxBatch)
	}
	rows := make([]jobRow, len(batch))
	for i, nj := range batch {
		if nj.JobsPerHour != batch[0].JobsPerHour || (nj.JobsPerHour > 0 && nj.OwnerID != batch[0].OwnerID) {
			return nil, errors.New("enqueue: a batch under a quota has one owner and one limit")
		}
		r, err := newJobRow(nj, now)
		if err != nil {
			return nil, fmt.Errorf("enqueue: job %d: %w", i, err)
		}
		rows[i] = r
	}
	return rows, nil
}

// answerReplays looks up, for the keyed rows among fresh, the job their
// key already names, fills it in out (Created false), and returns the
// rows still to insert.
func answerReplays(ctx context.Context, q pg.Querier, rows []jobRow, fresh []int, out []Enqueued) ([]int, error) {
	left := fresh[:0]
	for _, i := range fresh {
		if rows[i].key == nil {
			left = append(left, i)
			continue
		}
		found, err := queryJobs(ctx, q, keyedJobSQL, rows[i].owner, *rows[i].key)
		if err != nil {
			return nil, fmt.Errorf("find idempotent duplicate: %w", err)
		}
		if len(found) == 1 {
			out[i] = Enqueued{Job: found[0]}
			continue
		}
		left = append(left, i)
	}
	return left, nil
}

// insertBatchSQL inserts jobs without idempotency keys and their created
// events in one statement over arrays (one text for any batch size, so
// pgx prepares it once per connection).
const insertBatchSQL = `
WITH ins AS (
	INSERT INTO jobs (id, owner_id, kind, queue, state, priority, payload, max_attempts,
	                  timeout_ms, webhook_url, notify_email, run_at, created_at, updated_at,
	                  workflow_id, workflow_step, workflow_element)
	SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::smallint[],
	                     $7::jsonb[], $8::int[], $9::bigint[], $10::text[], $11::text[],
	                     $12::timestamptz[], $13::timestamptz[], $13::timestamptz[],
	                     $14::uuid[], $15::text[], $16::int[])
	RETURNING ` + jobColumns + `
), e AS (
	INSERT INTO job_events (job_id, at, type, state, attempt)
	SELECT id, created_at, 'created', state, attempt FROM ins
)
SELECT ` + jobColumns + ` FROM ins`

// insertRows inserts rows (no idempotency keys) and their created events
// in one statement, and returns the jobs in the order of rows; a row not
// stored fails the whole call.
func insertRows(ctx context.Context, db pg.Querier, rows []jobRow) ([]Job, error) {
	res, err := insertEach(ctx, db, rows)
	if err != nil {
		return nil, err
	}
	out := make([]Job, len(res))
	for i, r := range res {
		if r.Err != nil {
			return nil, r.Err
		}
		out[i] = r.Value
	}
	return out, nil
}

// insertEach inserts rows (no idempotency keys) and their created events
// in one statement, and gives each row its job or why it is missing.
func insertEach(ctx context.Context, db pg.Querier, rows []jobRow) ([]groupcommit.Result[Job], error) {
	n := len(rows)
	var (
		ids, owners             = make([]string, n), make([]string, n)
		kinds, queues, states   = make([]string, n), make([]string, n), make([]string, n)
		payloads, hooks, emails = make([]string, n), make([]string, n), make([]string, n)
		priorities              = make([]int16, n)
		maxAttempts             = make([]int32, n)
		timeouts                = make([]int64, n)
		runAts, nows            = make([]time.Time, n), make([]time.Time, n)
		workflows, steps        = make([]*string, n), make([]*string, n)
		elements                = make([]*int32, n)
	)
	for i, r := range rows {
		ids[i], owners[i] = r.id.String(), r.owner.String()
		kinds[i], queues[i], states[i] = r.kind, r.queue, r.state
		payloads[i], hooks[i], emails[i] = string(r.payload), r.webhookURL, r.notifyEmail
		priorities[i], maxAttempts[i], timeouts[i] = int16(r.priority), int32(r.maxAttempts), r.timeoutMS
		runAts[i], nows[i] = r.runAt, r.now
		if w := r.workflow; w != nil {
			id, step := w.ID.String(), w.Step
			workflows[i], steps[i] = &id, &step
			if w.Element != nil {
				e := int32(*w.Element)
				elements[i] = &e
			}
		}
	}
	got, err := queryJobs(ctx, db, insertBatchSQL, ids, owners, kinds, queues, states, priorities,
		payloads, maxAttempts, timeouts, hooks, emails, runAts, nows, workflows, steps, elements)
	if err != nil {
		return nil, fmt.Errorf("create %d jobs: %w", n, err)
	}
	return matchByID(n, func(i int) uuid.UUID { return rows[i].id }, byID(got),
		func(i int) error { return fmt.Errorf("create job %s: row not returned", rows[i].id) }), nil
}

// createJobSQL inserts a job and its created event in one statement. With
// an idempotency key already used by the owner it inserts nothing and
// returns no row.
const createJobSQL = `
WITH ins AS (
	INSERT INTO jobs (id, owner_id, kind, queue, state, priority, payload, max_attempts,
	                  timeout_ms, webhook_url, notify_email, idempotency_key, run_at, created_at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
	ON CONFLICT (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
	RETURNING ` + jobColumns + `
), e AS (
	INSERT INTO job_events (job_id, at, type, state, attempt)
	SELECT id, created_at, 'created', state, attempt FROM ins
)
SELECT ` + jobColumns + ` FROM ins`

// keyedJobSQL finds the job an owner's idempotency key names.
const keyedJobSQL = `SELECT ` + jobColumns + ` FROM jobs WHERE owner_id = $1 AND idempotency_key = $2 LIMIT 1`

// insertKeyed inserts r, which carries an idempotency key, with q (a pool
// or a transaction), or finds the job the owner's key already names
// (created false). Concurrent inserts of one key yield one job: ON
// CONFLICT waits for the other insert to commit, and the next statement's
// fresh snapshot (READ COMMITTED) sees its row.
func insertKeyed(ctx context.Context, q pg.Querier, r jobRow) (job Job, created bool, err error) {
	for range idempotentCreateTries {
		rows, err := queryJobs(ctx, q, createJobSQL, r.args()...)
		if err != nil {
			return Job{}, false, ownerError(r.owner, err)
		}
		if len(rows) == 1 {
			return rows[0], true, nil
		}
		rows, err = queryJobs(ctx, q, keyedJobSQL, r.owner, *r.key)
		if err != nil {
			return Job{}, false, fmt.Errorf("find idempotent duplicate: %w", err)
		}
		if len(rows) == 1 {
			return rows[0], false, nil
		}
		// The conflicting row vanished between the two statements (deleted
		// by retention): insert again.
	}
	return Job{}, false, fmt.Errorf("idempotency key %q conflicts with a row that keeps vanishing", *r.key)
}

// ownerError names a missing owner in err, a foreign key violation of
// jobs.owner_id (the only foreign key an insert can break), as
// pg.ErrNotFound; other errors pass unchanged.
func ownerError(owner uuid.UUID, err error) error {
	if pg.Code(err) == pg.ForeignKeyViolation {
		return fmt.Errorf("owner %s is not a user: %w", owner, pg.ErrNotFound)
	}
	return err
}

// jobRow is a validated submission as the row it inserts.
type jobRow struct {
	id, owner               uuid.UUID
	kind, queue, state      string
	priority                int
	payload                 json.RawMessage
	maxAttempts             int
	timeoutMS               int64
	webhookURL, notifyEmail string
	key                     *string // nil: no idempotency key
	runAt, now              time.Time
	workflow                *WorkflowRef
}

// newJobRow checks a submission and makes its row as of now.
func newJobRow(nj NewJob, now time.Time) (jobRow, error) {
	spec := nj.Spec
	if spec.Kind.Name == "" || spec.Kind.Queue == "" {
		return jobRow{}, errors.New("spec has no kind or queue")
	}
	if spec.MaxAttempts < 1 {
		return jobRow{}, fmt.Errorf("max attempts %d below 1", spec.MaxAttempts)
	}
	if spec.Timeout < time.Millisecond {
		return jobRow{}, fmt.Errorf("timeout %s below 1ms", spec.Timeout)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return jobRow{}, fmt.Errorf("new id: %w", err)
	}
	payload := spec.Payload
	if len(payload) == 0 {
		payload = json.RawMessage(`{}`)
	}
	runAt := spec.RunAt
	if runAt.IsZero() {
		runAt = now
	}
	if nj.Workflow != nil && nj.IdempotencyKey != "" {
		return jobRow{}, errors.New("a workflow's job takes no idempotency key")
	}
	var key *string
	if nj.IdempotencyKey != "" {
		key = &nj.IdempotencyKey
	}
	return jobRow{
		id: id, owner: nj.OwnerID, kind: spec.Kind.Name, queue: spec.Kind.Queue,
		state: string(spec.InitialState(now)), priority: int(spec.Priority), payload: payload,
		maxAttempts: spec.MaxAttempts, timeoutMS: spec.Timeout.Milliseconds(),
		webhookURL: spec.WebhookURL, notifyEmail: spec.NotifyEmail, key: key, runAt: runAt, now: now,
		workflow: nj.Workflow,
	}, nil
}

// args are createJobSQL's arguments for r.
func (r jobRow) args() []any {
	return []any{
		r.id, r.owner, r.kind, r.queue, r.state, r.priority, r.payload, r.maxAttempts, r.timeoutMS,
		r.webhookURL, r.notifyEmail, r.key, r.runAt, r.now,
	}
}
