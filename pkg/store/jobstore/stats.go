package jobstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// MinuteStats counts the jobs that finished in one minute, by state.
type MinuteStats struct {
	Minute    time.Time
	Succeeded int64
	Failed    int64
	Cancelled int64
}

// FinishedPerMinute counts jobs of ownerID (nil: everyone's) that finished
// since since, per minute, oldest first; minutes with none are absent.
func (s *Store) FinishedPerMinute(ctx context.Context, ownerID *uuid.UUID, since time.Time) ([]MinuteStats, error) {
	q := `SELECT date_trunc('minute', finished_at) AS minute,
		count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
		count(*) FILTER (WHERE state = 'failed') AS failed,
		count(*) FILTER (WHERE state = 'cancelled') AS cancelled
		FROM jobs WHERE finished_at >= ?`
	args := []any{since}
	if ownerID != nil {
		q += ` AND owner_id = ?`
		args = append(args, *ownerID)
	}
	q += ` GROUP BY 1 ORDER BY 1`
	var out []MinuteStats
	if err := s.db.WithContext(ctx).Raw(q, args...).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("finished per minute: %w", err)
	}
	return out, nil
}
