package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
)

func TestCreateJobs(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	owner := mustUser(t, s)
	now := time.Now()

	batch := make([]store.NewJob, store.MaxBatch)
	for i := range batch {
		runAt := time.Time{}
		if i%2 == 1 {
			runAt = now.Add(time.Hour)
		}
		batch[i] = store.NewJob{OwnerID: owner.ID, Spec: testSpec(t, runAt)}
	}
	rows, err := s.CreateJobs(t.Context(), batch, now)
	require.NoError(t, err)
	require.Len(t, rows, store.MaxBatch)
	queued := 0
	for _, j := range rows {
		if j.State == jobs.StateQueued {
			queued++
		}
		require.Equal(t, owner.ID, j.OwnerID)
	}
	require.Equal(t, store.MaxBatch/2, queued)
	require.Equal(t, []string{"created/queued/0"}, timeline(t, s, rows[0].ID)[:1])

	_, err = s.CreateJobs(t.Context(), make([]store.NewJob, store.MaxBatch+1), now)
	require.Error(t, err)

	bad := []store.NewJob{{OwnerID: owner.ID, Spec: testSpec(t, time.Time{})}, {OwnerID: owner.ID}}
	_, err = s.CreateJobs(t.Context(), bad, now)
	require.Error(t, err, "a bad job refuses the whole batch")
	list, _, err := s.ListJobs(t.Context(), store.ListFilter{OwnerID: &owner.ID, Limit: 500})
	require.NoError(t, err)
	require.Len(t, list, 500, "first page of the 1000 from the good batch only")
}

// A late mark must not hide a job that was claimed and released after
// the publish it confirms.
func TestMarkPublishedUnclaimed(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	owner := mustUser(t, s)
	waiting := mustJob(t, s, owner.ID)
	released := mustRunning(t, s, owner.ID, "w1")
	out, err := s.Finish(t.Context(), store.Outcome{JobID: released.ID, Attempt: released.Attempt, WorkerID: "w1", State: jobs.StateQueued})
	require.NoError(t, err)
	require.Equal(t, jobs.StateQueued, out)

	require.NoError(t, s.MarkPublishedUnclaimed(t.Context(), waiting.ID, released.ID))
	w, err := s.GetJob(t.Context(), nil, waiting.ID)
	require.NoError(t, err)
	require.NotNil(t, w.PublishedAt, "a job nobody claimed is marked")
	r, err := s.GetJob(t.Context(), nil, released.ID)
	require.NoError(t, err)
	require.Nil(t, r.PublishedAt, "a released job stays in the outbox")
}
