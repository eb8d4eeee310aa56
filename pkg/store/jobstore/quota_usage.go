package jobstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// QuotaUsage is how much of the jobs-per-hour quota and of the fairness
// cap an owner uses.
type QuotaUsage struct {
	// JobsInWindow counts the jobs created in the last QuotaWindow.
	JobsInWindow int
	// NextSlotAt is when the oldest of them leaves the window (nil: none).
	NextSlotAt *time.Time
	// RetryAfter is how long until one more job fits (0: it fits now or
	// the plan is unlimited).
	RetryAfter time.Duration
	// Running counts the owner's running jobs by queue.
	Running map[string]int
}

// QuotaUsage reads owner's use, as of now, of a jobs-per-hour quota of
// jobsPerHour (0: unlimited) and of the fairness cap.
func (s *Store) QuotaUsage(ctx context.Context, owner uuid.UUID, jobsPerHour int, now time.Time) (QuotaUsage, error) {
	db := s.db.WithContext(ctx)
	used, retry, err := jobsWindow(ctx, s.sql, owner, jobsPerHour, 1, now)
	if err != nil {
		return QuotaUsage{}, fmt.Errorf("quota usage: %w", err)
	}
	u := QuotaUsage{JobsInWindow: used, RetryAfter: retry, Running: map[string]int{}}
	if used > 0 {
		var oldest time.Time
		err := s.sql.QueryRowContext(ctx, `SELECT min(created_at) FROM jobs WHERE `+quotaCountedSQL, owner, now.Add(-QuotaWindow)).Scan(&oldest)
		if err != nil {
			return QuotaUsage{}, fmt.Errorf("quota usage: oldest job: %w", err)
		}
		at := oldest.Add(QuotaWindow)
		u.NextSlotAt = &at
	}
	var rows []struct {
		Queue string
		N     int
	}
	if err := db.Raw(`SELECT queue, count(*) AS n FROM jobs WHERE owner_id = ? AND state = 'running' GROUP BY queue`, owner).Scan(&rows).Error; err != nil {
		return QuotaUsage{}, fmt.Errorf("quota usage: running jobs: %w", err)
	}
	for _, r := range rows {
		u.Running[r.Queue] = r.N
	}
	return u, nil
}
