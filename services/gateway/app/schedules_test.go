package app_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/schedules"
	"github.com/hopperq/hopper/pkg/testkit"
)

// TestScheduleAdminAPI covers the schedule routes: a worker service's
// schedules created when it starts, create,
// list, disable/enable, trigger (the job runs), delete, and every error
// answer.
func TestScheduleAdminAPI(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	_, user := s.newUser("user")
	adminID, adminKey := s.newUser("admin")

	// A worker service's schedules are created when it starts (as the
	// maintenance worker's cleanup and retention are).
	s.startSDKWorker("housekeeping", func(w *hopper.Worker) {
		w.HandleKind(hopper.KindSpec{Name: "housekeeping.sweep"}, noopHandler)
		w.Schedule(hopper.Schedule{Name: "cleanup", Spec: "0 2 * * *", Kind: "housekeeping.sweep", Payload: map[string]any{"scope": "all"}})
		w.Schedule(hopper.Schedule{Name: "retention", Spec: "@hourly", Timezone: "Europe/Paris", Kind: "housekeeping.sweep"})
	})
	var list []any
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		code, body := s.do("GET", "/v1/admin/schedules", s.admin, nil, nil)
		require.Equal(t, 200, code, body)
		list = body["schedules"].([]any)
		return len(list) == 2
	}, "the worker's schedules (last %v)", list)
	byName := map[string]map[string]any{}
	for _, x := range list {
		sc := x.(map[string]any)
		byName[sc["name"].(string)] = sc
		assert.Equal(t, true, sc["enabled"], sc["name"])
		assert.Equal(t, "housekeeping.sweep", sc["kind"])
		assert.NotNil(t, sc["next_run_at"])
	}
	assert.Equal(t, "0 2 * * *", byName["cleanup"]["spec"])
	assert.Equal(t, "@hourly", byName["retention"]["spec"])
	assert.Equal(t, "Europe/Paris", byName["retention"]["timezone"])
	assert.Equal(t, map[string]any{"scope": "all"}, byName["cleanup"]["payload"])
	// A schedule whose kind this deployment does not know (created before
	// a downgrade, say) can be neither enabled nor triggered.
	st, err := store.Open(t.Context(), s.cfg.DatabaseURL, store.Options{MaxOpenConns: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	_, err = st.CreateSchedule(t.Context(), schedules.NewSchedule{Name: "orphan", Spec: "@daily", Kind: "maintenance.gone"}, time.Now())
	require.NoError(t, err)

	code, sc := s.do("POST", "/v1/admin/schedules", adminKey, map[string]any{
		"name": "nightly", "spec": "30 3 * * *", "timezone": "Europe/Paris", "kind": "system.noop",
		"payload": map[string]any{"n": 1}, "priority": "high", "owner_id": adminID,
	}, nil)
	require.Equal(t, 201, code, sc)
	assert.Equal(t, true, sc["enabled"])
	assert.Equal(t, "Europe/Paris", sc["timezone"])
	assert.Equal(t, float64(5), sc["priority"])
	assert.Equal(t, adminID, sc["owner_id"])
	assert.NotNil(t, sc["next_run_at"])
	assert.Nil(t, sc["last_run_at"])

	code, sc = s.do("POST", "/v1/admin/schedules/nightly/disable", s.admin, nil, nil)
	require.Equal(t, 200, code, sc)
	assert.Equal(t, false, sc["enabled"])
	assert.Nil(t, sc["next_run_at"])
	code, sc = s.do("POST", "/v1/admin/schedules/nightly/enable", s.admin, nil, nil)
	require.Equal(t, 200, code, sc)
	assert.Equal(t, true, sc["enabled"])
	assert.NotNil(t, sc["next_run_at"])

	code, job := s.do("POST", "/v1/admin/schedules/nightly/trigger", s.admin, nil, nil)
	require.Equal(t, 202, code, job)
	assert.Equal(t, "nightly", job["schedule"])
	assert.Equal(t, "system.noop", job["kind"])
	assert.Equal(t, float64(5), job["priority"])
	done := s.waitState(s.admin, job["id"].(string), "succeeded")
	assert.Equal(t, map[string]any{"n": float64(1)}, done["payload"])
	// The job belongs to the schedule's owner.
	code, _ = s.do("GET", "/v1/jobs/"+job["id"].(string), adminKey, nil, nil)
	assert.Equal(t, 200, code)

	code, _ = s.do("DELETE", "/v1/admin/schedules/nightly", s.admin, nil, nil)
	assert.Equal(t, 204, code)
	code, body := s.do("GET", "/v1/admin/schedules", s.admin, nil, nil)
	require.Equal(t, 200, code)
	assert.Len(t, body["schedules"], 3)

	code, _ = s.do("POST", "/v1/admin/schedules", s.admin, map[string]any{"name": "dup", "spec": "@daily", "kind": "system.noop"}, nil)
	require.Equal(t, 201, code)

	tests := []struct {
		name, method, path, key string
		body                    any
		wantCode                int
		wantErr, contains       string
	}{
		{"user may not list", "GET", "/v1/admin/schedules", user, nil, 403, "forbidden", "admin"},
		{"user may not create", "POST", "/v1/admin/schedules", user, map[string]any{"name": "x", "spec": "@daily", "kind": "system.noop"}, 403, "forbidden", "admin"},
		{"user may not trigger", "POST", "/v1/admin/schedules/dup/trigger", user, nil, 403, "forbidden", "admin"},
		{"no key", "GET", "/v1/admin/schedules", "", nil, 401, "unauthorized", "API key"},
		{"bad spec", "POST", "/v1/admin/schedules", s.admin, map[string]any{"name": "x", "spec": "every minute", "kind": "system.noop"}, 400, "bad_request", "spec"},
		{"spec out of range", "POST", "/v1/admin/schedules", s.admin, map[string]any{"name": "x", "spec": "0 25 * * *", "kind": "system.noop"}, 400, "bad_request", "not a cron spec"},
		{"every too short", "POST", "/v1/admin/schedules", s.admin, map[string]any{"name": "x", "spec": "@every 100ms", "kind": "system.noop"}, 400, "bad_request", "at least 1s"},
		{"bad timezone", "POST", "/v1/admin/schedules", s.admin, map[string]any{"name": "x", "spec": "@daily", "timezone": "Moon/Base", "kind": "system.noop"}, 400, "bad_request", "timezone"},
		{"bad name", "POST", "/v1/admin/schedules", s.admin, map[string]any{"name": "Nightly Report", "spec": "@daily", "kind": "system.noop"}, 400, "bad_request", "name"},
		{"unknown field", "POST", "/v1/admin/schedules", s.admin, `{"name":"x","spec":"@daily","kind":"system.noop","cron":"x"}`, 400, "bad_request", "unknown field"},
		{"unknown kind", "POST", "/v1/admin/schedules", s.admin, map[string]any{"name": "x", "spec": "@daily", "kind": "maintenance.nope"}, 422, "unprocessable", "unknown kind"},
		{"payload not an object", "POST", "/v1/admin/schedules", s.admin, map[string]any{"name": "x", "spec": "@daily", "kind": "system.noop", "payload": []int{1}}, 422, "unprocessable", "payload"},
		{"bad priority", "POST", "/v1/admin/schedules", s.admin, map[string]any{"name": "x", "spec": "@daily", "kind": "system.noop", "priority": 9}, 422, "unprocessable", "priority"},
		{"unknown owner", "POST", "/v1/admin/schedules", s.admin, map[string]any{"name": "x", "spec": "@daily", "kind": "system.noop", "owner_id": "0190a0a0-0000-7000-8000-000000000000"}, 422, "unprocessable", "owner_id"},
		{"duplicate name", "POST", "/v1/admin/schedules", s.admin, map[string]any{"name": "dup", "spec": "@hourly", "kind": "system.noop"}, 409, "conflict", "dup"},
		{"enable unknown", "POST", "/v1/admin/schedules/nope/enable", s.admin, nil, 404, "not_found", "schedule"},
		{"disable unknown", "POST", "/v1/admin/schedules/nope/disable", s.admin, nil, 404, "not_found", "schedule"},
		{"trigger unknown", "POST", "/v1/admin/schedules/nope/trigger", s.admin, nil, 404, "not_found", "schedule"},
		{"delete unknown", "DELETE", "/v1/admin/schedules/nope", s.admin, nil, 404, "not_found", "schedule"},
		{"enable with unregistered kind", "POST", "/v1/admin/schedules/orphan/enable", s.admin, nil, 422, "unprocessable", "not registered"},
		{"trigger with unregistered kind", "POST", "/v1/admin/schedules/orphan/trigger", s.admin, nil, 422, "unprocessable", "not registered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.do(tt.method, tt.path, tt.key, tt.body, nil)
			require.Equal(t, tt.wantCode, code, body)
			e, ok := body["error"].(map[string]any)
			require.True(t, ok, "error shape: %v", body)
			assert.Equal(t, tt.wantErr, e["code"])
			assert.Contains(t, e["message"], tt.contains)
		})
	}
}
