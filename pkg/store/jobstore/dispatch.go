package jobstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/jobs"
)

// DefaultBatch is the batch size of the dispatcher's sweeps when a caller
// passes no positive limit.
const DefaultBatch = 100

func batchLimit(limit int) int {
	if limit <= 0 {
		return DefaultBatch
	}
	return limit
}

// PromoteDue moves up to limit scheduled or retrying jobs whose run_at is
// at or before now to queued, for the dispatcher to publish. SKIP LOCKED
// lets several dispatchers promote side by side without waiting on or
// double-promoting each other's rows. A promoted job over its owner's
// fairness cap comes back held (migration 00011's trigger): publish only
// the others; ReleaseHeld admits the held ones.
func (s *Store) PromoteDue(ctx context.Context, now time.Time, limit int) ([]Job, error) {
	t := promoteTransition(now, batchLimit(limit))
	out, err := t.run(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("promote due jobs: %w", err)
	}
	return out, nil
}

// promoteTransition promotes up to limit due jobs, locking those it
// picks, and returns them in run_at order.
func promoteTransition(now time.Time, limit int) transition {
	due := move{from: []jobs.State{jobs.StateScheduled, jobs.StateRetrying}, to: jobs.StateQueued}
	return transition{
		moves: []move{due},
		set:   `published_at = NULL, updated_at = now()`,
		where: `id IN (SELECT id FROM jobs
			WHERE state IN (` + stateList(due.from...) + `) AND run_at <= ?
			ORDER BY run_at LIMIT ? FOR UPDATE SKIP LOCKED)`,
		args:    []any{now, limit},
		orderBy: "run_at, id",
	}.withEvent(EventQueued, "due")
}

// Unpublished returns up to limit queued jobs never confirmed published
// and last changed before olderThan, oldest first: the outbox the
// dispatcher republishes (DESIGN invariant 1). Held jobs are not in it:
// only ReleaseHeld lets them out. It changes nothing.
func (s *Store) Unpublished(ctx context.Context, olderThan time.Time, limit int) ([]Job, error) {
	limit = batchLimit(limit)
	var out []Job
	err := s.db.WithContext(ctx).
		Where("state = ? AND published_at IS NULL AND NOT held AND updated_at < ?", string(jobs.StateQueued), olderThan).
		Order("updated_at, id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list unpublished jobs: %w", err)
	}
	return out, nil
}

// Unclaimed returns up to limit queued, admitted jobs confirmed published
// before publishedBefore and still not claimed, longest published first:
// jobs whose message may have been lost after the publish (a purged or
// deleted queue, a lost classic-queue node). The dispatcher publishes
// them again; a duplicate is dropped by the conditional claim. Marking
// them published again (MarkPublished) restarts their clock. It changes
// nothing.
func (s *Store) Unclaimed(ctx context.Context, publishedBefore time.Time, limit int) ([]Job, error) {
	limit = batchLimit(limit)
	var out []Job
	err := s.db.WithContext(ctx).
		Where("state = ? AND published_at IS NOT NULL AND NOT held AND published_at < ?", string(jobs.StateQueued), publishedBefore).
		Order("published_at, id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list unclaimed published jobs: %w", err)
	}
	return out, nil
}

// ReapExpired ends up to limit running attempts whose lease expired
// before now, their worker presumed dead: the job is retrying again at
// retryAt(job), failed when its attempts are exhausted, or cancelled when
// a cancel was requested. A nil retryAt retries at once. It returns the
// changed jobs.
func (s *Store) ReapExpired(ctx context.Context, now time.Time, limit int, retryAt func(Job) time.Time) ([]Job, error) {
	limit = batchLimit(limit)
	if retryAt == nil {
		retryAt = func(Job) time.Time { return now }
	}
	var out []Job
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var expired []Job
		err := tx.Raw(`SELECT * FROM jobs WHERE state = 'running' AND lease_expires_at < ?
			ORDER BY lease_expires_at LIMIT ? FOR UPDATE SKIP LOCKED`, now, limit).
			Scan(&expired).Error
		if err != nil {
			return err
		}
		for _, j := range expired {
			reaped, ok, err := reapTransition(j, retryAt).runOne(ctx, tx)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, reaped)
			}
		}
		return s.ended(ctx, tx, out...)
	})
	if err != nil {
		return nil, fmt.Errorf("reap expired leases: %w", err)
	}
	return out, nil
}

// reapTransition ends attempt j, which the reaper holds locked.
func reapTransition(j Job, retryAt func(Job) time.Time) transition {
	reason := fmt.Sprintf("lease expired: worker %s stopped renewing", j.WorkerID)
	var (
		to   jobs.State
		set  string
		args []any
	)
	switch {
	case j.CancelRequested:
		to, set = jobs.StateCancelled, `finished_at = now()`
	case j.Attempt >= j.MaxAttempts:
		to, set = jobs.StateFailed, `error = ?, finished_at = now()`
		args = []any{reason}
	default:
		to, set = jobs.StateRetrying, `error = ?, run_at = ?`
		args = []any{reason, retryAt(j)}
	}
	t := transition{
		moves: []move{{from: []jobs.State{jobs.StateRunning}, to: to}},
		set:   set + `, lease_expires_at = NULL, updated_at = now()`,
		where: `id = ? AND attempt = ?`,
		args:  append(args, j.ID, j.Attempt),
	}
	return t.withEvent(EventLeaseExpired, reason)
}
