package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/push"
	"github.com/hopperq/hopper/pkg/testkit"
	"github.com/hopperq/hopper/pkg/webhook"
	gateway "github.com/hopperq/hopper/services/gateway/app"
	"github.com/hopperq/hopper/services/push-worker/app"
)

// stack is a gateway and a push worker in this process, on the real
// Postgres and RabbitMQ (a schema and an AMQP prefix of its own), with
// 127.0.0.1 — where the tests' targets listen — allow-listed.
type stack struct {
	t     *testing.T
	base  string
	admin string
	user  string
}

func startStack(t *testing.T, concurrency int) *stack {
	t.Helper()
	env := map[string]string{
		"HOPPER_DATABASE_URL":      testkit.DatabaseURL(t),
		"HOPPER_AMQP_PREFIX":       testkit.Prefix(t),
		"HOPPER_AMQP_URL":          testkit.AMQPURL(),
		"HOPPER_HTTP_ADDR":         "127.0.0.1:0",
		"HOPPER_METRICS_ADDR":      "127.0.0.1:0",
		"HOPPER_ADMIN_TOKEN":       testkit.UniqueName("admin-token-"),
		"HOPPER_SHUTDOWN_GRACE":    "2s",
		"HOPPER_DISPATCH_INTERVAL": "100ms",
		"HOPPER_CONCURRENCY":       strconv.Itoa(concurrency),
	}
	getenv := func(k string) string { return env[k] }
	allow, err := webhook.ParseAllowList("127.0.0.1")
	require.NoError(t, err)
	gcfg, err := config.Load(config.Gateway, getenv)
	require.NoError(t, err)
	settings, err := product.LoadSettings(getenv)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	addr := make(chan string, 1)
	go func() {
		done <- gateway.Run(ctx, gcfg, zaptest.NewLogger(t).Named("gateway"), gateway.Options{
			OnListen: func(a string) { addr <- a }, Settings: &settings, Push: &push.Settings{AllowHosts: allow}})
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("gateway exited: %v", err)
	}
	pcfg, err := config.Load(push.Service, getenv)
	require.NoError(t, err)
	go func() {
		done <- app.Serve(ctx, pcfg, push.Settings{AllowHosts: allow, CallbackURL: base}, zaptest.NewLogger(t).Named("push"))
	}()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(testkit.Deadline):
				t.Error("a service did not stop")
			}
		}
	})
	s := &stack{t: t, base: base, admin: env["HOPPER_ADMIN_TOKEN"]}
	code, u := s.do("POST", "/v1/admin/users", s.admin, map[string]any{"email": testkit.UniqueName("u") + "@example.com", "role": "user", "plan": "unlimited"})
	require.Equal(t, 201, code, u)
	code, k := s.do("POST", "/v1/admin/users/"+u["id"].(string)+"/keys", s.admin, nil)
	require.Equal(t, 201, code, k)
	s.user = k["key"].(string)
	return s
}

func (s *stack) do(method, path, key string, body any) (int, map[string]any) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(s.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	require.NoError(s.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	out := map[string]any{}
	if len(raw) > 0 {
		require.NoError(s.t, json.Unmarshal(raw, &out), "body: %s", raw)
	}
	return resp.StatusCode, out
}

// declare creates a push kind and returns its secret.
func (s *stack) declare(name, url string, extra map[string]any) string {
	s.t.Helper()
	body := map[string]any{"name": name, "url": url, "backoff_base_seconds": 0.05, "backoff_cap_seconds": 5,
		"payload_schema": map[string]any{"type": "object", "required": []string{"n"}, "properties": map[string]any{"n": map[string]any{"type": "integer"}}}}
	for k, v := range extra {
		body[k] = v
	}
	code, out := s.do("POST", "/v1/admin/push-kinds", s.admin, body)
	require.Equal(s.t, 201, code, out)
	return out["secret"].(string)
}

func (s *stack) submit(kind string, n int) string {
	s.t.Helper()
	code, out := s.do("POST", "/v1/jobs", s.user, map[string]any{"kind": kind, "payload": map[string]any{"n": n}})
	require.Equal(s.t, 202, code, out)
	return out["id"].(string)
}

// wait returns the job once it is in state.
func (s *stack) wait(id, state string) map[string]any {
	s.t.Helper()
	var job map[string]any
	testkit.WaitFor(s.t, 20*time.Second, func() bool {
		_, job = s.do("GET", "/v1/jobs/"+id, s.user, nil)
		return job["state"] == state
	}, "job %s %s (is %v: %v)", id, state, job["state"], job["error"])
	return job
}

// delivery is one request a target received.
type delivery struct {
	header http.Header
	body   []byte
	at     time.Time
}

// target is a push endpoint: it records every delivery and answers with
// respond (n counts the deliveries of the job, from 1).
type target struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]delivery // by job id
}

func newTarget(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, n int)) *target {
	tg := &target{got: map[string][]delivery{}}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get(push.HeaderJobID)
		tg.mu.Lock()
		tg.got[id] = append(tg.got[id], delivery{header: r.Header.Clone(), body: body, at: time.Now()})
		n := len(tg.got[id])
		tg.mu.Unlock()
		respond(w, r, n)
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) deliveries(id string) []delivery {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]delivery(nil), tg.got[id]...)
}

// TestPushDeliveryMapsAnswers declares one push kind per behaviour of its
// target and checks what each answer makes of the job, and that every
// delivery verifies with the kind's secret.
func TestPushDeliveryMapsAnswers(t *testing.T) {
	t.Parallel()
	s := startStack(t, 8)
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch strings.TrimPrefix(r.URL.Path, "/") {
		case "ok":
			var p map[string]any
			_ = json.NewDecoder(bytes.NewReader(nil)).Decode(&p)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"echo":"` + r.Header.Get(push.HeaderKind) + `","attempt":` + r.Header.Get(push.HeaderAttempt) + `}`))
		case "bad":
			http.Error(w, "no such thing", http.StatusNotFound)
		case "busy":
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "slow down", http.StatusTooManyRequests)
				return
			}
			_, _ = w.Write([]byte(`"done"`))
		case "flaky":
			if n == 1 {
				http.Error(w, "oops", http.StatusBadGateway)
				return
			}
			_, _ = w.Write([]byte(`{"ok":true}`))
		case "slow":
			if n == 1 {
				<-r.Context().Done() // past the kind's timeout: the worker gives up
				return
			}
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	})
	prefix := testkit.UniqueName("t")
	secrets := map[string]string{}
	for _, name := range []string{"ok", "bad", "busy", "flaky", "slow"} {
		extra := map[string]any{}
		if name == "slow" {
			extra["timeout_seconds"] = 1
		}
		secrets[name] = s.declare(prefix+"."+name, tg.srv.URL+"/"+name, extra)
	}

	// The kind is in the catalogue: listed, and its schema enforced.
	code, k := s.do("GET", "/v1/kinds/"+prefix+".ok", s.user, nil)
	require.Equal(t, 200, code, k)
	assert.Equal(t, "push", k["queue"])
	// The push worker, started before the kind was declared, runs it: its
	// registry row lists the kind once bound, so the catalogue counts it.
	testkit.WaitFor(t, 10*time.Second, func() bool {
		_, k = s.do("GET", "/v1/kinds/"+prefix+".ok", s.user, nil)
		return k["workers"] == float64(1)
	}, "the push worker counted as the kind's worker (last: %v)", k["workers"])
	code, bad := s.do("POST", "/v1/jobs", s.user, map[string]any{"kind": prefix + ".ok", "payload": map[string]any{"n": "x"}})
	assert.Equal(t, 422, code, bad)

	ids := map[string]string{}
	for _, name := range []string{"ok", "bad", "busy", "flaky", "slow"} {
		ids[name] = s.submit(prefix+"."+name, 7)
	}

	job := s.wait(ids["ok"], "succeeded")
	assert.Equal(t, map[string]any{"echo": prefix + ".ok", "attempt": float64(1)}, job["result"])
	d := tg.deliveries(ids["ok"])
	require.Len(t, d, 1)
	assert.JSONEq(t, `{"n":7}`, string(d[0].body), "the body is the payload")
	require.NoError(t, webhook.Verify([]byte(secrets["ok"]), d[0].header.Get(webhook.SignatureHeader), d[0].body, time.Now(), time.Minute))
	assert.ErrorIs(t, webhook.Verify([]byte(secrets["bad"]), d[0].header.Get(webhook.SignatureHeader), d[0].body, time.Now(), time.Minute),
		webhook.ErrSignatureMismatch, "another kind's secret does not verify it")
	assert.Equal(t, "1", d[0].header.Get(push.HeaderAttempt))
	assert.NotEmpty(t, d[0].header.Get(webhook.DeliveryHeader))
	assert.NotEmpty(t, d[0].header.Get(push.HeaderCallbackToken))

	job = s.wait(ids["bad"], "failed")
	assert.EqualValues(t, 1, job["attempts"], "a 4xx is not retried")
	assert.Contains(t, job["error"], "404")

	job = s.wait(ids["busy"], "succeeded")
	assert.EqualValues(t, 2, job["attempts"])
	d = tg.deliveries(ids["busy"])
	require.Len(t, d, 2)
	assert.GreaterOrEqual(t, d[1].at.Sub(d[0].at), 900*time.Millisecond, "Retry-After: 1 is honoured")

	job = s.wait(ids["flaky"], "succeeded")
	assert.EqualValues(t, 2, job["attempts"], "a 5xx is retried")
	d = tg.deliveries(ids["flaky"])
	require.Len(t, d, 2)
	assert.Equal(t, d[0].header.Get(webhook.DeliveryHeader), d[1].header.Get(webhook.DeliveryHeader), "one delivery id across retries")
	assert.NotEqual(t, d[0].header.Get(push.HeaderCallbackToken), d[1].header.Get(push.HeaderCallbackToken), "a token per attempt")

	job = s.wait(ids["slow"], "succeeded")
	assert.EqualValues(t, 2, job["attempts"], "a timeout is retried")

	// A rotation: deliveries carry the old and the new signature.
	code, rot := s.do("POST", "/v1/admin/push-kinds/"+prefix+".ok/rotate-secret", s.admin, map[string]any{"overlap_seconds": 60})
	require.Equal(t, 201, code, rot)
	id := ""
	testkit.WaitFor(t, 10*time.Second, func() bool {
		id = s.submit(prefix+".ok", 8)
		s.wait(id, "succeeded")
		d := tg.deliveries(id)
		// The worker caches secrets for a second: look until the new one signs.
		return webhook.Verify([]byte(rot["secret"].(string)), d[0].header.Get(webhook.SignatureHeader), d[0].body, time.Now(), time.Minute) == nil
	}, "a delivery signed with the rotated secret")
	d = tg.deliveries(id)
	require.NoError(t, webhook.Verify([]byte(secrets["ok"]), d[0].header.Get(webhook.SignatureHeader), d[0].body, time.Now(), time.Minute),
		"the old secret verifies during the overlap")

	// Targets on internal addresses not allow-listed are refused.
	for _, url := range []string{"http://127.0.0.2:9/x", "http://localhost:9/x", "http://169.254.169.254/latest"} {
		code, out := s.do("POST", "/v1/admin/push-kinds", s.admin, map[string]any{"name": testkit.UniqueName("ssrf"), "url": url})
		assert.Equal(t, 422, code, "%s: %v", url, out)
	}
	code, out := s.do("GET", "/v1/admin/push-kinds", s.user, nil)
	assert.Equal(t, 403, code, out)
}

// TestPushAcceptedThenCallback: a target answers 202, then reports
// progress and the result through the job-scoped callback; a token of
// another job or attempt is refused.
func TestPushAcceptedThenCallback(t *testing.T) {
	t.Parallel()
	s := startStack(t, 4)
	type accepted struct{ url, token string }
	got := make(chan accepted, 4)
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		got <- accepted{r.Header.Get(push.HeaderCallbackURL), r.Header.Get(push.HeaderCallbackToken)}
		w.WriteHeader(http.StatusAccepted)
	})
	kind := testkit.UniqueName("long") + ".run"
	s.declare(kind, tg.srv.URL+"/run", map[string]any{"timeout_seconds": 600})
	a, b := s.submit(kind, 1), s.submit(kind, 2)
	byJob := map[string]accepted{}
	for range 2 {
		select {
		case acc := <-got:
			for _, id := range []string{a, b} {
				if strings.Contains(acc.url, id) {
					byJob[id] = acc
				}
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no delivery")
		}
	}
	require.Len(t, byJob, 2)
	call := func(url, token, action string, body any) (int, map[string]any) {
		raw, _ := json.Marshal(body)
		req, err := http.NewRequest("POST", url+"/"+action, bytes.NewReader(raw))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	ca, cb := byJob[a], byJob[b]
	assert.Equal(t, s.base+"/v1/push/callback/"+a+"/1", ca.url)
	s.wait(a, "running") // left running, its slot free

	code, out := call(ca.url, ca.token, "progress", map[string]any{"progress": 40, "message": "halfway"})
	require.Equal(t, 200, code, out)
	_, job := s.do("GET", "/v1/jobs/"+a, s.user, nil)
	assert.EqualValues(t, 40, job["progress"])
	assert.Equal(t, "halfway", job["status_message"])

	// Output: chunks, or text split into chunks, appended in order under
	// the attempt's claim.
	code, out = call(ca.url, ca.token, "output", map[string]any{"chunks": []string{"Hel", "lo"}})
	require.Equal(t, 200, code, out)
	assert.EqualValues(t, 1, out["first_seq"])
	assert.EqualValues(t, 2, out["last_seq"])
	code, out = call(ca.url, ca.token, "output", map[string]any{"text": ", world"})
	require.Equal(t, 200, code, out)
	assert.EqualValues(t, 3, out["last_seq"])
	code, out = call(ca.url, ca.token, "output", map[string]any{"chunks": []string{}})
	assert.Equal(t, 400, code, out)
	code, out = call(ca.url, cb.token, "output", map[string]any{"text": "stolen"})
	assert.Equal(t, 403, code, "another job's token: %v", out)

	code, out = call(ca.url, cb.token, "succeed", map[string]any{"result": "stolen"})
	assert.Equal(t, 403, code, "another job's token: %v", out)
	code, out = call(strings.TrimSuffix(ca.url, "/1")+"/2", ca.token, "succeed", map[string]any{"result": "stolen"})
	assert.Equal(t, 403, code, "another attempt: %v", out)
	code, out = call(ca.url, "", "succeed", map[string]any{})
	assert.Equal(t, 401, code, out)

	code, out = call(ca.url, ca.token, "succeed", map[string]any{"result": map[string]any{"text": "done"}})
	require.Equal(t, 200, code, out)
	assert.Equal(t, "succeeded", out["state"])
	job = s.wait(a, "succeeded")
	assert.Equal(t, map[string]any{"text": "done"}, job["result"])
	code, out = call(ca.url, ca.token, "fail", map[string]any{"error": "late"})
	assert.Equal(t, 409, code, "a finished attempt: %v", out)
	code, out = call(ca.url, ca.token, "output", map[string]any{"text": "late"})
	assert.Equal(t, 409, code, "no output after the end: %v", out)
	code, text := s.do("GET", "/v1/jobs/"+a+"/output?format=text", s.user, nil)
	require.Equal(t, 200, code, text)
	assert.Equal(t, "Hello, world", text["text"], "the callback's output, readable after the end")
	assert.EqualValues(t, 3, text["last_seq"])

	code, out = call(cb.url, cb.token, "fail", map[string]any{"error": "model crashed"})
	require.Equal(t, 200, code, out)
	job = s.wait(b, "failed")
	assert.Equal(t, "model crashed", job["error"])
}

// TestPushConcurrencyCap: with a cap of 2, no more than 2 jobs of the kind
// run at the target at once, though the worker has 8 slots.
func TestPushConcurrencyCap(t *testing.T) {
	t.Parallel()
	s := startStack(t, 8)
	var inFlight, most atomic.Int32
	release := make(chan struct{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = w.Write([]byte(`{}`))
	})
	kind := testkit.UniqueName("capped") + ".run"
	s.declare(kind, tg.srv.URL+"/run", map[string]any{"concurrency": 2, "timeout_seconds": 30})
	var ids []string
	for i := range 5 {
		ids = append(ids, s.submit(kind, i))
	}
	// Two run; the others are turned back (snoozed) while they do.
	testkit.WaitFor(t, 20*time.Second, func() bool {
		if inFlight.Load() != 2 {
			return false
		}
		for _, id := range ids {
			_, job := s.do("GET", "/v1/jobs/"+id, s.user, nil)
			for _, e := range job["events"].([]any) {
				if e.(map[string]any)["type"] == "snoozed" {
					return true
				}
			}
		}
		return false
	}, "two jobs at the target and another snoozed")
	close(release)
	for _, id := range ids {
		job := s.wait(id, "succeeded")
		assert.EqualValues(t, 1, job["attempts"], "a snooze uses no attempt")
	}
	assert.EqualValues(t, 2, most.Load())
}

// TestPushRateLimit: a kind's rate holds across deliveries: 15 jobs at
// 5/s reach the target paced (≥ ~2.8 s from first to last, no more than
// 5 in any second, give or take one for timing), though the worker has 8
// slots and would otherwise deliver them at once.
func TestPushRateLimit(t *testing.T) {
	t.Parallel()
	s := startStack(t, 8)
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int) { _, _ = w.Write([]byte(`{}`)) })
	kind := testkit.UniqueName("paced") + ".run"
	s.declare(kind, tg.srv.URL+"/run", map[string]any{"rate_per_second": 5})
	var ids []string
	for i := range 15 {
		ids = append(ids, s.submit(kind, i))
	}
	var at []time.Time
	for _, id := range ids {
		s.wait(id, "succeeded")
		d := tg.deliveries(id)
		require.Len(t, d, 1, "one delivery per job")
		at = append(at, d[0].at)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	span := at[len(at)-1].Sub(at[0])
	t.Logf("15 deliveries at 5/s took %s", span)
	// Evenly paced at 5/s (+1% guard), 14 intervals are 2.83 s.
	assert.GreaterOrEqual(t, span, 2500*time.Millisecond, "the rate holds across deliveries")
	for i := range at {
		n := 0
		for _, b := range at[i:] {
			if b.Sub(at[i]) < time.Second {
				n++
			}
		}
		assert.LessOrEqual(t, n, 6, "deliveries within a second from %s", at[i].Format(time.StampMilli))
	}
}
