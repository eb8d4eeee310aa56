package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// header sends a JSON request and returns one header of the answer.
func (s *stack) header(method, path, key string, body any, name string) string {
	s.t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(s.t, err)
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(raw))
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Header.Get(name)
}

func errBody(out map[string]any) (code string, details map[string]any) {
	e, _ := out["error"].(map[string]any)
	code, _ = e["code"].(string)
	details, _ = e["details"].(map[string]any)
	return code, details
}

func TestPlanAdminAPI(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, userKey := s.newUser("user")

	code, out := s.do("GET", "/v1/admin/plans", s.admin, nil, nil)
	require.Equal(t, 200, code, out)
	names := []string{}
	for _, p := range out["plans"].([]any) {
		names = append(names, p.(map[string]any)["name"].(string))
	}
	assert.Subset(t, names, []string{"free", "premium", "unlimited"})
	code, _ = s.do("GET", "/v1/admin/plans", userKey, nil, nil)
	assert.Equal(t, 403, code)

	code, out = s.do("POST", "/v1/admin/plans", s.admin, map[string]any{"name": "team", "jobs_per_hour": 500, "max_priority": 4, "priority_boost": 1}, nil)
	require.Equal(t, 201, code, out)
	assert.Equal(t, float64(500), out["jobs_per_hour"])
	assert.Equal(t, float64(0), out["documents_per_user"], "omitted: unlimited")
	assert.Equal(t, float64(4), out["max_priority"])
	code, out = s.do("POST", "/v1/admin/plans", s.admin, map[string]any{"name": "team"}, nil)
	assert.Equal(t, 409, code, out)
	for _, bad := range []map[string]any{
		{"name": "Not OK"}, {"name": "x", "max_priority": 6}, {"name": "x", "jobs_per_hour": -1}, {"name": "x", "priority_boost": 9},
	} {
		code, out = s.do("POST", "/v1/admin/plans", s.admin, bad, nil)
		assert.Equal(t, 422, code, "%v: %v", bad, out)
	}
	code, _ = s.do("POST", "/v1/admin/plans", s.admin, `{"name":"x","jobs_per_hr":1}`, nil)
	assert.Equal(t, 400, code, "unknown fields are refused")

	code, out = s.do("PUT", "/v1/admin/plans/team", s.admin, map[string]any{"documents_per_user": 7}, nil)
	require.Equal(t, 200, code, out)
	assert.Equal(t, float64(7), out["documents_per_user"])
	assert.Equal(t, float64(500), out["jobs_per_hour"], "unset fields stay")
	code, _ = s.do("PUT", "/v1/admin/plans/team", s.admin, map[string]any{"max_priority": -1}, nil)
	assert.Equal(t, 422, code)
	code, _ = s.do("PUT", "/v1/admin/plans/team", s.admin, map[string]any{"name": "other"}, nil)
	assert.Equal(t, 422, code)
	code, _ = s.do("PUT", "/v1/admin/plans/nope", s.admin, map[string]any{"jobs_per_hour": 1}, nil)
	assert.Equal(t, 404, code)

	// Users on any existing plan; unknown plans are a 422 naming the valid ones.
	code, u := s.do("POST", "/v1/admin/users", s.admin, map[string]any{"email": testkit.UniqueName("t") + "@example.com", "plan": "team"}, nil)
	require.Equal(t, 201, code, u)
	assert.Equal(t, "team", u["plan"])
	code, out = s.do("POST", "/v1/admin/users", s.admin, map[string]any{"email": testkit.UniqueName("t") + "@example.com", "plan": "gold"}, nil)
	require.Equal(t, 422, code, out)
	_, details := errBody(out)
	assert.Contains(t, details["valid_plans"], "team")
	id := u["id"].(string)

	code, out = s.do("DELETE", "/v1/admin/plans/team", s.admin, nil, nil)
	require.Equal(t, 409, code, out)
	_, details = errBody(out)
	assert.Equal(t, float64(1), details["users"])

	code, out = s.do("PUT", "/v1/admin/users/"+id+"/plan", s.admin, map[string]any{"plan": "gold"}, nil)
	assert.Equal(t, 422, code, out)
	code, _ = s.do("PUT", "/v1/admin/users/00000000-0000-0000-0000-00000000abcd/plan", s.admin, map[string]any{"plan": "free"}, nil)
	assert.Equal(t, 404, code)
	code, _ = s.do("PUT", "/v1/admin/users/"+id+"/plan", userKey, map[string]any{"plan": "free"}, nil)
	assert.Equal(t, 403, code)
	code, out = s.do("PUT", "/v1/admin/users/"+id+"/plan", s.admin, map[string]any{"plan": "premium"}, nil)
	require.Equal(t, 200, code, out)
	assert.Equal(t, "premium", out["plan"])

	code, _ = s.do("DELETE", "/v1/admin/plans/team", s.admin, nil, nil)
	assert.Equal(t, 204, code)
	code, _ = s.do("DELETE", "/v1/admin/plans/team", s.admin, nil, nil)
	assert.Equal(t, 404, code)
}

func TestRateLimitAndLimits(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	code, out := s.do("POST", "/v1/admin/plans", s.admin, map[string]any{"name": "tiny", "jobs_per_hour": 3, "documents_per_user": 1, "max_concurrent": 2}, nil)
	require.Equal(t, 201, code, out)
	_, key := s.newUserOnPlan("user", "tiny")
	noop := map[string]any{"kind": "system.noop"}

	code, out = s.do("POST", "/v1/jobs", key, noop, map[string]string{"Idempotency-Key": "webhook:evade"})
	require.Equal(t, 422, code, out, "reserved key prefixes are refused")

	first := ""
	for i := range 3 {
		code, out = s.do("POST", "/v1/jobs", key, noop, map[string]string{"Idempotency-Key": "k" + strconv.Itoa(i)})
		require.Equal(t, 202, code, out)
		if i == 0 {
			first = out["id"].(string)
		}
	}
	// A replay still answers its job with the quota full.
	code, out = s.do("POST", "/v1/jobs", key, noop, map[string]string{"Idempotency-Key": "k0"})
	require.Equal(t, 202, code, out)
	assert.Equal(t, first, out["id"])

	for _, tc := range []struct {
		path string
		body any
	}{
		{"/v1/jobs", noop},
		{"/v1/qa/ask", map[string]any{"question": "what?"}},
		{"/v1/jobs/batch", map[string]any{"jobs": []any{noop, noop}}},
	} {
		code, out = s.do("POST", tc.path, key, tc.body, nil)
		require.Equal(t, 429, code, "%s: %v", tc.path, out)
		errCode, details := errBody(out)
		assert.Equal(t, "rate_limited", errCode)
		assert.Equal(t, "jobs_per_hour", details["limit"])
		assert.Equal(t, float64(3), details["max"])
		assert.Equal(t, float64(3), details["used"])
		assert.Equal(t, "tiny", details["plan"])
		secs := details["retry_after_seconds"].(float64)
		assert.InDelta(t, 3600, secs, 5)
	}
	retryAfter := s.header("POST", "/v1/jobs", key, noop, "Retry-After")
	n, err := strconv.Atoi(retryAfter)
	require.NoError(t, err, "Retry-After %q", retryAfter)
	assert.InDelta(t, 3600, n, 5)

	// A batch larger than the whole limit can never fit: 422.
	code, out = s.do("POST", "/v1/jobs/batch", key, map[string]any{"jobs": []any{noop, noop, noop, noop}}, nil)
	require.Equal(t, 422, code, out)

	code, out = s.do("GET", "/v1/users/me/limits", key, nil, nil)
	require.Equal(t, 200, code, out)
	assert.Equal(t, "tiny", out["plan"])
	limits := out["limits"].(map[string]any)
	jobsLimit := limits["jobs_per_hour"].(map[string]any)
	assert.Equal(t, float64(3), jobsLimit["max"])
	assert.Equal(t, float64(3), jobsLimit["used"])
	assert.Equal(t, float64(0), jobsLimit["remaining"])
	assert.InDelta(t, 3600, jobsLimit["retry_after_seconds"].(float64), 5)
	assert.NotNil(t, jobsLimit["next_slot_at"])
	docs := limits["documents_per_user"].(map[string]any)
	assert.Equal(t, float64(1), docs["max"])
	assert.Equal(t, float64(0), docs["used"])
	assert.Equal(t, float64(1), docs["remaining"])
	assert.Equal(t, float64(2), limits["max_concurrent"].(map[string]any)["max"])

	// Raising the plan's limit applies at once on this gateway.
	code, out = s.do("PUT", "/v1/admin/plans/tiny", s.admin, map[string]any{"jobs_per_hour": 0}, nil)
	require.Equal(t, 200, code, out)
	s.submit(key, noop)
	code, out = s.do("GET", "/v1/users/me/limits", key, nil, nil)
	require.Equal(t, 200, code, out)
	assert.Nil(t, out["limits"].(map[string]any)["jobs_per_hour"].(map[string]any)["remaining"], "unlimited")

	// The admin token owns no jobs, hence has no limits.
	code, _ = s.do("GET", "/v1/users/me/limits", s.admin, nil, nil)
	assert.Equal(t, 403, code)
}

func TestPriorityByPlan(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, free := s.newUserOnPlan("user", "free")
	_, premium := s.newUserOnPlan("user", "premium")

	code, out := s.do("POST", "/v1/jobs", free, map[string]any{"kind": "system.noop", "priority": "high"}, nil)
	require.Equal(t, 422, code, out)
	assert.Contains(t, out["error"].(map[string]any)["message"], "above the free plan's maximum priority normal (3)")
	_, details := errBody(out)
	assert.Equal(t, "priority", details["field"])
	code, out = s.do("POST", "/v1/jobs/batch", free, map[string]any{"jobs": []any{
		map[string]any{"kind": "system.noop"}, map[string]any{"kind": "system.noop", "priority": 4}}}, nil)
	require.Equal(t, 422, code, out)
	_, details = errBody(out)
	assert.Equal(t, float64(1), details["index"])

	priorityOf := func(key string, body map[string]any, path string) float64 {
		code, out := s.do("POST", path, key, body, nil)
		require.Equal(t, 202, code, out)
		_, job := s.do("GET", "/v1/jobs/"+out["id"].(string), key, nil, nil)
		return job["priority"].(float64)
	}
	ask := map[string]any{"question": "anything?"}
	assert.Equal(t, float64(3), priorityOf(free, map[string]any{"kind": "system.noop", "priority": "normal"}, "/v1/jobs"))
	assert.Equal(t, float64(3), priorityOf(free, ask, "/v1/qa/ask"), "qa.ask default normal, no boost")
	assert.Equal(t, float64(4), priorityOf(premium, ask, "/v1/qa/ask"), "normal + premium boost")
	assert.Equal(t, float64(5), priorityOf(premium, map[string]any{"kind": "system.noop", "priority": "high"}, "/v1/jobs"), "capped at 5")
	assert.Equal(t, float64(2), priorityOf(premium, map[string]any{"kind": "system.noop", "priority": "low"}, "/v1/jobs"))
}
