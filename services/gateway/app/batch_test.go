package app_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/testkit"
)

func TestBatchSubmit(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	_, key := s.newUser("user")

	batch := make([]any, 1000)
	for i := range batch {
		batch[i] = map[string]any{"kind": "system.noop", "priority": i % 6}
	}
	code, out := s.do("POST", "/v1/jobs/batch", key, map[string]any{"jobs": batch}, nil)
	require.Equal(t, 202, code, out)
	accepted := out["jobs"].([]any)
	require.Len(t, accepted, 1000)
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, left := s.do("GET", "/v1/jobs?state=scheduled,queued,running,retrying&limit=1", key, nil, nil)
		return len(left["jobs"].([]any)) == 0
	}, "all batch jobs to finish")
	_, page := s.do("GET", "/v1/jobs?state=succeeded&limit=500", key, nil, nil)
	require.Len(t, page["jobs"], 500)
	_, page = s.do("GET", "/v1/jobs?state=succeeded&limit=500&cursor="+page["next_cursor"].(string), key, nil, nil)
	assert.Len(t, page["jobs"], 500, "all 1,000 succeeded")

	code, out = s.do("POST", "/v1/jobs/batch", key, map[string]any{"jobs": []any{
		map[string]any{"kind": "system.noop"}, map[string]any{"kind": "nope"}}}, nil)
	require.Equal(t, 422, code, out)
	assert.Equal(t, float64(1), out["error"].(map[string]any)["details"].(map[string]any)["index"])

	code, _ = s.do("POST", "/v1/jobs/batch", key, map[string]any{"jobs": make([]any, 1001)}, nil)
	assert.Equal(t, 422, code)
	code, _ = s.do("POST", "/v1/jobs/batch", key, map[string]any{"jobs": []any{}}, nil)
	assert.Equal(t, 422, code)
}

// TestBatchJobsPublishedThenMarked: a batch's jobs are published as single
// submits are and then marked published (2 s later, in batches), so none is
// left for the outbox to publish a second time.
func TestBatchJobsPublishedThenMarked(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, key := s.newUser("user")
	batch := make([]any, 200)
	for i := range batch {
		batch[i] = map[string]any{"kind": "system.noop"}
	}
	code, out := s.do("POST", "/v1/jobs/batch", key, map[string]any{"jobs": batch}, nil)
	require.Equal(t, 202, code, out)

	var q map[string]any
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		q, _ = s.queue(key, "maintenance")
		return q["ready"] == float64(200)
	}, "200 ready in maintenance (last: %v)", q)

	st, err := store.Open(t.Context(), s.cfg.DatabaseURL, store.Options{MaxOpenConns: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		left, err := st.Unpublished(t.Context(), time.Now().Add(time.Hour), 500)
		require.NoError(t, err)
		return len(left) == 0
	}, "every batch job marked published: none is left for the outbox")
	q, _ = s.queue(key, "maintenance")
	assert.Equal(t, float64(200), q["ready"], "published once each")
}
