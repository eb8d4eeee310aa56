package jobstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// followUp names the columns of one kind of job a finished job asks for
// (a webhook delivery, a job-finished mail): the job asks for it when
// wantColumn is not empty, and stampColumn records that it was created.
type followUp struct {
	wantColumn  string // e.g. webhook_url
	stampColumn string // e.g. webhook_enqueued_at
}

var (
	webhookFollowUp = followUp{wantColumn: "webhook_url", stampColumn: "webhook_enqueued_at"}
	noticeFollowUp  = followUp{wantColumn: "notify_email", stampColumn: "notify_enqueued_at"}
)

// EnqueueNotices creates one job-finished mail job (built by build) for
// each finished job with a notify_email that has none yet, up to limit,
// and stamps the finished jobs, all in one transaction, exactly as
// EnqueueWebhooks does. It returns the created mail jobs for publishing.
func (s *Store) EnqueueNotices(ctx context.Context, build func(finished Job) (NewJob, error), limit int, now time.Time) ([]Job, error) {
	created, err := s.enqueueFollowUps(ctx, noticeFollowUp, build, limit, now)
	if err != nil {
		return nil, fmt.Errorf("enqueue notices: %w", err)
	}
	return created, nil
}

// enqueueFollowUps creates f's job for each finished job that asks for
// one and has none yet, and stamps it, in one transaction: with SKIP
// LOCKED two leaders cannot both take a job, and a crash between the two
// writes is impossible. The built job's idempotency key makes a second
// creation a no-op.
func (s *Store) enqueueFollowUps(ctx context.Context, f followUp, build func(finished Job) (NewJob, error), limit int, now time.Time) ([]Job, error) {
	var created []Job
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var finished []Job
		err := tx.Raw(`SELECT * FROM jobs
WHERE `+f.wantColumn+` <> '' AND `+f.stampColumn+` IS NULL AND state IN ('succeeded', 'failed', 'cancelled')
ORDER BY finished_at LIMIT ? FOR UPDATE SKIP LOCKED`, limit).Scan(&finished).Error
		if err != nil {
			return fmt.Errorf("find finished jobs: %w", err)
		}
		if len(finished) == 0 {
			return nil
		}
		batch := make([]NewJob, len(finished))
		ids := make(uuidArray, len(finished))
		for i, fj := range finished {
			if batch[i], err = build(fj); err != nil {
				return fmt.Errorf("job %s: %w", fj.ID, err)
			}
			ids[i] = fj.ID
		}
		res, err := Enqueue(ctx, tx.Statement.ConnPool, batch, now)
		if err != nil {
			return fmt.Errorf("insert follow-up jobs: %w", err)
		}
		for _, r := range res {
			if r.Created { // not when its idempotency key exists
				created = append(created, r.Job)
			}
		}
		if err := tx.Exec(`UPDATE jobs SET `+f.stampColumn+` = ? WHERE id = ANY(?::uuid[])`, now, ids).Error; err != nil {
			return fmt.Errorf("stamp jobs: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}
