package jobstore_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/storetest"
	"github.com/hopperq/hopper/pkg/testkit"
)

// mixedPriority makes every other submit high priority, so the urgent
// path (groupcommit.DoUrgent) and the batches run side by side.
func mixedPriority(i int) jobs.Priority {
	if i%2 == 0 {
		return jobs.PriorityNormal
	}
	return jobs.PriorityHigh
}

// TestUrgentSubmitBesideAStuckBatch: a high-priority submit is stored
// while a normal one's insert is stuck (its owner's row locked by the
// test), not after that batch gives up.
func TestUrgentSubmitBesideAStuckBatch(t *testing.T) {
	t.Parallel()
	dsn := testkit.DatabaseURL(t)
	s := storetest.Open(t, dsn)
	require.NoError(t, s.Migrate(t.Context()))
	stuck, free := cappedUser(t, s, 0), cappedUser(t, s, 0)
	lock := testkit.NewLocker(t, dsn)
	lock.Lock("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", stuck.ID)

	normal := storetest.Spec(t, time.Time{})
	normal.Priority = jobs.PriorityNormal
	done := make(chan error, 1)
	go func() {
		_, _, err := storetest.CreateJob(t.Context(), s, jobstore.NewJob{OwnerID: stuck.ID, Spec: normal}, time.Now())
		done <- err
	}()
	testkit.WaitFor(t, testkit.Deadline, lock.Blocking, "the normal insert waits for its owner's row")

	high := storetest.Spec(t, time.Time{}) // high priority
	j, created, err := storetest.CreateJob(t.Context(), s, jobstore.NewJob{OwnerID: free.ID, Spec: high}, time.Now())
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, jobs.StateQueued, j.State)
	require.True(t, lock.Blocking(), "the high submit was stored while the normal insert was still stuck")
	lock.Release()
	require.NoError(t, <-done)
}

// TestGroupedHotPath: many concurrent submits, claims and successes (which
// the store group-commits) each land once, on the right job, with the
// job's own result and a complete timeline.
func TestGroupedHotPath(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := cappedUser(t, s, 0) // no fairness cap: every claim can win
	const n = 120

	ids := make([]uuid.UUID, n)
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := range n {
		wg.Go(func() {
			spec := storetest.Spec(t, time.Time{})
			spec.Payload = json.RawMessage(fmt.Sprintf(`{"i": %d}`, i))
			spec.Priority = mixedPriority(i)
			j, created, err := storetest.CreateJob(t.Context(), s, jobstore.NewJob{OwnerID: owner.ID, Spec: spec}, time.Now())
			if err != nil || !created {
				errs <- fmt.Errorf("create %d: created %t: %w", i, created, err)
				return
			}
			ids[i] = j.ID
			if string(j.Payload) != fmt.Sprintf(`{"i": %d}`, i) || j.State != jobs.StateQueued {
				errs <- fmt.Errorf("create %d returned job %s with payload %s, state %s", i, j.ID, j.Payload, j.State)
				return
			}
			worker := fmt.Sprintf("w%d", i%7)
			c, err := s.Claim(t.Context(), j.ID, worker, storetest.Lease)
			if err != nil {
				errs <- fmt.Errorf("claim %d: %w", i, err)
				return
			}
			if c.ID != j.ID || c.WorkerID != worker || c.Attempt != 1 || c.State != jobs.StateRunning {
				errs <- fmt.Errorf("claim %d returned %s by %q attempt %d state %s", i, c.ID, c.WorkerID, c.Attempt, c.State)
				return
			}
			f, err := s.Finish(t.Context(), jobstore.Outcome{JobID: j.ID, Attempt: 1, WorkerID: worker,
				State: jobs.StateSucceeded, Result: json.RawMessage(fmt.Sprintf(`{"out": %d}`, i))})
			if err != nil {
				errs <- fmt.Errorf("finish %d: %w", i, err)
				return
			}
			if f != jobs.StateSucceeded {
				errs <- fmt.Errorf("finish %d returned state %s", i, f)
				return
			}
			done, err := s.GetJob(t.Context(), nil, j.ID)
			if err != nil {
				errs <- fmt.Errorf("get %d: %w", i, err)
				return
			}
			if want := fmt.Sprintf(`{"out": %d}`, i); done.State != jobs.StateSucceeded || string(done.Result) != want {
				errs <- fmt.Errorf("job %d is %s with result %s, want succeeded with %s", i, done.State, done.Result, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.False(t, t.Failed())
	for i, id := range ids {
		j, err := s.GetJob(t.Context(), nil, id)
		require.NoError(t, err)
		require.Equal(t, jobs.StateSucceeded, j.State)
		require.JSONEq(t, fmt.Sprintf(`{"out": %d}`, i), string(j.Result))
		require.Equal(t, []string{"created/queued/0", "started/running/1", "succeeded/succeeded/1"}, storetest.Timeline(t, s, id))
	}
}

// TestGroupedWriteIsolatesFailures: a submission the database refuses (an
// owner that does not exist) fails alone; the submissions committed beside
// it, perhaps in the same batch, are stored. A success reported by a
// worker that no longer owns the attempt is refused alone too.
func TestGroupedWriteIsolatesFailures(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := cappedUser(t, s, 0)
	const n = 60
	created := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			who := owner.ID
			if i%10 == 3 {
				who = uuid.New() // no such user: the foreign key refuses the row
			}
			spec := storetest.Spec(t, time.Time{})
			spec.Priority = mixedPriority(i)
			_, _, created[i] = storetest.CreateJob(t.Context(), s, jobstore.NewJob{OwnerID: who, Spec: spec}, time.Now())
		})
	}
	wg.Wait()
	for i, err := range created {
		if i%10 == 3 {
			require.Error(t, err, "submission %d has no owner", i)
			continue
		}
		require.NoError(t, err, "submission %d", i)
	}
	list, _, err := s.ListJobs(t.Context(), jobstore.ListFilter{OwnerID: &owner.ID, Limit: jobstore.MaxListLimit})
	require.NoError(t, err)
	require.Len(t, list, n-n/10)

	running := make([]jobstore.Job, 20)
	for i := range running {
		running[i] = storetest.Running(t, s, owner.ID, "w")
	}
	finished := make([]error, len(running))
	for i, j := range running {
		wg.Go(func() {
			attempt := j.Attempt
			if i%4 == 1 {
				attempt++ // a stale attempt
			}
			_, finished[i] = s.Finish(t.Context(), jobstore.Outcome{JobID: j.ID, Attempt: attempt, WorkerID: "w", State: jobs.StateSucceeded})
		})
	}
	wg.Wait()
	for i, err := range finished {
		if i%4 == 1 {
			require.ErrorIs(t, err, jobstore.ErrLeaseLost, "finish %d reported a stale attempt", i)
			continue
		}
		require.NoError(t, err, "finish %d", i)
	}
}
