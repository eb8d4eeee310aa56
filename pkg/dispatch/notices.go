package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
)

// noticeEnqueuer turns finished jobs submitted with notify_email into
// maintenance.email jobs (template job_finished); the leader runs it every
// pass, like webhookEnqueuer.
type noticeEnqueuer struct {
	store    *store.Store
	registry *jobs.Registry
	batch    int
	log      *zap.Logger
}

// pass enqueues up to one batch of notices and returns them.
func (n *noticeEnqueuer) pass(ctx context.Context) ([]store.Job, error) {
	kind, ok := n.registry.Lookup(jobs.KindEmail)
	if !ok {
		return nil, nil // this deployment sends no mail
	}
	created, err := n.store.EnqueueNotices(ctx, func(f store.Job) (store.NewJob, error) {
		return noticeJob(kind, f)
	}, n.batch, time.Now())
	if err != nil {
		return nil, err
	}
	if len(created) > 0 {
		n.log.Debug("job-finished notices enqueued", zap.Int("jobs", len(created)))
	}
	return created, nil
}

// noticeJob is the maintenance.email job telling f's notify_email that f
// finished, owned by f's owner. Its idempotency key names the attempt and
// state, so a job retried and finished again gets a second notice, and
// nothing else does.
func noticeJob(kind jobs.Kind, f store.Job) (store.NewJob, error) {
	payload, err := json.Marshal(jobs.EmailPayload{
		To: []string{f.NotifyEmail}, Template: jobs.EmailTemplateJobFinished, JobID: f.ID.String(),
	})
	if err != nil {
		return store.NewJob{}, fmt.Errorf("notice payload: %w", err)
	}
	return store.NewJob{
		OwnerID: f.OwnerID,
		Spec: jobs.Spec{Kind: kind, Payload: payload, Priority: kind.DefaultPriority,
			MaxAttempts: kind.MaxAttempts, Timeout: kind.Timeout},
		IdempotencyKey: fmt.Sprintf("notify:%s:%d:%s", f.ID, f.Attempt, f.State),
	}, nil
}
