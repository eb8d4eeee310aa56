package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// MaxBatch bounds CreateJobs: 1,000 rows of 14 columns stay far below
// Postgres's 65,535 bind parameters per statement.
const MaxBatch = 1000

// CreateJobs stores many submissions in one statement (one round trip, one
// transaction): every job and its created event, all or none. Batch
// submissions carry no idempotency keys.
func (s *Store) CreateJobs(ctx context.Context, batch []NewJob, now time.Time) ([]Job, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	if len(batch) > MaxBatch {
		return nil, fmt.Errorf("create jobs: %d jobs, limit %d", len(batch), MaxBatch)
	}
	var (
		values strings.Builder
		args   = make([]any, 0, len(batch)*15)
	)
	for i, nj := range batch {
		if nj.IdempotencyKey != "" {
			return nil, errors.New("create jobs: batch submissions take no idempotency key")
		}
		a, err := newJobArgs(nj, now)
		if err != nil {
			return nil, fmt.Errorf("create jobs: job %d: %w", i, err)
		}
		if i > 0 {
			values.WriteString(",")
		}
		values.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
		args = append(args, a...)
	}
	q := `WITH ins AS (
	INSERT INTO jobs (id, owner_id, kind, queue, state, priority, payload, max_attempts,
	                  timeout_ms, webhook_url, notify_email, idempotency_key, run_at, created_at, updated_at)
	VALUES ` + values.String() + `
	RETURNING *
), e AS (
	INSERT INTO job_events (job_id, at, type, state, attempt)
	SELECT id, created_at, 'created', state, attempt FROM ins
)
SELECT * FROM ins ORDER BY id`
	var rows []Job
	if perHour := batch[0].JobsPerHour; perHour > 0 {
		// The whole batch must fit in the owner's sliding hour.
		owner := batch[0].OwnerID
		for _, nj := range batch {
			if nj.OwnerID != owner {
				return nil, errors.New("create jobs: a limited batch has one owner")
			}
		}
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := admitJobs(ctx, tx, owner, perHour, len(batch), now); err != nil {
				return err
			}
			return tx.Raw(q, args...).Scan(&rows).Error
		})
		var qe *QuotaError
		if errors.As(err, &qe) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("create jobs: %w", err)
		}
		return rows, nil
	}
	if err := s.db.WithContext(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("create jobs: %w", err)
	}
	return rows, nil
}
