package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// What a user may ask of Hopper beyond a well-formed job (issue 18): a
// kind their role may submit, mail only to an address they have proven
// and at a bounded rate, webhooks only once they hold a secret to verify
// them with.

// refusal is why a caller may not submit what they asked for.
type refusal struct {
	status  int    // 403: not theirs to use; 422: a precondition they can meet
	code    string // httpx code
	field   string
	message string
	details map[string]any
}

// answer sends r; index >= 0 names a batch's job.
func (r *refusal) answer(c *gin.Context, index int) {
	details := map[string]any{"field": r.field}
	for k, v := range r.details {
		details[k] = v
	}
	msg := r.field + ": " + r.message
	if index >= 0 {
		details["index"] = index
		msg = "jobs[" + strconv.Itoa(index) + "]: " + msg
	}
	httpx.Abort(c, r.status, r.code, msg, details)
}

// kindRefusal says why p may not submit kind name through the API, or nil
// when it may (or when the kind is unknown: validation answers that).
// Internal kinds are refused to everyone, admin kinds to users without
// the admin role: 403, for the kind exists and GET /v1/kinds shows it.
func (a *API) kindRefusal(ctx context.Context, p principal, name string) *refusal {
	a.knowKind(ctx, name)
	k, ok := a.opts.Registry.Lookup(name)
	if !ok || k.Visibility.Submittable(p.isAdmin()) {
		return nil
	}
	r := &refusal{status: http.StatusForbidden, code: httpx.CodeForbidden, field: "kind",
		details: map[string]any{"kind": k.Name, "visibility": string(k.Visibility)}}
	switch {
	case k.Visibility == jobs.VisibilityAdmin:
		r.message = fmt.Sprintf("%s is for admins: only users with the admin role may submit it", k.Name)
	case strings.HasPrefix(k.Name, "system."):
		r.message = fmt.Sprintf("%s is off in this deployment: system.* kinds are test aids, accepted with HOPPER_ENV=dev or HOPPER_SYSTEM_KINDS=true", k.Name)
	default:
		r.message = fmt.Sprintf("%s is internal: Hopper creates its jobs itself, clients cannot submit it", k.Name)
		if k.Description != "" {
			r.message += " (" + k.Description + ")"
		}
	}
	return r
}

// followUpRefusal says why p may not ask for spec's follow-ups, or nil:
// mail to an address that is not p's own (403), a webhook before p holds
// a secret to verify it with (422).
func (a *API) followUpRefusal(ctx context.Context, p principal, spec jobs.Spec) (*refusal, error) {
	if spec.NotifyEmail != "" && !jobs.SameAddress(spec.NotifyEmail, p.User.Email) {
		return &refusal{status: http.StatusForbidden, code: httpx.CodeForbidden, field: "notify_email",
			message: fmt.Sprintf("job-finished mail goes only to your account's own address (%s), not %s",
				p.User.Email, spec.NotifyEmail)}, nil
	}
	if spec.WebhookURL != "" {
		ok, err := a.opts.Store.HasWebhookSecret(ctx, p.User.ID, a.opts.Now())
		if err != nil {
			return nil, err
		}
		if !ok {
			return &refusal{status: http.StatusUnprocessableEntity, code: httpx.CodeUnprocessable, field: "webhook_url",
				message: "create a webhook signing secret first (POST /v1/users/me/webhook-secrets): " +
					"your webhooks are signed with your own secrets, and there is none yet"}, nil
		}
	}
	return nil, nil
}

// takeMails reserves n job-finished mails of p's under the mail rate
// (HOPPER_NOTIFY_MAILS_PER_HOUR). On refusal it has answered (429 with
// Retry-After, or 422 when n alone is over the rate) and returns ok
// false. Give the reservations back with returnMails when the jobs are
// not created.
func (a *API) takeMails(c *gin.Context, p principal, n int, batch bool) (ids []int64, ok bool) {
	ids, err := a.opts.Store.TakeMails(c.Request.Context(), p.User.ID, n, a.opts.NotifyMailsPerHour, a.opts.Now())
	var qe *pg.QuotaError
	switch {
	case errors.As(err, &qe):
		details := map[string]any{"limit": qe.Limit, "max": qe.Max, "used": qe.Used, "requested": qe.Requested}
		prefix := ""
		if batch {
			prefix = "jobs: "
		}
		if qe.RetryAfter <= 0 {
			httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, fmt.Sprintf(
				"%s%d job-finished mails can never fit the rate of %d per hour", prefix, qe.Requested, qe.Max), details)
			return nil, false
		}
		secs := int(math.Ceil(qe.RetryAfter.Seconds()))
		details["retry_after_seconds"] = secs
		c.Header("Retry-After", strconv.Itoa(secs))
		httpx.Abort(c, http.StatusTooManyRequests, httpx.CodeRateLimited, fmt.Sprintf(
			"%smail rate reached: %d of %d job-finished mails (notify_email) in the last hour; retry in %d s",
			prefix, qe.Used, qe.Max, secs), details)
		return nil, false
	case err != nil:
		a.internalError(c, "take mails", err)
		return nil, false
	}
	return ids, true
}

// returnMails gives back reservations of jobs that were not created. A
// failure costs the user mails until the hour passes, not correctness.
func (a *API) returnMails(ctx context.Context, ids []int64) {
	if err := a.opts.Store.ReturnMails(context.WithoutCancel(ctx), ids); err != nil {
		a.log.Warn("mail reservations not returned", zap.Int("mails", len(ids)), zap.Error(err))
	}
}
