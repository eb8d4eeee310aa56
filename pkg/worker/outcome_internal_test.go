package worker

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// TestOutcomeRetryAfter: a Retry-After longer than the backoff delays the
// next attempt that long, capped at the kind's backoff cap; permanent
// errors and exhausted attempts still fail.
func TestOutcomeRetryAfter(t *testing.T) {
	t.Parallel()
	reg, err := jobs.NewRegistry(jobs.Kind{Name: "test.k", Queue: "maintenance", MaxAttempts: 5, Timeout: time.Second,
		BackoffBase: 10 * time.Millisecond, BackoffCap: time.Minute})
	require.NoError(t, err)
	p := NewProcessor(Options{Registry: reg, WorkerID: "w"})
	sj := jobstore.Job{Kind: "test.k", Attempt: 1, MaxAttempts: 5}
	boom := errors.New("503 from receiver")

	tests := []struct {
		name      string
		err       error
		attempt   int
		wantState jobs.State
		minWait   time.Duration
		maxWait   time.Duration
	}{
		{"backoff only", boom, 1, jobs.StateRetrying, 0, 20 * time.Millisecond},
		{"retry-after wins", RetryAfter(boom, 30*time.Second), 1, jobs.StateRetrying, 30 * time.Second, 31 * time.Second},
		{"retry-after capped", RetryAfter(boom, time.Hour), 1, jobs.StateRetrying, time.Minute, time.Minute + time.Second},
		{"permanent beats retry-after", Permanent(RetryAfter(boom, time.Second)), 1, jobs.StateFailed, 0, 0},
		{"attempts used up", RetryAfter(boom, time.Second), 5, jobs.StateFailed, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := sj
			j.Attempt = tt.attempt
			before := time.Now()
			o := p.outcome(j, nil, tt.err, nil, nil, time.Second)
			assert.Equal(t, tt.wantState, o.State)
			if tt.wantState != jobs.StateRetrying {
				return
			}
			wait := o.RetryAt.Sub(before)
			assert.GreaterOrEqual(t, wait, tt.minWait)
			assert.LessOrEqual(t, wait, tt.maxWait)
		})
	}
}
