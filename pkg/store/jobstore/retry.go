package jobstore

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// Retry re-runs a failed or cancelled job of ownerID (nil: any owner): it
// goes back to queued, unpublished (the caller or the dispatcher publishes
// it), with extraAttempts more attempts than it has used. Attempt numbers
// keep counting up rather than restarting, so a late finish from an old
// attempt can never match the new one. A job in any other state is
// pg.ErrConflict; a missing or other owner's job is pg.ErrNotFound.
func (s *Store) Retry(ctx context.Context, ownerID *uuid.UUID, id uuid.UUID, extraAttempts int) (Job, error) {
	j, ok, err := retryTransition(ownerID, id, extraAttempts).runOne(ctx, s.db)
	if err != nil {
		return Job{}, fmt.Errorf("retry job %s: %w", id, err)
	}
	if ok {
		return j, nil
	}
	cur, err := s.GetJob(ctx, ownerID, id)
	if err != nil {
		return Job{}, fmt.Errorf("retry: %w", err)
	}
	return Job{}, fmt.Errorf("retry job %s: it is %s; only failed or cancelled jobs can be retried: %w", id, cur.State, pg.ErrConflict)
}

// retryTransition re-queues job id (of ownerID, if set) with
// extraAttempts (at least 1) more attempts, clearing its last run.
func retryTransition(ownerID *uuid.UUID, id uuid.UUID, extraAttempts int) transition {
	t := transition{
		moves: []move{{from: []jobs.State{jobs.StateFailed, jobs.StateCancelled}, to: jobs.StateQueued}},
		set: `max_attempts = attempt + ?, error = '', result = NULL,
			progress = 0, status_message = '', cancel_requested = false, worker_id = '',
			lease_expires_at = NULL, published_at = NULL, finished_at = NULL, webhook_enqueued_at = NULL,
			notify_enqueued_at = NULL,
			run_at = now(), updated_at = now()`,
		where: `id = ?`,
		args:  []any{max(extraAttempts, 1), id},
	}
	if ownerID != nil {
		t.where += ` AND owner_id = ?`
		t.args = append(t.args, *ownerID)
	}
	return t.withEvent(EventRetried, "retry requested")
}
