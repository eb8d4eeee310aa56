package jobstore

import (
	"context"
	"fmt"
)

// QueueBacklog is what waits in Postgres for one queue. Waiting jobs are
// queued and admitted (published, or in the outbox): they wait for a
// worker, and OldestSeconds is how long the oldest of them has been due.
// Held jobs are queued too, but wait for their owner's fairness cap to
// make room (never published yet): more workers would not start them.
type QueueBacklog struct {
	Queue         string
	Waiting       int64
	Held          int64
	OldestSeconds float64
}

// Backlog reports the waiting and held jobs per queue (queues with
// neither are absent).
func (s *Store) Backlog(ctx context.Context) ([]QueueBacklog, error) {
	var out []QueueBacklog
	err := s.db.WithContext(ctx).Raw(`SELECT queue, count(*) FILTER (WHERE NOT held) AS waiting,
		count(*) FILTER (WHERE held) AS held,
		COALESCE(EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE NOT held)), 0)::float8 AS oldest_seconds
		FROM jobs WHERE state = 'queued' GROUP BY queue ORDER BY queue`).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("queue backlog: %w", err)
	}
	return out, nil
}
