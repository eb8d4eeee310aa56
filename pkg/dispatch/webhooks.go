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

// webhookEnqueuer turns finished jobs that asked for a webhook into
// maintenance.webhook delivery jobs; the leader runs it every pass.
type webhookEnqueuer struct {
	store    *store.Store
	registry *jobs.Registry
	batch    int
	log      *zap.Logger
}

// pass enqueues up to one batch of deliveries and returns them.
func (w *webhookEnqueuer) pass(ctx context.Context) ([]store.Job, error) {
	kind, ok := w.registry.Lookup(jobs.KindWebhook)
	if !ok {
		return nil, nil // this deployment runs no webhook deliveries
	}
	created, err := w.store.EnqueueWebhooks(ctx, func(f store.Job) (store.NewJob, error) {
		return deliveryJob(kind, f)
	}, w.batch, time.Now())
	if err != nil {
		return nil, err
	}
	if len(created) > 0 {
		w.log.Debug("webhook deliveries enqueued", zap.Int("jobs", len(created)))
	}
	return created, nil
}

// deliveryJob is the maintenance.webhook job for finished job f, owned by
// f's owner. Its idempotency key names the attempt and state, so a job
// retried and finished again gets a second delivery, and nothing else does.
func deliveryJob(kind jobs.Kind, f store.Job) (store.NewJob, error) {
	payload, err := json.Marshal(jobs.WebhookPayload{JobID: f.ID.String(), Event: "job." + string(f.State)})
	if err != nil {
		return store.NewJob{}, fmt.Errorf("webhook payload: %w", err)
	}
	return store.NewJob{
		OwnerID: f.OwnerID,
		Spec: jobs.Spec{Kind: kind, Payload: payload, Priority: kind.DefaultPriority,
			MaxAttempts: kind.MaxAttempts, Timeout: kind.Timeout},
		IdempotencyKey: fmt.Sprintf("webhook:%s:%d:%s", f.ID, f.Attempt, f.State),
	}, nil
}
