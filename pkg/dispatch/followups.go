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

// followUps turns finished jobs that asked for a follow-up into jobs of
// one kind, exactly once per finish: a signed webhook delivery
// (webhook_url) or a job-finished mail (notify_email). The leader runs
// each every pass.
type followUps struct {
	name     string // for logs: "webhook", "notice"
	kind     string
	registry jobs.Catalog
	batch    int
	log      *zap.Logger
	// enqueue is the store's one-transaction claim-and-create
	// (EnqueueWebhooks, EnqueueNotices).
	enqueue func(ctx context.Context, build func(store.Job) (store.NewJob, error), limit int, now time.Time) ([]store.Job, error)
	// payload is the follow-up's payload for finished job f; keyPrefix
	// starts its idempotency key.
	payload   func(f store.Job) any
	keyPrefix string
}

func newFollowUps(d *Dispatcher) []*followUps {
	all := []*followUps{
		{name: "webhook", kind: jobs.KindWebhook, keyPrefix: "webhook",
			enqueue: d.opts.Store.EnqueueWebhooks,
			payload: func(f store.Job) any {
				return jobs.WebhookPayload{JobID: f.ID.String(), Event: "job." + string(f.State)}
			}},
		{name: "notice", kind: jobs.KindEmail, keyPrefix: "notify",
			enqueue: d.opts.Store.EnqueueNotices,
			payload: func(f store.Job) any {
				return jobs.EmailPayload{To: []string{f.NotifyEmail}, Template: jobs.EmailTemplateJobFinished, JobID: f.ID.String()}
			}},
	}
	for _, u := range all {
		u.registry, u.batch, u.log = d.opts.Registry, d.opts.Batch, d.log
	}
	return all
}

// pass enqueues up to one batch of follow-ups and returns them.
func (u *followUps) pass(ctx context.Context) ([]store.Job, error) {
	kind, ok := u.registry.Lookup(u.kind)
	if !ok {
		return nil, nil // this deployment runs no such follow-ups
	}
	created, err := u.enqueue(ctx, func(f store.Job) (store.NewJob, error) {
		return u.job(kind, f)
	}, u.batch, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%s pass: %w", u.name, err)
	}
	if len(created) > 0 {
		u.log.Debug("follow-ups enqueued", zap.String("follow_up", u.name), zap.Int("jobs", len(created)))
	}
	return created, nil
}

// job is the follow-up of finished job f, owned by f's owner. Its
// idempotency key names the attempt and state, so a job retried and
// finished again gets a second follow-up, and nothing else does.
func (u *followUps) job(kind jobs.Kind, f store.Job) (store.NewJob, error) {
	payload, err := json.Marshal(u.payload(f))
	if err != nil {
		return store.NewJob{}, fmt.Errorf("%s payload: %w", u.name, err)
	}
	return store.NewJob{
		OwnerID: f.OwnerID,
		Spec: jobs.Spec{Kind: kind, Payload: payload, Priority: kind.DefaultPriority,
			MaxAttempts: kind.MaxAttempts, Timeout: kind.Timeout},
		IdempotencyKey: fmt.Sprintf("%s:%s:%d:%s", u.keyPrefix, f.ID, f.Attempt, f.State),
	}, nil
}
