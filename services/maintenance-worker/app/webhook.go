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
	// WebhookSigningSecrets are the owner's secrets that sign now.
	WebhookSigningSecrets(ctx context.Context, owner uuid.UUID, now time.Time) ([][]byte, error)
}

// webhookSender runs maintenance.webhook: POST the finished job to its
// webhook_url, signed with its owner's secrets, and record each attempt
// in that job's timeline.
type webhookSender struct {
	store        webhookStore
	deliverer    *webhook.Deliverer
	allowPrivate bool
	now          func() time.Time
}

func newWebhookSender(settings product.Settings) (*webhookSender, error) {
	d, err := webhook.New(webhook.Config{AllowPrivate: settings.WebhookAllowPrivate})
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return &webhookSender{deliverer: d, allowPrivate: settings.WebhookAllowPrivate, now: time.Now}, nil
}

func (s *webhookSender) close() { s.deliverer.Close() }

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

// handle delivers the end of the job the payload names. What it says is
// read from that job now — its state is the event, its id, attempt and
// state the delivery id — so a delivery cannot claim anything the job did
// not do, and every retry of one delivery carries the same id. It is
// signed with the owner's live secrets only: a receiver holding another
// tenant's secret cannot verify it.
func (s *webhookSender) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
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
		return nil, hopper.Permanentf("job %s not found (deleted, or not yours)", id)
	}
	if err != nil {
		return nil, err
	}
	if !target.State.Terminal() {
		// Retried since it finished: its next end brings a delivery of its
		// own (a retry clears the webhook stamp).
		return webhookResult{JobID: id.String(), Skipped: fmt.Sprintf("job is %s again; its next end is delivered", target.State)}, nil
	}
	event := "job." + string(target.State)
	if err := webhook.CheckURL(target.WebhookURL, s.allowPrivate); err != nil {
		s.record(ctx, id, jobstore.EventWebhookFailed, fmt.Sprintf("%s refused: %v", target.WebhookURL, err))
		return nil, hopper.Permanent(err)
	}
	secrets, err := s.store.WebhookSigningSecrets(ctx, owner, s.now())
	if err != nil {
		return nil, err
	}
	if len(secrets) == 0 {
		err := errors.New("no webhook secret to sign with: create one (POST /v1/users/me/webhook-secrets)")
		s.record(ctx, id, jobstore.EventWebhookFailed, fmt.Sprintf("%s %s not sent: %v", event, target.WebhookURL, err))
		return nil, hopper.Permanent(err)
	}

	attempt, err := s.deliverer.Deliver(ctx, webhook.Message{URL: target.WebhookURL, Event: event, Secrets: secrets,
		ID: webhook.DeliveryID(fmt.Sprintf("%s:%d:%s", target.ID, target.Attempt, target.State)), Payload: view(target)})
	if err == nil {
		s.record(ctx, id, jobstore.EventWebhookDelivered, fmt.Sprintf("%s %s → %d in %s (delivery %s)",
			event, target.WebhookURL, attempt.Status, attempt.Duration.Round(time.Millisecond), attempt.DeliveryID))
		return webhookResult{JobID: id.String(), Event: event, Status: attempt.Status,
			DeliveryID: attempt.DeliveryID, DurationMS: attempt.Duration.Milliseconds()}, nil
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
	s.record(ctx, id, jobstore.EventWebhookFailed, fmt.Sprintf("%s %s, attempt %d of %d, delivery %s: %v (%s)",
		event, target.WebhookURL, job.Attempt, job.MaxAttempts, attempt.DeliveryID, attempt.Err, next))
	return nil, err
}

// webhookResult is a delivery job's result.
type webhookResult struct {
	JobID      string `json:"job_id"`
	Event      string `json:"event,omitempty"`
	Status     int    `json:"status,omitempty"`
	DeliveryID string `json:"delivery_id,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	// Skipped says why nothing was sent.
	Skipped string `json:"skipped,omitempty"`
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
