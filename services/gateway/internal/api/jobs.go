package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/webhook"
)

// submitJob stores the job, then publishes it. The job is in Postgres
// before the 202 goes out; a publish that fails or times out leaves it in
// the outbox (published_at NULL) for the dispatcher to publish.
func (a *API) submitJob(c *gin.Context) {
	p, ok := jobOwner(c)
	if !ok {
		return
	}
	var req jobs.SubmitRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	if r := a.kindRefusal(c.Request.Context(), p, req.Kind); r != nil {
		r.answer(c, -1)
		return
	}
	a.submit(c, p, req)
}

// jobOwner is the user submitting; the admin token owns no jobs.
func jobOwner(c *gin.Context) (principal, bool) {
	p := currentPrincipal(c)
	if p.User == nil {
		httpx.Abort(c, http.StatusForbidden, httpx.CodeForbidden,
			"the admin token cannot own jobs: create a user and submit with their API key", nil)
		return p, false
	}
	return p, true
}

// submit validates req, stores the job (idempotently under the request's
// Idempotency-Key), publishes it and answers 202.
func (a *API) submit(c *gin.Context, p principal, req jobs.SubmitRequest) {
	plan, ok := a.callerPlan(c, p)
	if !ok {
		return
	}
	spec, err := a.validate(c.Request.Context(), req)
	if err == nil {
		err = applyPlan(&spec, req.Priority, req.MaxAttempts != nil, plan)
	}
	if err != nil {
		a.validationError(c, err)
		return
	}
	key := c.GetHeader("Idempotency-Key")
	if err := jobs.ValidateIdempotencyKey(key); err != nil {
		a.validationError(c, err)
		return
	}
	if err := checkIdempotencyKeyPrefix(key); err != nil {
		a.validationError(c, err)
		return
	}

	ctx := c.Request.Context()
	refused, err := a.followUpRefusal(ctx, p, spec)
	if err != nil {
		a.internalError(c, "check follow-ups", err)
		return
	}
	if refused != nil {
		refused.answer(c, -1)
		return
	}
	var mails []int64
	if spec.NotifyEmail != "" {
		if mails, ok = a.takeMails(c, p, 1, false); !ok {
			return
		}
	}
	res, err := a.db.jobs.Enqueue(ctx, []jobstore.NewJob{{OwnerID: p.User.ID, Spec: spec, IdempotencyKey: key,
		JobsPerHour: plan.JobsPerHour}}, a.opts.Now())
	if err != nil || !res[0].Created {
		a.returnMails(ctx, mails) // no new job, no new mail
	}
	if a.quotaError(c, plan, err) {
		return
	}
	if err != nil {
		a.internalError(c, "create job", err)
		return
	}
	job := res[0].Job
	if !res[0].Created {
		if job.Kind != spec.Kind.Name || !sameJSON(job.Payload, spec.Payload) {
			httpx.Abort(c, http.StatusConflict, httpx.CodeConflict,
				"Idempotency-Key was already used for a different request",
				map[string]any{"job_id": job.ID.String()})
			return
		}
		c.Header("Idempotent-Replayed", "true")
		c.JSON(http.StatusAccepted, acceptedBody(job))
		return
	}
	a.accepted(ctx, job)
	c.JSON(http.StatusAccepted, acceptedBody(job))
}

// validate checks a submission against the kind registry and, beyond
// the pure checks, refuses webhook URLs that point at loopback or private
// addresses unless HOPPER_WEBHOOK_ALLOW_PRIVATE is set.
func (a *API) validate(ctx context.Context, req jobs.SubmitRequest) (jobs.Spec, error) {
	a.knowKind(ctx, req.Kind)
	spec, err := jobs.Validate(a.opts.Registry, req)
	if err != nil {
		return jobs.Spec{}, err
	}
	if spec.WebhookURL != "" {
		if err := webhook.CheckURL(spec.WebhookURL, a.opts.WebhookAllowPrivate); err != nil {
			return jobs.Spec{}, &jobs.ValidationError{Field: "webhook_url", Message: err.Error()}
		}
	}
	return spec, nil
}

// knowKind gives a catalogue that can refresh itself the chance to learn
// of a kind published a moment ago before a submit of it is refused.
func (a *API) knowKind(ctx context.Context, name string) {
	if r, ok := a.opts.Registry.(interface {
		RefreshMissing(ctx context.Context, name string) bool
	}); ok && name != "" {
		r.RefreshMissing(ctx, name)
	}
}

// accepted counts newly stored jobs and publishes the due ones.
func (a *API) accepted(ctx context.Context, list ...jobstore.Job) {
	for _, j := range list {
		a.opts.Metrics.JobsSubmitted.WithLabelValues(j.Kind).Inc()
	}
	a.publish(ctx, list...)
}

// publish sends the envelopes of the queued, admitted jobs of list and
// records the confirms once they come (dispatch.JobPublisher). The answer
// to the client does not wait for the confirms: the jobs are in the
// outbox already, and a publish that fails is logged, not returned (the
// dispatcher republishes it). The request still waits for slots of the
// publisher's confirm window, which bounds the confirms in flight. A held
// job (over its owner's fairness cap) is not published: it waits in
// Postgres until the dispatcher admits and publishes it. The publish
// outlives the request's cancellation, so a client hanging up cannot
// leave a half-made publish.
func (a *API) publish(ctx context.Context, list ...jobstore.Job) {
	a.publisher.Publish(context.WithoutCancel(ctx), list)
}

// contextWithPublishTimeout bounds a publish; it outlives the request's
// cancellation so a client hanging up cannot leave a half-made publish.
func contextWithPublishTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

// JobAccepted answers a submit (POST /v1/jobs, and each job of a batch,
// a document's ingest, a transcription): the stored job's id and state.
type JobAccepted struct {
	ID    string     `json:"id"`
	State jobs.State `json:"state"`
	Links JobLinks   `json:"links"`
}

// JobLinks are a job's addresses on the gateway.
type JobLinks struct {
	Self string `json:"self"`
}

func jobLinks(id uuid.UUID) JobLinks {
	return JobLinks{Self: "/v1/jobs/" + id.String()}
}

func acceptedBody(job jobstore.Job) JobAccepted {
	return JobAccepted{ID: job.ID.String(), State: job.State, Links: jobLinks(job.ID)}
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func (a *API) getJob(c *gin.Context) {
	job, ok := a.loadJob(c)
	if !ok {
		return
	}
	events, err := a.db.jobs.Events(c.Request.Context(), job.ID)
	if err != nil {
		a.internalError(c, "load events", err)
		return
	}
	arts, err := a.db.jobs.ListArtifacts(c.Request.Context(), job.ID)
	if err != nil {
		a.internalError(c, "load artifacts", err)
		return
	}
	v := jobView(job, events)
	v.Artifacts = artifactViews(job.ID, arts)
	c.JSON(http.StatusOK, v)
}

// loadJob finds the job named in the path within the caller's scope;
// another user's job is a 404, like a missing one.
func (a *API) loadJob(c *gin.Context) (jobstore.Job, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "job not found", nil)
		return jobstore.Job{}, false
	}
	job, err := a.db.jobs.GetJob(c.Request.Context(), currentPrincipal(c).ownerScope(), id)
	if errors.Is(err, pg.ErrNotFound) {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "job not found", nil)
		return jobstore.Job{}, false
	}
	if err != nil {
		a.internalError(c, "get job", err)
		return jobstore.Job{}, false
	}
	return job, true
}

func (a *API) listJobs(c *gin.Context) {
	p := currentPrincipal(c)
	f := jobstore.ListFilter{OwnerID: p.ownerScope(), Kind: c.Query("kind"), Cursor: c.Query("cursor")}
	if p.isAdmin() && c.Query("owner") != "" {
		owner, err := uuid.Parse(c.Query("owner"))
		if err != nil {
			httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "owner: not a user id", nil)
			return
		}
		f.OwnerID = &owner
	}
	if raw := c.Query("state"); raw != "" {
		for _, s := range strings.Split(raw, ",") {
			st, err := jobs.ParseState(strings.TrimSpace(s))
			if err != nil {
				httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "state: "+err.Error(), nil)
				return
			}
			f.States = append(f.States, st)
		}
	}
	if raw := c.Query("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 500 {
			httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "limit: want an integer 1-500", nil)
			return
		}
		f.Limit = n
	}
	list, next, err := a.db.jobs.ListJobs(c.Request.Context(), f)
	if errors.Is(err, jobstore.ErrBadCursor) {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "cursor: not a cursor returned by this API", nil)
		return
	}
	if err != nil {
		a.internalError(c, "list jobs", err)
		return
	}
	body := JobList{Jobs: make([]JobView, len(list))}
	for i, j := range list {
		body.Jobs[i] = jobView(j, nil)
	}
	if next != "" {
		body.NextCursor = &next
	}
	c.JSON(http.StatusOK, body)
}

// cancelJob cancels a waiting job at once (200) or asks its worker to stop a
// running one (202, cancel_requested).
func (a *API) cancelJob(c *gin.Context) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "job not found", nil)
		return
	}
	job, err := a.db.jobs.Cancel(c.Request.Context(), currentPrincipal(c).ownerScope(), id)
	switch {
	case errors.Is(err, pg.ErrNotFound):
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "job not found", nil)
		return
	case errors.Is(err, pg.ErrConflict):
		httpx.Abort(c, http.StatusConflict, httpx.CodeConflict,
			"job already finished; only scheduled, queued, retrying or running jobs can be cancelled", nil)
		return
	case err != nil:
		a.internalError(c, "cancel job", err)
		return
	}
	status := http.StatusOK
	if job.State == jobs.StateRunning {
		status = http.StatusAccepted
		a.signalCancel(c.Request.Context(), job)
	}
	c.JSON(status, jobView(job, nil))
}

// signalCancel tells every worker instance to stop job now. The flag in
// Postgres is already set, so a lost signal only delays the cancel until
// the worker's next heartbeat.
func (a *API) signalCancel(ctx context.Context, job jobstore.Job) {
	pctx, cancel := contextWithPublishTimeout(ctx, a.opts.PublishTimeout)
	defer cancel()
	err := a.opts.Publisher.PublishControl(pctx, broker.ControlMessage{Type: broker.ControlCancel, JobID: job.ID.String()})
	if err != nil {
		a.log.Warn("cancel signal not sent; the worker sees the flag at its next heartbeat",
			hlog.JobID(job.ID.String()), zap.Error(err))
	}
}

// retryJob re-runs a failed or cancelled job with the kind's attempt
// budget, bounded by the owner's plan (max_attempts), and publishes it at
// once. A user's retry is work like a submit: it counts against the
// plan's jobs per hour and is refused (429) when the hour is full. An
// admin's retries (the token, or a user with the admin role) are the
// operator's: neither charged nor bounded by the owner's plan.
func (a *API) retryJob(c *gin.Context) {
	job, ok := a.loadJob(c)
	if !ok {
		return
	}
	if job.WorkflowID != nil {
		// Its workflow accounts for each end once: a retry goes through
		// the workflow, which resumes the steps the failure stopped.
		httpx.Abort(c, http.StatusConflict, httpx.CodeConflict, "this job is a workflow's step: retry it with POST /v1/workflows/"+
			job.WorkflowID.String()+"/steps/"+*job.WorkflowStep+"/retry", map[string]any{"workflow_id": job.WorkflowID.String()})
		return
	}
	budget := 1
	if k, found := a.opts.Registry.Lookup(job.Kind); found {
		budget = k.MaxAttempts
	}
	p := currentPrincipal(c)
	// A retried job that asked for mail mails again when it ends: that
	// mail counts against its owner's rate like a new job's.
	var mails []int64
	if job.NotifyEmail != "" && p.User != nil && p.User.ID == job.OwnerID {
		if mails, ok = a.takeMails(c, p, 1, false); !ok {
			return
		}
	}
	var retried jobstore.Job
	var err error
	if p.isAdmin() {
		retried, err = a.db.jobs.Retry(c.Request.Context(), nil, job.ID, budget)
	} else {
		plan, ok := a.callerPlan(c, p)
		if !ok {
			a.returnMails(c.Request.Context(), mails)
			return
		}
		budget, _ = jobs.PlanAttempts(budget, false, plan.Name, plan.MaxAttempts)
		retried, err = a.db.jobs.RetryCharged(c.Request.Context(), p.User.ID, job.ID, budget, plan.JobsPerHour, a.opts.Now())
		if err != nil {
			a.returnMails(c.Request.Context(), mails)
		}
		if a.quotaError(c, plan, err) {
			return
		}
	}
	if err != nil {
		a.returnMails(c.Request.Context(), mails)
	}
	switch {
	case errors.Is(err, pg.ErrNotFound):
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "job not found", nil)
		return
	case errors.Is(err, pg.ErrConflict):
		httpx.Abort(c, http.StatusConflict, httpx.CodeConflict,
			"only failed or cancelled jobs can be retried", map[string]any{"state": job.State})
		return
	case err != nil:
		a.internalError(c, "retry job", err)
		return
	}
	a.publish(c.Request.Context(), retried)
	c.JSON(http.StatusAccepted, jobView(retried, nil))
}

// JobList answers GET /v1/jobs: a page of jobs, newest first;
// NextCursor is null on the last page.
type JobList struct {
	Jobs       []JobView `json:"jobs"`
	NextCursor *string   `json:"next_cursor"`
}

// JobView is a job as the API shows it. The optional fields appear only
// when set: webhook_url and notify_email when asked for, the workflow
// pair for a workflow step's job, held while a queued job waits under its
// owner's fairness cap, events and artifacts on GET /v1/jobs/{id} only.
type JobView struct {
	ID              string          `json:"id"`
	Kind            string          `json:"kind"`
	Queue           string          `json:"queue"`
	State           jobs.State      `json:"state"`
	Priority        int             `json:"priority"`
	Progress        int             `json:"progress"`
	StatusMessage   string          `json:"status_message"`
	Payload         json.RawMessage `json:"payload"`
	Result          json.RawMessage `json:"result"`
	Error           *string         `json:"error"`
	Attempts        int             `json:"attempts"`
	MaxAttempts     int             `json:"max_attempts"`
	TimeoutSeconds  float64         `json:"timeout_seconds"`
	CancelRequested bool            `json:"cancel_requested"`
	CreatedAt       *string         `json:"created_at"`
	UpdatedAt       *string         `json:"updated_at"`
	RunAt           *string         `json:"run_at"`
	StartedAt       *string         `json:"started_at"`
	FinishedAt      *string         `json:"finished_at"`
	WebhookURL      string          `json:"webhook_url,omitempty"`
	NotifyEmail     string          `json:"notify_email,omitempty"`
	WorkflowID      *string         `json:"workflow_id,omitempty"`
	WorkflowStep    *string         `json:"workflow_step,omitempty"`
	Held            bool            `json:"held,omitempty"`
	// omitzero, not omitempty: a nil list (not asked for) is left out, an
	// empty one is shown as [].
	Events    []JobEventView `json:"events,omitzero"`
	Artifacts []ArtifactView `json:"artifacts,omitzero"`
}

// JobEventView is one entry of a job's timeline.
type JobEventView struct {
	At      *string    `json:"at"`
	Type    string     `json:"type"`
	State   jobs.State `json:"state"`
	Attempt int        `json:"attempt"`
	Message *string    `json:"message"`
}

// jobView is a job as the API shows it; events are included when given.
func jobView(j jobstore.Job, events []jobstore.Event) JobView {
	v := JobView{
		ID:              j.ID.String(),
		Kind:            j.Kind,
		Queue:           j.Queue,
		State:           j.State,
		Priority:        j.Priority,
		Progress:        j.Progress,
		StatusMessage:   j.StatusMessage,
		Payload:         rawOrNull(j.Payload),
		Result:          rawOrNull(j.Result),
		Error:           nullIfEmpty(j.Error),
		Attempts:        j.Attempt,
		MaxAttempts:     j.MaxAttempts,
		TimeoutSeconds:  float64(j.TimeoutMS) / 1000,
		CancelRequested: j.CancelRequested,
		CreatedAt:       rfc3339(&j.CreatedAt),
		UpdatedAt:       rfc3339(&j.UpdatedAt),
		RunAt:           rfc3339(&j.RunAt),
		StartedAt:       rfc3339(j.StartedAt),
		FinishedAt:      rfc3339(j.FinishedAt),
		WebhookURL:      j.WebhookURL,
		NotifyEmail:     j.NotifyEmail,
		// held: waiting for room under the owner's fairness cap
		Held: j.Held && j.State == jobs.StateQueued,
	}
	if j.WorkflowID != nil && j.WorkflowStep != nil {
		id, step := j.WorkflowID.String(), *j.WorkflowStep
		v.WorkflowID, v.WorkflowStep = &id, &step
	}
	if events != nil {
		v.Events = make([]JobEventView, len(events))
		for i, e := range events {
			v.Events[i] = JobEventView{At: rfc3339(&e.At), Type: e.Type, State: e.State, Attempt: e.Attempt, Message: nullIfEmpty(e.Message)}
		}
	}
	return v
}

// rawOrNull is r, or nil (JSON null) when it is empty.
func rawOrNull(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return nil
	}
	return r
}

// nullIfEmpty is s, or nil (JSON null) when it is "".
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// rfc3339 is t in UTC as RFC 3339 (with fractions of a second), or nil
// (JSON null) for no time.
func rfc3339(t *time.Time) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// decodeJSON reads a JSON object body strictly: malformed JSON or unknown
// fields are a 400, an oversized body a 413.
func (a *API) decodeJSON(c *gin.Context, dst any) bool {
	body, err := io.ReadAll(c.Request.Body)
	if httpx.IsTooLarge(err) {
		httpx.Abort(c, http.StatusRequestEntityTooLarge, httpx.CodeTooLarge,
			"request body is larger than the limit", map[string]any{"limit_bytes": a.opts.MaxBodyBytes})
		return false
	}
	if err != nil {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "could not read the request body", nil)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "malformed JSON body: "+jsonProblem(err), nil)
		return false
	}
	if dec.More() {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "malformed JSON body: trailing data after the object", nil)
		return false
	}
	return true
}

func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q must be %s", typeErr.Field, typeErr.Type)
	case errors.Is(err, io.EOF):
		return "empty body"
	default:
		return err.Error()
	}
}

func (a *API) validationError(c *gin.Context, err error) {
	var ve *jobs.ValidationError
	if !errors.As(err, &ve) {
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, err.Error(), nil)
		return
	}
	details := map[string]any{"field": ve.Field}
	if ve.UnknownKind {
		details["valid_kinds"] = a.opts.Registry.Names()
	}
	httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, ve.Error(), details)
}
