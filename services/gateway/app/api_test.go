package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorAnswers(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, alice := s.newUser("user")
	_, bob := s.newUser("user")
	bobJob := s.submit(bob, map[string]any{"kind": "system.noop", "run_at": time.Now().Add(time.Hour)})
	finished := s.submit(bob, map[string]any{"kind": "system.noop", "run_at": time.Now().Add(time.Hour)})
	code, _ := s.do("DELETE", "/v1/jobs/"+finished, bob, nil, nil)
	require.Equal(t, 200, code)

	tests := []struct {
		name     string
		method   string
		path     string
		key      string
		body     any
		wantCode int
		wantErr  string
		check    func(t *testing.T, body map[string]any)
	}{
		{name: "malformed JSON", method: "POST", path: "/v1/jobs", key: alice, body: `{"kind":`, wantCode: 400, wantErr: "bad_request"},
		{name: "not an object", method: "POST", path: "/v1/jobs", key: alice, body: `[1,2]`, wantCode: 400, wantErr: "bad_request"},
		{name: "unknown field", method: "POST", path: "/v1/jobs", key: alice, body: `{"kind":"system.noop","priorty":"high"}`, wantCode: 400, wantErr: "bad_request"},
		{name: "empty body", method: "POST", path: "/v1/jobs", key: alice, body: ``, wantCode: 400, wantErr: "bad_request"},
		{name: "unknown kind", method: "POST", path: "/v1/jobs", key: alice, body: `{"kind":"chat.nope"}`, wantCode: 422, wantErr: "unprocessable",
			check: func(t *testing.T, b map[string]any) {
				details := b["error"].(map[string]any)["details"].(map[string]any)
				assert.Contains(t, details["valid_kinds"], "system.sleep")
				assert.Contains(t, b["error"].(map[string]any)["message"], "system.noop")
			}},
		{name: "priority out of range", method: "POST", path: "/v1/jobs", key: alice, body: `{"kind":"system.noop","priority":7}`, wantCode: 422, wantErr: "unprocessable"},
		{name: "priority unknown name", method: "POST", path: "/v1/jobs", key: alice, body: `{"kind":"system.noop","priority":"urgent"}`, wantCode: 422, wantErr: "unprocessable"},
		{name: "body over limit", method: "POST", path: "/v1/jobs", key: alice,
			body: `{"kind":"system.noop","payload":{"x":"` + strings.Repeat("a", 70000) + `"}}`, wantCode: 413, wantErr: "payload_too_large"},
		{name: "missing key", method: "GET", path: "/v1/jobs", key: "", wantCode: 401, wantErr: "unauthorized"},
		{name: "wrong key", method: "GET", path: "/v1/jobs", key: "hop_nope_nope", wantCode: 401, wantErr: "unauthorized"},
		{name: "another user's job", method: "GET", path: "/v1/jobs/" + bobJob, key: alice, wantCode: 404, wantErr: "not_found"},
		{name: "cancel another user's job", method: "DELETE", path: "/v1/jobs/" + bobJob, key: alice, wantCode: 404, wantErr: "not_found"},
		{name: "no such job", method: "GET", path: "/v1/jobs/0190a0a0-0000-7000-8000-000000000000", key: alice, wantCode: 404, wantErr: "not_found"},
		{name: "not a job id", method: "GET", path: "/v1/jobs/abc", key: alice, wantCode: 404, wantErr: "not_found"},
		{name: "cancel finished job", method: "DELETE", path: "/v1/jobs/" + finished, key: bob, wantCode: 409, wantErr: "conflict"},
		{name: "bad state filter", method: "GET", path: "/v1/jobs?state=done", key: alice, wantCode: 400, wantErr: "bad_request"},
		{name: "bad limit", method: "GET", path: "/v1/jobs?limit=0", key: alice, wantCode: 400, wantErr: "bad_request"},
		{name: "bad cursor", method: "GET", path: "/v1/jobs?cursor=xyz", key: alice, wantCode: 400, wantErr: "bad_request"},
		{name: "admin route as user", method: "POST", path: "/v1/admin/users", key: alice, body: `{"email":"x@example.com"}`, wantCode: 403, wantErr: "forbidden"},
		{name: "admin bad email", method: "POST", path: "/v1/admin/users", key: s.admin, body: `{"email":"nope"}`, wantCode: 422, wantErr: "unprocessable"},
		{name: "admin token owns no jobs", method: "POST", path: "/v1/jobs", key: s.admin, body: `{"kind":"system.noop"}`, wantCode: 403, wantErr: "forbidden"},
		{name: "unknown route", method: "GET", path: "/v2/nothing", key: alice, wantCode: 404, wantErr: "not_found"},
		{name: "wrong method", method: "PUT", path: "/v1/jobs", key: alice, wantCode: 405, wantErr: "method_not_allowed"},
		{name: "webhook to loopback", method: "POST", path: "/v1/jobs", key: alice, body: `{"kind":"system.noop","webhook_url":"http://127.0.0.1:9/hook"}`, wantCode: 422, wantErr: "unprocessable",
			check: func(t *testing.T, b map[string]any) {
				assert.Equal(t, "webhook_url", b["error"].(map[string]any)["details"].(map[string]any)["field"])
			}},
		{name: "webhook to cloud metadata", method: "POST", path: "/v1/jobs", key: alice, body: `{"kind":"system.noop","webhook_url":"http://169.254.169.254/latest"}`, wantCode: 422, wantErr: "unprocessable"},
		{name: "webhook not http", method: "POST", path: "/v1/jobs", key: alice, body: `{"kind":"system.noop","webhook_url":"ftp://example.com/x"}`, wantCode: 422, wantErr: "unprocessable"},
		{name: "qa without question", method: "POST", path: "/v1/qa/ask", key: alice, body: `{"question":""}`, wantCode: 422, wantErr: "unprocessable"},
		{name: "document upload without multipart", method: "POST", path: "/v1/documents", key: alice, body: `{"x":1}`, wantCode: 400, wantErr: "bad_request"},
		{name: "another user's document", method: "GET", path: "/v1/documents/0190a0a0-0000-7000-8000-000000000000", key: alice, wantCode: 404, wantErr: "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.do(tt.method, tt.path, tt.key, tt.body, nil)
			require.Equal(t, tt.wantCode, code, body)
			e, ok := body["error"].(map[string]any)
			require.True(t, ok, "error shape: %v", body)
			assert.Equal(t, tt.wantErr, e["code"])
			assert.NotEmpty(t, e["message"])
			assert.NotContains(t, e["message"], "goroutine")
			if tt.check != nil {
				tt.check(t, body)
			}
		})
	}
}

func TestRevokedKeyAndDuplicateUser(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	code, u := s.do("POST", "/v1/admin/users", s.admin, map[string]any{"email": "dup@example.com"}, nil)
	require.Equal(t, 201, code, u)
	code, _ = s.do("POST", "/v1/admin/users", s.admin, map[string]any{"email": "dup@example.com"}, nil)
	assert.Equal(t, 409, code)

	code, k := s.do("POST", "/v1/admin/users/"+u["id"].(string)+"/keys", s.admin, nil, nil)
	require.Equal(t, 201, code)
	key := k["key"].(string)
	code, _ = s.do("GET", "/v1/jobs", key, nil, nil)
	assert.Equal(t, 200, code)
	code, _ = s.do("DELETE", "/v1/admin/keys/"+k["id"].(string), s.admin, nil, nil)
	assert.Equal(t, 204, code)
	code, _ = s.do("GET", "/v1/jobs", key, nil, nil)
	assert.Equal(t, 401, code)
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, key := s.newUser("user")
	body := map[string]any{"kind": "system.noop", "payload": map[string]any{"n": 1}, "run_at": time.Now().Add(time.Hour)}
	hdr := map[string]string{"Idempotency-Key": "order-42"}

	code1, first := s.do("POST", "/v1/jobs", key, body, hdr)
	code2, second := s.do("POST", "/v1/jobs", key, body, hdr)
	require.Equal(t, 202, code1, first)
	require.Equal(t, 202, code2, second)
	assert.Equal(t, first["id"], second["id"])

	_, list := s.do("GET", "/v1/jobs", key, nil, nil)
	assert.Len(t, list["jobs"], 1, "one job for one key")

	body["payload"] = map[string]any{"n": 2}
	code, out := s.do("POST", "/v1/jobs", key, body, hdr)
	assert.Equal(t, 409, code, out)

	// Keys are per user: another user may use the same key.
	_, other := s.newUser("user")
	code, out = s.do("POST", "/v1/jobs", other, body, hdr)
	require.Equal(t, 202, code)
	assert.NotEqual(t, first["id"], out["id"])
}

func TestJobRunsWithTimeline(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	_, key := s.newUser("user")
	id := s.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 300}, "priority": "high"})
	job := s.waitState(key, id, "succeeded")

	assert.Equal(t, float64(100), job["progress"])
	assert.Equal(t, float64(5), job["priority"])
	assert.Equal(t, float64(1), job["attempts"])
	assert.Equal(t, map[string]any{"slept_ms": float64(300)}, job["result"])
	assert.Nil(t, job["error"])
	for _, f := range []string{"created_at", "run_at", "started_at", "finished_at"} {
		_, err := time.Parse(time.RFC3339Nano, job[f].(string))
		assert.NoError(t, err, f)
	}
	assert.Equal(t, []string{"created", "started", "succeeded"}, eventTypes(job))

	// A permanent failure fails at once, with the error recorded.
	id = s.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 0, "fail": "permanent"}})
	job = s.waitState(key, id, "failed")
	assert.Contains(t, job["error"], "asked to fail permanently")
	assert.Equal(t, float64(1), job["attempts"])
}

func TestCancel(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	_, key := s.newUser("user")

	scheduled := s.submit(key, map[string]any{"kind": "system.noop", "run_at": time.Now().Add(time.Hour)})
	code, job := s.do("DELETE", "/v1/jobs/"+scheduled, key, nil, nil)
	require.Equal(t, 200, code, job)
	assert.Equal(t, "cancelled", job["state"])

	running := s.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 60000}})
	s.waitState(key, running, "running")
	code, job = s.do("DELETE", "/v1/jobs/"+running, key, nil, nil)
	require.Equal(t, 202, code, job)
	assert.Equal(t, true, job["cancel_requested"])
	job = s.waitState(key, running, "cancelled")
	assert.Contains(t, eventTypes(job), "cancel_requested")

	code, _ = s.do("DELETE", "/v1/jobs/"+running, key, nil, nil)
	assert.Equal(t, 409, code)
}

func TestListOwnJobsWithPagination(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, alice := s.newUser("user")
	_, bob := s.newUser("user")
	later := time.Now().Add(time.Hour)
	want := map[string]bool{}
	for i := 0; i < 25; i++ {
		want[s.submit(alice, map[string]any{"kind": "system.noop", "run_at": later})] = true
	}
	s.submit(alice, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 1}, "run_at": later})
	s.submit(bob, map[string]any{"kind": "system.noop", "run_at": later})

	seen := map[string]bool{}
	cursor := ""
	pages := 0
	for {
		path := "/v1/jobs?kind=system.noop&state=scheduled&limit=10"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		code, page := s.do("GET", path, alice, nil, nil)
		require.Equal(t, 200, code, page)
		pages++
		for _, j := range page["jobs"].([]any) {
			id := j.(map[string]any)["id"].(string)
			assert.False(t, seen[id], "job %s listed twice", id)
			seen[id] = true
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	assert.Equal(t, want, seen)
	assert.Equal(t, 3, pages)

	_, page := s.do("GET", "/v1/jobs", bob, nil, nil)
	assert.Len(t, page["jobs"], 1, "bob sees only his job")
}

func TestAcceptsJobsWhileRabbitMQIsDown(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: the publisher never connects.
	s := startStack(t, stackOptions{amqpURL: "amqp://guest:guest@127.0.0.1:1/"})
	code, ready := s.do("GET", "/readyz", "", nil, nil)
	assert.Equal(t, 200, code)
	assert.Equal(t, "degraded", ready["status"])

	_, key := s.newUser("user")
	id := s.submit(key, map[string]any{"kind": "system.noop"})
	code, job := s.do("GET", "/v1/jobs/"+id, key, nil, nil)
	require.Equal(t, 200, code)
	assert.Equal(t, "queued", job["state"], "the accepted job is in Postgres, waiting for the dispatcher")
}
