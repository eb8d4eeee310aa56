package app_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxEventLag is how far behind the database a stream may be (DESIGN §5:
// progress and state, at most 1 s behind).
const maxEventLag = time.Second

// TestEventsStreamAcrossGateways submits through one gateway and watches
// through another: the change reaches the watcher over Postgres
// notifications, whichever replica or worker made it.
func TestEventsStreamAcrossGateways(t *testing.T) {
	t.Parallel()
	a := startStack(t, stackOptions{})
	b := a.startGateway()
	_, key := a.newUser("user")

	// No worker yet, so everything after "created" happens while we watch.
	id := b.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 2000}})
	stream := a.openEvents(key, id, "")
	assert.Equal(t, "no-cache", stream.Header.Get("Cache-Control"))
	assert.Equal(t, "no", stream.Header.Get("X-Accel-Buffering"))
	assert.Contains(t, stream.Header.Get("Content-Type"), "text/event-stream")
	first, ok := stream.next(t)
	require.True(t, ok, "stream ended early")
	require.Equal(t, "created", first.Event)
	require.Equal(t, id, first.Data["job_id"])
	require.Equal(t, "queued", first.Data["state"])

	a.startWorker(4, 100*time.Millisecond)
	live := stream.all(t) // returns once the server ends the stream

	types, _ := timeline(live)
	require.Equal(t, []string{"started", "succeeded"}, types, "timeline after created")
	var progressWhileRunning []float64
	succeeded := false
	for _, m := range live {
		lag := m.Received.Sub(m.dbTime(t))
		t.Logf("%s (progress %v) %s after the database change", m.Event, m.Data["progress"], lag)
		assert.Less(t, lag, maxEventLag, "%s %v received %s after the database change", m.Event, m.Data, lag)
		switch {
		case m.Event == "succeeded":
			succeeded = true
			assert.Equal(t, "succeeded", m.Data["state"])
			assert.Equal(t, float64(1), m.Data["attempt"])
		case m.Event == "progress" && !succeeded && m.Data["state"] == "running":
			progressWhileRunning = append(progressWhileRunning, m.Data["progress"].(float64))
			assert.NotEmpty(t, m.Data["status_message"])
		case m.Event == "progress":
			assert.False(t, succeeded, "progress after the terminal event")
		}
	}
	require.GreaterOrEqual(t, len(progressWhileRunning), 3, "progress while running: %v", progressWhileRunning)
	for i := 1; i < len(progressWhileRunning); i++ {
		assert.Greater(t, progressWhileRunning[i], progressWhileRunning[i-1], "progress increases: %v", progressWhileRunning)
	}
	assert.Equal(t, "succeeded", live[len(live)-1].Event, "the terminal event is the last message")
}

// TestEventsReplayResumeAndScope covers a finished job: its whole timeline
// without Last-Event-ID, only later events with it, and the 404 rules of
// GET /v1/jobs/{id}.
func TestEventsReplayResumeAndScope(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	_, alice := s.newUser("user")
	_, bob := s.newUser("user")
	id := s.submit(alice, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 300}})
	s.waitState(alice, id, "succeeded")

	full := s.openEvents(alice, id, "").all(t)
	types, ids := timeline(full)
	require.Equal(t, []string{"created", "started", "succeeded"}, types)
	startedID := ids[1]

	resumed := s.openEvents(alice, id, startedID).all(t)
	types, ids = timeline(resumed)
	assert.Equal(t, []string{"succeeded"}, types, "only events after Last-Event-ID")
	for _, got := range ids {
		assert.Greater(t, mustInt(t, got), mustInt(t, startedID))
	}
	assert.Equal(t, "succeeded", resumed[len(resumed)-1].Event)

	// Admins (the operator token too) may watch any job.
	types, _ = timeline(s.openEvents(s.admin, id, "").all(t))
	assert.Equal(t, []string{"created", "started", "succeeded"}, types)

	errs := []struct {
		name, key, path string
		header          map[string]string
		wantCode        int
		wantErr         string
	}{
		{name: "another user's job", key: bob, path: "/v1/jobs/" + id + "/events", wantCode: 404, wantErr: "not_found"},
		{name: "no such job", key: alice, path: "/v1/jobs/0190a0a0-0000-7000-8000-000000000000/events", wantCode: 404, wantErr: "not_found"},
		{name: "not a job id", key: alice, path: "/v1/jobs/abc/events", wantCode: 404, wantErr: "not_found"},
		{name: "no key", key: "", path: "/v1/jobs/" + id + "/events", wantCode: 401, wantErr: "unauthorized"},
		{name: "bad Last-Event-ID", key: alice, path: "/v1/jobs/" + id + "/events",
			header: map[string]string{"Last-Event-ID": "yesterday"}, wantCode: 400, wantErr: "bad_request"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			code, body := s.do("GET", tc.path, tc.key, nil, tc.header)
			require.Equal(t, tc.wantCode, code, body)
			e, ok := body["error"].(map[string]any)
			require.True(t, ok, "error shape: %v", body)
			assert.Equal(t, tc.wantErr, e["code"])
		})
	}
}

// TestEventsEndOnShutdown: a gateway shutting down ends its streams
// instead of waiting on them, and stops cleanly.
func TestEventsEndOnShutdown(t *testing.T) {
	t.Parallel()
	a := startStack(t, stackOptions{})
	b := a.startGateway()
	_, key := a.newUser("user")
	// Scheduled an hour out: the stream would stay open.
	id := a.submit(key, map[string]any{"kind": "system.noop", "run_at": time.Now().Add(time.Hour)})
	stream := b.openEvents(key, id, "")
	m, ok := stream.next(t)
	require.True(t, ok)
	require.Equal(t, "created", m.Event)
	// Resumed after its only event, a stream has nothing to send yet; its
	// headers still arrive at once, not with the first keepalive.
	opened := time.Now()
	quiet := b.openEvents(key, id, m.ID)
	assert.Less(t, time.Since(opened), 5*time.Second, "headers flushed at once")

	stopping := time.Now()
	require.NoError(t, b.stop(), "the gateway stops cleanly with streams open")
	assert.Less(t, time.Since(stopping), a.cfg.ShutdownGrace, "shutdown did not wait out the grace period")
	for _, s := range []*eventStream{stream, quiet} {
		_, ok = s.next(t)
		assert.False(t, ok, "the stream ended")
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}
