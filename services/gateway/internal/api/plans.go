package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// planCacheTTL bounds how stale a gateway's view of the plans table may
// be: a limit an admin changes through another gateway applies here
// within it (at once on the gateway that changed it). Counting is never
// cached: quota usage is always read under the owner's lock in Postgres.
const planCacheTTL = 5 * time.Second

// planCache holds the whole plans table (a handful of rows), so a submit
// on an unlimited plan stays one database round trip.
type planCache struct {
	mu      sync.Mutex
	plans   map[string]accounts.Plan
	expires time.Time
}

func (pc *planCache) lookup(name string, now time.Time) (accounts.Plan, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if now.After(pc.expires) {
		return accounts.Plan{}, false
	}
	p, ok := pc.plans[name]
	return p, ok
}

func (pc *planCache) fill(plans []accounts.Plan, now time.Time) {
	m := make(map[string]accounts.Plan, len(plans))
	for _, p := range plans {
		m[p.Name] = p
	}
	pc.mu.Lock()
	pc.plans, pc.expires = m, now.Add(planCacheTTL)
	pc.mu.Unlock()
}

func (pc *planCache) forget() {
	pc.mu.Lock()
	pc.expires = time.Time{}
	pc.mu.Unlock()
}

// planOf returns the plan of user u (as of the cached principal).
func (a *API) planOf(ctx context.Context, u *accounts.User) (accounts.Plan, error) {
	now := a.opts.Now()
	if p, ok := a.plans.lookup(u.Plan, now); ok {
		return p, nil
	}
	all, err := a.db.plans.ListPlans(ctx)
	if err != nil {
		return accounts.Plan{}, err
	}
	a.plans.fill(all, now)
	if p, ok := a.plans.lookup(u.Plan, now); ok {
		return p, nil
	}
	// The users.plan foreign key makes this unreachable but for a plan
	// deleted and its users moved within the key cache's TTL.
	return accounts.Plan{}, fmt.Errorf("plan %q of user %s: %w", u.Plan, u.ID, accounts.ErrUnknownPlan)
}

// callerPlan loads the submitting user's plan, answering the error itself.
func (a *API) callerPlan(c *gin.Context, p principal) (accounts.Plan, bool) {
	plan, err := a.planOf(c.Request.Context(), p.User)
	if err != nil {
		a.internalError(c, "load plan", err)
		return accounts.Plan{}, false
	}
	return plan, true
}

// applyPlan bounds and boosts spec's priority by plan and bounds its
// attempts; asked is the raw priority of the request (empty or null: the
// kind's default), attemptsAsked whether the request named max_attempts.
func applyPlan(spec *jobs.Spec, asked []byte, attemptsAsked bool, plan accounts.Plan) error {
	asked = bytes.TrimSpace(asked)
	named := len(asked) > 0 && !bytes.Equal(asked, []byte("null"))
	p, err := jobs.PlanPriority(spec.Priority, named, plan.Name, plan.MaxPriority, plan.PriorityBoost)
	if err != nil {
		return err
	}
	n, err := jobs.PlanAttempts(spec.MaxAttempts, attemptsAsked, plan.Name, plan.MaxAttempts)
	if err != nil {
		return err
	}
	spec.Priority, spec.MaxAttempts = p, n
	return nil
}

// checkIdempotencyKeyPrefix refuses the prefixes of the keys Hopper gives
// the jobs it creates itself (they do not count against quotas).
func checkIdempotencyKeyPrefix(key string) error {
	for _, p := range jobstore.ReservedKeyPrefixes {
		if strings.HasPrefix(key, p) {
			return &jobs.ValidationError{Field: "Idempotency-Key", Message: "the prefixes " +
				strings.Join(jobstore.ReservedKeyPrefixes, ", ") + " are reserved"}
		}
	}
	return nil
}

// quotaError answers a *pg.QuotaError in err (429 with Retry-After, or
// 422 for a batch larger than the whole limit) and reports whether it did.
func (a *API) quotaError(c *gin.Context, plan accounts.Plan, err error) bool {
	var qe *pg.QuotaError
	if !errors.As(err, &qe) {
		return false
	}
	details := map[string]any{"limit": qe.Limit, "max": qe.Max, "used": qe.Used, "plan": plan.Name}
	switch {
	case qe.Limit == pg.LimitDocumentsPerUser:
		httpx.Abort(c, http.StatusTooManyRequests, httpx.CodeQuotaExceeded, fmt.Sprintf(
			"document quota reached (%d of %d on the %s plan): delete a document before uploading another",
			qe.Used, qe.Max, plan.Name), details)
	case qe.Requested > qe.Max:
		details["requested"] = qe.Requested
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, fmt.Sprintf(
			"a batch of %d jobs can never fit the %s plan's %d jobs per hour", qe.Requested, plan.Name, qe.Max), details)
	default:
		secs := int(math.Ceil(qe.RetryAfter.Seconds()))
		details["retry_after_seconds"] = secs
		if qe.Requested > 1 {
			details["requested"] = qe.Requested
		}
		c.Header("Retry-After", strconv.Itoa(secs))
		httpx.Abort(c, http.StatusTooManyRequests, httpx.CodeRateLimited, fmt.Sprintf(
			"rate limit reached: %d of %d jobs in the last hour on the %s plan; retry in %d s",
			qe.Used, qe.Max, plan.Name, secs), details)
	}
	return true
}

// documentsLimit is the documents a user on plan may keep: the plan's
// limit, bounded by HOPPER_MAX_DOCUMENTS_PER_USER when that is set (a
// global ceiling); 0 means unlimited.
func (a *API) documentsLimit(plan accounts.Plan) int {
	n, ceiling := plan.DocumentsPerUser, a.opts.MaxDocumentsPerUser
	if ceiling > 0 && (n == 0 || n > ceiling) {
		return ceiling
	}
	return n
}

// PlanView is a plan and its limits (0: unlimited; for max_attempts the
// global bound).
type PlanView struct {
	Name             string  `json:"name"`
	JobsPerHour      int     `json:"jobs_per_hour"`
	DocumentsPerUser int     `json:"documents_per_user"`
	MaxConcurrent    int     `json:"max_concurrent"`
	MaxPriority      int     `json:"max_priority"`
	PriorityBoost    int     `json:"priority_boost"`
	MaxAttempts      int     `json:"max_attempts"`
	CreatedAt        *string `json:"created_at"`
	UpdatedAt        *string `json:"updated_at"`
}

// PlanList answers GET /v1/admin/plans, by name.
type PlanList struct {
	Plans []PlanView `json:"plans"`
}

func planView(p accounts.Plan) PlanView {
	return PlanView{Name: p.Name, JobsPerHour: p.JobsPerHour, DocumentsPerUser: p.DocumentsPerUser,
		MaxConcurrent: p.MaxConcurrent, MaxPriority: p.MaxPriority, PriorityBoost: p.PriorityBoost,
		MaxAttempts: p.MaxAttempts, CreatedAt: rfc3339(&p.CreatedAt), UpdatedAt: rfc3339(&p.UpdatedAt)}
}

func (a *API) listPlans(c *gin.Context) {
	plans, err := a.db.plans.ListPlans(c.Request.Context())
	if err != nil {
		a.internalError(c, "list plans", err)
		return
	}
	a.plans.fill(plans, a.opts.Now())
	out := PlanList{Plans: make([]PlanView, len(plans))}
	for i, p := range plans {
		out.Plans[i] = planView(p)
	}
	c.JSON(http.StatusOK, out)
}

// planRequest is a plan's limits as POST and PUT take them; PUT changes
// only the fields given.
type planRequest struct {
	Name             string `json:"name"`
	JobsPerHour      *int   `json:"jobs_per_hour"`
	DocumentsPerUser *int   `json:"documents_per_user"`
	MaxConcurrent    *int   `json:"max_concurrent"`
	MaxPriority      *int   `json:"max_priority"`
	PriorityBoost    *int   `json:"priority_boost"`
	MaxAttempts      *int   `json:"max_attempts"`
}

func (r planRequest) changes() accounts.PlanChanges {
	return accounts.PlanChanges{JobsPerHour: r.JobsPerHour, DocumentsPerUser: r.DocumentsPerUser,
		MaxConcurrent: r.MaxConcurrent, MaxPriority: r.MaxPriority, PriorityBoost: r.PriorityBoost,
		MaxAttempts: r.MaxAttempts}
}

// planFieldError answers a *accounts.PlanFieldError with 422.
func planFieldError(c *gin.Context, err error) bool {
	var fe *accounts.PlanFieldError
	if !errors.As(err, &fe) {
		return false
	}
	httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, fe.Error(), map[string]any{"field": fe.Field})
	return true
}

// createPlan adds a plan. Omitted limits take the defaults: unlimited
// jobs, documents, concurrency and attempts (the global 25), max priority
// normal, no boost.
func (a *API) createPlan(c *gin.Context) {
	var req planRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	p := req.changes().Apply(accounts.Plan{Name: strings.TrimSpace(req.Name), MaxPriority: int(jobs.PriorityNormal)})
	created, err := a.db.plans.CreatePlan(c.Request.Context(), p)
	if planFieldError(c, err) {
		return
	}
	if errors.Is(err, pg.ErrConflict) {
		httpx.Abort(c, http.StatusConflict, httpx.CodeConflict, "a plan named "+p.Name+" exists", nil)
		return
	}
	if err != nil {
		a.internalError(c, "create plan", err)
		return
	}
	a.plans.forget()
	c.JSON(http.StatusCreated, planView(created))
}

func (a *API) updatePlan(c *gin.Context) {
	var req planRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	name := c.Param("name")
	if req.Name != "" && req.Name != name {
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable,
			"name: plans cannot be renamed; create a new plan and move its users", map[string]any{"field": "name"})
		return
	}
	p, err := a.db.plans.UpdatePlan(c.Request.Context(), name, req.changes())
	if planFieldError(c, err) {
		return
	}
	if errors.Is(err, pg.ErrNotFound) {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "plan not found", map[string]any{"name": name})
		return
	}
	if err != nil {
		a.internalError(c, "update plan", err)
		return
	}
	a.plans.forget()
	c.JSON(http.StatusOK, planView(p))
}

func (a *API) deletePlan(c *gin.Context) {
	name := c.Param("name")
	n, err := a.db.plans.DeletePlan(c.Request.Context(), name)
	switch {
	case errors.Is(err, pg.ErrConflict):
		httpx.Abort(c, http.StatusConflict, httpx.CodeConflict,
			fmt.Sprintf("%d users are on the %s plan: move them to another plan first", n, name),
			map[string]any{"users": n})
		return
	case errors.Is(err, pg.ErrNotFound):
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "plan not found", map[string]any{"name": name})
		return
	case err != nil:
		a.internalError(c, "delete plan", err)
		return
	}
	a.plans.forget()
	c.Status(http.StatusNoContent)
}

// setUserPlan moves a user to another plan. Other gateways apply it
// within their key cache's TTL (5 s).
func (a *API) setUserPlan(c *gin.Context) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "user not found", nil)
		return
	}
	var req struct {
		Plan string `json:"plan"`
	}
	if !a.decodeJSON(c, &req) {
		return
	}
	u, err := a.db.plans.SetUserPlan(c.Request.Context(), id, strings.TrimSpace(req.Plan))
	switch {
	case errors.Is(err, accounts.ErrUnknownPlan):
		a.unknownPlan(c, req.Plan)
		return
	case errors.Is(err, pg.ErrNotFound):
		httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "user not found", nil)
		return
	case err != nil:
		a.internalError(c, "set user plan", err)
		return
	}
	a.keys.forget()
	c.JSON(http.StatusOK, userView(u))
}

// unknownPlan answers 422 naming the plans that exist.
func (a *API) unknownPlan(c *gin.Context, name string) {
	details := map[string]any{"field": "plan"}
	if plans, err := a.db.plans.ListPlans(c.Request.Context()); err == nil {
		names := make([]string, len(plans))
		for i, p := range plans {
			names[i] = p.Name
		}
		details["valid_plans"] = names
	}
	httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable,
		fmt.Sprintf("plan: no plan named %q", name), details)
}

// myLimits answers GET /v1/users/me/limits: the caller's plan, and for
// each limit its maximum, use and what remains.
func (a *API) myLimits(c *gin.Context) {
	p, ok := jobOwner(c)
	if !ok {
		return
	}
	plan, ok := a.callerPlan(c, p)
	if !ok {
		return
	}
	now := a.opts.Now()
	u, err := a.db.plans.QuotaUsage(c.Request.Context(), p.User.ID, plan.JobsPerHour, now)
	if err != nil {
		a.internalError(c, "quota usage", err)
		return
	}
	documents, err := a.db.plans.CountDocuments(c.Request.Context(), p.User.ID)
	if err != nil {
		a.internalError(c, "count documents", err)
		return
	}
	jobsLimit := JobsLimit{Limit: Limit{Max: plan.JobsPerHour, Used: int64(u.JobsInWindow)},
		WindowSeconds: int(jobstore.QuotaWindow.Seconds()), NextSlotAt: rfc3339(u.NextSlotAt)}
	if plan.JobsPerHour > 0 {
		remaining := max(plan.JobsPerHour-u.JobsInWindow, 0)
		jobsLimit.Remaining = &remaining
		jobsLimit.RetryAfterSeconds = int(math.Ceil(u.RetryAfter.Seconds()))
	}
	docMax := a.documentsLimit(plan)
	docs := Limit{Max: docMax, Used: documents}
	if docMax > 0 {
		remaining := max(docMax-int(documents), 0)
		docs.Remaining = &remaining
	}
	c.JSON(http.StatusOK, LimitsView{
		Plan: plan.Name,
		Limits: PlanLimits{
			JobsPerHour:      jobsLimit,
			DocumentsPerUser: docs,
			MaxConcurrent:    ConcurrencyLimit{Max: plan.MaxConcurrent, RunningByQueue: u.Running},
			MaxAttempts:      plan.MaxAttempts,
		},
		Priority: PriorityLimits{MaxPriority: plan.MaxPriority, PriorityBoost: plan.PriorityBoost},
		Note:     "0 as max means unlimited",
	})
}

// LimitsView answers GET /v1/users/me/limits: the caller's plan, and for
// each limit its maximum, use and what remains.
type LimitsView struct {
	Plan     string         `json:"plan"`
	Limits   PlanLimits     `json:"limits"`
	Priority PriorityLimits `json:"priority"`
	Note     string         `json:"note"`
}

// PlanLimits are the limits of GET /v1/users/me/limits.
type PlanLimits struct {
	JobsPerHour      JobsLimit        `json:"jobs_per_hour"`
	DocumentsPerUser Limit            `json:"documents_per_user"`
	MaxConcurrent    ConcurrencyLimit `json:"max_concurrent"`
	// MaxAttempts bounds one job's attempts; 0 is the global bound.
	MaxAttempts int `json:"max_attempts"`
}

// Limit is a maximum (0: unlimited), its use and what remains (null when
// unlimited).
type Limit struct {
	Max       int   `json:"max"`
	Used      int64 `json:"used"`
	Remaining *int  `json:"remaining"`
}

// JobsLimit is the jobs-per-hour limit: a Limit over a sliding window,
// with when the oldest job leaves it (null: none in it) and how long
// until one more job fits (0: now, or unlimited).
type JobsLimit struct {
	Limit
	WindowSeconds     int     `json:"window_seconds"`
	NextSlotAt        *string `json:"next_slot_at"`
	RetryAfterSeconds int     `json:"retry_after_seconds"`
}

// ConcurrencyLimit is the running jobs per queue the plan allows (0:
// unlimited) and the caller's running jobs by queue.
type ConcurrencyLimit struct {
	Max            int            `json:"max"`
	RunningByQueue map[string]int `json:"running_by_queue"`
}

// PriorityLimits are the plan's highest priority a caller may ask for and
// the boost added to each job's.
type PriorityLimits struct {
	MaxPriority   int `json:"max_priority"`
	PriorityBoost int `json:"priority_boost"`
}
