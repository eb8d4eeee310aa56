package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/store/accounts"
)

// Usage is how much of their plan an owner uses.
type Usage struct {
	// JobsInWindow counts the jobs created in the last QuotaWindow.
	JobsInWindow int
	// NextSlotAt is when the oldest of them leaves the window (nil: none).
	NextSlotAt *time.Time
	// RetryAfter is how long until one more job fits (0: it fits now or
	// the plan is unlimited).
	RetryAfter time.Duration
	Documents  int
	// Running counts the owner's running jobs by queue.
	Running map[string]int
}

// PlanUsage reads owner's usage of plan as of now.
func (s *Store) PlanUsage(ctx context.Context, owner uuid.UUID, plan accounts.Plan, now time.Time) (Usage, error) {
	db := s.db.WithContext(ctx)
	used, retry, err := jobsWindow(ctx, s.sql, owner, plan.JobsPerHour, 1, now)
	if err != nil {
		return Usage{}, fmt.Errorf("plan usage: %w", err)
	}
	u := Usage{JobsInWindow: used, RetryAfter: retry, Running: map[string]int{}}
	if used > 0 {
		var oldest time.Time
		err := s.sql.QueryRowContext(ctx, `SELECT min(created_at) FROM jobs WHERE `+quotaCountedSQL, owner, now.Add(-QuotaWindow)).Scan(&oldest)
		if err != nil {
			return Usage{}, fmt.Errorf("plan usage: oldest job: %w", err)
		}
		at := oldest.Add(QuotaWindow)
		u.NextSlotAt = &at
	}
	docs, err := countDocuments(db, owner)
	if err != nil {
		return Usage{}, fmt.Errorf("plan usage: %w", err)
	}
	u.Documents = int(docs)
	var rows []struct {
		Queue string
		N     int
	}
	if err := db.Raw(`SELECT queue, count(*) AS n FROM jobs WHERE owner_id = ? AND state = 'running' GROUP BY queue`, owner).Scan(&rows).Error; err != nil {
		return Usage{}, fmt.Errorf("plan usage: running jobs: %w", err)
	}
	for _, r := range rows {
		u.Running[r.Queue] = r.N
	}
	return u, nil
}
