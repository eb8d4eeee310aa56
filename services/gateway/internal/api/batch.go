package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

type batchRequest struct {
	Jobs []jobs.SubmitRequest `json:"jobs"`
}

// submitBatch stores up to jobstore.MaxBatch jobs in one statement, all or
// none, then publishes the due ones as single submits are (accepted). A
// bad job refuses the whole batch with its index.
func (a *API) submitBatch(c *gin.Context) {
	p := currentPrincipal(c)
	if p.User == nil {
		httpx.Abort(c, http.StatusForbidden, httpx.CodeForbidden,
			"the admin token cannot own jobs: create a user and submit with their API key", nil)
		return
	}
	if c.GetHeader("Idempotency-Key") != "" {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "Idempotency-Key is not supported on batch submissions", nil)
		return
	}
	var req batchRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	if len(req.Jobs) == 0 || len(req.Jobs) > jobstore.MaxBatch {
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, "jobs: want 1 to 1000 jobs",
			map[string]any{"field": "jobs", "count": len(req.Jobs)})
		return
	}
	plan, ok := a.callerPlan(c, p)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	batch := make([]jobstore.NewJob, len(req.Jobs))
	notices := 0
	for i, r := range req.Jobs {
		if refused := a.kindRefusal(ctx, p, r.Kind); refused != nil {
			refused.answer(c, i)
			return
		}
		spec, err := a.validate(ctx, r)
		if err == nil {
			err = applyPlan(&spec, r.Priority, r.MaxAttempts != nil, plan)
		}
		if err != nil {
			a.batchValidationError(c, i, err)
			return
		}
		refused, err := a.followUpRefusal(ctx, p, spec)
		if err != nil {
			a.internalError(c, "check follow-ups", err)
			return
		}
		if refused != nil {
			refused.answer(c, i)
			return
		}
		if spec.NotifyEmail != "" {
			notices++
		}
		batch[i] = jobstore.NewJob{OwnerID: p.User.ID, Spec: spec, JobsPerHour: plan.JobsPerHour}
	}
	mails, ok := a.takeMails(c, p, notices, true)
	if !ok {
		return
	}
	created, err := a.db.jobs.Enqueue(ctx, batch, a.opts.Now())
	if err != nil {
		a.returnMails(ctx, mails)
	}
	if a.quotaError(c, plan, err) {
		return
	}
	if err != nil {
		a.internalError(c, "create jobs", err)
		return
	}
	// The jobs are published as a single submit's is: the answer waits
	// for the publisher's window, not for the confirms.
	list := make([]jobstore.Job, len(created))
	out := BatchAccepted{Jobs: make([]JobAccepted, len(created))}
	for i, r := range created {
		list[i], out.Jobs[i] = r.Job, acceptedBody(r.Job)
	}
	a.accepted(ctx, list...)
	c.JSON(http.StatusAccepted, out)
}

// BatchAccepted answers POST /v1/jobs/batch: the jobs in request order.
type BatchAccepted struct {
	Jobs []JobAccepted `json:"jobs"`
}

func (a *API) batchValidationError(c *gin.Context, index int, err error) {
	details := map[string]any{"index": index}
	var ve *jobs.ValidationError
	if errors.As(err, &ve) {
		details["field"] = ve.Field
		if ve.UnknownKind {
			details["valid_kinds"] = a.opts.Registry.Names()
		}
	}
	httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, "jobs["+strconv.Itoa(index)+"]: "+err.Error(), details)
}
