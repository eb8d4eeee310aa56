package jobstore

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/jobs"
)

// Workflows (issue 20) live in their own aggregate (pkg/store/workflows),
// which builds on this one: it enqueues a step's jobs through Enqueue. A
// workflow's steps are released by their parents' ends, in the very
// transaction of each end — a finish, a cancel, the reaper's final
// failure — so the jobs aggregate calls the workflows' resolution there,
// through the hook the store's wiring sets (OnWorkflowJobEnded).

// EndedHook resolves the workflows of jobs that just ended (succeeded,
// failed or cancelled), in tx, the transaction that ended them. An error
// rolls the end back.
type EndedHook func(ctx context.Context, tx *gorm.DB, ended []Job) error

// OnWorkflowJobEnded sets the hook every terminal transition of a
// workflow's job calls in its transaction. Set it before the Store is
// used (store.Open does).
func (s *Store) OnWorkflowJobEnded(h EndedHook) { s.onEnded = h }

// ended calls the hook with the workflow jobs of rows that are over.
func (s *Store) ended(ctx context.Context, tx *gorm.DB, rows ...Job) error {
	var list []Job
	for _, j := range rows {
		if j.WorkflowID != nil && j.State.Terminal() {
			list = append(list, j)
		}
	}
	if len(list) == 0 {
		return nil
	}
	if s.onEnded == nil {
		return fmt.Errorf("job %s belongs to workflow %s, and no workflow resolution is wired", list[0].ID, *list[0].WorkflowID)
	}
	return s.onEnded(ctx, tx, list)
}

// CancelWaitingOf cancels, in tx, the jobs of workflow id (of its step
// step, or any step for "") that no worker holds: scheduled, queued or
// retrying. Rows another transaction has locked (a claim under way, a
// cancel) are skipped rather than waited for, so a resolution holding its
// workflow's lock never waits on a job. The hook is not called: the
// caller, the workflow's resolution, accounts for the jobs it returns.
func CancelWaitingOf(ctx context.Context, tx *gorm.DB, id uuid.UUID, step, reason string) ([]Job, error) {
	out, err := cancelWaitingTransition(id, step, reason).run(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("cancel waiting jobs of workflow %s: %w", id, err)
	}
	return out, nil
}

func cancelWaitingTransition(id uuid.UUID, step, reason string) transition {
	waiting := []jobs.State{jobs.StateScheduled, jobs.StateQueued, jobs.StateRetrying}
	where := `workflow_id = ? AND state IN (` + stateList(waiting...) + `)`
	args := []any{id}
	if step != "" {
		where += ` AND workflow_step = ?`
		args = append(args, step)
	}
	return transition{
		moves: []move{{from: waiting, to: jobs.StateCancelled}},
		set:   `finished_at = now(), lease_expires_at = NULL, updated_at = now()`,
		where: `id IN (SELECT id FROM jobs WHERE ` + where + ` FOR UPDATE SKIP LOCKED)`,
		args:  args,
	}.withEvent(EventCancelled, reason)
}

// RetryIn re-queues failed or cancelled job id in tx, as Retry does, for
// a workflow's step retry; ok is false when the job is in another state.
func RetryIn(ctx context.Context, tx *gorm.DB, id uuid.UUID, extraAttempts int) (job Job, ok bool, err error) {
	job, ok, err = retryTransition(nil, id, extraAttempts).runOne(ctx, tx)
	if err != nil {
		return Job{}, false, fmt.Errorf("retry job %s: %w", id, err)
	}
	return job, ok, nil
}
