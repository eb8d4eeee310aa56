package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/schedule"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/schedules"
)

// createScheduleRequest is POST /v1/admin/schedules.
type createScheduleRequest struct {
	Name     string          `json:"name"`
	Spec     string          `json:"spec"`
	Timezone string          `json:"timezone"`
	Kind     string          `json:"kind"`
	Payload  json.RawMessage `json:"payload"`
	Priority json.RawMessage `json:"priority,omitempty"`
	Enabled  *bool           `json:"enabled"`  // default true
	OwnerID  string          `json:"owner_id"` // default: the system user
}

func (a *API) listSchedules(c *gin.Context) {
	list, err := a.db.schedules.ListSchedules(c.Request.Context())
	if err != nil {
		a.internalError(c, "list schedules", err)
		return
	}
	out := ScheduleList{Schedules: make([]ScheduleView, len(list))}
	for i, sc := range list {
		out.Schedules[i] = scheduleView(sc)
	}
	c.JSON(http.StatusOK, out)
}

// ScheduleList answers GET /v1/admin/schedules, by name.
type ScheduleList struct {
	Schedules []ScheduleView `json:"schedules"`
}

// createSchedule checks the name, spec and time zone (400), then the kind,
// payload and priority as POST /v1/jobs does (422).
func (a *API) createSchedule(c *gin.Context) {
	var req createScheduleRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if err := schedule.ValidName(req.Name); err != nil {
		a.scheduleError(c, err)
		return
	}
	sp, err := schedule.Parse(req.Spec, req.Timezone)
	if err != nil {
		a.scheduleError(c, err)
		return
	}
	a.knowKind(c.Request.Context(), req.Kind)
	spec, err := jobs.Validate(a.opts.Registry, jobs.SubmitRequest{Kind: req.Kind, Payload: req.Payload, Priority: req.Priority})
	if err != nil {
		a.validationError(c, err)
		return
	}
	ns := schedules.NewSchedule{Name: req.Name, Spec: sp.String(), Timezone: sp.Timezone(), Kind: spec.Kind.Name,
		Payload: spec.Payload, Enabled: req.Enabled == nil || *req.Enabled}
	if p := bytes.TrimSpace(req.Priority); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		ns.Priority = &spec.Priority
	}
	if req.OwnerID != "" {
		owner, err := uuid.Parse(req.OwnerID)
		if err != nil {
			httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, "owner_id: not a user id", map[string]any{"field": "owner_id"})
			return
		}
		ns.OwnerID = owner
	}
	sc, err := a.db.schedules.CreateSchedule(c.Request.Context(), ns, a.opts.Now())
	switch {
	case errors.Is(err, pg.ErrConflict):
		httpx.Abort(c, http.StatusConflict, httpx.CodeConflict, "a schedule named "+req.Name+" exists", map[string]any{"field": "name"})
	case errors.Is(err, pg.ErrNotFound):
		httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, "owner_id: no such user", map[string]any{"field": "owner_id"})
	case err != nil:
		a.internalError(c, "create schedule", err)
	default:
		c.JSON(http.StatusCreated, scheduleView(sc))
	}
}

// enableSchedule turns a schedule on from its next tick; its kind must be
// registered (422), as for a new schedule.
func (a *API) enableSchedule(c *gin.Context) {
	sc, ok := a.loadRunnableSchedule(c)
	if !ok {
		return
	}
	sc, err := a.db.schedules.EnableSchedule(c.Request.Context(), sc.Name, a.opts.Now())
	if a.storeFailed(c, "enable schedule", err, scheduleNotFound) {
		return
	}
	c.JSON(http.StatusOK, scheduleView(sc))
}

func (a *API) disableSchedule(c *gin.Context) {
	sc, err := a.db.schedules.DisableSchedule(c.Request.Context(), c.Param("name"), a.opts.Now())
	if a.storeFailed(c, "disable schedule", err, scheduleNotFound) {
		return
	}
	c.JSON(http.StatusOK, scheduleView(sc))
}

// triggerSchedule creates one job of the schedule now (enabled or not)
// and publishes it, like a submit: 202 with the job.
func (a *API) triggerSchedule(c *gin.Context) {
	ctx := c.Request.Context()
	sc, ok := a.loadRunnableSchedule(c)
	if !ok {
		return
	}
	job, err := a.db.schedules.TriggerSchedule(ctx, sc.Name, a.opts.Registry, a.opts.Now())
	switch {
	case errors.Is(err, pg.ErrNotFound):
		scheduleNotFound(c)
		return
	case errors.Is(err, schedules.ErrUnknownKind):
		a.unknownScheduleKind(c, sc)
		return
	case err != nil:
		a.internalError(c, "trigger schedule", err)
		return
	}
	if job.State == jobs.StateQueued {
		a.publish(ctx, job)
	}
	c.JSON(http.StatusAccepted, TriggeredJob{JobView: jobView(job, nil), Schedule: sc.Name, Links: jobLinks(job.ID)})
}

// TriggeredJob answers POST /v1/admin/schedules/{name}/trigger: the job
// created, the schedule's name and the job's links.
type TriggeredJob struct {
	JobView
	Schedule string   `json:"schedule"`
	Links    JobLinks `json:"links"`
}

func (a *API) deleteSchedule(c *gin.Context) {
	err := a.db.schedules.DeleteSchedule(c.Request.Context(), c.Param("name"))
	if a.storeFailed(c, "delete schedule", err, scheduleNotFound) {
		return
	}
	c.Status(http.StatusNoContent)
}

// loadRunnableSchedule loads the schedule named in the path and checks
// that a worker of this deployment can run its kind. When it returns ok
// false it has answered: 404, 422 or 503.
func (a *API) loadRunnableSchedule(c *gin.Context) (schedules.Schedule, bool) {
	sc, err := a.db.schedules.GetSchedule(c.Request.Context(), c.Param("name"))
	if a.storeFailed(c, "get schedule", err, scheduleNotFound) {
		return schedules.Schedule{}, false
	}
	if _, ok := a.opts.Registry.Lookup(sc.Kind); !ok {
		a.unknownScheduleKind(c, sc)
		return schedules.Schedule{}, false
	}
	return sc, true
}

func (a *API) unknownScheduleKind(c *gin.Context, sc schedules.Schedule) {
	httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable,
		"kind: "+sc.Kind+" is not registered in this deployment yet; the schedule cannot create jobs",
		map[string]any{"field": "kind", "valid_kinds": a.opts.Registry.Names()})
}

func scheduleNotFound(c *gin.Context) {
	httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "schedule not found", nil)
}

// scheduleError answers a bad name, spec or time zone with 400.
func (a *API) scheduleError(c *gin.Context, err error) {
	var se *schedule.Error
	if errors.As(err, &se) {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, se.Error(), map[string]any{"field": se.Field})
		return
	}
	httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, err.Error(), nil)
}

// ScheduleView is a cron schedule; priority and queue are null for the
// kind's defaults.
type ScheduleView struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Spec           string          `json:"spec"`
	Timezone       string          `json:"timezone"`
	Kind           string          `json:"kind"`
	Payload        json.RawMessage `json:"payload"`
	Priority       *int            `json:"priority"`
	Queue          *string         `json:"queue"`
	OwnerID        string          `json:"owner_id"`
	Enabled        bool            `json:"enabled"`
	DisabledReason *string         `json:"disabled_reason"`
	LastRunAt      *string         `json:"last_run_at"`
	NextRunAt      *string         `json:"next_run_at"`
	CreatedAt      *string         `json:"created_at"`
	UpdatedAt      *string         `json:"updated_at"`
}

func scheduleView(sc schedules.Schedule) ScheduleView {
	return ScheduleView{
		ID:             sc.ID.String(),
		Name:           sc.Name,
		Spec:           sc.Spec,
		Timezone:       sc.Timezone,
		Kind:           sc.Kind,
		Payload:        rawOrNull(sc.Payload),
		Priority:       sc.Priority,
		Queue:          sc.Queue,
		OwnerID:        sc.OwnerID.String(),
		Enabled:        sc.Enabled,
		DisabledReason: nullIfEmpty(sc.DisabledReason),
		LastRunAt:      rfc3339(sc.LastRunAt),
		NextRunAt:      rfc3339(sc.NextRunAt),
		CreatedAt:      rfc3339(&sc.CreatedAt),
		UpdatedAt:      rfc3339(&sc.UpdatedAt),
	}
}
