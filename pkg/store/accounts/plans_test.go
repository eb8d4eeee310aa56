package accounts_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/storetest"
	"github.com/hopperq/hopper/pkg/testkit"
)

func TestPlansSeededAndCRUD(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()

	plans, err := s.ListPlans(ctx)
	require.NoError(t, err)
	// free and premium are seeded; the built-in system user's plan
	// (migration 00005) got a row of its own, unlimited.
	require.Len(t, plans, 4)
	free, premium, system, unlimited := plans[0], plans[1], plans[2], plans[3]
	assert.Equal(t, "system", system.Name)
	assert.Zero(t, system.JobsPerHour)
	assert.Equal(t, "unlimited", unlimited.Name)
	assert.Equal(t, accounts.Plan{Name: "unlimited", MaxPriority: 5}, accounts.Plan{Name: unlimited.Name,
		JobsPerHour: unlimited.JobsPerHour, DocumentsPerUser: unlimited.DocumentsPerUser,
		MaxConcurrent: unlimited.MaxConcurrent, MaxPriority: unlimited.MaxPriority, PriorityBoost: unlimited.PriorityBoost})
	assert.Equal(t, "free", free.Name)
	assert.Equal(t, 100, free.JobsPerHour)
	assert.Equal(t, 20, free.DocumentsPerUser)
	assert.Equal(t, 4, free.MaxConcurrent)
	assert.Equal(t, 3, free.MaxPriority)
	assert.Equal(t, 0, free.PriorityBoost)
	assert.Equal(t, "premium", premium.Name)
	assert.Equal(t, 1, premium.PriorityBoost)

	team, err := s.CreatePlan(ctx, accounts.Plan{Name: "team", JobsPerHour: 500, DocumentsPerUser: 50, MaxConcurrent: 8, MaxPriority: 4, PriorityBoost: 1})
	require.NoError(t, err)
	assert.Equal(t, 500, team.JobsPerHour)
	assert.False(t, team.CreatedAt.IsZero())
	_, err = s.CreatePlan(ctx, accounts.Plan{Name: "team", MaxPriority: 3})
	require.ErrorIs(t, err, pg.ErrConflict)
	var fe *accounts.PlanFieldError
	_, err = s.CreatePlan(ctx, accounts.Plan{Name: "Bad Name"})
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "name", fe.Field)
	_, err = s.CreatePlan(ctx, accounts.Plan{Name: "x", MaxPriority: 6})
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "max_priority", fe.Field)

	up, err := s.UpdatePlan(ctx, "team", accounts.PlanChanges{JobsPerHour: ptr(0), PriorityBoost: ptr(2)})
	require.NoError(t, err)
	assert.Equal(t, 0, up.JobsPerHour)
	assert.Equal(t, 2, up.PriorityBoost)
	assert.Equal(t, 50, up.DocumentsPerUser, "unset fields stay")
	_, err = s.UpdatePlan(ctx, "team", accounts.PlanChanges{DocumentsPerUser: ptr(-1)})
	require.ErrorAs(t, err, &fe)
	_, err = s.UpdatePlan(ctx, "nope", accounts.PlanChanges{})
	require.ErrorIs(t, err, pg.ErrNotFound)

	// Users reference plans: unknown plans are refused, a plan in use
	// cannot be deleted.
	_, err = s.CreateUser(ctx, testkit.UniqueName("p")+"@example.com", accounts.RoleUser, "nope")
	require.ErrorIs(t, err, accounts.ErrUnknownPlan)
	u := storetest.User(t, s)
	assert.Equal(t, "free", u.Plan)
	moved, err := s.SetUserPlan(ctx, u.ID, "team")
	require.NoError(t, err)
	assert.Equal(t, "team", moved.Plan)
	_, err = s.SetUserPlan(ctx, u.ID, "nope")
	require.ErrorIs(t, err, accounts.ErrUnknownPlan)
	_, err = s.SetUserPlan(ctx, uuid.New(), "team")
	require.ErrorIs(t, err, pg.ErrNotFound)

	n, err := s.DeletePlan(ctx, "team")
	require.ErrorIs(t, err, pg.ErrConflict)
	assert.EqualValues(t, 1, n)
	_, err = s.SetUserPlan(ctx, u.ID, "premium")
	require.NoError(t, err)
	_, err = s.DeletePlan(ctx, "team")
	require.NoError(t, err)
	_, err = s.DeletePlan(ctx, "team")
	require.ErrorIs(t, err, pg.ErrNotFound)
}

// limitedJob is a noop job under a jobs-per-hour limit.
func ptr[T any](v T) *T { return &v }
