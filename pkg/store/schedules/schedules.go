package schedules

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/schedule"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// SystemUserID owns the jobs of schedules that name no owner. Migration
// 00005 creates it inactive: no API key can authenticate as it.
var SystemUserID = uuid.MustParse("00000000-0000-0000-0000-000000000001")

// Why a schedule is disabled (Schedule.DisabledReason).
const (
	DisabledByAdmin = "admin"
	// DisabledKindUnknown marks a default schedule created before its
	// kind's handler landed; the first start whose registry knows the kind
	// enables it.
	DisabledKindUnknown = "kind not registered"
)

// ErrUnknownKind: a schedule's kind is not in the registry, so no job can
// be created for it.
var ErrUnknownKind = errors.New("kind not registered")

// claimScheduleBatch bounds the schedules one ClaimDueSchedules handles.
const claimScheduleBatch = 100

// Schedule is a schedules row.
type Schedule struct {
	ID             uuid.UUID
	Name           string
	Spec           string
	Timezone       string
	Kind           string
	Payload        json.RawMessage
	Priority       *int    // nil: the kind's default
	Queue          *string // nil: the kind's queue
	OwnerID        uuid.UUID
	Enabled        bool
	DisabledReason string
	LastRunAt      *time.Time // the last tick a job was created for
	NextRunAt      *time.Time // nil while disabled
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// TableName maps Schedule to its table.
func (Schedule) TableName() string { return "schedules" }

// NewSchedule is a schedule to create. Spec and kind are checked by the
// caller against the registry; CreateSchedule checks name, spec and time
// zone again.
type NewSchedule struct {
	Name     string
	Spec     string
	Timezone string // "" means UTC
	Kind     string
	Payload  json.RawMessage // nil means {}
	Priority *jobs.Priority  // nil: the kind's default at each tick
	Queue    string          // "" : the kind's queue
	OwnerID  uuid.UUID       // uuid.Nil: SystemUserID
	Enabled  bool
	// DisabledReason applies when !Enabled; "" means DisabledByAdmin.
	DisabledReason string
}

// ScheduleRun is what ClaimDueSchedules did with one due schedule.
type ScheduleRun struct {
	Schedule Schedule      // as updated: next_run_at advanced
	Tick     time.Time     // the due tick served
	Job      *jobstore.Job // the job created; nil when none was (Skipped says why)
	Skipped  string
}

// CreateSchedule stores a schedule; its first tick is the spec's next one
// after now. A taken name is pg.ErrConflict, an unknown owner pg.ErrNotFound, a
// bad name, spec or time zone a *schedule.Error.
func (s *Store) CreateSchedule(ctx context.Context, ns NewSchedule, now time.Time) (Schedule, error) {
	if err := schedule.ValidName(ns.Name); err != nil {
		return Schedule{}, fmt.Errorf("create schedule: %w", err)
	}
	sp, err := schedule.Parse(ns.Spec, ns.Timezone)
	if err != nil {
		return Schedule{}, fmt.Errorf("create schedule %s: %w", ns.Name, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Schedule{}, fmt.Errorf("create schedule %s: new id: %w", ns.Name, err)
	}
	owner := ns.OwnerID
	if owner == uuid.Nil {
		owner = SystemUserID
	}
	payload := ns.Payload
	if len(payload) == 0 {
		payload = json.RawMessage(`{}`)
	}
	var prio *int
	if ns.Priority != nil {
		p := int(*ns.Priority)
		prio = &p
	}
	var queue *string
	if ns.Queue != "" {
		queue = &ns.Queue
	}
	var next *time.Time
	reason := ""
	if ns.Enabled {
		n := sp.Next(now)
		next = &n
	} else {
		reason = cmp.Or(ns.DisabledReason, DisabledByAdmin)
	}
	var sc Schedule
	err = s.db.Gorm().WithContext(ctx).Raw(`
		INSERT INTO schedules (id, name, spec, timezone, kind, payload, priority, queue, owner_id,
		                       enabled, disabled_reason, next_run_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
		id, ns.Name, sp.String(), sp.Timezone(), ns.Kind, payload, prio, queue, owner,
		ns.Enabled, reason, next, now, now,
	).Scan(&sc).Error
	switch pg.Code(err) {
	case pg.UniqueViolation:
		return Schedule{}, fmt.Errorf("create schedule %s: name taken: %w", ns.Name, pg.ErrConflict)
	case pg.ForeignKeyViolation:
		return Schedule{}, fmt.Errorf("create schedule %s: owner %s: %w", ns.Name, owner, pg.ErrNotFound)
	}
	if err != nil {
		return Schedule{}, fmt.Errorf("create schedule %s: %w", ns.Name, err)
	}
	return sc, nil
}

// ListSchedules returns every schedule, by name.
func (s *Store) ListSchedules(ctx context.Context) ([]Schedule, error) {
	var out []Schedule
	if err := s.db.Gorm().WithContext(ctx).Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return out, nil
}

// GetSchedule returns the schedule named name, or pg.ErrNotFound.
func (s *Store) GetSchedule(ctx context.Context, name string) (Schedule, error) {
	var sc Schedule
	res := s.db.Gorm().WithContext(ctx).Where("name = ?", name).Limit(1).Find(&sc)
	if res.Error != nil {
		return Schedule{}, fmt.Errorf("get schedule %s: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		return Schedule{}, fmt.Errorf("get schedule %s: %w", name, pg.ErrNotFound)
	}
	return sc, nil
}

// EnableSchedule turns a schedule on; its next tick is the first after
// now (ticks missed while it was off are not made up). Enabling an
// enabled schedule changes nothing.
func (s *Store) EnableSchedule(ctx context.Context, name string, now time.Time) (Schedule, error) {
	sc, err := s.GetSchedule(ctx, name)
	if err != nil {
		return Schedule{}, fmt.Errorf("enable schedule: %w", err)
	}
	if sc.Enabled {
		return sc, nil
	}
	sp, err := schedule.Parse(sc.Spec, sc.Timezone)
	if err != nil {
		return Schedule{}, fmt.Errorf("enable schedule %s: %w", name, err)
	}
	var out []Schedule
	err = s.db.Gorm().WithContext(ctx).Raw(`
		UPDATE schedules SET enabled = true, disabled_reason = '', next_run_at = ?, updated_at = ?
		WHERE name = ? AND NOT enabled RETURNING *`, sp.Next(now), now, name).Scan(&out).Error
	if err != nil {
		return Schedule{}, fmt.Errorf("enable schedule %s: %w", name, err)
	}
	if len(out) == 0 {
		// Enabled or deleted meanwhile.
		return s.GetSchedule(ctx, name)
	}
	return out[0], nil
}

// DisableSchedule turns a schedule off (reason DisabledByAdmin); it
// creates no jobs until enabled again.
func (s *Store) DisableSchedule(ctx context.Context, name string, now time.Time) (Schedule, error) {
	var out []Schedule
	err := s.db.Gorm().WithContext(ctx).Raw(`
		UPDATE schedules SET enabled = false, disabled_reason = ?, next_run_at = NULL, updated_at = ?
		WHERE name = ? RETURNING *`, DisabledByAdmin, now, name).Scan(&out).Error
	if err != nil {
		return Schedule{}, fmt.Errorf("disable schedule %s: %w", name, err)
	}
	if len(out) == 0 {
		return Schedule{}, fmt.Errorf("disable schedule %s: %w", name, pg.ErrNotFound)
	}
	return out[0], nil
}

// DeleteSchedule removes a schedule; the jobs it created stay.
func (s *Store) DeleteSchedule(ctx context.Context, name string) error {
	res := s.db.Gorm().WithContext(ctx).Exec(`DELETE FROM schedules WHERE name = ?`, name)
	if res.Error != nil {
		return fmt.Errorf("delete schedule %s: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete schedule %s: %w", name, pg.ErrNotFound)
	}
	return nil
}

// EnsureSchedules creates the schedules defs that do not exist yet (by
// name; an existing one is left as it is). A default whose kind reg does
// not know is created disabled (DisabledKindUnknown); one left disabled
// for that reason is enabled once reg knows its kind. Replicas may run it
// together.
func (s *Store) EnsureSchedules(ctx context.Context, defs []schedule.Default, reg jobs.Catalog, now time.Time) error {
	for _, d := range defs {
		sp, err := schedule.Parse(d.Spec, d.Timezone)
		if err != nil {
			return fmt.Errorf("default schedule %s: %w", d.Name, err)
		}
		_, known := reg.Lookup(d.Kind)
		if known {
			// A default's payload must pass the kind's own check, as an
			// admin's schedule does at create.
			if _, err := jobs.Validate(reg, jobs.SubmitRequest{Kind: d.Kind, Payload: d.Payload}); err != nil {
				return fmt.Errorf("default schedule %s: %w", d.Name, err)
			}
		}
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("default schedule %s: new id: %w", d.Name, err)
		}
		payload := d.Payload
		if len(payload) == 0 {
			payload = json.RawMessage(`{}`)
		}
		var next *time.Time
		reason := DisabledKindUnknown
		if known {
			n := sp.Next(now)
			next, reason = &n, ""
		}
		err = s.db.Gorm().WithContext(ctx).Exec(`
			INSERT INTO schedules (id, name, spec, timezone, kind, payload, enabled, disabled_reason,
			                       next_run_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			id, d.Name, sp.String(), sp.Timezone(), d.Kind, payload, known, reason, next, now, now).Error
		if err != nil {
			return fmt.Errorf("default schedule %s: %w", d.Name, err)
		}
		if !known {
			continue
		}
		err = s.db.Gorm().WithContext(ctx).Exec(`
			UPDATE schedules SET enabled = true, disabled_reason = '', next_run_at = ?, updated_at = ?
			WHERE name = ? AND NOT enabled AND disabled_reason = ? AND kind = ?`,
			sp.Next(now), now, d.Name, DisabledKindUnknown, d.Kind).Error
		if err != nil {
			return fmt.Errorf("default schedule %s: enable: %w", d.Name, err)
		}
	}
	return nil
}

// ClaimDueSchedules creates the jobs of the enabled schedules due at now,
// in one transaction: it locks the due rows FOR UPDATE SKIP LOCKED (a
// concurrent claimer skips them, and finds them no longer due once this
// one commits), inserts one queued job per schedule through the submit
// path (with its created event; published_at NULL, so the outbox
// publishes it if the caller does not), and moves next_run_at to the
// first tick after now. Ticks missed while no dispatcher ran are skipped:
// a schedule catches up with one job at most. Each job's idempotency key
// is schedule.TickKey, so even a second claim of the same tick cannot
// create a second job.
//
// A schedule whose kind reg does not know is advanced without a job; one
// whose spec no longer parses or never fires again is disabled. Both come
// back with Skipped set.
func (s *Store) ClaimDueSchedules(ctx context.Context, now time.Time, reg jobs.Catalog) ([]ScheduleRun, error) {
	var runs []ScheduleRun
	err := s.db.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		runs = runs[:0]
		var due []Schedule
		err := tx.Raw(`SELECT * FROM schedules WHERE enabled AND next_run_at <= ?
			ORDER BY next_run_at, id LIMIT ? FOR UPDATE SKIP LOCKED`, now, claimScheduleBatch).Scan(&due).Error
		if err != nil {
			return fmt.Errorf("lock due schedules: %w", err)
		}
		for _, sc := range due {
			run, err := claimOne(ctx, tx, sc, now, reg)
			if err != nil {
				return fmt.Errorf("schedule %s: %w", sc.Name, err)
			}
			runs = append(runs, run)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim due schedules: %w", err)
	}
	return runs, nil
}

// claimOne serves one locked, due schedule inside tx.
func claimOne(ctx context.Context, tx *gorm.DB, sc Schedule, now time.Time, reg jobs.Catalog) (ScheduleRun, error) {
	run := ScheduleRun{Tick: *sc.NextRunAt}
	sp, err := schedule.Parse(sc.Spec, sc.Timezone)
	var next time.Time
	if err == nil {
		if next = sp.Next(now); next.IsZero() {
			err = errors.New("spec never fires again")
		}
	}
	if err != nil {
		run.Skipped = "disabled: " + err.Error()
		run.Schedule, err = updateSchedule(tx, `enabled = false, disabled_reason = ?, next_run_at = NULL, updated_at = ?`,
			[]any{truncate(run.Skipped, 200), now}, sc.ID)
		return run, err
	}
	spec, err := jobSpec(reg, sc)
	switch {
	case errors.Is(err, ErrUnknownKind):
		run.Skipped = fmt.Sprintf("kind %s is not registered on this gateway", sc.Kind)
	case err != nil:
		return run, err
	default:
		res, err := jobstore.Enqueue(ctx, tx.Statement.ConnPool,
			[]jobstore.NewJob{{OwnerID: sc.OwnerID, Spec: spec, IdempotencyKey: schedule.TickKey(sc.ID.String(), run.Tick)}}, now)
		if err != nil {
			return run, fmt.Errorf("create job for tick %s: %w", run.Tick.Format(time.RFC3339), err)
		}
		if res[0].Created {
			run.Job = &res[0].Job
		} else {
			run.Skipped = "a job for this tick exists"
		}
	}
	run.Schedule, err = updateSchedule(tx, `last_run_at = ?, next_run_at = ?, updated_at = ?`,
		[]any{run.Tick, next, now}, sc.ID)
	return run, err
}

func updateSchedule(tx *gorm.DB, set string, args []any, id uuid.UUID) (Schedule, error) {
	var out Schedule
	if err := tx.Raw(`UPDATE schedules SET `+set+` WHERE id = ? RETURNING *`, append(args, id)...).Scan(&out).Error; err != nil {
		return Schedule{}, fmt.Errorf("update schedule: %w", err)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// jobSpec is the submission a schedule makes: its kind's defaults, its
// payload, and its priority and queue when set.
func jobSpec(reg jobs.Catalog, sc Schedule) (jobs.Spec, error) {
	k, ok := reg.Lookup(sc.Kind)
	if !ok {
		return jobs.Spec{}, fmt.Errorf("kind %q: %w", sc.Kind, ErrUnknownKind)
	}
	if sc.Queue != nil && strings.TrimSpace(*sc.Queue) != "" {
		k.Queue = *sc.Queue
	}
	spec := k.Spec(sc.Payload)
	if sc.Priority != nil {
		spec.Priority = jobs.Priority(*sc.Priority)
	}
	return spec, nil
}

// TriggerSchedule creates one job of schedule name now, whether it is
// enabled or not, without touching its ticks. Its kind must be in reg
// (else ErrUnknownKind).
func (s *Store) TriggerSchedule(ctx context.Context, name string, reg jobs.Catalog, now time.Time) (jobstore.Job, error) {
	sc, err := s.GetSchedule(ctx, name)
	if err != nil {
		return jobstore.Job{}, fmt.Errorf("trigger schedule: %w", err)
	}
	spec, err := jobSpec(reg, sc)
	if err != nil {
		return jobstore.Job{}, fmt.Errorf("trigger schedule %s: %w", name, err)
	}
	res, err := jobstore.Enqueue(ctx, s.db.SQL(), []jobstore.NewJob{{OwnerID: sc.OwnerID, Spec: spec, IdempotencyKey: schedule.ManualKey(sc.ID.String(), now)}}, now)
	if err != nil {
		return jobstore.Job{}, fmt.Errorf("trigger schedule %s: %w", name, err)
	}
	return res[0].Job, nil
}

// ScheduleJobs returns the jobs schedule sc created (ticks and triggers),
// oldest first.
func (s *Store) ScheduleJobs(ctx context.Context, sc Schedule) ([]jobstore.Job, error) {
	var out []jobstore.Job
	err := s.db.Gorm().WithContext(ctx).
		Where("owner_id = ? AND idempotency_key LIKE ?", sc.OwnerID, schedule.KeyPrefix(sc.ID.String())+"%").
		Order("created_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("jobs of schedule %s: %w", sc.Name, err)
	}
	return out, nil
}
