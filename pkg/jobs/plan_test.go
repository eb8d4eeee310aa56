package jobs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlanPriority(t *testing.T) {
	t.Parallel()
	// Asked above the plan's maximum: refused, naming the maximum.
	_, err := PlanPriority(PriorityHigh, true, "free", 3, 0)
	require.Error(t, err)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "priority", ve.Field)
	assert.Contains(t, err.Error(), "free plan's maximum priority normal (3)")

	// A kind default above the maximum stands (no boost on free).
	p, err := PlanPriority(PriorityHigh, false, "free", 3, 0)
	require.NoError(t, err)
	assert.Equal(t, PriorityHigh, p)

	// Boost, capped at MaxPriority.
	p, err = PlanPriority(PriorityNormal, false, "premium", 5, 1)
	require.NoError(t, err)
	assert.Equal(t, Priority(4), p)
	p, err = PlanPriority(PriorityHigh, true, "premium", 5, 1)
	require.NoError(t, err)
	assert.Equal(t, MaxPriority, p)
	p, err = PlanPriority(Priority(3), true, "free", 3, 0)
	require.NoError(t, err)
	assert.Equal(t, Priority(3), p)
}

func TestPlanAttempts(t *testing.T) {
	_, err := PlanAttempts(10, true, "free", 5)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "max_attempts", ve.Field)
	assert.Contains(t, ve.Message, "free plan's maximum of 5 attempts")

	n, err := PlanAttempts(8, false, "free", 5)
	require.NoError(t, err)
	assert.Equal(t, 5, n, "a kind's default is lowered to the bound")
	n, err = PlanAttempts(5, true, "free", 5)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	n, err = PlanAttempts(25, true, "unlimited", 0)
	require.NoError(t, err)
	assert.Equal(t, 25, n, "0 leaves only the global limit")
}
