package jobstore

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
)

// TestTransitionsFollowTheLifecycle: every statement that changes a job's
// state moves it only along the lifecycle table (jobs.CanTransition), and
// its SQL tests and sets exactly the states of its moves.
func TestTransitionsFollowTheLifecycle(t *testing.T) {
	t.Parallel()
	id, owner := uuid.New(), uuid.New()
	outcome := func(st jobs.State) Outcome {
		return Outcome{JobID: id, Attempt: 1, WorkerID: "w", State: st, RetryAt: time.Now()}
	}
	soon := func(Job) time.Time { return time.Now() }
	statements := map[string]transition{
		"cancel":        cancelTransition(&owner, id),
		"retry":         retryTransition(nil, id, 3),
		"promote due":   promoteTransition(time.Now(), 10),
		"reap retrying": reapTransition(Job{ID: id, Attempt: 1, MaxAttempts: 2}, soon),
		"reap failed":   reapTransition(Job{ID: id, Attempt: 2, MaxAttempts: 2}, soon),
		"reap cancel":   reapTransition(Job{ID: id, Attempt: 1, MaxAttempts: 2, CancelRequested: true}, soon),
	}
	for _, st := range []jobs.State{jobs.StateSucceeded, jobs.StateFailed, jobs.StateCancelled, jobs.StateRetrying, jobs.StateQueued} {
		tr, err := finishTransition(outcome(st))
		require.NoError(t, err)
		statements["finish "+string(st)] = tr
	}
	snooze := outcome(jobs.StateRetrying)
	snooze.Snooze = true
	tr, err := finishTransition(snooze)
	require.NoError(t, err)
	statements["snooze"] = tr
	statements["cancel a workflow's waiting jobs"] = cancelWaitingTransition(id, "", "workflow stopped")

	for name, tr := range statements {
		require.NotEmpty(t, tr.moves, name)
		q := tr.sql()
		for _, m := range tr.moves {
			assert.Contains(t, q, "'"+string(m.to)+"'", "%s sets %s", name, m.to)
			for _, from := range m.from {
				assert.Contains(t, q, "'"+string(from)+"'", "%s tests %s", name, from)
				if from == m.to {
					continue // no state change: a flag (cancel_requested) moves
				}
				assert.True(t, jobs.CanTransition(from, m.to), "%s: %s → %s is not in the lifecycle", name, from, m.to)
			}
		}
		assert.Equal(t, 1, strings.Count(q, "SET state = "), "%s assigns the state once, from its moves", name)
	}

	// The group-committed statements, fixed texts built from their moves.
	fixed := map[string]struct {
		sql      string
		from, to jobs.State
	}{
		"claim":    {claimBatchSQL, claimFrom, claimTo},
		"complete": {completeBatchSQL, completeFrom, completeTo},
	}
	for name, f := range fixed {
		assert.True(t, jobs.CanTransition(f.from, f.to), "%s: %s → %s", name, f.from, f.to)
		assert.Contains(t, f.sql, "SET state = '"+string(f.to)+"'", name)
		assert.Contains(t, f.sql, "j.state || '' = '"+string(f.from)+"'", name)
	}
}
