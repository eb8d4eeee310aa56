package jobstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/storetest"
)

func TestFinishedPerMinute(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	a, b := storetest.User(t, s), storetest.User(t, s)
	storetest.Finish(t, s, storetest.Running(t, s, a.ID, "w"), jobs.StateSucceeded)
	storetest.Finish(t, s, storetest.Running(t, s, a.ID, "w"), jobs.StateSucceeded)
	storetest.Finish(t, s, storetest.Running(t, s, a.ID, "w"), jobs.StateFailed)
	storetest.Finish(t, s, storetest.Running(t, s, b.ID, "w"), jobs.StateSucceeded)
	storetest.Job(t, s, a.ID) // not finished: not counted

	all, err := s.FinishedPerMinute(t.Context(), nil, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	var succ, failed int64
	for _, m := range all {
		succ += m.Succeeded
		failed += m.Failed
		require.Equal(t, m.Minute, m.Minute.Truncate(time.Minute))
	}
	require.Equal(t, int64(3), succ)
	require.Equal(t, int64(1), failed)

	mine, err := s.FinishedPerMinute(t.Context(), &a.ID, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	succ = 0
	for _, m := range mine {
		succ += m.Succeeded
	}
	require.Equal(t, int64(2), succ)

	none, err := s.FinishedPerMinute(t.Context(), nil, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.Empty(t, none)
}
