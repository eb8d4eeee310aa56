package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// Issue 18: what one tenant may ask of Hopper — kinds by visibility,
// system.* off outside dev, mail only to one's own address at a bounded
// rate, webhooks only with one's own secret.

// newUserWithEmail creates a user (unlimited plan) with email and returns
// its id and a key.
func (s *stack) newUserWithEmail(role, email string) (id, key string) {
	s.t.Helper()
	code, u := s.do("POST", "/v1/admin/users", s.admin, map[string]any{"email": email, "role": role, "plan": "unlimited"}, nil)
	require.Equal(s.t, 201, code, u)
	id = u["id"].(string)
	code, k := s.do("POST", "/v1/admin/users/"+id+"/keys", s.admin, nil, nil)
	require.Equal(s.t, 201, code, k)
	return id, k["key"].(string)
}

// errorOf is the error object of an error answer.
func errorOf(t *testing.T, body map[string]any) (code, message string, details map[string]any) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	require.True(t, ok, "an error answer: %v", body)
	details, _ = e["details"].(map[string]any)
	return e["code"].(string), e["message"].(string), details
}

// TestKindVisibilityOverHTTP: a user's submit of an internal kind or an
// admin kind is a 403 naming the kind (alone or in a batch); an admin may
// submit admin kinds but not internal ones; GET /v1/kinds marks each
// kind's visibility and whether the caller may submit it; and internal
// kinds still come to be through their routes (an upload makes its
// document.ingest) and follow-ups (a finished job's webhook and notice).
func TestKindVisibilityOverHTTP(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	userEmail := testkit.UniqueName("ada") + "@example.com"
	_, user := s.newUserWithEmail("user", userEmail)
	_, admin := s.newUser("admin")

	for _, tc := range []struct {
		key, kind, visibility string
		payload               map[string]any
	}{
		{user, "maintenance.webhook", "internal", map[string]any{"job_id": "0193b8a0-0000-7000-8000-000000000001", "event": "job.succeeded"}},
		{user, "document.ingest", "internal", map[string]any{"document_id": "0193b8a0-0000-7000-8000-000000000001"}},
		{user, "chat.transcribe", "internal", map[string]any{"artifact": "input.wav"}},
		{user, "maintenance.cleanup", "admin", map[string]any{"scope": "retention"}},
		{user, "maintenance.email", "admin", map[string]any{"to": []string{"anyone@example.com"}, "subject": "hi", "text": "x"}},
		{admin, "maintenance.webhook", "internal", map[string]any{"job_id": "0193b8a0-0000-7000-8000-000000000001"}},
	} {
		code, out := s.do("POST", "/v1/jobs", tc.key, map[string]any{"kind": tc.kind, "payload": tc.payload}, nil)
		require.Equal(t, 403, code, "%s: %v", tc.kind, out)
		errCode, msg, details := errorOf(t, out)
		assert.Equal(t, "forbidden", errCode)
		assert.Contains(t, msg, tc.kind)
		assert.Equal(t, map[string]any{"field": "kind", "kind": tc.kind, "visibility": tc.visibility}, details)
	}

	// The refusal comes before the payload is looked at: no 422 to probe
	// an internal kind's schema with.
	code, out := s.do("POST", "/v1/jobs", user, map[string]any{"kind": "maintenance.webhook", "payload": map[string]any{"nope": 1}}, nil)
	assert.Equal(t, 403, code, out)

	code, out = s.do("POST", "/v1/jobs/batch", user, map[string]any{"jobs": []any{
		map[string]any{"kind": "system.noop"},
		map[string]any{"kind": "maintenance.cleanup"},
	}}, nil)
	require.Equal(t, 403, code, out)
	_, msg, details := errorOf(t, out)
	assert.Equal(t, float64(1), details["index"])
	assert.Contains(t, msg, "jobs[1]: kind: maintenance.cleanup is for admins")

	// An admin runs the sweep.
	cleanup := s.submit(admin, map[string]any{"kind": "maintenance.cleanup", "payload": map[string]any{"scope": "retention"}})
	assert.NotEmpty(t, cleanup)
	code, out = s.do("POST", "/v1/jobs/batch", admin, map[string]any{"jobs": []any{map[string]any{"kind": "maintenance.cleanup"}}}, nil)
	assert.Equal(t, 202, code, out)

	// The catalogue says who may submit what.
	visible := func(key string) map[string][2]any {
		code, out := s.do("GET", "/v1/kinds", key, nil, nil)
		require.Equal(t, 200, code, out)
		m := map[string][2]any{}
		for _, k := range out["kinds"].([]any) {
			k := k.(map[string]any)
			m[k["name"].(string)] = [2]any{k["visibility"], k["submittable"]}
		}
		return m
	}
	forUser, forAdmin := visible(user), visible(admin)
	assert.Equal(t, [2]any{"public", true}, forUser["system.noop"])
	assert.Equal(t, [2]any{"public", true}, forUser["qa.ask"])
	assert.Equal(t, [2]any{"internal", false}, forUser["maintenance.webhook"], "internal kinds are listed, marked")
	assert.Equal(t, [2]any{"admin", false}, forUser["maintenance.cleanup"])
	assert.Equal(t, [2]any{"admin", true}, forAdmin["maintenance.cleanup"])
	assert.Equal(t, [2]any{"internal", false}, forAdmin["document.ingest"])
	code, out = s.do("GET", "/v1/kinds/chat.transcribe", user, nil, nil)
	require.Equal(t, 200, code, out)
	assert.Equal(t, "internal", out["visibility"])
	assert.Equal(t, false, out["submittable"])

	// Internal kinds through their route: the upload creates its ingest.
	code, out = s.upload(user, "/v1/documents", "notes.md", []byte("# Notes\n\nThe door is red.\n"))
	require.Equal(t, 202, code, out)
	ingest := out["job"].(map[string]any)["id"].(string)
	code, out = s.do("GET", "/v1/jobs/"+ingest, user, nil, nil)
	require.Equal(t, 200, code, out)
	assert.Equal(t, "document.ingest", out["kind"])

	// … and through follow-ups: a finished job's webhook delivery and
	// notice, owned by the user, created by the dispatcher.
	code, out = s.do("POST", "/v1/users/me/webhook-secrets", user, nil, nil)
	require.Equal(t, 201, code, out)
	id := s.submit(user, map[string]any{"kind": "system.noop", "webhook_url": "https://hooks.example.com/hopper", "notify_email": userEmail})
	s.waitState(user, id, "succeeded")
	for _, kind := range []string{"maintenance.webhook", "maintenance.email"} {
		testkit.WaitFor(t, testkit.Deadline, func() bool {
			_, list := s.do("GET", "/v1/jobs?kind="+kind, user, nil, nil)
			for _, j := range list["jobs"].([]any) {
				if j.(map[string]any)["payload"].(map[string]any)["job_id"] == id {
					return true
				}
			}
			return false
		}, "the %s follow-up of %s", kind, id)
	}
}

// TestSystemKindsOutsideDev: outside HOPPER_ENV=dev the system.* kinds are
// refused to users (403 naming the setting) unless HOPPER_SYSTEM_KINDS is
// set; an admin's schedule may still use them.
func TestSystemKindsOutsideDev(t *testing.T) {
	t.Parallel()
	off := startStack(t, stackOptions{env: map[string]string{"HOPPER_ENV": "stage"}})
	_, user := off.newUser("user")
	_, admin := off.newUser("admin")
	for _, key := range []string{user, admin} {
		for _, kind := range []string{"system.noop", "system.sleep"} {
			code, out := off.do("POST", "/v1/jobs", key, map[string]any{"kind": kind, "payload": map[string]any{"ms": 1}}, nil)
			require.Equal(t, 403, code, out)
			_, msg, _ := errorOf(t, out)
			assert.Contains(t, msg, "HOPPER_SYSTEM_KINDS=true")
		}
	}
	code, out := off.do("POST", "/v1/admin/schedules", off.admin, map[string]any{
		"name": "smoke", "spec": "@hourly", "kind": "system.noop", "enabled": false}, nil)
	assert.Equal(t, 201, code, "schedules created by admins may use any kind: %v", out)

	on := startStack(t, stackOptions{env: map[string]string{"HOPPER_ENV": "prod", "HOPPER_SYSTEM_KINDS": "true"}})
	_, user = on.newUser("user")
	on.submit(user, map[string]any{"kind": "system.noop"})
}

// TestNotifyEmailOwnAddressAndRate: job-finished mail goes only to the
// user's own address (403 otherwise, alone or in a batch), and at most
// HOPPER_NOTIFY_MAILS_PER_HOUR of them an hour: the next is a 429 with
// Retry-After, a retry of a job with mail too; a batch of more than the
// rate is a 422; an idempotent replay does not spend a mail; jobs
// without mail are not limited.
func TestNotifyEmailOwnAddressAndRate(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{env: map[string]string{"HOPPER_NOTIFY_MAILS_PER_HOUR": "2"}})
	email := testkit.UniqueName("ada") + "@example.com"
	_, user := s.newUserWithEmail("user", email)
	_, other := s.newUserWithEmail("user", testkit.UniqueName("bob")+"@example.com")

	for _, to := range []string{"someone@example.com", "Ada <" + testkit.UniqueName("x") + "@example.com>"} {
		code, out := s.do("POST", "/v1/jobs", user, map[string]any{"kind": "system.noop", "notify_email": to}, nil)
		require.Equal(t, 403, code, out)
		_, msg, details := errorOf(t, out)
		assert.Equal(t, "notify_email", details["field"])
		assert.Contains(t, msg, email, "the message names the address that would do")
	}
	code, out := s.do("POST", "/v1/jobs/batch", user, map[string]any{"jobs": []any{
		map[string]any{"kind": "system.noop", "notify_email": email},
		map[string]any{"kind": "system.noop", "notify_email": "someone@example.com"},
	}}, nil)
	require.Equal(t, 403, code, out)
	_, _, details := errorOf(t, out)
	assert.Equal(t, float64(1), details["index"])

	// Their own address, as written or in another case: accepted, twice.
	first, _ := s.submitKeyed(user, "mail-1", map[string]any{"kind": "system.noop", "notify_email": email})
	replay, replayed := s.submitKeyed(user, "mail-1", map[string]any{"kind": "system.noop", "notify_email": email})
	assert.Equal(t, first, replay)
	assert.True(t, replayed, "a replay, which spends no mail")
	later := s.submit(user, map[string]any{"kind": "system.noop", "notify_email": "Ada <" + upper(email) + ">",
		"run_at": time.Now().Add(time.Hour)})
	code, out = s.do("DELETE", "/v1/jobs/"+later, user, nil, nil)
	require.Equal(t, 200, code, out)

	code, out = s.doHeader("POST", "/v1/jobs", user, map[string]any{"kind": "system.noop", "notify_email": email}, func(h http.Header) {
		secs, err := strconv.Atoi(h.Get("Retry-After"))
		require.NoError(t, err, "Retry-After")
		assert.Positive(t, secs)
		assert.LessOrEqual(t, secs, 3600)
	})
	require.Equal(t, 429, code, out)
	errCode, msg, details := errorOf(t, out)
	assert.Equal(t, "rate_limited", errCode)
	assert.Contains(t, msg, "2 of 2 job-finished mails")
	assert.Equal(t, "notify_mails_per_hour", details["limit"])

	// A retry mails again when the job ends again: it counts too.
	code, out = s.do("POST", "/v1/jobs/"+later+"/retry", user, nil, nil)
	require.Equal(t, 429, code, out)

	// Jobs without mail still go; another user has a rate of their own.
	s.submit(user, map[string]any{"kind": "system.noop"})
	code, out = s.do("POST", "/v1/jobs/batch", other, map[string]any{"jobs": []any{
		map[string]any{"kind": "system.noop", "notify_email": mustEmail(t, s, other)},
		map[string]any{"kind": "system.noop", "notify_email": mustEmail(t, s, other)},
		map[string]any{"kind": "system.noop", "notify_email": mustEmail(t, s, other)},
	}}, nil)
	require.Equal(t, 422, code, "three mails never fit a rate of two: %v", out)
	code, out = s.do("POST", "/v1/jobs/batch", other, map[string]any{"jobs": []any{
		map[string]any{"kind": "system.noop", "notify_email": mustEmail(t, s, other)},
		map[string]any{"kind": "system.noop", "notify_email": mustEmail(t, s, other)},
	}}, nil)
	require.Equal(t, 202, code, out)
}

// TestWebhookSecretsAPI: webhook_url needs a secret of one's own (422
// until then); a secret is shown once and listed without it; a rotation
// keeps the old one signing for the overlap; deleting stops it; nobody
// else can delete it; the admin token has none.
func TestWebhookSecretsAPI(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, user := s.newUser("user")
	_, other := s.newUser("user")
	hook := map[string]any{"kind": "system.noop", "webhook_url": "https://hooks.example.com/hopper"}

	code, out := s.do("POST", "/v1/jobs", user, hook, nil)
	require.Equal(t, 422, code, out)
	_, msg, details := errorOf(t, out)
	assert.Equal(t, "webhook_url", details["field"])
	assert.Contains(t, msg, "POST /v1/users/me/webhook-secrets")
	code, out = s.do("POST", "/v1/qa/ask", user, map[string]any{"question": "why?", "webhook_url": "https://hooks.example.com/q"}, nil)
	require.Equal(t, 422, code, "every route that takes a webhook_url: %v", out)

	code, first := s.do("POST", "/v1/users/me/webhook-secrets", user, nil, nil)
	require.Equal(t, 201, code, first)
	assert.Regexp(t, `^whsec_`, first["secret"])
	assert.Nil(t, first["expires_at"])
	assert.Nil(t, first["others_expire_at"], "nothing to rotate out")
	s.submit(user, hook)

	code, second := s.do("POST", "/v1/users/me/webhook-secrets", user, map[string]any{"overlap_seconds": 3600}, nil)
	require.Equal(t, 201, code, second)
	assert.NotEqual(t, first["secret"], second["secret"])
	assert.NotNil(t, second["others_expire_at"])

	code, out = s.do("GET", "/v1/users/me/webhook-secrets", user, nil, nil)
	require.Equal(t, 200, code, out)
	list := out["webhook_secrets"].([]any)
	require.Len(t, list, 2)
	assert.Equal(t, second["id"], list[0].(map[string]any)["id"], "newest first")
	assert.Equal(t, second["others_expire_at"], list[1].(map[string]any)["expires_at"], "the old one signs until the overlap ends")
	raw, err := json.Marshal(out)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), first["secret"], "a list never shows a secret")
	assert.NotContains(t, string(raw), second["secret"])

	code, out = s.do("GET", "/v1/users/me/webhook-secrets", other, nil, nil)
	require.Equal(t, 200, code, out)
	assert.Empty(t, out["webhook_secrets"], "another user sees none of them")
	code, out = s.do("DELETE", "/v1/users/me/webhook-secrets/"+second["id"].(string), other, nil, nil)
	require.Equal(t, 404, code, out)

	for _, tc := range []struct {
		body any
		want int
	}{
		{map[string]any{"overlap_seconds": -1}, 422},
		{map[string]any{"overlap_seconds": 604801}, 422},
		{map[string]any{"overlap": 5}, 400},
		{`{"overlap_seconds":`, 400},
	} {
		code, out := s.do("POST", "/v1/users/me/webhook-secrets", user, tc.body, nil)
		assert.Equal(t, tc.want, code, "%v: %v", tc.body, out)
	}
	code, out = s.do("POST", "/v1/users/me/webhook-secrets", s.admin, nil, nil)
	assert.Equal(t, 403, code, "the admin token is no user: %v", out)

	for _, id := range []any{first["id"], second["id"]} {
		code, out = s.do("DELETE", "/v1/users/me/webhook-secrets/"+id.(string), user, nil, nil)
		require.Equal(t, 204, code, out)
	}
	code, out = s.do("POST", "/v1/jobs", user, hook, nil)
	assert.Equal(t, 422, code, "no secret left: %v", out)
}

// mustEmail is the account address of the user holding key.
func mustEmail(t *testing.T, s *stack, key string) string {
	t.Helper()
	code, me := s.do("GET", "/v1/users/me", key, nil, nil)
	require.Equal(t, 200, code, me)
	return me["email"].(string)
}

func upper(s string) string { return string(bytes.ToUpper([]byte(s))) }

// submitKeyed submits body under Idempotency-Key key and returns the job
// id and whether the answer was a replay.
func (s *stack) submitKeyed(apiKey, key string, body any) (string, bool) {
	s.t.Helper()
	var replayed bool
	code, out := s.doHeader("POST", "/v1/jobs", apiKey, body, func(h http.Header) {
		replayed = h.Get("Idempotent-Replayed") == "true"
	}, "Idempotency-Key", key)
	require.Equal(s.t, 202, code, out)
	return out["id"].(string), replayed
}

// doHeader is do that also hands the answer's headers to check; extra
// are request header names and values.
func (s *stack) doHeader(method, path, key string, body any, check func(http.Header), extra ...string) (int, map[string]any) {
	s.t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(s.t, err)
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(raw))
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	out := map[string]any{}
	require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&out))
	check(resp.Header)
	return resp.StatusCode, out
}

// upload posts data as the multipart field "file" named filename.
func (s *stack) upload(key, path, filename string, data []byte) (int, map[string]any) {
	s.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part, err := w.CreateFormFile("file", filename)
	require.NoError(s.t, err)
	_, err = part.Write(data)
	require.NoError(s.t, err)
	require.NoError(s.t, w.Close())
	req, err := http.NewRequest("POST", s.base+path, &buf)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	out := map[string]any{}
	require.NoError(s.t, json.Unmarshal(b, &out), "%s", b)
	return resp.StatusCode, out
}
