package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/webhook"
)

// webhookStore reads the finished job and appends the delivery's outcome
// to its timeline.
type webhookStore interface {
	jobReader
	AppendEvent(ctx context.Context, jobID uuid.UUID, eventType, message string) error
}

// webhookSender runs maintenance.webhook: POST the finished job to its
// webhook_url, signed, and record each attempt in that job's timeline.
type webhookSender struct {
	store        webhookStore
	deliverer    *webhook.Deliverer // nil without HOPPER_WEBHOOK_SECRET
	allowPrivate bool
}

func newWebhookSender(settings product.Settings) (*webhookSender, error) {
	s := &webhookSender{allowPrivate: settings.WebhookAllowPrivate}
	if settings.WebhookSecret == "" {
		return s, nil
	}
	d, err := webhook.New(webhook.Config{Secret: []byte(settings.WebhookSecret), AllowPrivate: settings.WebhookAllowPrivate})
	if err != nil {
		return nil, fmt.Errorf("HOPPER_WEBHOOK_SECRET: %w", err)
	}
	s.deliverer = d
	return s, nil
}

func (s *webhookSender) configured() bool { return s.deliverer != nil }

func (s *webhookSender) close() {
	if s.deliverer != nil {
		s.deliverer.Close()
	}
}

// webhookJob is the job as a webhook receiver sees it.
type webhookJob struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	State      jobs.State `json:"state"`
	Attempts   int        `json:"attempts"`
	Result     any        `json:"result"`
	Error      *string    `json:"error"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

func (s *webhookSender) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
	if s.deliverer == nil {
		return nil, hopper.Permanentf("webhooks are not configured: set HOPPER_WEBHOOK_SECRET")
	}
	var p product.WebhookPayload
	if err := product.Decode(job.Payload, &p); err != nil {
		return nil, hopper.Permanent(err)
	}
	id, err := uuid.Parse(p.JobID)
	if err != nil {
		return nil, hopper.Permanentf("payload.job_id: %v", err)
	}
	owner := job.Owner
	target, err := s.store.GetJob(ctx, &owner, id)
	if errors.Is(err, pg.ErrNotFound) {
		return nil, hopper.Permanentf("job %s not found (deleted?)", id)
	}
	if err != nil {
		return nil, err
	}
	if err := webhook.CheckURL(target.WebhookURL, s.allowPrivate); err != nil {
		s.record(ctx, id, jobstore.EventWebhookFailed, fmt.Sprintf("%s refused: %v", target.WebhookURL, err))
		return nil, hopper.Permanent(err)
	}

	attempt, err := s.deliverer.Deliver(ctx, target.WebhookURL, p.Event, view(target))
	if err == nil {
		s.record(ctx, id, jobstore.EventWebhookDelivered, fmt.Sprintf("%s %s → %d in %s (delivery %s)",
			p.Event, target.WebhookURL, attempt.Status, attempt.Duration.Round(time.Millisecond), attempt.DeliveryID))
		return map[string]any{"job_id": id.String(), "event": p.Event, "status": attempt.Status,
			"delivery_id": attempt.DeliveryID, "duration_ms": attempt.Duration.Milliseconds()}, nil
	}
	next := "will retry"
	switch {
	case webhook.IsPermanent(err):
		next = "not retried"
		err = hopper.Permanent(err)
	case job.Attempt >= job.MaxAttempts:
		next = "attempts used up"
	default:
		if after, ok := webhook.RetryAfter(err); ok {
			next = fmt.Sprintf("will retry, not before %s (Retry-After)", after)
			err = hopper.RetryAfter(err, after)
		}
	}
	s.record(ctx, id, jobstore.EventWebhookFailed, fmt.Sprintf("%s %s, attempt %d of %d: %v (%s)",
		p.Event, target.WebhookURL, job.Attempt, job.MaxAttempts, attempt.Err, next))
	return nil, err
}

// record appends a delivery event to the finished job's timeline; losing
// one is not worth failing the delivery for.
func (s *webhookSender) record(ctx context.Context, jobID uuid.UUID, eventType, msg string) {
	_ = s.store.AppendEvent(context.WithoutCancel(ctx), jobID, eventType, msg)
}

func view(j jobstore.Job) webhookJob {
	v := webhookJob{ID: j.ID.String(), Kind: j.Kind, State: j.State, Attempts: j.Attempt,
		CreatedAt: j.CreatedAt, FinishedAt: j.FinishedAt}
	if len(j.Result) > 0 {
		v.Result = j.Result
	}
	if j.Error != "" {
		v.Error = &j.Error
	}
	return v
}
