package jobstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

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
	return s.retry(ctx, s.db, ownerID, id, extraAttempts)
}

// RetryCharged is Retry for a user on a plan with a jobs-per-hour quota
// (perHour > 0): a manual retry is work like a submit, so it counts
// against the quota (a quota_charges row) and is refused with a
// *pg.QuotaError when the owner's sliding hour is full. Under the owner's
// quota lock, as Enqueue: the check, the retry and the charge commit
// together. perHour 0 is Retry.
func (s *Store) RetryCharged(ctx context.Context, owner uuid.UUID, id uuid.UUID, extraAttempts, perHour int, now time.Time) (Job, error) {
	if perHour <= 0 {
		return s.Retry(ctx, &owner, id, extraAttempts)
	}
	var out Job
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Statement.ConnPool
		if err := LockQuota(ctx, q, owner); err != nil {
			return err
		}
		// The retry first, so a job that is not the owner's or not
		// retryable answers that whatever the quota; it rolls back if the
		// hour is full.
		var err error
		if out, err = s.retry(ctx, tx, &owner, id, extraAttempts); err != nil {
			return err
		}
		return ChargeRetries(ctx, q, owner, []uuid.UUID{id}, perHour, now)
	})
	if err != nil {
		return Job{}, err
	}
	return out, nil
}

// ChargeRetries charges the manual retry of the jobs ids to owner's jobs
// per hour (perHour > 0), in tx's q, a transaction: under the owner's
// quota lock (taken here, held to the end of tx), a *pg.QuotaError when
// they do not fit the sliding hour, else a quota_charges row each. The
// caller re-queues them in the same transaction, which rolls back on the
// refusal. perHour 0 charges nothing.
func ChargeRetries(ctx context.Context, q pg.Querier, owner uuid.UUID, ids []uuid.UUID, perHour int, now time.Time) error {
	if perHour <= 0 || len(ids) == 0 {
		return nil
	}
	if err := LockQuota(ctx, q, owner); err != nil {
		return err
	}
	used, retry, err := jobsWindow(ctx, q, owner, perHour, len(ids), now)
	if err != nil {
		return err
	}
	if used+len(ids) > perHour {
		return &pg.QuotaError{Limit: pg.LimitJobsPerHour, Max: perHour, Used: used, Requested: len(ids), RetryAfter: retry}
	}
	// The charges, and the owner's charges the window has left behind.
	if _, err := q.ExecContext(ctx, `DELETE FROM quota_charges WHERE owner_id = $1 AND charged_at <= $2`,
		owner, now.Add(-QuotaWindow)); err != nil {
		return fmt.Errorf("drop old quota charges: %w", err)
	}
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = id.String()
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO quota_charges (owner_id, job_id, charged_at)
		SELECT $1, unnest($2::uuid[]), $3`, owner, list, now); err != nil {
		return fmt.Errorf("charge retries: %w", err)
	}
	return nil
}

func (s *Store) retry(ctx context.Context, db *gorm.DB, ownerID *uuid.UUID, id uuid.UUID, extraAttempts int) (Job, error) {
	j, ok, err := retryTransition(ownerID, id, extraAttempts).runOne(ctx, db)
	if err != nil {
		return Job{}, fmt.Errorf("retry job %s: %w", id, err)
	}
	if ok {
		return j, nil
	}
	cur, err := s.getJob(ctx, db, ownerID, id)
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
