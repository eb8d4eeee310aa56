package jobstore_test

import (
	"context"
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

func ids(js []jobstore.Job) []uuid.UUID {
	out := make([]uuid.UUID, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

func TestPromoteDue(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	owner := storetest.User(t, s)
	scheduled := storetest.Scheduled(t, s, owner.ID) // due in an hour
	retrying := storetest.Finish(t, s, storetest.Running(t, s, owner.ID, "w1"), jobs.StateRetrying)
	queued := storetest.Job(t, s, owner.ID)

	none, err := s.PromoteDue(ctx, time.Now(), 10)
	require.NoError(t, err)
	require.Empty(t, none, "nothing is due yet")

	later := time.Now().Add(2 * time.Hour)
	first, err := s.PromoteDue(ctx, later, 1)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{scheduled.ID}, ids(first), "earliest run_at first, limit honoured")
	rest, err := s.PromoteDue(ctx, later, 10)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{retrying.ID}, ids(rest))
	for _, j := range append(first, rest...) {
		require.Equal(t, jobs.StateQueued, j.State)
		require.Nil(t, j.PublishedAt)
	}
	again, err := s.PromoteDue(ctx, later, 10)
	require.NoError(t, err)
	require.Empty(t, again)

	require.Equal(t, []string{"created/scheduled/0", "queued/queued/0"}, storetest.Timeline(t, s, scheduled.ID))
	require.Equal(t, []string{"created/queued/0", "started/running/1", "retrying/retrying/1", "queued/queued/1"},
		storetest.Timeline(t, s, retrying.ID))
	require.Equal(t, []string{"created/queued/0"}, storetest.Timeline(t, s, queued.ID))
}

// Dispatchers promoting side by side never promote a job twice.
func TestPromoteDueConcurrent(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	const n = 20
	for range n {
		storetest.Scheduled(t, s, owner.ID)
	}
	later := time.Now().Add(2 * time.Hour)
	var (
		mu   sync.Mutex
		seen = map[uuid.UUID]int{}
		wg   sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				js, err := s.PromoteDue(t.Context(), later, 3)
				if err != nil || len(js) == 0 {
					return
				}
				mu.Lock()
				for _, j := range js {
					seen[j.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, n)
	for id, c := range seen {
		require.Equal(t, 1, c, "job %s promoted %d times", id, c)
	}
}

func TestUnpublishedAndMarkPublished(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	owner := storetest.User(t, s)
	a, b, c := storetest.Job(t, s, owner.ID), storetest.Job(t, s, owner.ID), storetest.Job(t, s, owner.ID)
	storetest.Scheduled(t, s, owner.ID)
	storetest.Running(t, s, owner.ID, "w1")

	fresh, err := s.Unpublished(ctx, a.UpdatedAt, 10)
	require.NoError(t, err)
	require.Empty(t, fresh, "jobs changed since olderThan are left to their publisher")

	later := time.Now().Add(time.Minute)
	got, err := s.Unpublished(ctx, later, 2)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{a.ID, b.ID}, ids(got), "oldest first, limit honoured")

	require.NoError(t, s.MarkPublished(ctx, a.ID, c.ID))
	require.NoError(t, s.MarkPublished(ctx))
	got, err = s.Unpublished(ctx, later, 10)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{b.ID}, ids(got))
	pub, err := s.GetJob(ctx, nil, a.ID)
	require.NoError(t, err)
	require.NotNil(t, pub.PublishedAt)
	require.Equal(t, []string{"created/queued/0"}, storetest.Timeline(t, s, a.ID), "publishing is not a transition")
}

// A published mark never waits for a row another transaction holds (a
// claim under way): it marks the others and skips that one, which stays
// an outbox entry. Waiting, it deadlocked with batched claims locking the
// same rows in another order, for deadlock_timeout (1 s) each time.
func TestMarkPublishedSkipsLockedRows(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	owner := storetest.User(t, s)
	locked, free := storetest.Job(t, s, owner.ID), storetest.Job(t, s, owner.ID)

	tx := s.Gorm().WithContext(ctx).Begin()
	require.NoError(t, tx.Error)
	defer tx.Rollback()
	require.NoError(t, tx.Exec(`SELECT id FROM jobs WHERE id = ? FOR UPDATE`, locked.ID).Error)

	for name, mark := range map[string]func(context.Context, ...uuid.UUID) error{
		"MarkPublished": s.MarkPublished, "MarkPublishedUnclaimed": s.MarkPublishedUnclaimed,
	} {
		wctx, cancel := context.WithTimeout(ctx, testkit.Deadline)
		require.NoError(t, mark(wctx, locked.ID, free.ID), "%s returns without waiting for the locked row", name)
		cancel()
	}
	got, err := s.Unpublished(ctx, time.Now().Add(time.Minute), 10)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{locked.ID}, ids(got), "the locked job stays in the outbox; the other is marked")
}

func TestReapExpired(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	owner := storetest.User(t, s)

	// First attempt of two: retried. Second of two: failed. Cancel
	// requested: cancelled, not retried.
	retry := storetest.Running(t, s, owner.ID, "w1")
	exhausted := storetest.Finish(t, s, storetest.Running(t, s, owner.ID, "w1"), jobs.StateRetrying)
	_, err := s.PromoteDue(ctx, exhausted.RunAt, 10)
	require.NoError(t, err)
	exhausted, err = s.Claim(ctx, exhausted.ID, "w2", storetest.Lease)
	require.NoError(t, err)
	require.Equal(t, 2, exhausted.Attempt)
	cancelled := storetest.Running(t, s, owner.ID, "w3")
	_, err = s.Cancel(ctx, nil, cancelled.ID)
	require.NoError(t, err)
	alive, err := s.Claim(ctx, storetest.Job(t, s, owner.ID).ID, "w4", 3*time.Hour)
	require.NoError(t, err)

	none, err := s.ReapExpired(ctx, time.Now(), 10, nil)
	require.NoError(t, err)
	require.Empty(t, none, "no lease has expired yet")

	retryAt := time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)
	var asked []uuid.UUID
	reaped, err := s.ReapExpired(ctx, time.Now().Add(2*time.Hour), 10, func(j jobstore.Job) time.Time {
		asked = append(asked, j.ID)
		return retryAt
	})
	require.NoError(t, err)
	require.ElementsMatch(t, []uuid.UUID{retry.ID, exhausted.ID, cancelled.ID}, ids(reaped))
	require.Equal(t, []uuid.UUID{retry.ID}, asked, "retryAt is asked only for jobs that retry")

	byID := map[uuid.UUID]jobstore.Job{}
	for _, j := range reaped {
		require.Nil(t, j.LeaseExpiresAt)
		byID[j.ID] = j
	}
	require.Equal(t, jobs.StateRetrying, byID[retry.ID].State)
	require.True(t, retryAt.Equal(byID[retry.ID].RunAt))
	require.Equal(t, "lease expired: worker w1 stopped renewing", byID[retry.ID].Error)
	require.Equal(t, jobs.StateFailed, byID[exhausted.ID].State)
	require.Equal(t, "lease expired: worker w2 stopped renewing", byID[exhausted.ID].Error)
	require.NotNil(t, byID[exhausted.ID].FinishedAt)
	require.Equal(t, jobs.StateCancelled, byID[cancelled.ID].State)

	still, err := s.GetJob(ctx, nil, alive.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.StateRunning, still.State)

	// The dead worker's late writes are refused.
	_, err = s.Heartbeat(ctx, retry.ID, retry.Attempt, "w1", storetest.Lease)
	require.ErrorIs(t, err, jobstore.ErrLeaseLost)
	_, err = s.Finish(ctx, jobstore.Outcome{JobID: retry.ID, Attempt: 1, WorkerID: "w1", State: jobs.StateSucceeded})
	require.ErrorIs(t, err, jobstore.ErrLeaseLost)

	require.Equal(t, []string{"created/queued/0", "started/running/1", "lease_expired/retrying/1"}, storetest.Timeline(t, s, retry.ID))
	require.Equal(t, []string{"created/queued/0", "started/running/1", "retrying/retrying/1", "queued/queued/1",
		"started/running/2", "lease_expired/failed/2"}, storetest.Timeline(t, s, exhausted.ID))
	require.Equal(t, []string{"created/queued/0", "started/running/1", "cancel_requested/running/1",
		"lease_expired/cancelled/1"}, storetest.Timeline(t, s, cancelled.ID))
}
