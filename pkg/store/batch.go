package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// MaxBatch bounds CreateJobs (and so the batch endpoint): one request
// of 1,000 jobs stays one short transaction.
const MaxBatch = 1000

// CreateJobs stores many submissions in one statement (one round trip, one
// transaction): every job and its created event, all or none, returned in
// the order given. It shares the group-committed submit's statement
// (insertRows). Batch submissions carry no idempotency keys.
func (s *Store) CreateJobs(ctx context.Context, batch []NewJob, now time.Time) ([]Job, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	if len(batch) > MaxBatch {
		return nil, fmt.Errorf("create jobs: %d jobs, limit %d", len(batch), MaxBatch)
	}
	rows := make([]jobRow, len(batch))
	for i, nj := range batch {
		if nj.IdempotencyKey != "" {
			return nil, errors.New("create jobs: batch submissions take no idempotency key")
		}
		r, err := newJobRow(nj, now)
		if err != nil {
			return nil, fmt.Errorf("create jobs: job %d: %w", i, err)
		}
		rows[i] = r
	}
	perHour := batch[0].JobsPerHour
	if perHour <= 0 {
		return insertRows(ctx, s.hot, rows)
	}
	// The whole batch must fit in the owner's sliding hour.
	owner := batch[0].OwnerID
	for _, nj := range batch {
		if nj.OwnerID != owner {
			return nil, errors.New("create jobs: a limited batch has one owner")
		}
	}
	var created []Job
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := admitJobs(ctx, tx, owner, perHour, len(batch), now); err != nil {
			return err
		}
		var err error
		created, err = insertRows(ctx, tx.Statement.ConnPool, rows)
		return err
	})
	var qe *QuotaError
	if errors.As(err, &qe) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("create jobs: %w", err)
	}
	return created, nil
}
