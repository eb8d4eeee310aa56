package jobstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/storetest"
)

func TestRetry(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	other := storetest.User(t, s)

	failed := storetest.Finish(t, s, storetest.Running(t, s, owner.ID, "w1"), jobs.StateFailed)
	j, err := s.Retry(t.Context(), &owner.ID, failed.ID, 3)
	require.NoError(t, err)
	require.Equal(t, jobs.StateQueued, j.State)
	require.Equal(t, 1, j.Attempt, "attempts keep counting")
	require.Equal(t, 4, j.MaxAttempts)
	require.Empty(t, j.Error)
	require.Nil(t, j.FinishedAt)
	require.Nil(t, j.PublishedAt)
	tl := storetest.Timeline(t, s, j.ID)
	require.Equal(t, "retried/queued/1", tl[len(tl)-1])

	// The retried job can be claimed again as attempt 2.
	c, err := s.Claim(t.Context(), j.ID, "w2", 30e9)
	require.NoError(t, err)
	require.Equal(t, 2, c.Attempt)

	cancelled, err := s.Cancel(t.Context(), nil, storetest.Job(t, s, owner.ID).ID)
	require.NoError(t, err)
	_, err = s.Retry(t.Context(), nil, cancelled.ID, 1)
	require.NoError(t, err, "admins retry any job")

	succeeded := storetest.Finish(t, s, storetest.Running(t, s, owner.ID, "w1"), jobs.StateSucceeded)
	_, err = s.Retry(t.Context(), &owner.ID, succeeded.ID, 1)
	require.ErrorIs(t, err, pg.ErrConflict)

	queued := storetest.Job(t, s, owner.ID)
	_, err = s.Retry(t.Context(), &owner.ID, queued.ID, 1)
	require.ErrorIs(t, err, pg.ErrConflict)

	_, err = s.Retry(t.Context(), &other.ID, failed.ID, 1)
	require.ErrorIs(t, err, pg.ErrNotFound)
}
