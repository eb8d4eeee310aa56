package store

import (
	"context"
	"fmt"
)

// QueueBacklog is what waits in Postgres for one queue: jobs queued (due,
// published or in the outbox) and how long the oldest has been due.
type QueueBacklog struct {
	Queue         string
	Waiting       int64
	OldestSeconds float64
}

// Backlog reports the waiting jobs per queue (queues with none are absent).
func (s *Store) Backlog(ctx context.Context) ([]QueueBacklog, error) {
	var out []QueueBacklog
	err := s.db.WithContext(ctx).Raw(`SELECT queue, count(*) AS waiting,
		COALESCE(EXTRACT(EPOCH FROM now() - min(run_at)), 0)::float8 AS oldest_seconds
		FROM jobs WHERE state = 'queued' GROUP BY queue ORDER BY queue`).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("queue backlog: %w", err)
	}
	return out, nil
}
