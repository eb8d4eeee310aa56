package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// ResolveWorkflows is the jobs aggregate's EndedHook: in tx, the transaction in
// which the jobs of ended reached their terminal state, it accounts each
// to its step and moves its workflow on — releases the children whose
// last parent succeeded, applies the failure policy, ends the workflow
// when every step is over. Workflows are locked in id order, so two
// resolutions touching the same workflows cannot deadlock.
func (s *Store) ResolveWorkflows(ctx context.Context, tx *gorm.DB, ended []jobstore.Job) error {
	byWorkflow := map[uuid.UUID][]jobstore.Job{}
	for _, j := range ended {
		byWorkflow[*j.WorkflowID] = append(byWorkflow[*j.WorkflowID], j)
	}
	ids := make([]uuid.UUID, 0, len(byWorkflow))
	for id := range byWorkflow {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	q := tx.Statement.ConnPool
	for _, id := range ids {
		w, err := lock(ctx, q, nil, id)
		if err != nil {
			return fmt.Errorf("resolve workflow: %w", err)
		}
		r := &resolver{ctx: ctx, tx: tx, q: q, wf: w, now: time.Now()}
		for _, j := range byWorkflow[id] {
			if err := r.jobEnded(j); err != nil {
				return fmt.Errorf("resolve workflow %s after job %s: %w", id, j.ID, err)
			}
		}
		if !r.stepsEnded {
			continue
		}
		if err := r.finishIfDone(); err != nil {
			return fmt.Errorf("resolve workflow %s: %w", id, err)
		}
	}
	return nil
}

// resolver moves one locked workflow on, inside one transaction.
type resolver struct {
	ctx context.Context
	tx  *gorm.DB
	q   pg.Querier
	wf  Workflow
	now time.Time
	// fromAPI: the caller publishes the jobs created (Create, a retry);
	// otherwise EnqueueTx has the dispatcher publish them at commit.
	fromAPI     bool
	jobsPerHour int
	created     []jobstore.Job
	// stepsEnded: some step ended, so the workflow may be over.
	stepsEnded bool
}

// step reads one step of the workflow.
func (r *resolver) step(name string) (Step, error) {
	rows, err := r.q.QueryContext(r.ctx, `SELECT `+stepColumns+` FROM workflow_steps
		WHERE workflow_id = $1 AND name = $2`, r.wf.ID, name)
	if err != nil {
		return Step{}, fmt.Errorf("read step %s: %w", name, err)
	}
	list, err := scanSteps(rows)
	if err != nil {
		return Step{}, fmt.Errorf("read step %s: %w", name, err)
	}
	if len(list) == 0 {
		return Step{}, fmt.Errorf("step %s: %w", name, pg.ErrNotFound)
	}
	return list[0], nil
}

// counterOf is the step column that counts jobs ending in state.
var counterOf = map[jobs.State]string{
	jobs.StateSucceeded: "jobs_succeeded",
	jobs.StateFailed:    "jobs_failed",
	jobs.StateCancelled: "jobs_cancelled",
}

// jobEnded accounts job j's end to its step; the step is over when all
// its jobs are. A failed or cancelled job dooms its step: the step's
// other jobs still waiting are cancelled.
func (r *resolver) jobEnded(j jobstore.Job) error {
	name := *j.WorkflowStep
	col, ok := counterOf[j.State]
	if !ok {
		return fmt.Errorf("job %s is %s, not over", j.ID, j.State)
	}
	rows, err := r.q.QueryContext(r.ctx, `UPDATE workflow_steps SET `+col+` = `+col+` + 1
		WHERE workflow_id = $1 AND name = $2 AND state = 'running'
		RETURNING jobs_total, jobs_succeeded, jobs_failed, jobs_cancelled`, r.wf.ID, name)
	if err != nil {
		return fmt.Errorf("count job of step %s: %w", name, err)
	}
	counted := false
	st := Step{Name: name, State: StepRunning}
	for rows.Next() {
		counted = true
		if err := rows.Scan(&st.JobsTotal, &st.JobsSucceeded, &st.JobsFailed, &st.JobsCancelled); err != nil {
			rows.Close()
			return fmt.Errorf("count job of step %s: %w", name, err)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count job of step %s: %w", name, err)
	}
	if !counted {
		return nil // the step is over already (cancelled with the workflow)
	}
	if j.State != jobs.StateSucceeded {
		if err := r.cancelWaiting(name, fmt.Sprintf("step %s: another of its jobs %s", name, j.State)); err != nil {
			return err
		}
		return r.settle(name)
	}
	if !st.over() {
		return nil // the common case of a fan-out: more elements to come
	}
	return r.settleStep(st)
}

// settle ends step name if all its jobs are over.
func (r *resolver) settle(name string) error {
	st, err := r.step(name)
	if err != nil {
		return err
	}
	return r.settleStep(st)
}

// settleStep ends step st, as read, if all its jobs are over.
func (r *resolver) settleStep(st Step) error {
	if st.State != StepRunning || !st.over() {
		return nil
	}
	name := st.Name
	msg := ""
	if st.ended() != StepSucceeded {
		msg = fmt.Sprintf("%d of %d jobs failed, %d cancelled", st.JobsFailed, st.JobsTotal, st.JobsCancelled)
	}
	return r.stepOver(name, st.ended(), msg)
}

// cancelWaiting cancels the waiting jobs of step name ("" for every
// step) and accounts them to their steps, settling each.
func (r *resolver) cancelWaiting(name, reason string) error {
	list, err := jobstore.CancelWaitingOf(r.ctx, r.tx, r.wf.ID, name, reason)
	if err != nil {
		return err
	}
	per := map[string]int{}
	for _, j := range list {
		per[*j.WorkflowStep]++
	}
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := r.q.ExecContext(r.ctx, `UPDATE workflow_steps SET jobs_cancelled = jobs_cancelled + $3
			WHERE workflow_id = $1 AND name = $2 AND state = 'running'`, r.wf.ID, n, per[n]); err != nil {
			return fmt.Errorf("count cancelled jobs of step %s: %w", n, err)
		}
		if n != name { // the caller settles its own step
			if err := r.settle(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// stepOver records that step name ended in state, then releases its
// children (succeeded) or applies the failure policy.
func (r *resolver) stepOver(name, state, msg string) error {
	r.stepsEnded = true
	if _, err := r.q.ExecContext(r.ctx, `UPDATE workflow_steps SET state = $3, error = $4, finished_at = $5
		WHERE workflow_id = $1 AND name = $2`, r.wf.ID, name, state, msg, r.now); err != nil {
		return fmt.Errorf("end step %s: %w", name, err)
	}
	if state != StepSucceeded {
		return r.applyPolicy(name)
	}
	// The row lock of each child serializes this decrement with any other
	// parent's; the workflow's lock, held here, already orders them.
	rows, err := r.q.QueryContext(r.ctx, `UPDATE workflow_steps SET pending_parents = pending_parents - 1
		WHERE workflow_id = $1 AND $2 = ANY(depends_on) AND state = 'waiting'
		RETURNING name, pending_parents`, r.wf.ID, name)
	if err != nil {
		return fmt.Errorf("release children of step %s: %w", name, err)
	}
	var ready []string
	for rows.Next() {
		var (
			child   string
			pending int
		)
		if err := rows.Scan(&child, &pending); err != nil {
			rows.Close()
			return fmt.Errorf("release children of step %s: %w", name, err)
		}
		if pending == 0 {
			ready = append(ready, child)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("release children of step %s: %w", name, err)
	}
	sort.Strings(ready)
	return r.release(ready)
}

// applyPolicy answers step name's failure: stop halts the workflow
// (waiting steps and jobs cancelled, running ones finish); continue skips
// the steps depending on it.
func (r *resolver) applyPolicy(name string) error {
	if r.wf.Halt != haltNone {
		return nil
	}
	if r.wf.FailurePolicy == jobs.FailureStop {
		if err := r.halt(haltFailed); err != nil {
			return err
		}
		return r.cancelWaiting("", "workflow stopped: step "+name+" failed")
	}
	all, err := steps(r.ctx, r.q, r.wf.ID)
	if err != nil {
		return err
	}
	skip := descendants(all, []string{name})
	if len(skip) == 0 {
		return nil
	}
	if _, err := r.q.ExecContext(r.ctx, `UPDATE workflow_steps SET state = 'skipped', finished_at = $3,
			error = 'a step it depends on failed: ' || $4
		WHERE workflow_id = $1 AND name = ANY($2::text[]) AND state = 'waiting'`,
		r.wf.ID, skip, r.now, name); err != nil {
		return fmt.Errorf("skip dependants of step %s: %w", name, err)
	}
	return nil
}

// halt stops the workflow from releasing steps, for why, and cancels
// those still waiting for parents.
func (r *resolver) halt(why string) error {
	if _, err := r.q.ExecContext(r.ctx, `UPDATE workflows SET halt = $2, updated_at = $3 WHERE id = $1`,
		r.wf.ID, why, r.now); err != nil {
		return fmt.Errorf("halt workflow: %w", err)
	}
	r.wf.Halt = why
	if _, err := r.q.ExecContext(r.ctx, `UPDATE workflow_steps SET state = 'cancelled', finished_at = $2,
			error = 'workflow ' || $3
		WHERE workflow_id = $1 AND state = 'waiting'`, r.wf.ID, r.now, map[string]string{
		haltFailed: "stopped: a step failed", haltCancelled: "cancelled"}[why]); err != nil {
		return fmt.Errorf("cancel waiting steps: %w", err)
	}
	return nil
}

// descendants lists the steps of all that depend, directly or not, on
// any of roots.
func descendants(all []Step, roots []string) []string {
	children := map[string][]string{}
	for _, s := range all {
		for _, d := range s.DependsOn {
			children[d] = append(children[d], s.Name)
		}
	}
	seen := map[string]bool{}
	queue := slices.Clone(roots)
	var out []string
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, c := range children[n] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	sort.Strings(out)
	return out
}

// release starts the steps names, whose parents have all succeeded: one
// job each, or one per element of a fan-out, through the one enqueue
// path. A halted workflow cancels them instead. A fan-out over nothing
// succeeds at once; one whose list cannot be read fails.
func (r *resolver) release(names []string) error {
	for _, name := range names {
		if r.wf.Halt != haltNone {
			if _, err := r.q.ExecContext(r.ctx, `UPDATE workflow_steps SET state = 'cancelled', finished_at = $3,
				error = 'workflow halted' WHERE workflow_id = $1 AND name = $2 AND state = 'waiting'`,
				r.wf.ID, name, r.now); err != nil {
				return fmt.Errorf("cancel step %s: %w", name, err)
			}
			continue
		}
		st, err := r.step(name)
		if err != nil {
			return err
		}
		payloads, elements, err := r.elements(st)
		if err != nil {
			if _, err := r.q.ExecContext(r.ctx, `UPDATE workflow_steps SET state = 'running', released_at = $3
				WHERE workflow_id = $1 AND name = $2`, r.wf.ID, name, r.now); err != nil {
				return fmt.Errorf("release step %s: %w", name, err)
			}
			if err := r.stepOver(name, StepFailed, err.Error()); err != nil {
				return err
			}
			continue
		}
		if _, err := r.q.ExecContext(r.ctx, `UPDATE workflow_steps SET state = 'running', released_at = $3,
			jobs_total = $4 WHERE workflow_id = $1 AND name = $2`, r.wf.ID, name, r.now, len(payloads)); err != nil {
			return fmt.Errorf("release step %s: %w", name, err)
		}
		if len(payloads) == 0 {
			if err := r.stepOver(name, StepSucceeded, ""); err != nil {
				return err
			}
			continue
		}
		if err := r.enqueue(st, payloads, elements); err != nil {
			return fmt.Errorf("release step %s: %w", name, err)
		}
	}
	return nil
}

// elements are the payloads of step st's jobs, with each one's element
// index (nil for a step of one job).
func (r *resolver) elements(st Step) ([]json.RawMessage, []*int, error) {
	if st.ForEach == nil {
		return []json.RawMessage{st.Payload}, []*int{nil}, nil
	}
	items := st.ForEach.Items
	if !st.ForEach.Literal() {
		var err error
		if items, err = r.parentList(st.ForEach.From, st.ForEach.Path); err != nil {
			return nil, nil, fmt.Errorf("for_each: %w", err)
		}
	}
	payloads := make([]json.RawMessage, len(items))
	idx := make([]*int, len(items))
	for i, item := range items {
		p, err := jobs.ElementPayload(st.Payload, item, i)
		if err != nil {
			return nil, nil, fmt.Errorf("for_each: %w", err)
		}
		payloads[i] = p
		n := i
		idx[i] = &n
	}
	return payloads, idx, nil
}

// parentList reads the list at path in step from's result.
func (r *resolver) parentList(from, path string) ([]json.RawMessage, error) {
	rows, err := r.q.QueryContext(r.ctx, `SELECT result FROM jobs
		WHERE workflow_id = $1 AND workflow_step = $2 AND state = 'succeeded' LIMIT 1`, r.wf.ID, from)
	if err != nil {
		return nil, fmt.Errorf("read the result of step %s: %w", from, err)
	}
	defer rows.Close()
	var result []byte
	if rows.Next() {
		if err := rows.Scan(&result); err != nil {
			return nil, fmt.Errorf("read the result of step %s: %w", from, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(result) == 0 {
		return nil, fmt.Errorf("step %s has no result", from)
	}
	list, err := jobs.ListAt(result, path)
	if err != nil {
		return nil, fmt.Errorf("step %s's result: %w", from, err)
	}
	return list, nil
}

// enqueue creates step st's jobs through the jobs aggregate's Enqueue: at
// creation under the owner's quota (published by the API), later with
// EnqueueTx, whose notification has the dispatcher publish them when the
// finishing transaction commits.
func (r *resolver) enqueue(st Step, payloads []json.RawMessage, elements []*int) error {
	batch := make([]jobstore.NewJob, len(payloads))
	for i, p := range payloads {
		spec := jobs.Spec{Kind: jobs.Kind{Name: st.Kind, Queue: st.Queue}, Payload: p,
			Priority: jobs.Priority(st.Priority), MaxAttempts: st.MaxAttempts,
			Timeout: time.Duration(st.TimeoutMS) * time.Millisecond}
		batch[i] = jobstore.NewJob{OwnerID: r.wf.OwnerID, Spec: spec, JobsPerHour: r.jobsPerHour,
			Workflow: &jobstore.WorkflowRef{ID: r.wf.ID, Step: st.Name, Element: elements[i]}}
	}
	var (
		res []jobstore.Enqueued
		err error
	)
	if r.fromAPI {
		res, err = jobstore.Enqueue(r.ctx, r.q, batch, r.now)
	} else {
		res, err = jobstore.EnqueueTx(r.ctx, r.q, batch, r.now)
	}
	if err != nil {
		return err
	}
	for _, e := range res {
		r.created = append(r.created, e.Job)
	}
	return nil
}

// finishIfDone ends the workflow when none of its steps is waiting or
// running.
func (r *resolver) finishIfDone() error {
	var live, notSucceeded int
	rows, err := r.q.QueryContext(r.ctx, `SELECT
			count(*) FILTER (WHERE state IN ('waiting', 'running')),
			count(*) FILTER (WHERE state <> 'succeeded')
		FROM workflow_steps WHERE workflow_id = $1`, r.wf.ID)
	if err != nil {
		return fmt.Errorf("count live steps: %w", err)
	}
	for rows.Next() {
		if err := rows.Scan(&live, &notSucceeded); err != nil {
			rows.Close()
			return fmt.Errorf("count live steps: %w", err)
		}
	}
	rows.Close()
	if live > 0 || r.wf.State != StateRunning {
		return nil
	}
	state := StateSucceeded
	switch {
	case r.wf.Halt == haltCancelled:
		state = StateCancelled
	case notSucceeded > 0:
		state = StateFailed
	}
	if _, err := r.q.ExecContext(r.ctx, `UPDATE workflows SET state = $2, finished_at = $3, updated_at = $3
		WHERE id = $1`, r.wf.ID, state, r.now); err != nil {
		return fmt.Errorf("end workflow: %w", err)
	}
	r.wf.State, r.wf.FinishedAt = state, &r.now
	return nil
}
