package workflows

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// Detail is a workflow with its steps and their jobs.
type Detail struct {
	Workflow Workflow
	Steps    []StepDetail
}

// StepDetail is a step and its jobs, in element order.
type StepDetail struct {
	Step
	Jobs []StepJob
}

// StepJob is what a workflow shows of one of its jobs.
type StepJob struct {
	ID         uuid.UUID
	Element    *int
	State      jobs.State
	Attempts   int
	Result     json.RawMessage
	Error      string
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// GetWorkflow returns workflow id of owner (nil: any owner) with its steps and
// jobs; another owner's workflow is pg.ErrNotFound, as a missing one.
func (s *Store) GetWorkflow(ctx context.Context, owner *uuid.UUID, id uuid.UUID) (Detail, error) {
	q := s.sql
	w, err := s.get(ctx, q, owner, id, "")
	if err != nil {
		return Detail{}, err
	}
	list, err := steps(ctx, q, id)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Workflow: w, Steps: make([]StepDetail, len(list))}
	at := make(map[string]int, len(list))
	for i, st := range list {
		d.Steps[i].Step = st
		at[st.Name] = i
	}
	rows, err := q.QueryContext(ctx, `SELECT id, workflow_step, workflow_element, state, attempt, result, error,
			started_at, finished_at
		FROM jobs WHERE workflow_id = $1 ORDER BY workflow_step, workflow_element NULLS FIRST, id`, id)
	if err != nil {
		return Detail{}, fmt.Errorf("jobs of workflow %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			j                 StepJob
			step, state       string
			element           sql.NullInt32
			started, finished sql.NullTime
			result            []byte
		)
		if err := rows.Scan(&j.ID, &step, &element, &state, &j.Attempts, &result, &j.Error, &started, &finished); err != nil {
			return Detail{}, fmt.Errorf("jobs of workflow %s: %w", id, err)
		}
		j.State = jobs.State(state)
		if result != nil {
			j.Result = json.RawMessage(result)
		}
		if element.Valid {
			e := int(element.Int32)
			j.Element = &e
		}
		if started.Valid {
			j.StartedAt = &started.Time
		}
		if finished.Valid {
			j.FinishedAt = &finished.Time
		}
		if i, ok := at[step]; ok {
			d.Steps[i].Jobs = append(d.Steps[i].Jobs, j)
		}
	}
	if err := rows.Err(); err != nil {
		return Detail{}, fmt.Errorf("jobs of workflow %s: %w", id, err)
	}
	return d, nil
}

// ListFilter selects workflows for ListWorkflows. Zero fields do not filter.
type ListFilter struct {
	OwnerID *uuid.UUID
	States  []string
	Limit   int    // 0: jobstore.DefaultListLimit; capped at jobstore.MaxListLimit
	Cursor  string // a previous page's next cursor
}

// ListWorkflows returns a page of workflows, newest first, and the next page's
// cursor ("" on the last page), paged on (created_at, id) as jobs are.
func (s *Store) ListWorkflows(ctx context.Context, f ListFilter) ([]Workflow, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = jobstore.DefaultListLimit
	}
	limit = min(limit, jobstore.MaxListLimit)
	query := `SELECT ` + workflowColumns + ` FROM workflows WHERE true`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.OwnerID != nil {
		query += ` AND owner_id = ` + arg(*f.OwnerID)
	}
	if len(f.States) > 0 {
		query += ` AND state = ANY(` + arg(f.States) + `::text[])`
	}
	if f.Cursor != "" {
		at, id, err := jobstore.DecodeCursor(f.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list workflows: %w", err)
		}
		query += ` AND (created_at, id) < (` + arg(at) + `, ` + arg(id) + `)`
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(limit+1)
	rows, err := s.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list workflows: %w", err)
	}
	defer rows.Close()
	var out []Workflow
	for rows.Next() {
		w, err := scanWorkflow(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list workflows: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list workflows: %w", err)
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	last := out[limit-1]
	return out, jobstore.EncodeCursor(last.CreatedAt, last.ID), nil
}

// ParentResults returns, for job id, the results of its step's parents
// by step name, read from the parents' own job rows at the time of the
// call (nothing is copied into the child): a parent of one job gives its
// result, a fan-out parent the list of its elements' results in element
// order. A job outside any workflow has none.
func (s *Store) ParentResults(ctx context.Context, id uuid.UUID) (map[string]json.RawMessage, error) {
	return s.ParentResultsUpTo(ctx, id, "", 0)
}

// ErrParentsTooLarge is returned by ParentResultsUpTo when the parents'
// results add up to more than its bound.
var ErrParentsTooLarge = errors.New("the parents' results are larger than the limit")

// ParentResultsUpTo is ParentResults bounded for an answer over HTTP:
// only parent step (all parents when ""), and ErrParentsTooLarge once the
// results read add up to more than maxBytes (0: no bound). Rows are read
// one at a time, so a refused read never holds more than maxBytes plus
// one result.
func (s *Store) ParentResultsUpTo(ctx context.Context, id uuid.UUID, step string, maxBytes int64) (map[string]json.RawMessage, error) {
	rows, err := s.sql.QueryContext(ctx, `SELECT p.name, p.for_each IS NOT NULL, j.result
		FROM jobs c
		JOIN workflow_steps s ON s.workflow_id = c.workflow_id AND s.name = c.workflow_step
		JOIN workflow_steps p ON p.workflow_id = c.workflow_id AND p.name = ANY(s.depends_on)
		JOIN jobs j ON j.workflow_id = c.workflow_id AND j.workflow_step = p.name AND j.state = 'succeeded'
		WHERE c.id = $1 AND ($2 = '' OR p.name = $2)
		ORDER BY p.name, j.workflow_element`, id, step)
	if err != nil {
		return nil, fmt.Errorf("parent results of job %s: %w", id, err)
	}
	defer rows.Close()
	lists := map[string][]json.RawMessage{}
	fanOut := map[string]bool{}
	var total int64
	for rows.Next() {
		var (
			name   string
			many   bool
			result []byte
		)
		if err := rows.Scan(&name, &many, &result); err != nil {
			return nil, fmt.Errorf("parent results of job %s: %w", id, err)
		}
		if len(result) == 0 {
			result = []byte("null")
		}
		if total += int64(len(result)) + 1; maxBytes > 0 && total > maxBytes {
			return nil, fmt.Errorf("parent results of job %s: %w (%d bytes)", id, ErrParentsTooLarge, maxBytes)
		}
		lists[name] = append(lists[name], result)
		fanOut[name] = many
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("parent results of job %s: %w", id, err)
	}
	out := make(map[string]json.RawMessage, len(lists))
	for name, list := range lists {
		if !fanOut[name] {
			out[name] = list[0]
			continue
		}
		b, err := json.Marshal(list)
		if err != nil {
			return nil, fmt.Errorf("parent results of job %s: %w", id, err)
		}
		out[name] = b
	}
	return out, nil
}

// StepState is what a live view shows of a step: its state and how many
// of its jobs have ended how.
type StepState struct {
	Name          string
	State         string
	JobsTotal     int
	JobsSucceeded int
	JobsFailed    int
	JobsCancelled int
	Error         string
}

// WorkflowStates returns workflow id of owner (nil: any owner) and its steps'
// states, in the order given at creation: two small indexed reads, cheap
// enough for a live stream to repeat after every change. The workflow is
// read first, so a terminal workflow comes with its steps' final states.
func (s *Store) WorkflowStates(ctx context.Context, owner *uuid.UUID, id uuid.UUID) (Workflow, []StepState, error) {
	w, err := s.get(ctx, s.sql, owner, id, "")
	if err != nil {
		return Workflow{}, nil, err
	}
	rows, err := s.sql.QueryContext(ctx, `SELECT name, state, jobs_total, jobs_succeeded, jobs_failed,
			jobs_cancelled, error
		FROM workflow_steps WHERE workflow_id = $1 ORDER BY position`, id)
	if err != nil {
		return Workflow{}, nil, fmt.Errorf("step states of workflow %s: %w", id, err)
	}
	defer rows.Close()
	var out []StepState
	for rows.Next() {
		var st StepState
		if err := rows.Scan(&st.Name, &st.State, &st.JobsTotal, &st.JobsSucceeded, &st.JobsFailed,
			&st.JobsCancelled, &st.Error); err != nil {
			return Workflow{}, nil, fmt.Errorf("step states of workflow %s: %w", id, err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return Workflow{}, nil, fmt.Errorf("step states of workflow %s: %w", id, err)
	}
	return w, out, nil
}
