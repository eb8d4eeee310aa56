package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// TestReportAndCleanup: the usage report (endpoint and maintenance.report
// job) counts a known workload; maintenance.cleanup then deletes the
// finished jobs past retention.
func TestReportAndCleanup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, key := stackWithGateway(t, e, nil)
	// Everything finished is past a 1 ms retention by the time cleanup runs.
	startWorker(t, e, env{"HOPPER_RETENTION_SUCCEEDED": "1ms", "HOPPER_RETENTION_FAILED": "1ms"})

	var ok []string
	for range 5 {
		ok = append(ok, c.submit(key, map[string]any{"kind": "system.noop"}))
	}
	bad := c.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": -1}})
	for _, id := range ok {
		c.waitState(key, id, "succeeded", testkit.Deadline)
	}
	c.waitState(key, bad, "failed", testkit.Deadline)

	code, rep := c.do("GET", "/v1/users/me/report?days=7", key, nil)
	require.Equal(t, 200, code, rep)
	assert.Equal(t, float64(7), rep["days"])
	assert.Equal(t, float64(6), rep["total"])
	kinds := map[string]map[string]any{}
	for _, k := range rep["kinds"].([]any) {
		kinds[k.(map[string]any)["kind"].(string)] = k.(map[string]any)
	}
	noop := kinds["system.noop"]
	require.NotNil(t, noop, rep)
	assert.Equal(t, float64(5), noop["total"])
	assert.Equal(t, map[string]any{"succeeded": float64(5)}, noop["by_state"])
	assert.Equal(t, float64(1), noop["success_rate"])
	assert.NotNil(t, noop["queue_wait_p95_ms"])
	assert.NotNil(t, noop["run_time_p50_ms"])
	assert.Equal(t, float64(0), kinds["system.sleep"]["success_rate"])

	code, _ = c.do("GET", "/v1/users/me/report?days=0", key, nil)
	assert.Equal(t, 400, code)

	id := c.submit(key, map[string]any{"kind": "maintenance.report", "payload": map[string]any{"days": 7}})
	job := c.waitState(key, id, "succeeded", testkit.Deadline)
	res := job["result"].(map[string]any)
	assert.GreaterOrEqual(t, res["total"], float64(6))

	// Every tenant's sweep is the operators': users are refused.
	code, out := c.do("POST", "/v1/jobs", key, map[string]any{"kind": "maintenance.cleanup", "payload": map[string]any{"scope": "retention"}})
	require.Equal(t, 403, code, out)
	admin := newUserKeyWithEmail(t, c, e, "admin", testkit.UniqueName("ops")+"@example.com")
	id = c.submit(admin, map[string]any{"kind": "maintenance.cleanup", "payload": map[string]any{"scope": "retention"}})
	job = c.waitState(admin, id, "succeeded", testkit.Deadline)
	deleted := job["result"].(map[string]any)["jobs_deleted"].(map[string]any)
	assert.GreaterOrEqual(t, deleted["succeeded"], float64(6), "five noops and the report")
	assert.Equal(t, float64(1), deleted["failed"])
	for _, gone := range append(ok, bad) {
		code, _ := c.do("GET", "/v1/jobs/"+gone, key, nil)
		assert.Equal(t, 404, code, "job %s past retention is deleted", gone)
	}

	code, out = c.do("POST", "/v1/jobs", admin, map[string]any{"kind": "maintenance.cleanup", "payload": map[string]any{"scope": "everything"}})
	assert.Equal(t, 422, code, out)
}
