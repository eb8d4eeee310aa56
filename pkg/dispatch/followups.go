package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// FollowUp turns finished jobs that asked for a follow-up into jobs of
// one kind, exactly once per finish, owned by the finished job's owner:
// a product's completion webhook or notice mail, say. The dispatcher's
// leader runs each every pass; a follow-up whose kind is not in the
// catalogue waits until it is.
type FollowUp struct {
	Name string // for logs: "webhook", "notice"
	Kind string
	// KeyPrefix starts the follow-up's idempotency key (a prefix clients
	// may not use, so the quota does not count these jobs).
	KeyPrefix string
	// Enqueue claims up to limit finished jobs that want this follow-up
	// and creates theirs, in one transaction (store.EnqueueWebhooks,
	// store.EnqueueNotices).
	Enqueue func(ctx context.Context, build func(jobstore.Job) (jobstore.NewJob, error), limit int, now time.Time) ([]jobstore.Job, error)
	// Payload is the follow-up's payload for finished job f.
	Payload func(f jobstore.Job) any
}

// followUps runs one FollowUp.
type followUps struct {
	FollowUp
	registry jobs.Catalog
	batch    int
	log      *zap.Logger
}

func newFollowUps(d *Dispatcher) []*followUps {
	all := make([]*followUps, len(d.opts.FollowUps))
	for i, f := range d.opts.FollowUps {
		all[i] = &followUps{FollowUp: f, registry: d.opts.Registry, batch: d.opts.Batch, log: d.log}
	}
	return all
}

// pass enqueues up to one batch of follow-ups and returns them.
func (u *followUps) pass(ctx context.Context) ([]jobstore.Job, error) {
	kind, ok := u.registry.Lookup(u.Kind)
	if !ok {
		return nil, nil // no worker has published the kind yet
	}
	created, err := u.Enqueue(ctx, func(f jobstore.Job) (jobstore.NewJob, error) {
		return u.job(kind, f)
	}, u.batch, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%s pass: %w", u.Name, err)
	}
	if len(created) > 0 {
		u.log.Debug("follow-ups enqueued", zap.String("follow_up", u.Name), zap.Int("jobs", len(created)))
	}
	return created, nil
}

// job is the follow-up of finished job f, owned by f's owner. Its
// idempotency key names the attempt and state, so a job retried and
// finished again gets a second follow-up, and nothing else does.
func (u *followUps) job(kind jobs.Kind, f jobstore.Job) (jobstore.NewJob, error) {
	payload, err := json.Marshal(u.Payload(f))
	if err != nil {
		return jobstore.NewJob{}, fmt.Errorf("%s payload: %w", u.Name, err)
	}
	return jobstore.NewJob{
		OwnerID:        f.OwnerID,
		Spec:           kind.Spec(payload),
		IdempotencyKey: fmt.Sprintf("%s:%s:%d:%s", u.KeyPrefix, f.ID, f.Attempt, f.State),
	}, nil
}
