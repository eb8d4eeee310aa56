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
