package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/testkit"
)

var (
	exampleOnce sync.Once
	exampleBin  string
	exampleErr  error
)

// leaderboardBinary builds examples/leaderboard from its own module, as
// its owners would (GOWORK=off: no help from Hopper's workspace).
func leaderboardBinary(t *testing.T) string {
	t.Helper()
	exampleOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		dir := filepath.Join(filepath.Dir(file), "..", "..", "examples", "leaderboard")
		exampleBin = filepath.Join(binaries(t), "leaderboard")
		cmd := exec.Command("go", "build", "-o", exampleBin, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			exampleErr = fmt.Errorf("build examples/leaderboard: %v\n%s", err, out)
		}
	})
	require.NoError(t, exampleErr)
	return exampleBin
}

// startLeaderboard runs one instance of the example worker.
func startLeaderboard(t *testing.T, e env) (*proc, string) {
	t.Helper()
	p, addr := launchLeaderboard(t, e)
	waitReady(t, "http://"+addr+"/readyz", p)
	return p, addr
}

// launchLeaderboard starts an instance without waiting for it.
func launchLeaderboard(t *testing.T, e env) (*proc, string) {
	t.Helper()
	addr := freeAddr(t)
	return startBinary(t, "leaderboard", leaderboardBinary(t), e,
		env{"HOPPER_METRICS_ADDR": addr, "HOPPER_CONCURRENCY": "2"}), addr
}

// TestWorkerStartsFirst: in a fresh deployment a worker may start before
// the gateway has migrated the database; it waits for the catalogue
// instead of exiting, and its kind is accepted once both run.
func TestWorkerStartsFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	lb, lbAddr := launchLeaderboard(t, e)
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		return strings.Contains(lb.output(), "kinds not published yet")
	}, "the worker waiting for the schema")
	api := freeAddr(t)
	gw := start(t, "gateway", e, env{"HOPPER_HTTP_ADDR": api})
	waitReady(t, "http://"+api+"/readyz", gw)
	waitReady(t, "http://"+lbAddr+"/readyz", lb)
	c := &client{t: t, base: "http://" + api, http: &http.Client{Timeout: 30 * time.Second}}
	key := newKey(t, c, e)
	id := submitOK(t, c, key, map[string]any{"kind": "leaderboard.recalculate", "payload": map[string]any{"board": "first"}})
	waitJob(t, c, key, id, "succeeded")
}

// TestLeaderboardExample: the example worker, built from its own module,
// joins a gateway that was already running. Over HTTP only: its kind is
// accepted within seconds; a payload breaking its schema is a 422 naming
// the field; progress streams over SSE; a failing attempt retries with
// backoff; a permanent error fails at once; a cancel reaches the
// handler's ctx; a SIGKILL mid-job leaves the job to a second instance
// under its lease, with one success; GET /v1/kinds counts live workers.
func TestLeaderboardExample(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e["HOPPER_LEASE"] = "2s"
	api := freeAddr(t)
	gw := start(t, "gateway", e, env{"HOPPER_HTTP_ADDR": api, "HOPPER_DISPATCH_INTERVAL": "200ms"})
	waitReady(t, "http://"+api+"/readyz", gw)
	c := &client{t: t, base: "http://" + api, http: &http.Client{Timeout: 30 * time.Second}}
	key := newKey(t, c, e)

	const kind = "leaderboard.recalculate"
	code, out := c.do("POST", "/v1/jobs", key, map[string]any{"kind": kind, "payload": map[string]any{"board": "b"}})
	require.Equal(t, 422, code, "unknown before its worker starts: %v", out)

	first, _ := startLeaderboard(t, e)
	started := time.Now()
	var id string
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		code, out = c.do("POST", "/v1/jobs", key, map[string]any{"kind": kind, "payload": map[string]any{"board": "weekly", "top": 3}})
		if code == 202 {
			id = out["id"].(string)
		}
		return code == 202
	}, "kind accepted (last %d %v)", code, out)
	t.Logf("kind accepted %s after the worker was ready", time.Since(started).Round(time.Millisecond))
	job := waitJob(t, c, key, id, "succeeded")
	leaders := job["result"].(map[string]any)["leaders"].([]any)
	require.Len(t, leaders, 3)

	t.Run("schema", func(t *testing.T) {
		for _, tc := range []struct {
			payload map[string]any
			field   string
		}{
			{map[string]any{}, "payload.board"},
			{map[string]any{"board": ""}, "payload.board"},
			{map[string]any{"board": "x", "top": 1000}, "payload.top"},
			{map[string]any{"board": "x", "colour": "red"}, "payload.colour"},
		} {
			code, out := c.do("POST", "/v1/jobs", key, map[string]any{"kind": kind, "payload": tc.payload})
			require.Equal(t, 422, code, "%v", tc.payload)
			assert.Contains(t, out["error"].(map[string]any)["message"], tc.field)
		}
	})

	t.Run("progress over SSE", func(t *testing.T) {
		id := submitOK(t, c, key, map[string]any{"kind": kind, "payload": map[string]any{"board": "sse", "step_ms": 100}})
		msgs := progressMessages(t, c, key, id)
		require.NotEmpty(t, msgs)
		assert.Contains(t, msgs[0], "players")
		waitJob(t, c, key, id, "succeeded")
	})

	t.Run("retry with backoff", func(t *testing.T) {
		id := submitOK(t, c, key, map[string]any{"kind": kind, "payload": map[string]any{"board": "flaky", "fail_first": 2}})
		job := waitJob(t, c, key, id, "succeeded")
		assert.Equal(t, float64(3), job["attempts"])
		assert.Equal(t, 2, countEvents(job, "retrying"))
	})

	t.Run("fail now", func(t *testing.T) {
		id := submitOK(t, c, key, map[string]any{"kind": kind, "payload": map[string]any{"board": "old", "frozen": true}})
		job := waitJob(t, c, key, id, "failed")
		assert.Equal(t, float64(1), job["attempts"])
		assert.Contains(t, job["error"], "board is frozen")
	})

	t.Run("cancel reaches ctx", func(t *testing.T) {
		id := submitOK(t, c, key, map[string]any{"kind": kind, "payload": map[string]any{"board": "long", "step_ms": 2000}})
		waitJob(t, c, key, id, "running")
		code, _ := c.do("DELETE", "/v1/jobs/"+id, key, nil)
		require.Contains(t, []int{200, 202}, code)
		job := waitJob(t, c, key, id, "cancelled")
		assert.Contains(t, job["error"], "context canceled", "the handler returned ctx.Err()")
	})

	t.Run("live workers", func(t *testing.T) {
		testkit.WaitFor(t, testkit.Deadline, func() bool {
			_, out = c.do("GET", "/v1/kinds/"+kind, key, nil)
			return out["workers"] == float64(1)
		}, "one live worker (last %v)", out["workers"])
		assert.Equal(t, "leaderboard", out["service"])
		assert.Equal(t, "leaderboard", out["queue"])
		assert.Equal(t, float64(5), out["max_attempts"])
		// Its queue is one of the deployment's queues now: listed with its
		// consumer, pausable.
		code, qs := c.do("GET", "/v1/queues", key, nil)
		require.Equal(t, 200, code, qs)
		var found map[string]any
		for _, q := range qs["queues"].([]any) {
			if q := q.(map[string]any); q["name"] == "leaderboard" {
				found = q
			}
		}
		require.NotNil(t, found, "leaderboard in %v", qs)
		assert.Equal(t, float64(1), found["consumers"])
		code, _ = c.do("POST", "/v1/admin/queues/leaderboard/pause", e["HOPPER_ADMIN_TOKEN"], nil)
		assert.Equal(t, 202, code)
		code, _ = c.do("POST", "/v1/admin/queues/leaderboard/resume", e["HOPPER_ADMIN_TOKEN"], nil)
		assert.Equal(t, 202, code)
	})

	// A SIGKILL mid-job: the lease expires and a second instance runs the
	// job again; it succeeds once.
	id = submitOK(t, c, key, map[string]any{"kind": kind, "payload": map[string]any{"board": "crash", "step_ms": 300}})
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, job = c.do("GET", "/v1/jobs/"+id, key, nil)
		p, _ := job["progress"].(float64)
		return job["state"] == "running" && p >= 10
	}, "job running with progress (last %v)", job["state"])
	first.kill(t)
	startLeaderboard(t, e)
	job = waitJob(t, c, key, id, "succeeded")
	assert.Equal(t, float64(2), job["attempts"])
	assert.Equal(t, 1, countEvents(job, "succeeded"))
	assert.Equal(t, 1, countEvents(job, "lease_expired"))
	assert.Equal(t, float64(2), job["result"].(map[string]any)["attempt"])
}

func newKey(t *testing.T, c *client, e env) string {
	t.Helper()
	code, u := c.do("POST", "/v1/admin/users", e["HOPPER_ADMIN_TOKEN"], map[string]any{"email": testkit.UniqueName("sdk") + "@example.com", "plan": "unlimited"})
	require.Equal(t, 201, code, u)
	code, k := c.do("POST", "/v1/admin/users/"+u["id"].(string)+"/keys", e["HOPPER_ADMIN_TOKEN"], nil)
	require.Equal(t, 201, code, k)
	return k["key"].(string)
}

func submitOK(t *testing.T, c *client, key string, body map[string]any) string {
	t.Helper()
	code, out := c.do("POST", "/v1/jobs", key, body)
	require.Equal(t, 202, code, out)
	return out["id"].(string)
}

func waitJob(t *testing.T, c *client, key, id, state string) map[string]any {
	t.Helper()
	var job map[string]any
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, job = c.do("GET", "/v1/jobs/"+id, key, nil)
		return job["state"] == state
	}, "job %s %s (last %v: %v)", id, state, job["state"], job["error"])
	return job
}

func countEvents(job map[string]any, typ string) int {
	n := 0
	for _, e := range job["events"].([]any) {
		if e.(map[string]any)["type"] == typ {
			n++
		}
	}
	return n
}

// progressMessages follows the job's event stream until it ends and
// returns the status messages of its progress events.
func progressMessages(t *testing.T, c *client, key, id string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/jobs/"+id+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var msgs []string
	event := ""
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "progress":
			if i := strings.Index(line, `"status_message":"`); i >= 0 {
				rest := line[i+len(`"status_message":"`):]
				if msg, _, ok := strings.Cut(rest, `"`); ok && msg != "" {
					msgs = append(msgs, msg)
				}
			}
		}
	}
	return msgs
}

// publishProductKinds records service's kinds in the catalogue as the
// service does when it starts, without starting it.
func publishProductKinds(t *testing.T, e env, service string) {
	t.Helper()
	kinds, err := product.Kinds(service)
	require.NoError(t, err)
	require.NoError(t, hopper.PublishKinds(t.Context(), e["HOPPER_DATABASE_URL"], service, kinds...))
}
