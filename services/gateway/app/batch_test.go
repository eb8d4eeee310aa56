package app_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
