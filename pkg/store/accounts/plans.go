package accounts

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/store/pg"
)

// Plan is what a user's plan allows (table plans, migration 00010).
type Plan struct {
	Name string
	// JobsPerHour bounds the jobs a user creates in any sliding hour; 0 is
	// unlimited.
	JobsPerHour int
	// DocumentsPerUser bounds a user's stored documents; 0 is unlimited.
	DocumentsPerUser int
	// MaxConcurrent bounds a user's jobs dispatched and not finished, per
	// queue (read by the dispatcher's fairness cap); 0 is unlimited.
	MaxConcurrent int
	// MaxPriority is the highest priority a caller on the plan may ask for.
	MaxPriority int
	// PriorityBoost is added to a job's asked-for or default priority,
	// capped at jobs.MaxPriority.
	PriorityBoost int
	// MaxAttempts bounds the attempts of one job of the plan (asked for,
	// kind default, or granted by a retry); 0 leaves only the global
	// limit (jobs.MaxAttemptsLimit).
	MaxAttempts int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName maps Plan to its table.
func (Plan) TableName() string { return "plans" }

// PlanChanges are the limits an update sets; nil fields stay.
type PlanChanges struct {
	JobsPerHour      *int
	DocumentsPerUser *int
	MaxConcurrent    *int
	MaxPriority      *int
	PriorityBoost    *int
	MaxAttempts      *int
}

// maxPlanPriority mirrors jobs.MaxPriority (x-max-priority of the queues).
const maxPlanPriority = 5

// maxPlanAttempts mirrors jobs.MaxAttemptsLimit.
const maxPlanAttempts = 25

var planNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ErrUnknownPlan: the plan named does not exist.
var ErrUnknownPlan = errors.New("unknown plan")

// PlanFieldError says which field of a plan is invalid.
type PlanFieldError struct{ Field, Message string }

func (e *PlanFieldError) Error() string { return e.Field + ": " + e.Message }

// Check validates p's name and limits.
func (p Plan) Check() error {
	if !planNameRE.MatchString(p.Name) {
		return &PlanFieldError{"name", "want 1-63 characters: lowercase letters, digits, '-' or '_', starting with a letter or digit"}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"jobs_per_hour", p.JobsPerHour}, {"documents_per_user", p.DocumentsPerUser}, {"max_concurrent", p.MaxConcurrent}} {
		if f.v < 0 || f.v > math.MaxInt32 {
			return &PlanFieldError{f.name, fmt.Sprintf("%d out of range 0 (unlimited) to %d", f.v, math.MaxInt32)}
		}
	}
	if p.MaxPriority < 0 || p.MaxPriority > maxPlanPriority {
		return &PlanFieldError{"max_priority", fmt.Sprintf("%d out of range 0-%d", p.MaxPriority, maxPlanPriority)}
	}
	if p.PriorityBoost < 0 || p.PriorityBoost > maxPlanPriority {
		return &PlanFieldError{"priority_boost", fmt.Sprintf("%d out of range 0-%d", p.PriorityBoost, maxPlanPriority)}
	}
	if p.MaxAttempts < 0 || p.MaxAttempts > maxPlanAttempts {
		return &PlanFieldError{"max_attempts", fmt.Sprintf("%d out of range 0 (the global %d) to %d", p.MaxAttempts, maxPlanAttempts, maxPlanAttempts)}
	}
	return nil
}

// Apply returns p with the set fields of ch.
func (ch PlanChanges) Apply(p Plan) Plan {
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.JobsPerHour, ch.JobsPerHour)
	set(&p.DocumentsPerUser, ch.DocumentsPerUser)
	set(&p.MaxConcurrent, ch.MaxConcurrent)
	set(&p.MaxPriority, ch.MaxPriority)
	set(&p.PriorityBoost, ch.PriorityBoost)
	set(&p.MaxAttempts, ch.MaxAttempts)
	return p
}

// ListPlans returns every plan by name.
func (s *Store) ListPlans(ctx context.Context) ([]Plan, error) {
	var out []Plan
	if err := s.db.WithContext(ctx).Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list plans: %w", err)
	}
	return out, nil
}

// GetPlan returns plan name; a missing one is pg.ErrNotFound.
func (s *Store) GetPlan(ctx context.Context, name string) (Plan, error) {
	var p Plan
	res := s.db.WithContext(ctx).Where("name = ?", name).Limit(1).Find(&p)
	if res.Error != nil {
		return Plan{}, fmt.Errorf("get plan %s: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		return Plan{}, fmt.Errorf("get plan %s: %w", name, pg.ErrNotFound)
	}
	return p, nil
}

// CreatePlan adds p (after Check); a taken name is pg.ErrConflict.
func (s *Store) CreatePlan(ctx context.Context, p Plan) (Plan, error) {
	if err := p.Check(); err != nil {
		return Plan{}, err
	}
	var out Plan
	err := s.db.WithContext(ctx).Raw(
		`INSERT INTO plans (name, jobs_per_hour, documents_per_user, max_concurrent, max_priority, priority_boost, max_attempts)
		 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
		p.Name, p.JobsPerHour, p.DocumentsPerUser, p.MaxConcurrent, p.MaxPriority, p.PriorityBoost, p.MaxAttempts,
	).Scan(&out).Error
	if pg.Code(err) == pg.UniqueViolation {
		return Plan{}, fmt.Errorf("create plan %s: %w", p.Name, pg.ErrConflict)
	}
	if err != nil {
		return Plan{}, fmt.Errorf("create plan %s: %w", p.Name, err)
	}
	return out, nil
}

// UpdatePlan sets the given limits of plan name and returns it; a missing
// plan is pg.ErrNotFound, an invalid result a *PlanFieldError.
func (s *Store) UpdatePlan(ctx context.Context, name string, ch PlanChanges) (Plan, error) {
	var out Plan
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var cur Plan
		res := tx.Raw(`SELECT * FROM plans WHERE name = ? FOR UPDATE`, name).Scan(&cur)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return pg.ErrNotFound
		}
		next := ch.Apply(cur)
		if err := next.Check(); err != nil {
			return err
		}
		return tx.Raw(`UPDATE plans SET jobs_per_hour = ?, documents_per_user = ?, max_concurrent = ?,
			max_priority = ?, priority_boost = ?, max_attempts = ?, updated_at = now() WHERE name = ? RETURNING *`,
			next.JobsPerHour, next.DocumentsPerUser, next.MaxConcurrent, next.MaxPriority, next.PriorityBoost, next.MaxAttempts, name,
		).Scan(&out).Error
	})
	var fe *PlanFieldError
	if errors.As(err, &fe) {
		return Plan{}, err
	}
	if err != nil {
		return Plan{}, fmt.Errorf("update plan %s: %w", name, err)
	}
	return out, nil
}

// DeletePlan removes plan name. A plan users are still on is pg.ErrConflict
// (with the count in the message); a missing one pg.ErrNotFound.
func (s *Store) DeletePlan(ctx context.Context, name string) (usersOnPlan int64, err error) {
	res := s.db.WithContext(ctx).Exec(`DELETE FROM plans WHERE name = ?`, name)
	if pg.Code(res.Error) == pg.ForeignKeyViolation {
		var n int64
		if err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM users WHERE plan = ?`, name).Scan(&n).Error; err != nil {
			return 0, fmt.Errorf("delete plan %s: count users: %w", name, err)
		}
		return n, fmt.Errorf("delete plan %s: %d users on it: %w", name, n, pg.ErrConflict)
	}
	if res.Error != nil {
		return 0, fmt.Errorf("delete plan %s: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		return 0, fmt.Errorf("delete plan %s: %w", name, pg.ErrNotFound)
	}
	return 0, nil
}

// SetUserPlan moves user id to plan. An unknown user is pg.ErrNotFound, an
// unknown plan ErrUnknownPlan.
func (s *Store) SetUserPlan(ctx context.Context, id uuid.UUID, plan string) (User, error) {
	var u User
	res := s.db.WithContext(ctx).Raw(`UPDATE users SET plan = ? WHERE id = ? RETURNING *`, plan, id).Scan(&u)
	if pg.Code(res.Error) == pg.ForeignKeyViolation {
		return User{}, fmt.Errorf("set plan of user %s: %q: %w", id, plan, ErrUnknownPlan)
	}
	if res.Error != nil {
		return User{}, fmt.Errorf("set plan of user %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return User{}, fmt.Errorf("set plan of user %s: %w", id, pg.ErrNotFound)
	}
	return u, nil
}
