// Package workflows is the store's workflows aggregate (issue 20): DAGs
// of jobs durable in Postgres. A workflow and its steps are rows; each
// step runs as one job, or one job per element of a fan-out, created
// through the jobs aggregate's one enqueue path, so quotas, the fairness
// cap and the outbox apply to every step as to any job.
//
// There is no coordinator in memory. A step waits in workflow_steps until
// its last parent succeeds and is released in the transaction of that
// parent's end (jobstore calls Resolve there, as every terminal
// transition of a workflow's job commits): the workflow's row lock
// serializes the resolutions of one workflow, and a child's
// pending_parents reaches zero in exactly one of them. A crash anywhere
// leaves either both the parent's end and its child's release, or
// neither.
package workflows

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// Workflow states. Running until every step is over; then succeeded when
// every step succeeded, cancelled when the user cancelled it, else failed.
const (
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// Step states: waiting for parents, running (its jobs exist), and the
// ends. Skipped: a parent failed under the continue policy.
const (
	StepWaiting   = "waiting"
	StepRunning   = "running"
	StepSucceeded = "succeeded"
	StepFailed    = "failed"
	StepCancelled = "cancelled"
	StepSkipped   = "skipped"
)

// Halts: why a workflow releases no more steps.
const (
	haltNone      = ""
	haltFailed    = "failed"
	haltCancelled = "cancelled"
)

// Store reads and writes workflows. It is safe for concurrent use.
type Store struct {
	db  *gorm.DB
	sql *sql.DB
}

// New returns the workflows aggregate over db.
func New(db *pg.DB) *Store { return &Store{db: db.Gorm(), sql: db.SQL()} }

// Workflow is a workflow row.
type Workflow struct {
	ID             uuid.UUID
	OwnerID        uuid.UUID
	Name           string
	IdempotencyKey *string
	FailurePolicy  string
	State          string
	Halt           string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	FinishedAt     *time.Time
	requestHash    string
}

// Step is a workflow step row.
type Step struct {
	Name           string
	Position       int
	Kind           string
	Queue          string
	Priority       int
	MaxAttempts    int
	TimeoutMS      int64
	Payload        json.RawMessage
	DependsOn      []string
	PendingParents int
	ForEach        *jobs.ForEach
	State          string
	JobsTotal      int
	JobsSucceeded  int
	JobsFailed     int
	JobsCancelled  int
	Error          string
	ReleasedAt     *time.Time
	FinishedAt     *time.Time
}

// over reports whether every job of a released step has ended.
func (s Step) over() bool {
	return s.JobsSucceeded+s.JobsFailed+s.JobsCancelled >= s.JobsTotal
}

// ended is the state of a released step whose jobs are all over.
func (s Step) ended() string {
	switch {
	case s.JobsFailed > 0:
		return StepFailed
	case s.JobsCancelled > 0:
		return StepCancelled
	}
	return StepSucceeded
}

const workflowColumns = `id, owner_id, name, idempotency_key, failure_policy, state, halt,
	created_at, updated_at, finished_at, request_hash`

func scanWorkflow(row interface{ Scan(...any) error }) (Workflow, error) {
	var (
		w   Workflow
		key sql.NullString
		fin sql.NullTime
	)
	err := row.Scan(&w.ID, &w.OwnerID, &w.Name, &key, &w.FailurePolicy, &w.State, &w.Halt,
		&w.CreatedAt, &w.UpdatedAt, &fin, &w.requestHash)
	if err != nil {
		return Workflow{}, err
	}
	if key.Valid {
		w.IdempotencyKey = &key.String
	}
	if fin.Valid {
		w.FinishedAt = &fin.Time
	}
	return w, nil
}

const stepColumns = `name, position, kind, queue, priority, max_attempts, timeout_ms, payload,
	to_json(depends_on), pending_parents, for_each, state, jobs_total, jobs_succeeded, jobs_failed,
	jobs_cancelled, error, released_at, finished_at`

func scanSteps(rows *sql.Rows) ([]Step, error) {
	defer rows.Close()
	var out []Step
	for rows.Next() {
		var (
			s                  Step
			deps, forEach      []byte
			released, finished sql.NullTime
		)
		err := rows.Scan(&s.Name, &s.Position, &s.Kind, &s.Queue, &s.Priority, &s.MaxAttempts, &s.TimeoutMS,
			&s.Payload, &deps, &s.PendingParents, &forEach, &s.State, &s.JobsTotal, &s.JobsSucceeded,
			&s.JobsFailed, &s.JobsCancelled, &s.Error, &released, &finished)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(deps, &s.DependsOn); err != nil {
			return nil, fmt.Errorf("step %s: depends_on: %w", s.Name, err)
		}
		if len(forEach) > 0 {
			s.ForEach = &jobs.ForEach{}
			if err := json.Unmarshal(forEach, s.ForEach); err != nil {
				return nil, fmt.Errorf("step %s: for_each: %w", s.Name, err)
			}
		}
		if released.Valid {
			s.ReleasedAt = &released.Time
		}
		if finished.Valid {
			s.FinishedAt = &finished.Time
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// NewWorkflow is a validated workflow for owner: its steps' specs carry
// the owner's plan bounds already.
type NewWorkflow struct {
	OwnerID uuid.UUID
	Plan    jobs.WorkflowPlan
	// Request is the request as received, hashed to tell a replay of the
	// idempotency key from a different request under it.
	Request json.RawMessage
	// JobsPerHour is the owner's plan limit: the jobs the workflow
	// starts at once (its root steps) must fit it, as a submit's must.
	// Steps released later are never refused: accepted work is not
	// dropped; they count in the window like any job.
	JobsPerHour int
}

// Created is what CreateWorkflow did.
type Created struct {
	Workflow Workflow
	// Jobs are the jobs created (the root steps'), for the caller to
	// publish once Create returns: they are in the outbox already.
	Jobs []jobstore.Job
	// Replayed: the owner's idempotency key named an earlier workflow,
	// and nothing was stored.
	Replayed bool
}

// ErrKeyReused is a known idempotency key sent with a different request.
var ErrKeyReused = errors.New("idempotency key already used for a different workflow")

// CreateWorkflow stores nw as of now and enqueues its root steps, in one
// transaction: the workflow exists with its first jobs or not at all. A
// *pg.QuotaError refuses it when the root jobs do not fit the owner's
// hour.
func (s *Store) CreateWorkflow(ctx context.Context, nw NewWorkflow, now time.Time) (Created, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Created{}, fmt.Errorf("new workflow id: %w", err)
	}
	sum := sha256.Sum256(nw.Request)
	hash := hex.EncodeToString(sum[:])
	var key *string
	if nw.Plan.IdempotencyKey != "" {
		key = &nw.Plan.IdempotencyKey
	}
	steps, err := stepsJSON(nw.Plan)
	if err != nil {
		return Created{}, err
	}
	var out Created
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Statement.ConnPool
		w, err := insertWorkflow(ctx, q, id, nw, key, hash, now)
		if errors.Is(err, sql.ErrNoRows) {
			// The key is taken: answer its workflow (ON CONFLICT waited for
			// its insert to commit).
			if w, err = s.get(ctx, q, &nw.OwnerID, uuid.Nil, *key); err != nil {
				return err
			}
			if w.requestHash != hash {
				return fmt.Errorf("workflow %s: %w", w.ID, ErrKeyReused)
			}
			out = Created{Workflow: w, Replayed: true}
			return nil
		}
		if err != nil {
			return ownerError(nw.OwnerID, err)
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO workflow_steps (workflow_id, name, position, kind, queue,
				priority, max_attempts, timeout_ms, payload, depends_on, pending_parents, for_each, state)
			SELECT $1, x.name, x.position, x.kind, x.queue, x.priority, x.max_attempts, x.timeout_ms, x.payload,
				ARRAY(SELECT jsonb_array_elements_text(x.depends_on)), jsonb_array_length(x.depends_on),
				x.for_each, 'waiting'
			FROM jsonb_to_recordset($2::jsonb) AS x(name text, position int, kind text, queue text,
				priority smallint, max_attempts int, timeout_ms bigint, payload jsonb, depends_on jsonb,
				for_each jsonb)`, id, steps); err != nil {
			return fmt.Errorf("insert steps: %w", err)
		}
		r := &resolver{ctx: ctx, tx: tx, q: q, wf: w, now: now, jobsPerHour: nw.JobsPerHour, fromAPI: true}
		var roots []string
		for _, st := range nw.Plan.Steps {
			if len(st.DependsOn) == 0 {
				roots = append(roots, st.Name)
			}
		}
		if err := r.release(roots); err != nil {
			return err
		}
		if err := r.finishIfDone(); err != nil {
			return err
		}
		out = Created{Workflow: r.wf, Jobs: r.created}
		return nil
	})
	if err != nil {
		return Created{}, fmt.Errorf("create workflow: %w", err)
	}
	return out, nil
}

// insertWorkflow inserts the workflow row; sql.ErrNoRows when the owner's
// idempotency key is taken.
func insertWorkflow(ctx context.Context, q pg.Querier, id uuid.UUID, nw NewWorkflow, key *string, hash string, now time.Time) (Workflow, error) {
	rows, err := q.QueryContext(ctx, `INSERT INTO workflows (id, owner_id, name, idempotency_key, request_hash,
			failure_policy, state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $7)
		ON CONFLICT (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
		RETURNING `+workflowColumns, id, nw.OwnerID, nw.Plan.Name, key, hash, nw.Plan.FailurePolicy, now)
	if err != nil {
		return Workflow{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Workflow{}, err
		}
		return Workflow{}, sql.ErrNoRows
	}
	return scanWorkflow(rows)
}

// stepsJSON is plan's steps as the rows jsonb_to_recordset inserts.
func stepsJSON(plan jobs.WorkflowPlan) ([]byte, error) {
	type row struct {
		Name        string          `json:"name"`
		Position    int             `json:"position"`
		Kind        string          `json:"kind"`
		Queue       string          `json:"queue"`
		Priority    int             `json:"priority"`
		MaxAttempts int             `json:"max_attempts"`
		TimeoutMS   int64           `json:"timeout_ms"`
		Payload     json.RawMessage `json:"payload"`
		DependsOn   []string        `json:"depends_on"`
		ForEach     *jobs.ForEach   `json:"for_each"`
	}
	rows := make([]row, len(plan.Steps))
	for i, st := range plan.Steps {
		deps := st.DependsOn
		if deps == nil {
			deps = []string{}
		}
		rows[i] = row{Name: st.Name, Position: i, Kind: st.Spec.Kind.Name, Queue: st.Spec.Kind.Queue,
			Priority: int(st.Spec.Priority), MaxAttempts: st.Spec.MaxAttempts, TimeoutMS: st.Spec.Timeout.Milliseconds(),
			Payload: st.Spec.Payload, DependsOn: deps, ForEach: st.ForEach}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return nil, fmt.Errorf("encode steps: %w", err)
	}
	return b, nil
}

// ownerError names a missing owner (the only foreign key a workflow's
// insert can break) as pg.ErrNotFound.
func ownerError(owner uuid.UUID, err error) error {
	if pg.Code(err) == pg.ForeignKeyViolation {
		return fmt.Errorf("owner %s is not a user: %w", owner, pg.ErrNotFound)
	}
	return err
}

// get reads workflow id (or, with id nil, the one key names) of owner
// (nil: any owner); pg.ErrNotFound when there is none.
func (s *Store) get(ctx context.Context, q pg.Querier, owner *uuid.UUID, id uuid.UUID, key string) (Workflow, error) {
	query := `SELECT ` + workflowColumns + ` FROM workflows WHERE `
	var args []any
	if id != uuid.Nil {
		query += `id = $1`
		args = append(args, id)
	} else {
		query += `idempotency_key = $1`
		args = append(args, key)
	}
	if owner != nil {
		query += fmt.Sprintf(` AND owner_id = $%d`, len(args)+1)
		args = append(args, *owner)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return Workflow{}, fmt.Errorf("get workflow: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Workflow{}, fmt.Errorf("get workflow: %w", err)
		}
		return Workflow{}, fmt.Errorf("get workflow %s: %w", id, pg.ErrNotFound)
	}
	w, err := scanWorkflow(rows)
	if err != nil {
		return Workflow{}, fmt.Errorf("get workflow: %w", err)
	}
	return w, nil
}

// lock reads and locks workflow id of owner (nil: any) in tx's q: every
// resolution of the workflow waits for the lock, so they run one at a
// time. FOR NO KEY UPDATE still lets jobs referencing the row be
// inserted.
func lock(ctx context.Context, q pg.Querier, owner *uuid.UUID, id uuid.UUID) (Workflow, error) {
	query := `SELECT ` + workflowColumns + ` FROM workflows WHERE id = $1`
	args := []any{id}
	if owner != nil {
		query += ` AND owner_id = $2`
		args = append(args, *owner)
	}
	rows, err := q.QueryContext(ctx, query+` FOR NO KEY UPDATE`, args...)
	if err != nil {
		return Workflow{}, fmt.Errorf("lock workflow %s: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Workflow{}, fmt.Errorf("lock workflow %s: %w", id, err)
		}
		return Workflow{}, fmt.Errorf("workflow %s: %w", id, pg.ErrNotFound)
	}
	return scanWorkflow(rows)
}

// steps reads workflow id's steps in the order given at creation.
func steps(ctx context.Context, q pg.Querier, id uuid.UUID) ([]Step, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+stepColumns+` FROM workflow_steps WHERE workflow_id = $1 ORDER BY position`, id)
	if err != nil {
		return nil, fmt.Errorf("steps of workflow %s: %w", id, err)
	}
	list, err := scanSteps(rows)
	if err != nil {
		return nil, fmt.Errorf("steps of workflow %s: %w", id, err)
	}
	return list, nil
}
