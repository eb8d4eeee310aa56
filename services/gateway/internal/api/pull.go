package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// Taker takes deliveries from queues for pull workers (*broker.Taker).
type Taker interface {
	Take(ctx context.Context, queues []string, wait time.Duration) (*broker.Taken, error)
	DeclareBindings(ctx context.Context, queue string, keys ...string) error
}

// Bounds of the pull protocol.
const (
	// pullMaxWait bounds a claim's long poll; pullDefaultWait is used
	// when the request names none.
	pullMaxWait     = 30 * time.Second
	pullDefaultWait = 20 * time.Second
	// A lease a pull worker asks for: at least 2 s (a shorter one is
	// mostly heartbeats), at most 10 min (a dead worker's job waits that
	// long); default the runtime's 30 s.
	pullMinLease     = 2 * time.Second
	pullMaxLease     = 10 * time.Minute
	pullDefaultLease = 30 * time.Second
	// pullMaxKinds bounds one registration.
	pullMaxKinds = 100
	// pullMaxStatus bounds a status message.
	pullMaxStatus = 1024
	// pullMaxError bounds a failure's text.
	pullMaxError = 4096
	// pullCallsPerSecond and pullCallsBurst bound a token's job calls
	// (heartbeat, progress, output, finishes) per gateway: output is
	// batched by the worker, so this is many batches a second.
	pullCallsPerSecond = 200
	pullCallsBurst     = 400
	// pullMaxParentsBytes bounds GET /v1/worker/jobs/{id}/parents's
	// results (a fan-out of 1,000 elements of 8 KiB each fits); past it
	// the worker reads one parent at a time with ?step=.
	pullMaxParentsBytes = 8 << 20
)

// pullWorkerID is the worker id a token's claims hold jobs under: the
// finish statements are conditional on it, so one token's workers never
// touch another's jobs.
func pullWorkerID(t *accounts.WorkerToken) string { return "pull:" + t.ID.String() }

// pullState is the pull protocol's in-memory state on this gateway:
// waiting claims per token and the tokens' call rates.
type pullState struct {
	mu      sync.Mutex
	waiting map[uuid.UUID]int
	tat     map[uuid.UUID]time.Time // GCRA: theoretical arrival time
}

func newPullState() *pullState {
	return &pullState{waiting: map[uuid.UUID]int{}, tat: map[uuid.UUID]time.Time{}}
}

// allow reports whether token may make a job call now, and else how
// long to wait (GCRA at pullCallsPerSecond with pullCallsBurst).
func (s *pullState) allow(token uuid.UUID, now time.Time) (bool, time.Duration) {
	interval := time.Second / pullCallsPerSecond
	s.mu.Lock()
	defer s.mu.Unlock()
	tat := s.tat[token]
	if tat.Before(now) {
		tat = now
	}
	if wait := tat.Sub(now) - interval*pullCallsBurst; wait > 0 {
		return false, wait
	}
	s.tat[token] = tat.Add(interval)
	return true, 0
}

// PullJob is a claimed job as the pull protocol hands it out.
type PullJob struct {
	ID             string          `json:"id"`
	Kind           string          `json:"kind"`
	Queue          string          `json:"queue"`
	Attempt        int             `json:"attempt"`
	MaxAttempts    int             `json:"max_attempts"`
	Priority       int             `json:"priority"`
	Payload        json.RawMessage `json:"payload"`
	TimeoutSeconds float64         `json:"timeout_seconds"`
	LeaseSeconds   float64         `json:"lease_seconds"`
	LeaseExpiresAt any             `json:"lease_expires_at"`
	OutputSeq      int64           `json:"output_seq"`
	// Workflow is set when the job runs a workflow's step: its parents'
	// results are at GET /v1/worker/jobs/{id}/parents.
	Workflow *PullWorkflow `json:"workflow,omitempty"`
}

// PullWorkflow names the workflow step a claimed job runs.
type PullWorkflow struct {
	ID   string `json:"id"`
	Step string `json:"step"`
	// Element is the job's position in a fan-out step (its payload's
	// "index"); absent for a step of one job.
	Element *int `json:"element,omitempty"`
}

// ClaimRequest is POST /v1/worker/claim's body.
type ClaimRequest struct {
	// Queues to take from; default every queue of the token.
	Queues       []string `json:"queues"`
	WaitSeconds  *float64 `json:"wait_seconds"`
	LeaseSeconds *float64 `json:"lease_seconds"`
}

// ClaimResponse is POST /v1/worker/claim's answer when a job was claimed.
type ClaimResponse struct {
	Job PullJob `json:"job"`
}

// claim long-polls the token's queues for a job, claims it in Postgres
// with the worker runtime's claim (the same conditional UPDATE and lease)
// and acks the delivery after the claim committed: 200 with the job, or
// 204 when none came within the wait.
func (a *API) pullClaim(c *gin.Context) {
	tok := currentPrincipal(c).Worker
	var req ClaimRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	queues := req.Queues
	if len(queues) == 0 {
		queues = tok.Queues
	}
	for _, q := range queues {
		if !tok.Allows(q) {
			httpx.Abort(c, http.StatusForbidden, httpx.CodeForbidden, "queue "+q+" is outside this worker token's scope",
				map[string]any{"queues": tok.Queues})
			return
		}
	}
	wait, ok := secondsIn(c, "wait_seconds", req.WaitSeconds, pullDefaultWait, 0, pullMaxWait)
	if !ok {
		return
	}
	lease, ok := secondsIn(c, "lease_seconds", req.LeaseSeconds, pullDefaultLease, pullMinLease, pullMaxLease)
	if !ok {
		return
	}
	if a.opts.Taker == nil {
		httpx.Abort(c, http.StatusServiceUnavailable, httpx.CodeUnavailable, "the pull protocol is not available on this gateway", nil)
		return
	}
	ctx := c.Request.Context()
	release, ok := a.enterClaim(c, tok)
	if !ok {
		return
	}
	defer release()
	defer a.pullFleet.wait(pullRowID(c))()

	workerID := pullWorkerID(tok)
	deadline := time.Now().Add(wait)
	for {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			c.Status(http.StatusNoContent)
			return
		}
		taken, err := a.opts.Taker.Take(ctx, queues, remaining)
		if errors.Is(err, broker.ErrNothingTaken) {
			c.Status(http.StatusNoContent)
			return
		}
		if err != nil {
			if ctx.Err() != nil {
				return // the worker left; nothing was taken
			}
			a.log.Warn("pull claim: take failed", zap.Error(err))
			httpx.Abort(c, http.StatusServiceUnavailable, httpx.CodeUnavailable, "the broker is unavailable; retry shortly", nil)
			return
		}
		job, ok := a.claimTaken(ctx, taken, workerID, lease)
		if !ok {
			continue
		}
		c.JSON(http.StatusOK, ClaimResponse{Job: pullJobView(job, lease)})
		return
	}
}

// enterClaim counts a waiting claim of tok, refusing it (429) when the
// token's jobs running plus its claims waiting reach its max_in_flight.
func (a *API) enterClaim(c *gin.Context, tok *accounts.WorkerToken) (release func(), ok bool) {
	running, err := a.db.pull.RunningBy(c.Request.Context(), pullWorkerID(tok))
	if err != nil {
		a.internalError(c, "pull claim", err)
		return nil, false
	}
	s := a.pull
	s.mu.Lock()
	defer s.mu.Unlock()
	if running+s.waiting[tok.ID] >= tok.MaxInFlight {
		c.Header("Retry-After", "1")
		httpx.Abort(c, http.StatusTooManyRequests, httpx.CodeRateLimited,
			"this worker token holds or awaits max_in_flight jobs; finish one first",
			map[string]any{"max_in_flight": tok.MaxInFlight, "running": running, "waiting": s.waiting[tok.ID]})
		return nil, false
	}
	s.waiting[tok.ID]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.waiting[tok.ID]--; s.waiting[tok.ID] <= 0 {
			delete(s.waiting, tok.ID)
		}
	}, true
}

// claimTaken claims the job a delivery names, as the Go worker does
// (worker.Processor.process): a stale delivery is acked and dropped, one
// naming no job dead-lettered, a claim that failed returned to the
// queue. ok reports a claimed job, whose delivery is acked.
func (a *API) claimTaken(ctx context.Context, taken *broker.Taken, workerID string, lease time.Duration) (jobstore.Job, bool) {
	env, err := broker.DecodeEnvelope(taken.Body)
	var id uuid.UUID
	if err == nil {
		id, err = uuid.Parse(env.JobID)
	}
	if err != nil {
		a.log.Warn("pull claim: poison message rejected to dead-letter queue", zap.String("queue", taken.Queue), zap.Error(err))
		_ = taken.Reject()
		return jobstore.Job{}, false
	}
	claim := a.db.pull.Claim
	if jobs.Priority(taken.Priority).Urgent() {
		claim = a.db.pull.ClaimUrgent
	}
	// The claim must commit even if the worker hangs up meanwhile: its
	// lease then runs out and the reaper retries the job.
	claimCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	job, err := claim(claimCtx, id, workerID, lease)
	if errors.Is(err, jobstore.ErrNotClaimed) {
		if _, gerr := a.db.pull.GetJob(claimCtx, nil, id); errors.Is(gerr, pg.ErrNotFound) {
			_ = taken.Reject()
		} else {
			_ = taken.Ack() // stale: done, cancelled or owned
		}
		return jobstore.Job{}, false
	}
	if err != nil {
		a.log.Error("pull claim failed, returning delivery to the queue", hlog.JobID(id.String()), zap.Error(err))
		_ = taken.Requeue()
		return jobstore.Job{}, false
	}
	// From here the lease in Postgres owns the job, not the delivery.
	if err := taken.Ack(); err != nil {
		a.log.Warn("ack after pull claim failed; the redelivery will be dropped as stale", hlog.JobID(id.String()), zap.Error(err))
	}
	return job, true
}

func pullJobView(j jobstore.Job, lease time.Duration) PullJob {
	v := PullJob{
		ID: j.ID.String(), Kind: j.Kind, Queue: j.Queue, Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
		Priority: j.Priority, Payload: j.Payload, TimeoutSeconds: j.Timeout().Seconds(),
		LeaseSeconds: lease.Seconds(), LeaseExpiresAt: rfc3339(j.LeaseExpiresAt),
	}
	if j.WorkflowID != nil && j.WorkflowStep != nil {
		v.Workflow = &PullWorkflow{ID: j.WorkflowID.String(), Step: *j.WorkflowStep, Element: j.WorkflowElement}
	}
	return v
}

// secondsIn reads an optional duration in seconds within [lo, hi].
func secondsIn(c *gin.Context, field string, v *float64, def, lo, hi time.Duration) (time.Duration, bool) {
	if v == nil {
		return def, true
	}
	d := time.Duration(*v * float64(time.Second))
	if math.IsNaN(*v) || d < lo || d > hi {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest,
			field+": want "+strconv.FormatFloat(lo.Seconds(), 'f', -1, 64)+" to "+strconv.FormatFloat(hi.Seconds(), 'f', -1, 64)+" seconds", nil)
		return 0, false
	}
	return d, true
}

// AttemptRequest names the attempt a job call is about; every job call's
// body has it.
type AttemptRequest struct {
	Attempt int `json:"attempt"`
}

// HeartbeatRequest is POST /v1/worker/jobs/{id}/heartbeat's body.
type HeartbeatRequest struct {
	Attempt      int      `json:"attempt"`
	LeaseSeconds *float64 `json:"lease_seconds"`
}

// ProgressRequest is POST /v1/worker/jobs/{id}/progress's body.
type ProgressRequest struct {
	Attempt      int      `json:"attempt"`
	Progress     int      `json:"progress"`
	Message      string   `json:"message"`
	LeaseSeconds *float64 `json:"lease_seconds"`
}

// OutputRequest is POST /v1/worker/jobs/{id}/output's body.
type OutputRequest struct {
	Attempt int      `json:"attempt"`
	Chunks  []string `json:"chunks"`
}

// SucceedRequest is POST /v1/worker/jobs/{id}/succeed's body.
type SucceedRequest struct {
	Attempt int             `json:"attempt"`
	Result  json.RawMessage `json:"result"`
}

// FailRequest is the body of POST /v1/worker/jobs/{id}/fail (fail now)
// and /retry (retry after the kind's backoff, or after_seconds if
// longer).
type FailRequest struct {
	Attempt      int      `json:"attempt"`
	Error        string   `json:"error"`
	AfterSeconds *float64 `json:"after_seconds"`
}

// JobCallResponse answers the job calls: whether the job was cancelled
// (stop and report it with fail), and for output the chunks' sequence
// numbers.
type JobCallResponse struct {
	CancelRequested bool   `json:"cancel_requested"`
	FirstSeq        int64  `json:"first_seq,omitempty"`
	LastSeq         int64  `json:"last_seq,omitempty"`
	State           string `json:"state,omitempty"`
}

// pullJobCall starts a job call: the job id, the token, the call rate.
func (a *API) pullJobCall(c *gin.Context) (uuid.UUID, *accounts.WorkerToken, bool) {
	tok := currentPrincipal(c).Worker
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "job not found", nil)
		return uuid.Nil, nil, false
	}
	if ok, wait := a.pull.allow(tok.ID, time.Now()); !ok {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		httpx.Abort(c, http.StatusTooManyRequests, httpx.CodeRateLimited,
			"too many job calls for this worker token; batch output chunks", map[string]any{"per_second": pullCallsPerSecond})
		return uuid.Nil, nil, false
	}
	return id, tok, true
}

// pullLost answers a call on an attempt the token does not hold: 409
// lease_lost when the token claimed the job once (its attempt is over:
// finished, cancelled, or reaped after its lease expired), the worker
// must drop it; 404 when the job was never this token's (or does not
// exist), so a worker cannot probe other tokens' jobs.
func (a *API) pullLost(c *gin.Context, op string, id uuid.UUID, workerID string, err error) {
	if !errors.Is(err, jobstore.ErrLeaseLost) && !errors.Is(err, pg.ErrNotFound) {
		a.internalError(c, op, err)
		return
	}
	held, herr := a.db.pull.EverClaimedBy(c.Request.Context(), id, workerID)
	if herr != nil {
		a.internalError(c, op, herr)
		return
	}
	if !held {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "job not found for this worker token", nil)
		return
	}
	httpx.Abort(c, http.StatusConflict, "lease_lost",
		"this worker token does not hold that attempt of the job any more (finished, cancelled, or reaped after its lease expired): drop it", nil)
}

func (a *API) pullHeartbeat(c *gin.Context) {
	id, tok, ok := a.pullJobCall(c)
	if !ok {
		return
	}
	var req HeartbeatRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	lease, ok := secondsIn(c, "lease_seconds", req.LeaseSeconds, pullDefaultLease, pullMinLease, pullMaxLease)
	if !ok {
		return
	}
	cancelRequested, err := a.db.pull.Heartbeat(c.Request.Context(), id, req.Attempt, pullWorkerID(tok), lease)
	if err != nil {
		a.pullLost(c, "pull heartbeat", id, pullWorkerID(tok), err)
		return
	}
	c.JSON(http.StatusOK, JobCallResponse{CancelRequested: cancelRequested})
}

func (a *API) pullProgress(c *gin.Context) {
	id, tok, ok := a.pullJobCall(c)
	if !ok {
		return
	}
	var req ProgressRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	if len(req.Message) > pullMaxStatus {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "message: at most 1024 bytes", nil)
		return
	}
	lease, ok := secondsIn(c, "lease_seconds", req.LeaseSeconds, pullDefaultLease, pullMinLease, pullMaxLease)
	if !ok {
		return
	}
	cancelRequested, err := a.db.pull.Progress(c.Request.Context(), id, req.Attempt, pullWorkerID(tok),
		req.Progress, strings.ReplaceAll(req.Message, "\x00", ""), lease)
	if err != nil {
		a.pullLost(c, "pull progress", id, pullWorkerID(tok), err)
		return
	}
	c.JSON(http.StatusOK, JobCallResponse{CancelRequested: cancelRequested})
}

func (a *API) pullOutput(c *gin.Context) {
	id, tok, ok := a.pullJobCall(c)
	if !ok {
		return
	}
	var req OutputRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	if !checkOutputBatch(c, req.Chunks) {
		return
	}
	first, cancelRequested, err := a.db.pull.AppendOutput(c.Request.Context(), id, req.Attempt, pullWorkerID(tok),
		req.Chunks, a.opts.OutputMaxBytes)
	if errors.Is(err, jobstore.ErrOutputLimit) {
		a.outputLimited(c)
		return
	}
	if err != nil {
		a.pullLost(c, "pull output", id, pullWorkerID(tok), err)
		return
	}
	c.JSON(http.StatusOK, JobCallResponse{CancelRequested: cancelRequested, FirstSeq: first, LastSeq: first + int64(len(req.Chunks)) - 1})
}

func (a *API) pullSucceed(c *gin.Context) {
	id, tok, ok := a.pullJobCall(c)
	if !ok {
		return
	}
	var req SucceedRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	if len(req.Result) > 0 && string(req.Result) == "null" {
		req.Result = nil
	}
	a.pullFinish(c, jobstore.Outcome{JobID: id, Attempt: req.Attempt, WorkerID: pullWorkerID(tok),
		State: jobs.StateSucceeded, Result: req.Result})
}

// pullRelease hands a running attempt back unfinished, as the Go runtime
// does at shutdown: the job is queued again and the attempt is not
// charged (a worker stopping is not the job's failure), and published
// again at once.
func (a *API) pullRelease(c *gin.Context) {
	id, tok, ok := a.pullJobCall(c)
	if !ok {
		return
	}
	var req AttemptRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	if !a.pullFinish(c, jobstore.Outcome{JobID: id, Attempt: req.Attempt, WorkerID: pullWorkerID(tok),
		State: jobs.StateQueued, Message: "released: the worker stopped before the job finished"}) {
		return
	}
	// Published now rather than by the outbox after its age: the job is
	// ready to run. A failed read leaves it to the outbox.
	if job, err := a.db.pull.GetJob(c.Request.Context(), nil, id); err == nil {
		a.publish(c.Request.Context(), job)
	}
}

// pullFail fails the attempt (permanent: at once; else retry after the
// kind's backoff), or cancels it when a cancel was requested, as the Go
// runtime does when a handler returns after its context was cancelled.
func (a *API) pullFail(permanent bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, tok, ok := a.pullJobCall(c)
		if !ok {
			return
		}
		var req FailRequest
		if !a.decodeJSON(c, &req) {
			return
		}
		if len(req.Error) > pullMaxError {
			req.Error = req.Error[:cutRunes(req.Error, pullMaxError)]
		}
		if req.Error == "" {
			req.Error = "failed"
		}
		after, ok := secondsIn(c, "after_seconds", req.AfterSeconds, 0, 0, 24*time.Hour)
		if !ok {
			return
		}
		workerID := pullWorkerID(tok)
		job, err := a.db.pull.GetJob(c.Request.Context(), nil, id)
		if err != nil || job.WorkerID != workerID || job.Attempt != req.Attempt || job.State != jobs.StateRunning {
			if err == nil {
				err = jobstore.ErrLeaseLost
			}
			a.pullLost(c, "pull fail", id, workerID, err)
			return
		}
		o := jobstore.Outcome{JobID: id, Attempt: req.Attempt, WorkerID: workerID, Error: req.Error}
		switch {
		case job.CancelRequested:
			o.State, o.Message = jobs.StateCancelled, "cancelled while running: "+req.Error
			o.Error = o.Message
		case permanent || job.Attempt >= job.MaxAttempts:
			o.State = jobs.StateFailed
		default:
			kind, ok := a.opts.Registry.Lookup(job.Kind)
			if !ok {
				kind = jobs.Kind{BackoffBase: time.Second, BackoffCap: time.Minute}
			}
			wait := max(jobs.Backoff(kind, job.Attempt, rand.Float64()), min(after, kind.BackoffCap))
			o.State, o.RetryAt = jobs.StateRetrying, time.Now().Add(wait)
		}
		a.pullFinish(c, o)
	}
}

// pullFinish writes an outcome with the runtime's conditional Finish and
// answers; it reports whether the outcome was written.
func (a *API) pullFinish(c *gin.Context, o jobstore.Outcome) bool {
	state, err := a.db.pull.Finish(c.Request.Context(), o)
	if err != nil {
		a.pullLost(c, "pull finish", o.JobID, o.WorkerID, err)
		return false
	}
	a.log.Info("pull_task_finished", hlog.JobID(o.JobID.String()), hlog.Attempt(o.Attempt),
		zap.String("worker_id", o.WorkerID), zap.String("state", string(state)))
	c.JSON(http.StatusOK, JobCallResponse{State: string(state)})
	return true
}

// cutRunes is the largest prefix length of s at most n bytes ending on a
// rune boundary.
func cutRunes(s string, n int) int {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return n
}

// PullKind is a kind as a pull worker registers it: KindSpec's fields,
// durations in seconds.
type PullKind struct {
	Name               string          `json:"name"`
	Queue              string          `json:"queue"`
	Description        string          `json:"description"`
	DefaultPriority    int             `json:"default_priority"`
	MaxAttempts        int             `json:"max_attempts"`
	TimeoutSeconds     float64         `json:"timeout_seconds"`
	MaxTimeoutSeconds  float64         `json:"max_timeout_seconds"`
	BackoffBaseSeconds float64         `json:"backoff_base_seconds"`
	BackoffCapSeconds  float64         `json:"backoff_cap_seconds"`
	PayloadSchema      json.RawMessage `json:"payload_schema"`
	Version            string          `json:"version"`
	Visibility         string          `json:"visibility"`
}

// RegisterRequest is POST /v1/worker/kinds's body.
type RegisterRequest struct {
	Kinds []PullKind `json:"kinds"`
}

// RegisterResponse lists the kinds as the catalogue now holds them.
type RegisterResponse struct {
	Kinds []KindView `json:"kinds"`
}

// pullRegister publishes kinds to the catalogue as a Go worker's Run
// does, within the token's queues, and binds each to its queue. A kind
// already in the catalogue on a queue outside the scope is refused: a
// token cannot take over another service's kind.
func (a *API) pullRegister(c *gin.Context) {
	tok := currentPrincipal(c).Worker
	var req RegisterRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	if len(req.Kinds) == 0 || len(req.Kinds) > pullMaxKinds {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "kinds: want 1 to 100 kinds", nil)
		return
	}
	kinds := make([]jobs.Kind, 0, len(req.Kinds))
	for i, pk := range req.Kinds {
		k, err := pk.kind("pull-" + tok.Name)
		if err != nil {
			httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, err.Error(),
				map[string]any{"field": "kinds[" + strconv.Itoa(i) + "]"})
			return
		}
		if !tok.Allows(k.Queue) {
			httpx.Abort(c, http.StatusForbidden, httpx.CodeForbidden, "kind "+k.Name+": queue "+k.Queue+" is outside this worker token's scope",
				map[string]any{"queues": tok.Queues})
			return
		}
		if old, ok := a.opts.Registry.Lookup(k.Name); ok && !tok.Allows(old.Queue) {
			httpx.Abort(c, http.StatusForbidden, httpx.CodeForbidden, "kind "+k.Name+" belongs to queue "+old.Queue+", outside this worker token's scope", nil)
			return
		}
		kinds = append(kinds, k)
	}
	if err := a.db.pull.PublishKinds(c.Request.Context(), kinds); err != nil {
		a.internalError(c, "pull register", err)
		return
	}
	if a.opts.Taker != nil {
		for _, k := range kinds {
			if err := a.opts.Taker.DeclareBindings(c.Request.Context(), k.Queue, k.Name); err != nil {
				a.log.Warn("pull register: bind failed; jobs wait in the outbox until it works", zap.String("kind", k.Name), zap.Error(err))
				httpx.Abort(c, http.StatusServiceUnavailable, httpx.CodeUnavailable, "the broker is unavailable; register again shortly", nil)
				return
			}
		}
	}
	// The instance counts for its new kinds at once.
	if started, due := a.pullFleet.call(pullRowID(c), time.Now(), true); due {
		a.writePullRow(c, tok, pullRowID(c), started)
	}
	out := RegisterResponse{Kinds: make([]KindView, 0, len(kinds))}
	for _, k := range kinds {
		out.Kinds = append(out.Kinds, kindView(k, 0, principal{}))
	}
	c.JSON(http.StatusOK, out)
}

// kind checks the registration and fills the SDK's defaults
// (hopper.KindSpec).
func (pk PullKind) kind(service string) (jobs.Kind, error) {
	secs := func(v float64, def time.Duration) time.Duration {
		if v <= 0 || math.IsNaN(v) || v > 7*24*3600 {
			return def
		}
		return time.Duration(v * float64(time.Second))
	}
	if pk.Queue == "" {
		pk.Queue, _, _ = strings.Cut(pk.Name, ".")
	}
	if pk.DefaultPriority == 0 {
		pk.DefaultPriority = int(jobs.PriorityNormal)
	}
	if pk.MaxAttempts == 0 {
		pk.MaxAttempts = 3
	}
	k := jobs.Kind{Name: pk.Name, Queue: pk.Queue, Service: service, Description: pk.Description,
		DefaultPriority: jobs.Priority(pk.DefaultPriority), MaxAttempts: pk.MaxAttempts,
		Timeout: secs(pk.TimeoutSeconds, time.Minute), MaxTimeout: secs(pk.MaxTimeoutSeconds, 0),
		BackoffBase: secs(pk.BackoffBaseSeconds, time.Second), Version: pk.Version, Visibility: jobs.Visibility(pk.Visibility)}
	k.BackoffCap = secs(pk.BackoffCapSeconds, max(time.Minute, k.BackoffBase))
	if len(pk.PayloadSchema) > 0 && string(pk.PayloadSchema) != "null" {
		k.Schema = pk.PayloadSchema
	}
	if err := k.Check(); err != nil {
		return jobs.Kind{}, err
	}
	if len(k.Schema) > 0 {
		check, err := jobs.CompileSchema(k.Schema)
		if err != nil {
			return jobs.Kind{}, errors.New("kind " + k.Name + ": " + err.Error())
		}
		k.CheckPayload = check
	}
	if k.Version == "" {
		b, _ := json.Marshal(pk)
		sum := sha256.Sum256(append([]byte(service+"\x00"), b...))
		k.Version = hex.EncodeToString(sum[:6])
	}
	return k, nil
}
