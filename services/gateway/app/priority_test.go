package app_test

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// TestHighPriorityOvertakesBacklog: with 300 low-priority jobs waiting and
// one worker of concurrency 2, 20 high-priority jobs submitted after them
// all start before the low ones still in the queue.
func TestHighPriorityOvertakesBacklog(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, key := s.newUser("user")
	sleep := map[string]any{"ms": 20}

	lows := make([]string, 300)
	for i := range lows {
		lows[i] = s.submit(key, map[string]any{"kind": "system.sleep", "payload": sleep, "priority": "low"})
	}
	s.startWorker(2, 0)
	// Let the worker get going on the backlog before the high ones arrive.
	waitStarted(t, s, key, lows, 10)

	highs := make([]string, 20)
	for i := range highs {
		highs[i] = s.submit(key, map[string]any{"kind": "system.sleep", "payload": sleep, "priority": "high"})
	}
	highsIn := time.Now()

	start := map[string]time.Time{}
	for _, id := range append(append([]string{}, highs...), lows...) {
		job := s.waitState(key, id, "succeeded")
		ts, err := time.Parse(time.RFC3339Nano, job["started_at"].(string))
		require.NoError(t, err)
		start[id] = ts
	}

	var lastHigh time.Time
	for _, id := range highs {
		if start[id].After(lastHigh) {
			lastHigh = start[id]
		}
	}
	// Low jobs that were still queued when the highs arrived.
	var waitingLows []time.Time
	for _, id := range lows {
		if start[id].After(highsIn) {
			waitingLows = append(waitingLows, start[id])
		}
	}
	sort.Slice(waitingLows, func(i, j int) bool { return waitingLows[i].Before(waitingLows[j]) })
	require.Greater(t, len(waitingLows), 100, "a real backlog was still queued when the high jobs arrived")

	overtaken := 0
	for _, ts := range waitingLows {
		if ts.Before(lastHigh) {
			overtaken++
		}
	}
	// Only deliveries already prefetched by the worker (prefetch 2, plus
	// the one in hand) may start between the highs.
	t.Logf("lows waiting when highs arrived: %d; lows started before the last high: %d", len(waitingLows), overtaken)
	assert.LessOrEqual(t, overtaken, 4, "high-priority jobs must start before the low backlog")
}

// waitStarted waits until at least n of ids have left the queue.
func waitStarted(t *testing.T, s *stack, key string, ids []string, n int) {
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, page := s.do("GET", "/v1/jobs?state=running,succeeded&limit=500", key, nil, nil)
		return len(page["jobs"].([]any)) >= n
	}, "%d jobs to start", n)
}
