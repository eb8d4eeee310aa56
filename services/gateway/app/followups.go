package app

import (
	"context"
	"time"

	"github.com/hopperq/hopper/pkg/dispatch"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// followUpStore creates the follow-up jobs of finished jobs.
type followUpStore interface {
	EnqueueWebhooks(ctx context.Context, build func(finished jobstore.Job) (jobstore.NewJob, error), limit int, now time.Time) ([]jobstore.Job, error)
	EnqueueNotices(ctx context.Context, build func(finished jobstore.Job) (jobstore.NewJob, error), limit int, now time.Time) ([]jobstore.Job, error)
}

// followUps are the product's follow-ups of finished jobs: a webhook
// delivery signed with the owner's secrets for jobs submitted with
// webhook_url, a job-finished mail for jobs submitted with notify_email.
// Both kinds are internal or admin-only: these are how users get them. The maintenance worker runs
// both kinds; until it has published them, follow-ups wait.
func followUps(st followUpStore) []dispatch.FollowUp {
	return []dispatch.FollowUp{
		{Name: "webhook", Kind: product.KindWebhook, KeyPrefix: "webhook", Enqueue: st.EnqueueWebhooks,
			Payload: func(f jobstore.Job) any {
				// The event is the job's state when the delivery runs.
				return product.WebhookPayload{JobID: f.ID.String()}
			}},
		{Name: "notice", Kind: product.KindEmail, KeyPrefix: "notify", Enqueue: st.EnqueueNotices,
			Payload: func(f jobstore.Job) any {
				return product.EmailPayload{To: []string{f.NotifyEmail}, Template: product.EmailTemplateJobFinished, JobID: f.ID.String()}
			}},
	}
}
