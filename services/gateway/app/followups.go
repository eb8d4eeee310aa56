package app

import (
	"github.com/hopperq/hopper/pkg/dispatch"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/store"
)

// followUps are the product's follow-ups of finished jobs: a webhook
// delivery signed with the owner's secrets for jobs submitted with
// webhook_url, a job-finished mail for jobs submitted with notify_email.
// Both kinds are internal or admin-only: these are how users get them. The maintenance worker runs
// both kinds; until it has published them, follow-ups wait.
func followUps(st *store.Store) []dispatch.FollowUp {
	return []dispatch.FollowUp{
		{Name: "webhook", Kind: product.KindWebhook, KeyPrefix: "webhook", Enqueue: st.EnqueueWebhooks,
			Payload: func(f store.Job) any {
				// The event is the job's state when the delivery runs.
				return product.WebhookPayload{JobID: f.ID.String()}
			}},
		{Name: "notice", Kind: product.KindEmail, KeyPrefix: "notify", Enqueue: st.EnqueueNotices,
			Payload: func(f store.Job) any {
				return product.EmailPayload{To: []string{f.NotifyEmail}, Template: product.EmailTemplateJobFinished, JobID: f.ID.String()}
			}},
	}
}
