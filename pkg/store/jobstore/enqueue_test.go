package jobstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/storetest"
)

func TestEnqueueBatch(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	now := time.Now()

	batch := make([]jobstore.NewJob, jobstore.MaxBatch)
	for i := range batch {
		runAt := time.Time{}
		if i%2 == 1 {
			runAt = now.Add(time.Hour)
		}
		batch[i] = jobstore.NewJob{OwnerID: owner.ID, Spec: storetest.Spec(t, runAt)}
	}
	rows, err := storetest.CreateJobs(t.Context(), s, batch, now)
	require.NoError(t, err)
	require.Len(t, rows, jobstore.MaxBatch)
	queued := 0
	for _, j := range rows {
		if j.State == jobs.StateQueued {
			queued++
		}
		require.Equal(t, owner.ID, j.OwnerID)
	}
	require.Equal(t, jobstore.MaxBatch/2, queued)
	require.Equal(t, []string{"created/queued/0"}, storetest.Timeline(t, s, rows[0].ID)[:1])

	_, err = storetest.CreateJobs(t.Context(), s, make([]jobstore.NewJob, jobstore.MaxBatch+1), now)
	require.Error(t, err)

	bad := []jobstore.NewJob{{OwnerID: owner.ID, Spec: storetest.Spec(t, time.Time{})}, {OwnerID: owner.ID}}
	_, err = storetest.CreateJobs(t.Context(), s, bad, now)
	require.Error(t, err, "a bad job refuses the whole batch")
	list, _, err := s.ListJobs(t.Context(), jobstore.ListFilter{OwnerID: &owner.ID, Limit: 500})
	require.NoError(t, err)
	require.Len(t, list, 500, "first page of the 1000 from the good batch only")
}

// A late mark must not hide a job that was claimed and released after
// the publish it confirms.
func TestMarkPublishedUnclaimed(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	waiting := storetest.Job(t, s, owner.ID)
	released := storetest.Running(t, s, owner.ID, "w1")
	out, err := s.Finish(t.Context(), jobstore.Outcome{JobID: released.ID, Attempt: released.Attempt, WorkerID: "w1", State: jobs.StateQueued})
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

// One Enqueue takes keyed and plain submissions together and answers
// each in order; under a quota a replayed key counts for nothing, so a
// batch that only fits without it is admitted, and a full hour still
// answers a replay.
func TestEnqueueKeyedAndPlainUnderQuota(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	ctx := t.Context()
	now := time.Now()
	keyed := func(key string) jobstore.NewJob {
		nj := storetest.LimitedJob(t, owner.ID, 3)
		nj.IdempotencyKey = key
		return nj
	}

	first, err := s.Enqueue(ctx, []jobstore.NewJob{keyed("a")}, now)
	require.NoError(t, err)
	require.True(t, first[0].Created)

	res, err := s.Enqueue(ctx, []jobstore.NewJob{storetest.LimitedJob(t, owner.ID, 3), keyed("a"), keyed("b")}, now)
	require.NoError(t, err, "two new jobs fit beside the first; the replay is not counted")
	require.Len(t, res, 3)
	assert.True(t, res[0].Created)
	assert.False(t, res[1].Created)
	assert.Equal(t, first[0].Job.ID, res[1].Job.ID)
	assert.True(t, res[2].Created)
	assert.Equal(t, "b", *res[2].Job.IdempotencyKey)

	_, err = s.Enqueue(ctx, []jobstore.NewJob{storetest.LimitedJob(t, owner.ID, 3)}, now)
	qe := storetest.QuotaErr(t, err)
	assert.Equal(t, 3, qe.Used)
	again, err := s.Enqueue(ctx, []jobstore.NewJob{keyed("b")}, now)
	require.NoError(t, err, "a replay answers even when the hour is full")
	assert.Equal(t, res[2].Job.ID, again[0].Job.ID)

	_, err = s.Enqueue(ctx, []jobstore.NewJob{storetest.LimitedJob(t, owner.ID, 3), storetest.LimitedJob(t, storetest.User(t, s).ID, 3)}, now)
	require.Error(t, err, "a batch under a quota has one owner")
}
