package jobstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Timeline events of webhook deliveries, appended to the finished job.
const (
	EventWebhookDelivered = "webhook_delivered"
	EventWebhookFailed    = "webhook_failed"
)

// EnqueueWebhooks creates one delivery job (built by build) for each
// finished job with a webhook_url that has none yet, up to limit, and
// stamps the finished jobs, all in one transaction: with SKIP LOCKED two
// leaders cannot both take a job, and a crash between the two writes is
// impossible. It returns the created delivery jobs for publishing.
func (s *Store) EnqueueWebhooks(ctx context.Context, build func(finished Job) (NewJob, error), limit int, now time.Time) ([]Job, error) {
	created, err := s.enqueueFollowUps(ctx, webhookFollowUp, build, limit, now)
	if err != nil {
		return nil, fmt.Errorf("enqueue webhooks: %w", err)
	}
	return created, nil
}

// AppendEvent adds an event that is not a state change (a webhook
// delivery) to a job's timeline, with the job's current state and attempt.
func (s *Store) AppendEvent(ctx context.Context, jobID uuid.UUID, eventType, message string) error {
	err := s.db.WithContext(ctx).Exec(`INSERT INTO job_events (job_id, type, state, attempt, message)
SELECT id, ?, state, attempt, ? FROM jobs WHERE id = ?`, eventType, message, jobID).Error
	if err != nil {
		return fmt.Errorf("append %s event: %w", eventType, err)
	}
	return nil
}
