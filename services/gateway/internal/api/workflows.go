package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/workflows"
)

// Workflows (issue 20): POST /v1/workflows checks the whole graph before
// writing anything, then stores the workflow and its root steps' jobs in
// one transaction, through the same enqueue as a submit (the caller's
// plan bounds each step's priority and attempts, and its jobs-per-hour
// quota the jobs started at once), and publishes them as a submit's.
// Later steps are released by the store in their parents' finishing
// transactions.

// submitWorkflow stores a workflow and answers 202.
func (a *API) submitWorkflow(c *gin.Context) {
	p, ok := jobOwner(c)
	if !ok {
		return
	}
	var req jobs.WorkflowRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = c.GetHeader("Idempotency-Key")
	}
	ctx := c.Request.Context()
	for i, s := range req.Steps {
		if i >= jobs.MaxWorkflowSteps {
			break // ValidateWorkflow refuses the count
		}
		if r := a.kindRefusal(ctx, p, s.Kind); r != nil {
			r.field = "steps[" + strconv.Itoa(i) + "]." + r.field
			r.answer(c, -1)
			return
		}
	}
	plan, ok := a.callerPlan(c, p)
	if !ok {
		return
	}
	wp, err := jobs.ValidateWorkflow(a.opts.Registry, req)
	for i := range wp.Steps {
		if err != nil {
			break
		}
		st := &wp.Steps[i]
		if err = applyPlan(&st.Spec, st.PriorityAsked, st.AttemptsAsked, plan); err != nil {
			var ve *jobs.ValidationError
			if errors.As(err, &ve) {
				ve.Field = "steps[" + strconv.Itoa(i) + "].options." + ve.Field
			}
		}
	}
	if err != nil {
		a.validationError(c, err)
		return
	}
	canonical, err := json.Marshal(req)
	if err != nil {
		a.internalError(c, "encode workflow", err)
		return
	}
	res, err := a.db.workflows.CreateWorkflow(ctx, workflows.NewWorkflow{OwnerID: p.User.ID, Plan: wp,
		Request: canonical, JobsPerHour: plan.JobsPerHour}, a.opts.Now())
	if a.quotaError(c, plan, err) {
		return
	}
	switch {
	case errors.Is(err, workflows.ErrKeyReused):
		httpx.Abort(c, http.StatusConflict, httpx.CodeConflict,
			"idempotency_key was already used for a different workflow", nil)
		return
	case err != nil:
		a.internalError(c, "create workflow", err)
		return
	}
	if res.Replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	a.accepted(ctx, res.Jobs...)
	id := res.Workflow.ID.String()
	c.JSON(http.StatusAccepted, jobs.WorkflowAccepted{ID: id, State: res.Workflow.State,
		Links: map[string]string{"self": "/v1/workflows/" + id}})
}

// workflowID reads the path's id; a malformed one is a 404, as a missing
// workflow.
func workflowID(c *gin.Context) (uuid.UUID, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "workflow not found", nil)
		return uuid.Nil, false
	}
	return id, true
}

// workflowError answers the store's not-found and conflict errors;
// anything else is internal.
func (a *API) workflowError(c *gin.Context, op string, err error) {
	switch {
	case errors.Is(err, pg.ErrNotFound):
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "workflow not found", nil)
	case errors.Is(err, pg.ErrConflict):
		httpx.Abort(c, http.StatusConflict, httpx.CodeConflict, conflictReason(err), nil)
	default:
		a.internalError(c, op, err)
	}
}

// conflictReason is the store's explanation, without the operation's
// prefixes.
func conflictReason(err error) string {
	msg := strings.TrimSuffix(err.Error(), ": "+pg.ErrConflict.Error())
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

func (a *API) getWorkflow(c *gin.Context) {
	id, ok := workflowID(c)
	if !ok {
		return
	}
	d, err := a.db.workflows.GetWorkflow(c.Request.Context(), currentPrincipal(c).ownerScope(), id)
	if err != nil {
		a.workflowError(c, "get workflow", err)
		return
	}
	c.JSON(http.StatusOK, workflowDetailView(d))
}

func (a *API) listWorkflows(c *gin.Context) {
	f := workflows.ListFilter{OwnerID: currentPrincipal(c).ownerScope(), Cursor: c.Query("cursor")}
	if raw := c.Query("state"); raw != "" {
		for _, s := range strings.Split(raw, ",") {
			s = strings.TrimSpace(s)
			switch s {
			case workflows.StateRunning, workflows.StateSucceeded, workflows.StateFailed, workflows.StateCancelled:
				f.States = append(f.States, s)
			default:
				httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest,
					"state: want running, succeeded, failed or cancelled", nil)
				return
			}
		}
	}
	if raw := c.Query("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > jobstore.MaxListLimit {
			httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "limit: want an integer 1-500", nil)
			return
		}
		f.Limit = n
	}
	list, next, err := a.db.workflows.ListWorkflows(c.Request.Context(), f)
	if errors.Is(err, jobstore.ErrBadCursor) {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "cursor: not a cursor returned by this API", nil)
		return
	}
	if err != nil {
		a.internalError(c, "list workflows", err)
		return
	}
	out := jobs.WorkflowList{Workflows: make([]jobs.WorkflowView, len(list))}
	for i, w := range list {
		out.Workflows[i] = workflowView(w)
	}
	if next != "" {
		out.NextCursor = &next
	}
	c.JSON(http.StatusOK, out)
}

// cancelWorkflow halts the workflow, then cancels its jobs that have not
// ended through the jobs' own cancel: waiting ones at once, running ones
// by their workers (signalled now, or at their next heartbeat).
func (a *API) cancelWorkflow(c *gin.Context) {
	id, ok := workflowID(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	scope := currentPrincipal(c).ownerScope()
	live, err := a.db.workflows.CancelWorkflow(ctx, scope, id, a.opts.Now())
	if err != nil {
		a.workflowError(c, "cancel workflow", err)
		return
	}
	var out jobs.WorkflowCancelled
	for _, jid := range live {
		job, err := a.db.jobs.Cancel(ctx, scope, jid)
		if errors.Is(err, pg.ErrConflict) {
			continue // it ended meanwhile
		}
		if err != nil {
			a.internalError(c, "cancel workflow job", err)
			return
		}
		if job.State == jobs.StateRunning {
			out.StoppingJobs++
			a.signalCancel(ctx, job)
		} else {
			out.CancelledJobs++
		}
	}
	d, err := a.db.workflows.GetWorkflow(ctx, scope, id)
	if err != nil {
		a.workflowError(c, "get workflow", err)
		return
	}
	out.Workflow = workflowDetailView(d)
	c.JSON(http.StatusAccepted, out)
}

// retryWorkflowStep re-runs a failed or cancelled step with its kind's
// attempt budget (bounded by the owner's plan, as a job retry) and
// resumes the workflow; the jobs queued again are published at once.
func (a *API) retryWorkflowStep(c *gin.Context) {
	id, ok := workflowID(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	p := currentPrincipal(c)
	d, err := a.db.workflows.GetWorkflow(ctx, p.ownerScope(), id)
	if err != nil {
		a.workflowError(c, "get workflow", err)
		return
	}
	name := c.Param("name")
	budget := 1
	for _, st := range d.Steps {
		if st.Name == name {
			budget = st.MaxAttempts
			if k, found := a.opts.Registry.Lookup(st.Kind); found {
				budget = k.MaxAttempts
			}
		}
	}
	// A user's step retry is work like a job retry: its re-queued jobs
	// count against the plan's jobs per hour (429 when they do not fit).
	// An admin's is the operator's: neither charged nor plan-bounded.
	perHour := 0
	var plan accounts.Plan
	if !p.isAdmin() {
		if plan, ok = a.callerPlan(c, p); !ok {
			return
		}
		budget, _ = jobs.PlanAttempts(budget, false, plan.Name, plan.MaxAttempts)
		perHour = plan.JobsPerHour
	}
	retried, err := a.db.workflows.RetryWorkflowStep(ctx, p.ownerScope(), id, name, budget, perHour, a.opts.Now())
	if !p.isAdmin() && a.quotaError(c, plan, err) {
		return
	}
	if errors.Is(err, pg.ErrNotFound) {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "workflow or step not found", nil)
		return
	}
	if err != nil {
		a.workflowError(c, "retry workflow step", err)
		return
	}
	a.publish(ctx, retried...)
	out := jobs.WorkflowStepRetried{Jobs: make([]string, len(retried))}
	for i, j := range retried {
		out.Jobs[i] = j.ID.String()
	}
	if d, err = a.db.workflows.GetWorkflow(ctx, p.ownerScope(), id); err != nil {
		a.workflowError(c, "get workflow", err)
		return
	}
	out.Workflow = workflowDetailView(d)
	c.JSON(http.StatusAccepted, out)
}

// workflowView is a workflow without its steps (lists).
func workflowView(w workflows.Workflow) jobs.WorkflowView {
	return jobs.WorkflowView{ID: w.ID.String(), Name: w.Name, State: w.State, FailurePolicy: w.FailurePolicy,
		CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC(), FinishedAt: utc(w.FinishedAt)}
}

// workflowDetailView is a workflow with every step, its jobs, its result
// once succeeded, and the timeline.
func workflowDetailView(d workflows.Detail) jobs.WorkflowView {
	v := workflowView(d.Workflow)
	v.Steps = make([]jobs.WorkflowStepView, len(d.Steps))
	v.Timeline = []jobs.WorkflowEventView{{At: v.CreatedAt, Type: "created"}}
	for i, st := range d.Steps {
		sv := jobs.WorkflowStepView{Name: st.Name, Kind: st.Kind, State: st.State, DependsOn: st.DependsOn,
			ForEach: st.ForEach, Jobs: make([]jobs.WorkflowJobView, len(st.Jobs)), JobsTotal: st.JobsTotal,
			JobsSucceeded: st.JobsSucceeded, JobsFailed: st.JobsFailed, JobsCancelled: st.JobsCancelled,
			Error: st.Error, ReleasedAt: utc(st.ReleasedAt), FinishedAt: utc(st.FinishedAt)}
		if sv.DependsOn == nil {
			sv.DependsOn = []string{}
		}
		results := make([]json.RawMessage, len(st.Jobs))
		for k, j := range st.Jobs {
			sv.Jobs[k] = jobs.WorkflowJobView{ID: j.ID.String(), Element: j.Element, State: j.State,
				Attempts: j.Attempts, Error: j.Error}
			sv.Attempts += j.Attempts
			results[k] = j.Result
			if len(results[k]) == 0 {
				results[k] = json.RawMessage("null")
			}
		}
		if st.State == workflows.StepSucceeded {
			switch {
			case st.ForEach != nil:
				sv.Result, _ = json.Marshal(results)
			case len(results) == 1:
				sv.Result = results[0]
			}
		}
		v.Steps[i] = sv
		if sv.ReleasedAt != nil {
			v.Timeline = append(v.Timeline, jobs.WorkflowEventView{At: *sv.ReleasedAt, Step: st.Name, Type: "released"})
		}
		if sv.FinishedAt != nil {
			v.Timeline = append(v.Timeline, jobs.WorkflowEventView{At: *sv.FinishedAt, Step: st.Name, Type: st.State, Error: st.Error})
		}
	}
	if v.FinishedAt != nil {
		v.Timeline = append(v.Timeline, jobs.WorkflowEventView{At: *v.FinishedAt, Type: v.State})
	}
	sort.SliceStable(v.Timeline, func(i, j int) bool { return v.Timeline[i].At.Before(v.Timeline[j].At) })
	return v
}

// utc is t in UTC; nil stays nil.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
