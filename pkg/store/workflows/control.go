package workflows

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// CancelWorkflow halts workflow id of owner (nil: any owner): no step is released
// any more and the steps waiting for parents are cancelled, in one
// transaction. It returns the workflow's jobs that have not ended, for
// the caller to cancel through the jobs' own cancel (a running job's
// worker stops it); each cancel resolves the workflow like any end, and
// the workflow is cancelled once none is left. A workflow already over
// is pg.ErrConflict; a missing or other owner's one pg.ErrNotFound.
func (s *Store) CancelWorkflow(ctx context.Context, owner *uuid.UUID, id uuid.UUID, now time.Time) (live []uuid.UUID, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Statement.ConnPool
		w, err := lock(ctx, q, owner, id)
		if err != nil {
			return err
		}
		if w.State != StateRunning || w.Halt == haltCancelled {
			return fmt.Errorf("workflow %s is %s: %w", id, w.State, pg.ErrConflict)
		}
		r := &resolver{ctx: ctx, tx: tx, q: q, wf: w, now: now}
		// A workflow stopped by a failure is cancelled all the same.
		if err := r.halt(haltCancelled); err != nil {
			return err
		}
		if err := r.finishIfDone(); err != nil {
			return err
		}
		if live, err = liveJobs(ctx, q, id); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cancel workflow: %w", err)
	}
	return live, nil
}

// liveJobs lists workflow id's jobs that have not ended.
func liveJobs(ctx context.Context, q pg.Querier, id uuid.UUID) ([]uuid.UUID, error) {
	rows, err := q.QueryContext(ctx, `SELECT id FROM jobs
		WHERE workflow_id = $1 AND state NOT IN ('succeeded', 'failed', 'cancelled') ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("live jobs of workflow %s: %w", id, err)
	}
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		var j uuid.UUID
		if err := rows.Scan(&j); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// RetryWorkflowStep re-runs step name of workflow id (of owner; nil: any), which
// failed or was cancelled, and resumes the workflow: the step's failed and
// cancelled jobs are retried (the jobs' own retry, with extraAttempts
// more attempts), and the steps the failure stopped or skipped — those
// that do not depend on a step still failed — wait for their parents or
// run again. Its dependants are released when it succeeds. It returns
// the jobs re-queued, for the caller to publish. A step in another state,
// or a cancelled workflow, is pg.ErrConflict.
//
// perHour > 0 (the owner's plan's jobs per hour) charges the re-queued
// jobs to the owner's hour as a job retry is charged, one each, and
// refuses the retry with a *pg.QuotaError when they do not fit; steps it
// releases at once are new jobs and count as such. The quota lock is
// taken after the workflow's and the jobs' rows, the order of every
// workflow resolution.
func (s *Store) RetryWorkflowStep(ctx context.Context, owner *uuid.UUID, id uuid.UUID, name string, extraAttempts, perHour int, now time.Time) ([]jobstore.Job, error) {
	var out []jobstore.Job
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Statement.ConnPool
		w, err := lock(ctx, q, owner, id)
		if err != nil {
			return err
		}
		if w.Halt == haltCancelled {
			return fmt.Errorf("workflow %s was cancelled: %w", id, pg.ErrConflict)
		}
		all, err := steps(ctx, q, id)
		if err != nil {
			return err
		}
		var target *Step
		for i := range all {
			if all[i].Name == name {
				target = &all[i]
			}
		}
		if target == nil {
			return fmt.Errorf("step %q: %w", name, pg.ErrNotFound)
		}
		if target.State != StepFailed && target.State != StepCancelled {
			return fmt.Errorf("step %s is %s; only a failed or cancelled step can be retried: %w", name, target.State, pg.ErrConflict)
		}
		if _, err := q.ExecContext(ctx, `UPDATE workflows SET halt = '', state = 'running', finished_at = NULL,
			updated_at = $2 WHERE id = $1`, id, now); err != nil {
			return fmt.Errorf("resume workflow: %w", err)
		}
		w.Halt, w.State, w.FinishedAt = haltNone, StateRunning, nil
		r := &resolver{ctx: ctx, tx: tx, q: q, wf: w, now: now, fromAPI: true}
		// The steps still failed, other than this one, keep their
		// dependants stopped.
		var failed []string
		for _, st := range all {
			if st.State == StepFailed && st.Name != name {
				failed = append(failed, st.Name)
			}
		}
		blocked := map[string]bool{}
		for _, n := range append(descendants(all, failed), failed...) {
			blocked[n] = true
		}
		var ready []string
		for _, st := range all {
			revive := st.Name == name ||
				(!blocked[st.Name] && (st.State == StepCancelled || st.State == StepSkipped))
			if !revive {
				continue
			}
			retried, err := r.reopen(st, extraAttempts)
			if err != nil {
				return err
			}
			out = append(out, retried...)
			if st.JobsTotal == 0 && st.PendingParents == 0 {
				ready = append(ready, st.Name)
			}
		}
		charged := make([]uuid.UUID, len(out))
		for i, j := range out {
			charged[i] = j.ID
		}
		if err := jobstore.ChargeRetries(ctx, q, w.OwnerID, charged, perHour, now); err != nil {
			return err
		}
		if err := r.release(ready); err != nil {
			return err
		}
		out = append(out, r.created...)
		return r.finishIfDone()
	})
	if err != nil {
		return nil, fmt.Errorf("retry step %s of workflow %s: %w", name, id, err)
	}
	return out, nil
}

// reopen puts step st back in play: a released step's failed and
// cancelled jobs are retried and it runs again; a step never released
// (or one whose release failed) waits for its parents again.
func (r *resolver) reopen(st Step, extraAttempts int) ([]jobstore.Job, error) {
	if st.JobsTotal == 0 {
		_, err := r.q.ExecContext(r.ctx, `UPDATE workflow_steps SET state = 'waiting', error = '',
			finished_at = NULL, released_at = NULL WHERE workflow_id = $1 AND name = $2`, r.wf.ID, st.Name)
		if err != nil {
			return nil, fmt.Errorf("reopen step %s: %w", st.Name, err)
		}
		// A step whose parents have all succeeded is released by the
		// caller; a step that failed at its release is released again.
		return nil, nil
	}
	rows, err := r.q.QueryContext(r.ctx, `SELECT id FROM jobs WHERE workflow_id = $1 AND workflow_step = $2
		AND state IN ('failed', 'cancelled') ORDER BY id`, r.wf.ID, st.Name)
	if err != nil {
		return nil, fmt.Errorf("reopen step %s: %w", st.Name, err)
	}
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []jobstore.Job
	for _, id := range ids {
		j, ok, err := jobstore.RetryIn(r.ctx, r.tx, id, max(extraAttempts, st.MaxAttempts))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, j)
		}
	}
	// The counters again from the jobs, the retried ones now queued.
	_, err = r.q.ExecContext(r.ctx, `UPDATE workflow_steps s SET state = 'running', error = '', finished_at = NULL,
		jobs_succeeded = c.succeeded, jobs_failed = c.failed, jobs_cancelled = c.cancelled
		FROM (SELECT count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
				count(*) FILTER (WHERE state = 'failed') AS failed,
				count(*) FILTER (WHERE state = 'cancelled') AS cancelled
			FROM jobs WHERE workflow_id = $1 AND workflow_step = $2) c
		WHERE s.workflow_id = $1 AND s.name = $2`, r.wf.ID, st.Name)
	if err != nil {
		return nil, fmt.Errorf("reopen step %s: %w", st.Name, err)
	}
	return out, nil
}
