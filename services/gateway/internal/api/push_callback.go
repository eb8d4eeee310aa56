package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/push"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// The job-scoped callback of push kinds (POST /v1/push/callback/{id}/
// {attempt}/{progress|output|succeed|fail|retry}): a target that answered a
// delivery with 202 reports on and finishes that attempt here, with the
// Hopper-Callback-Token of the delivery as its bearer token. The token is
// good for that job's attempt only; every write is conditional on the
// attempt still running (the same statements as a worker's finish), so a
// late callback can never touch a newer attempt.

// PushCallbackRequest is the body of a callback; each action reads its
// own fields.
type PushCallbackRequest struct {
	// Progress (0-100) and Message: progress. Each progress call also
	// extends the attempt's lease by the kind's timeout.
	Progress *int   `json:"progress,omitempty"`
	Message  string `json:"message,omitempty"`
	// Chunks or Text: output, appended in order to the job's output
	// (GET /v1/jobs/{id}/output); Text is split into chunks as needed.
	Chunks []string `json:"chunks,omitempty"`
	Text   string   `json:"text,omitempty"`
	// Result: succeed (any JSON; null when absent).
	Result json.RawMessage `json:"result,omitempty"`
	// Error: fail and retry.
	Error string `json:"error,omitempty"`
	// RetryAfterSeconds: retry no sooner than this (within the kind's
	// backoff cap); the kind's backoff when absent.
	RetryAfterSeconds *float64 `json:"retry_after_seconds,omitempty"`
}

// PushCallbackAnswer is a callback's answer.
type PushCallbackAnswer struct {
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt"`
	State   string `json:"state"`
	// CancelRequested: a user asked for the job to stop; the target should
	// end it (fail) soon.
	CancelRequested bool `json:"cancel_requested"`
	// FirstSeq and LastSeq number an output call's chunks.
	FirstSeq int64 `json:"first_seq,omitempty"`
	LastSeq  int64 `json:"last_seq,omitempty"`
}

// CallbackStore is what the callback reads and writes of the job.
type CallbackStore interface {
	GetJob(ctx context.Context, ownerID *uuid.UUID, id uuid.UUID) (jobstore.Job, error)
	Progress(ctx context.Context, jobID uuid.UUID, attempt int, workerID string, pct int, msg string, lease time.Duration) (bool, error)
	Finish(ctx context.Context, o jobstore.Outcome) (jobs.State, error)
	AppendOutput(ctx context.Context, jobID uuid.UUID, attempt int, workerID string, chunks []string, maxBytes int64) (int64, bool, error)
}

func (a *API) pushCallback(c *gin.Context) {
	notFound := func(c *gin.Context) {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "no such job attempt", nil)
	}
	id, err := uuid.Parse(c.Param("id"))
	attempt, aerr := strconv.Atoi(c.Param("attempt"))
	if err != nil || aerr != nil || attempt < 1 {
		notFound(c)
		return
	}
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || token == "" {
		httpx.Abort(c, http.StatusUnauthorized, httpx.CodeUnauthorized,
			"the delivery's Hopper-Callback-Token is required as a bearer token", nil)
		return
	}
	ctx := c.Request.Context()
	key, err := a.pushCallbackKey(ctx)
	if err != nil {
		a.internalError(c, "push callback key", err)
		return
	}
	if !push.CheckCallbackToken(key, id, attempt, token) {
		httpx.Abort(c, http.StatusForbidden, httpx.CodeForbidden, "the token is not this job attempt's", nil)
		return
	}
	var req PushCallbackRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	job, err := a.opts.Store.GetJob(ctx, nil, id)
	if a.storeFailed(c, "push callback: get job", err, notFound) {
		return
	}
	if job.Attempt != attempt || job.State != jobs.StateRunning {
		a.callbackGone(c, job, attempt)
		return
	}
	o := jobstore.Outcome{JobID: id, Attempt: attempt, WorkerID: job.WorkerID}
	switch c.Param("action") {
	case "progress":
		if req.Progress == nil || *req.Progress < 0 || *req.Progress > 100 {
			httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, "progress: 0-100 required", nil)
			return
		}
		if len(req.Message) > 1024 {
			httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, "message: at most 1024 bytes", nil)
			return
		}
		cancel, err := a.opts.Store.Progress(ctx, id, attempt, job.WorkerID, *req.Progress, req.Message, job.Timeout())
		if errors.Is(err, jobstore.ErrLeaseLost) {
			a.callbackGone(c, job, attempt)
			return
		}
		if err != nil {
			a.internalError(c, "push callback: progress", err)
			return
		}
		c.JSON(http.StatusOK, PushCallbackAnswer{JobID: id.String(), Attempt: attempt, State: string(jobs.StateRunning), CancelRequested: cancel})
		return
	case "output":
		a.pushCallbackOutput(c, job, req)
		return
	case "succeed":
		o.State = jobs.StateSucceeded
		if len(req.Result) > 0 && string(req.Result) != "null" {
			o.Result = req.Result
		}
	case "fail":
		o.State, o.Error = jobs.StateFailed, callbackError(req.Error, "failed by its push target")
	case "retry":
		o.State, o.Error = jobs.StateRetrying, callbackError(req.Error, "retry asked by its push target")
		if job.Attempt >= job.MaxAttempts {
			o.State = jobs.StateFailed
			break
		}
		k, ok := a.opts.Registry.Lookup(job.Kind)
		if !ok {
			k = jobs.Kind{BackoffBase: time.Second, BackoffCap: time.Minute}
		}
		wait := jobs.Backoff(k, attempt, rand.Float64())
		if req.RetryAfterSeconds != nil && *req.RetryAfterSeconds > 0 {
			wait = max(wait, min(time.Duration(*req.RetryAfterSeconds*float64(time.Second)), k.BackoffCap))
		}
		o.RetryAt = a.opts.Now().Add(wait)
	default:
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "unknown callback action (progress, output, succeed, fail, retry)", nil)
		return
	}
	state, err := a.opts.Store.Finish(ctx, o)
	if errors.Is(err, jobstore.ErrLeaseLost) {
		a.callbackGone(c, job, attempt)
		return
	}
	if err != nil {
		a.internalError(c, "push callback: finish", err)
		return
	}
	c.JSON(http.StatusOK, PushCallbackAnswer{JobID: id.String(), Attempt: attempt, State: string(state)})
}

// pushCallbackOutput appends a callback's chunks (or its text, split) to
// the attempt's output with the same conditional, batched append as the
// worker runtime and the pull protocol, under the push worker's claim.
func (a *API) pushCallbackOutput(c *gin.Context, job jobstore.Job, req PushCallbackRequest) {
	chunks := req.Chunks
	if req.Text != "" {
		if len(chunks) > 0 {
			httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "output: send chunks or text, not both", nil)
			return
		}
		chunks = splitOutput(req.Text)
	}
	if !checkOutputBatch(c, chunks) {
		return
	}
	first, cancel, err := a.opts.Store.AppendOutput(c.Request.Context(), job.ID, job.Attempt, job.WorkerID, chunks, a.opts.OutputMaxBytes)
	switch {
	case errors.Is(err, jobstore.ErrOutputLimit):
		a.outputLimited(c)
		return
	case errors.Is(err, jobstore.ErrLeaseLost):
		a.callbackGone(c, job, job.Attempt)
		return
	case err != nil:
		a.internalError(c, "push callback: output", err)
		return
	}
	c.JSON(http.StatusOK, PushCallbackAnswer{JobID: job.ID.String(), Attempt: job.Attempt, State: string(jobs.StateRunning),
		CancelRequested: cancel, FirstSeq: first, LastSeq: first + int64(len(chunks)) - 1})
}

// callbackGone answers a callback for an attempt that is not running any
// more (finished, reaped, cancelled, or a newer attempt started): 409.
func (a *API) callbackGone(c *gin.Context, job jobstore.Job, attempt int) {
	httpx.Abort(c, http.StatusConflict, httpx.CodeConflict,
		fmt.Sprintf("attempt %d is not running any more (the job is %s, at attempt %d)", attempt, job.State, job.Attempt),
		map[string]any{"state": job.State, "attempt": job.Attempt})
}

func callbackError(msg, def string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return def
	}
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	return msg
}

// pushCallbackKey reads the callback tokens' key once.
func (a *API) pushCallbackKey(ctx context.Context) ([]byte, error) {
	if k := a.pushKey.Load(); k != nil {
		return *k, nil
	}
	k, err := a.opts.Push.CallbackKey(ctx)
	if err != nil {
		return nil, err
	}
	a.pushKey.Store(&k)
	return k, nil
}
