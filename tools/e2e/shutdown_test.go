package e2e

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// stackWithGateway starts a gateway for e and returns a client and an admin
// user's API key.
func stackWithGateway(t *testing.T, e env, extra env) (*client, string) {
	t.Helper()
	api := freeAddr(t)
	if extra == nil {
		extra = env{}
	}
	extra["HOPPER_HTTP_ADDR"] = api
	gw := start(t, "gateway", e, extra)
	waitReady(t, "http://"+api+"/readyz", gw)
	c := &client{t: t, base: "http://" + api, metrics: gw.metrics, http: &http.Client{Timeout: 30 * time.Second}}
	return c, newUserKey(t, c, e)
}

// newUserKey creates a user on the unlimited plan (quotas, priority bounds
// and the fairness cap stay out of tests not about them) and returns a key.
func newUserKey(t *testing.T, c *client, e env) string {
	t.Helper()
	return newUserKeyOnPlan(t, c, e, "unlimited")
}

// newUserKeyOnPlan is newUserKey on plan ("" = the default, free).
func newUserKeyOnPlan(t *testing.T, c *client, e env, plan string) string {
	t.Helper()
	code, u := c.do("POST", "/v1/admin/users", e["HOPPER_ADMIN_TOKEN"], map[string]any{"email": testkit.UniqueName("u") + "@example.com", "plan": plan})
	require.Equal(t, 201, code, u)
	code, k := c.do("POST", "/v1/admin/users/"+u["id"].(string)+"/keys", e["HOPPER_ADMIN_TOKEN"], nil)
	require.Equal(t, 201, code, k)
	return k["key"].(string)
}

func startWorker(t *testing.T, e env, extra env) *proc {
	t.Helper()
	addr := freeAddr(t)
	all := env{"HOPPER_METRICS_ADDR": addr}
	for k, v := range extra {
		all[k] = v
	}
	p := start(t, "maintenance-worker", e, all)
	waitReady(t, "http://"+addr+"/readyz", p)
	return p
}

func (c *client) waitState(key, id, state string, timeout time.Duration) map[string]any {
	c.t.Helper()
	var job map[string]any
	testkit.WaitFor(c.t, timeout, func() bool {
		_, job = c.do("GET", "/v1/jobs/"+id, key, nil)
		return job["state"] == state
	}, "job %s to reach %s (last %v)", id, state, job["state"])
	return job
}

func (c *client) submit(key string, body map[string]any) string {
	c.t.Helper()
	code, out := c.do("POST", "/v1/jobs", key, body)
	require.Equal(c.t, 202, code, out)
	return out["id"].(string)
}

// TestGracefulShutdown: on SIGTERM a worker stops consuming, lets a short
// job finish within HOPPER_SHUTDOWN_GRACE, and releases a long one — not
// charged an attempt — which another worker then runs.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "200ms"
	c, key := stackWithGateway(t, e, nil)
	a := startWorker(t, e, env{"HOPPER_SHUTDOWN_GRACE": "2s", "HOPPER_CONCURRENCY": "2"})

	short := c.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 1000}})
	long := c.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 4000}})
	c.waitState(key, short, "running", testkit.Deadline)
	c.waitState(key, long, "running", testkit.Deadline)

	stopAsked := time.Now()
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-a.done:
	case <-time.After(testkit.Deadline):
		t.Fatal("worker did not exit after SIGTERM")
	}
	t.Logf("worker exited %s after SIGTERM (grace 2s)", time.Since(stopAsked))
	assert.Equal(t, 0, a.cmd.ProcessState.ExitCode())

	job := c.waitState(key, short, "succeeded", time.Second)
	assert.Equal(t, float64(1), job["attempts"])
	job = c.waitState(key, long, "queued", time.Second)
	assert.Equal(t, float64(0), job["attempts"], "a released job is not charged an attempt")
	assert.Contains(t, types(job), "released")

	startWorker(t, e, nil)
	job = c.waitState(key, long, "succeeded", testkit.Deadline)
	assert.Equal(t, float64(1), job["attempts"])
	assert.Equal(t, []string{"created", "started", "released", "started", "succeeded"}, types(job))
}
