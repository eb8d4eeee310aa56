package jobstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/storetest"
)

func TestWorkerRegistry(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	started := time.Now().Add(-time.Minute).Truncate(time.Microsecond)

	a := jobstore.Worker{ID: "a", Service: "chat-worker", Host: "h1", PID: 10, Queues: []string{"chat", `odd "q",{x}`},
		Concurrency: 4, InFlight: 1, StartedAt: started}
	b := jobstore.Worker{ID: "b", Service: "maintenance-worker", Host: "h2", PID: 20, Queues: []string{"maintenance"},
		Concurrency: 2, StartedAt: started.Add(time.Second), PausedQueues: []string{"maintenance"}}
	require.NoError(t, s.UpsertWorker(ctx, a))
	require.NoError(t, s.UpsertWorker(ctx, b))
	a.InFlight = 3
	require.NoError(t, s.UpsertWorker(ctx, a), "a heartbeat updates the row")

	got, err := s.ListWorkers(ctx, 30*time.Second)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "b", got[0].ID, "newest first")
	assert.Equal(t, []string{"maintenance"}, got[0].PausedQueues)
	w := got[1]
	assert.Equal(t, []string{"chat", `odd "q",{x}`}, w.Queues, "arrays round-trip, quoting included")
	assert.Equal(t, 3, w.InFlight)
	assert.Equal(t, 10, w.PID)
	assert.Equal(t, "h1", w.Host)
	assert.Equal(t, []string{}, w.PausedQueues)
	assert.True(t, w.StartedAt.Equal(started))
	assert.WithinDuration(t, time.Now(), w.LastSeenAt, 10*time.Second)

	// A row not renewed for longer than the window is not listed.
	require.NoError(t, s.Gorm().Exec(`UPDATE workers SET last_seen_at = now() - interval '1 minute' WHERE id = 'a'`).Error)
	got, err = s.ListWorkers(ctx, 30*time.Second)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "b", got[0].ID)

	require.NoError(t, s.DeleteWorker(ctx, "b"))
	require.NoError(t, s.DeleteWorker(ctx, "b"), "deleting twice is fine")
	got, err = s.ListWorkers(ctx, time.Hour)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "a", got[0].ID)

	require.Error(t, s.UpsertWorker(ctx, jobstore.Worker{}), "an id is required")
}

func TestQueuePauses(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()

	steps := []struct {
		name   string
		do     func() error
		paused []string
	}{
		{"none at first", func() error { return nil }, []string{}},
		{"pause maintenance", func() error { return s.PauseQueue(ctx, "maintenance", "admin") }, []string{"maintenance"}},
		{"pause chat", func() error { return s.PauseQueue(ctx, "chat", "admin") }, []string{"chat", "maintenance"}},
		{"pause again is a no-op", func() error { return s.PauseQueue(ctx, "chat", "someone") }, []string{"chat", "maintenance"}},
		{"resume chat", func() error { return s.ResumeQueue(ctx, "chat") }, []string{"maintenance"}},
		{"resume a running queue is a no-op", func() error { return s.ResumeQueue(ctx, "document") }, []string{"maintenance"}},
	}
	for _, st := range steps {
		require.NoError(t, st.do(), st.name)
		got, err := s.PausedQueues(ctx)
		require.NoError(t, err, st.name)
		assert.Equal(t, st.paused, got, st.name)
	}
}
