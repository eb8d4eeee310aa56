package jobstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hopperq/hopper/pkg/groupcommit"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// The hot path's three writes per job — submit, claim, success — are
// group-committed: concurrent lone Enqueues (without an idempotency
// key or quota), Claim and a succeeded Finish share one statement and one
// commit (pkg/groupcommit). Alone, a call is written at once; under load
// the batch grows with the load. Each batched statement is a fixed text
// over arrays (unnest), so pgx prepares it once per connection, and its
// rows are scanned without reflection (scan.go). A failed batch is
// retried one call at a time, so one bad input never fails its
// neighbours.

// hotPathParams pin the plans of the batched statements, on a pool of
// their own, so each batch finds its rows by primary key whatever the
// statistics say. Left to choose, the planner replanned every execution
// (a custom plan per batch size, 0.2–0.7 ms of planning each) and, with
// statistics taken before a backlog built up (a flood of submits outruns
// autoanalyze), read every queued job through the partial index
// jobs_in_flight_idx to claim a few: 12 ms per claim with 9,000 jobs
// queued, where the key lookups take well under 1 ms. Hence one cached
// generic plan, only nested loops over index scans, and the state tests
// comparing the column with an empty string appended, which no partial
// index on state can serve.
var hotPathParams = map[string]string{
	"plan_cache_mode":   "force_generic_plan",
	"enable_seqscan":    "off",
	"enable_bitmapscan": "off",
	"enable_hashjoin":   "off",
	"enable_mergejoin":  "off",
}

// hotPoolConns bounds the hot pool: each of the three batchers runs at
// most groupOptions.Flushers statements at once, and one urgent one.
const hotPoolConns = 3 * (hotFlushers + 1)

// openHotPool opens the hot-path pool on dsn with hotPathParams.
func openHotPool(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	for k, v := range hotPathParams {
		cfg.RuntimeParams[k] = v
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(hotPoolConns)
	db.SetMaxIdleConns(hotPoolConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// hotFlushers is each batcher's bound on statements at once.
const hotFlushers = 1

// groupOptions size the batchers. One flusher per batcher: the next batch
// gathers while one commits, and fewer, larger statements cost Postgres
// less per job than two half-sized ones (W1 1,270 against 1,122 jobs/s,
// W4 p99 70 against 82 ms, medians of 3 on the same machine). 128 rows
// keep a statement well under a millisecond of planning and locking.
var groupOptions = groupcommit.Options{MaxBatch: 128, Flushers: hotFlushers}

// groupedWrites are a Store's batchers. A completion yields only the
// state it wrote: the worker needs nothing more, and a row of every
// column would cost Postgres the sending and the worker the scan.
type groupedWrites struct {
	inserts     *groupcommit.Batcher[jobRow, Job]
	claims      *groupcommit.Batcher[claimReq, Job]
	completions *groupcommit.Batcher[Outcome, jobs.State]
}

func newGroupedWrites(s *Store) groupedWrites {
	return groupedWrites{
		inserts:     groupcommit.New(eachOnFailure(s.insertBatch), groupOptions),
		claims:      groupcommit.New(eachOnFailure(s.claimBatch), groupOptions),
		completions: groupcommit.New(eachOnFailure(s.completeBatch), groupOptions),
	}
}

// batchFunc writes a batch in one statement. A statement error fails the
// whole batch; otherwise each input gets its own result.
type batchFunc[In, Out any] func(ctx context.Context, ins []In) ([]groupcommit.Result[Out], error)

// eachOnFailure turns a batchFunc into a groupcommit flush that retries a
// failed batch one input at a time (a deadlock with another writer, or one
// input the statement rejects).
func eachOnFailure[In, Out any](write batchFunc[In, Out]) groupcommit.FlushFunc[In, Out] {
	return func(ctx context.Context, ins []In) []groupcommit.Result[Out] {
		out, err := write(ctx, ins)
		if err == nil {
			return out
		}
		out = make([]groupcommit.Result[Out], len(ins))
		if len(ins) == 1 {
			out[0].Err = err
			return out
		}
		for i := range ins {
			one, err := write(ctx, ins[i:i+1])
			if err != nil {
				out[i].Err = err
				continue
			}
			out[i] = one[0]
		}
		return out
	}
}

// insertBatch is the group-committed Enqueue of lone submissions without
// idempotency key or quota: the same statement, on the hot pool.
func (s *Store) insertBatch(ctx context.Context, rows []jobRow) ([]groupcommit.Result[Job], error) {
	return insertEach(ctx, s.hot, rows)
}

// queryJobs runs q, which selects jobColumns, and reads its rows.
func queryJobs(ctx context.Context, db pg.Querier, q string, args ...any) ([]Job, error) {
	res, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanJobs(res)
}

// claimReq asks for job id on behalf of a worker.
type claimReq struct {
	id       uuid.UUID
	workerID string
	lease    time.Duration
}

// The group-committed statements are fixed texts (their plans pinned:
// hotPathParams), so their moves are constants the text is built from.
const (
	// A claim starts a queued job's attempt.
	claimFrom, claimTo = jobs.StateQueued, jobs.StateRunning
	// A success ends a running attempt.
	completeFrom, completeTo = jobs.StateRunning, jobs.StateSucceeded
)

const claimBatchSQL = `
WITH c AS (
	SELECT * FROM unnest($1::uuid[], $2::text[], $3::float8[]) AS c(id, worker_id, lease_secs)
), u AS (
	UPDATE jobs j SET state = '` + string(claimTo) + `', attempt = j.attempt + 1, worker_id = c.worker_id,
		lease_expires_at = now() + make_interval(secs => c.lease_secs),
		started_at = now(), updated_at = now(), progress = 0, status_message = ''
	FROM c
	WHERE j.id = c.id AND j.state || '' = '` + string(claimFrom) + `' AND NOT j.held
	RETURNING j.*
), e AS (
	INSERT INTO job_events (job_id, type, state, attempt, message)
	SELECT id, '` + EventStarted + `', state, attempt, 'worker ' || worker_id FROM u
)
SELECT ` + jobColumns + ` FROM u`

// claimBatch claims queued jobs (see Claim). A job asked for twice in one
// batch (two deliveries of it) goes to the first request only.
func (s *Store) claimBatch(ctx context.Context, reqs []claimReq) ([]groupcommit.Result[Job], error) {
	var (
		ids, workers []string
		leases       []float64
		seen         = make(map[uuid.UUID]bool, len(reqs))
	)
	for _, r := range reqs {
		if seen[r.id] {
			continue
		}
		seen[r.id] = true
		ids, workers, leases = append(ids, r.id.String()), append(workers, r.workerID), append(leases, r.lease.Seconds())
	}
	got, err := queryJobs(ctx, s.hot, claimBatchSQL, ids, workers, leases)
	if err != nil {
		return nil, fmt.Errorf("claim %d jobs: %w", len(ids), err)
	}
	return matchByID(len(reqs), func(i int) uuid.UUID { return reqs[i].id }, byID(got),
		func(i int) error { return fmt.Errorf("claim job %s: %w", reqs[i].id, ErrNotClaimed) }), nil
}

const completeBatchSQL = `
WITH o AS (
	SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::jsonb[], $5::text[])
		AS o(id, attempt, worker_id, result, message)
), u AS (
	UPDATE jobs j SET state = '` + string(completeTo) + `', result = o.result, error = '', progress = 100,
		finished_at = now(), lease_expires_at = NULL, updated_at = now()
	FROM o
	WHERE j.id = o.id AND j.attempt = o.attempt AND j.worker_id = o.worker_id AND j.state || '' = '` + string(completeFrom) + `'
		AND j.workflow_id IS NULL
	RETURNING j.id, j.state, j.attempt
), e AS (
	INSERT INTO job_events (job_id, type, state, attempt, message)
	SELECT u.id, 'succeeded', u.state, u.attempt, o.message FROM u JOIN o ON o.id = u.id
)
SELECT id FROM u`

// completeBatch records succeeded outcomes (see Finish). A workflow's
// job is left out (ErrLeaseLost): its finish resolves its workflow in a
// transaction of its own (finishIn).
func (s *Store) completeBatch(ctx context.Context, outs []Outcome) ([]groupcommit.Result[jobs.State], error) {
	n := len(outs)
	var (
		ids, workers, messages = make([]string, n), make([]string, n), make([]string, n)
		attempts               = make([]int32, n)
		results                = make([]*string, n)
	)
	for i, o := range outs {
		ids[i], workers[i], messages[i], attempts[i] = o.JobID.String(), o.WorkerID, o.Message, int32(o.Attempt)
		if len(o.Result) > 0 {
			r := string(o.Result)
			results[i] = &r
		}
	}
	done, err := queryIDs(ctx, s.hot, completeBatchSQL, ids, attempts, workers, results, messages)
	if err != nil {
		return nil, fmt.Errorf("finish %d jobs: %w", n, err)
	}
	succeeded := make(map[uuid.UUID]jobs.State, len(done))
	for _, id := range done {
		succeeded[id] = jobs.StateSucceeded
	}
	return matchByID(n, func(i int) uuid.UUID { return outs[i].JobID }, succeeded, func(i int) error {
		return fmt.Errorf("finish job %s attempt %d as %s: %w", outs[i].JobID, outs[i].Attempt, jobs.StateSucceeded, ErrLeaseLost)
	}), nil
}

// matchByID gives each of n inputs (input i names job id(i)) the value
// found for its job, each value to one input only; inputs without one get
// missing(i).
func matchByID[Out any](n int, id func(int) uuid.UUID, found map[uuid.UUID]Out, missing func(int) error) []groupcommit.Result[Out] {
	out := make([]groupcommit.Result[Out], n)
	for i := range n {
		v, ok := found[id(i)]
		if !ok {
			out[i].Err = missing(i)
			continue
		}
		out[i].Value = v
		delete(found, id(i))
	}
	return out
}

// byID indexes jobs by their id.
func byID(rows []Job) map[uuid.UUID]Job {
	m := make(map[uuid.UUID]Job, len(rows))
	for _, j := range rows {
		m[j.ID] = j
	}
	return m
}

// queryIDs runs q, which selects one uuid column, and reads its rows.
func queryIDs(ctx context.Context, db pg.Querier, q string, args ...any) ([]uuid.UUID, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
