package worker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/testkit"
)

// TestRegistry: the row appears at once, follows in-flight jobs and the
// paused queues in Postgres, and is deleted when the loop stops.
func TestRegistry(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.Context(), testkit.DatabaseURL(t), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.Migrate(t.Context()))

	var inFlight atomic.Int64
	queues := &fakeQueues{}
	self := newSelf("maintenance-worker@test-1", "maintenance-worker", []string{"maintenance"}, 4, []string{"system.sleep", "system.noop"})
	r := &registry{store: st, queues: queues, inFlight: func() int { return int(inFlight.Load()) },
		self: self, every: 20 * time.Millisecond, log: zaptest.NewLogger(t)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	row := func() (jobstore.Worker, bool) {
		ws, err := st.ListWorkers(t.Context(), 30*time.Second)
		require.NoError(t, err)
		for _, w := range ws {
			if w.ID == self.ID {
				return w, true
			}
		}
		return jobstore.Worker{}, false
	}
	var w jobstore.Worker
	testkit.WaitFor(t, testkit.Deadline, func() bool { var ok bool; w, ok = row(); return ok }, "registry row")
	assert.Equal(t, "maintenance-worker", w.Service)
	assert.Equal(t, []string{"maintenance"}, w.Queues)
	assert.Equal(t, 4, w.Concurrency)
	assert.Equal(t, self.PID, w.PID)
	assert.NotEmpty(t, w.Host)
	assert.Equal(t, []string{"system.noop", "system.sleep"}, w.Kinds, "the kinds it runs, sorted")
	perKind, err := st.KindWorkers(t.Context(), 30*time.Second)
	require.NoError(t, err)
	assert.Equal(t, 1, perKind["system.noop"], "counted as a live worker of each of its kinds")

	inFlight.Store(2)
	require.NoError(t, st.PauseQueue(t.Context(), "maintenance", "test"))
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		w, _ = row()
		return w.InFlight == 2 && len(w.PausedQueues) == 1
	}, "in-flight and paused queues renewed (last: %+v)", w)
	assert.Equal(t, []string{"maintenance"}, queues.Paused(), "the consumer was told")

	require.NoError(t, st.ResumeQueue(t.Context(), "maintenance"))
	testkit.WaitFor(t, testkit.Deadline, func() bool { return len(queues.Paused()) == 0 }, "resume applied")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(testkit.Deadline):
		t.Fatal("registry did not stop")
	}
	_, ok := row()
	assert.False(t, ok, "row deleted on clean shutdown")
}
