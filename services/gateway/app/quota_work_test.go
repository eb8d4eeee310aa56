package app_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// A plan bounds the attempts of its users' jobs: asking for more is a
// 422 naming the plan's maximum (like the priority bound), a kind's
// default above it is lowered to it, and a retry grants at most that
// many more.
func TestAttemptsBoundByPlan(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	code, out := s.do("POST", "/v1/admin/plans", s.admin, map[string]any{"name": "short", "max_attempts": 2}, nil)
	require.Equal(t, 201, code, out)
	assert.Equal(t, float64(2), out["max_attempts"])
	code, out = s.do("PUT", "/v1/admin/plans/short", s.admin, map[string]any{"max_attempts": 26}, nil)
	require.Equal(t, 422, code, out)
	_, details := errBody(out)
	assert.Equal(t, "max_attempts", details["field"])
	code, out = s.do("GET", "/v1/admin/plans", s.admin, nil, nil)
	require.Equal(t, 200, code, out)
	byName := map[string]float64{}
	for _, p := range out["plans"].([]any) {
		byName[p.(map[string]any)["name"].(string)] = p.(map[string]any)["max_attempts"].(float64)
	}
	assert.Equal(t, map[string]float64{"free": 5, "premium": 10, "unlimited": 0, "system": 0, "short": 2}, byName, "seeded bounds")

	_, key := s.newUserOnPlan("user", "short")
	code, out = s.do("POST", "/v1/jobs", key, map[string]any{"kind": "system.noop", "max_attempts": 25}, nil)
	require.Equal(t, 422, code, out)
	assert.Contains(t, out["error"].(map[string]any)["message"], "above the short plan's maximum of 2 attempts")
	_, details = errBody(out)
	assert.Equal(t, "max_attempts", details["field"])
	code, out = s.do("POST", "/v1/jobs/batch", key, map[string]any{"jobs": []any{
		map[string]any{"kind": "system.noop"}, map[string]any{"kind": "system.noop", "max_attempts": 3}}}, nil)
	require.Equal(t, 422, code, out)
	_, details = errBody(out)
	assert.Equal(t, float64(1), details["index"])

	// system.sleep's default is 3 attempts: the plan makes it 2.
	failing := map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 0, "fail": "transient"}}
	id := s.submit(key, failing)
	job := s.waitState(key, id, "failed")
	assert.Equal(t, float64(2), job["max_attempts"])
	assert.Equal(t, float64(2), job["attempts"])

	// A retry grants the kind's budget bounded by the plan: 2 more.
	code, out = s.do("POST", "/v1/jobs/"+id+"/retry", key, nil, nil)
	require.Equal(t, 202, code, out)
	assert.Equal(t, float64(4), out["max_attempts"])
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, job = s.do("GET", "/v1/jobs/"+id, key, nil, nil)
		return job["state"] == "failed" && job["attempts"] == float64(4)
	}, "the retry to use its 2 attempts (last %v, %v)", job["state"], job["attempts"])
}

// Jobs per hour counts work, not only submits: a user's manual retry is
// charged like a submit (and refused when the hour is full, leaving the
// job as it was), and a follow-up (here a job-finished mail) counts as
// the job it is, though it is never refused.
func TestRetriesAndFollowUpsCountAgainstQuota(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	code, out := s.do("POST", "/v1/admin/plans", s.admin, map[string]any{"name": "three", "jobs_per_hour": 3}, nil)
	require.Equal(t, 201, code, out)
	used := func(key string) float64 {
		code, out := s.do("GET", "/v1/users/me/limits", key, nil, nil)
		require.Equal(t, 200, code, out)
		return out["limits"].(map[string]any)["jobs_per_hour"].(map[string]any)["used"].(float64)
	}

	_, key := s.newUserOnPlan("user", "three")
	id := s.submit(key, map[string]any{"kind": "system.sleep", "max_attempts": 1,
		"payload": map[string]any{"ms": 0, "fail": "permanent"}})
	s.waitState(key, id, "failed")
	for want := 2; want <= 3; want++ {
		code, out = s.do("POST", "/v1/jobs/"+id+"/retry", key, nil, nil)
		require.Equal(t, 202, code, out)
		assert.Equal(t, float64(want), used(key), "the retry is charged")
		testkit.WaitFor(t, testkit.Deadline, func() bool {
			_, job := s.do("GET", "/v1/jobs/"+id, key, nil, nil)
			return job["state"] == "failed"
		}, "retried job %d to fail again", want)
	}
	code, out = s.do("POST", "/v1/jobs/"+id+"/retry", key, nil, nil)
	require.Equal(t, 429, code, out)
	errCode, details := errBody(out)
	assert.Equal(t, "rate_limited", errCode)
	assert.Equal(t, float64(3), details["used"])
	assert.InDelta(t, 3600, details["retry_after_seconds"].(float64), 5)
	_, job := s.do("GET", "/v1/jobs/"+id, key, nil, nil)
	assert.Equal(t, "failed", job["state"], "a refused retry changes nothing")
	code, _ = s.do("POST", "/v1/jobs/"+id+"/retry", s.admin, nil, nil)
	assert.Equal(t, 202, code, "the operator's retries are not charged")

	_, other := s.newUserOnPlan("user", "three")
	code, me := s.do("GET", "/v1/users/me", other, nil, nil)
	require.Equal(t, 200, code, me)
	s.waitState(other, s.submit(other, map[string]any{"kind": "system.noop", "notify_email": me["email"]}), "succeeded")
	testkit.WaitFor(t, testkit.Deadline, func() bool { return used(other) == 2 }, "the follow-up mail to count")
	s.submit(other, map[string]any{"kind": "system.noop"})
	code, out = s.do("POST", "/v1/jobs", other, map[string]any{"kind": "system.noop"}, nil)
	require.Equal(t, 429, code, out)
}
