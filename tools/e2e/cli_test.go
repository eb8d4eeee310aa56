package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/testkit"
)

// hopperctl runs the real CLI binary against the stack.
func hopperctl(t *testing.T, base, key string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), "hopperctl"), append([]string{"-url", base}, args...)...)
	cmd.Env = []string{"HOPPER_API_KEY=" + key}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestCLI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "200ms"
	c, _ := stackWithGateway(t, e, nil)
	startWorker(t, e, nil)
	admin := e["HOPPER_ADMIN_TOKEN"]

	// users create + keys create, as an admin, in JSON for scripts.
	out, err := hopperctl(t, c.base, admin, "-o", "json", "users", "create", "cli@example.com", "-plan", "premium")
	require.NoError(t, err, out)
	var user map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &user))
	assert.Equal(t, "premium", user["plan"])
	out, err = hopperctl(t, c.base, admin, "-o", "json", "keys", "create", user["id"].(string))
	require.NoError(t, err, out)
	var key map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &key))
	apiKey := key["key"].(string)

	// submit -wait follows the job to the end and shows the progress bar.
	out, err = hopperctl(t, c.base, apiKey, "submit", "system.sleep", "-payload", `{"ms":1500}`, "-priority", "high", "-wait")
	require.NoError(t, err, out)
	assert.Contains(t, out, "[##############################] 100% succeeded")
	assert.Contains(t, out, "running")

	// submit, get, list.
	out, err = hopperctl(t, c.base, apiKey, "-o", "json", "submit", "system.noop", "-idempotency-key", "cli-1")
	require.NoError(t, err, out)
	var accepted map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &accepted))
	id := accepted["id"].(string)
	c.waitState(apiKey, id, "succeeded", 30e9)
	out, err = hopperctl(t, c.base, apiKey, "get", id)
	require.NoError(t, err, out)
	assert.Contains(t, out, "succeeded")
	assert.Contains(t, out, "timeline:")
	out, err = hopperctl(t, c.base, apiKey, "list", "-state", "succeeded")
	require.NoError(t, err, out)
	assert.Equal(t, 3, len(strings.Split(strings.TrimSpace(out), "\n")), "header + 2 jobs:\n%s", out)

	// cancel a scheduled job, then retry it.
	out, err = hopperctl(t, c.base, apiKey, "submit", "system.noop", "-run-at", "2999-01-01T00:00:00Z")
	require.NoError(t, err, out)
	sched := strings.Fields(out)[0]
	out, err = hopperctl(t, c.base, apiKey, "cancel", sched)
	require.NoError(t, err, out)
	assert.Contains(t, out, "cancelled")
	out, err = hopperctl(t, c.base, apiKey, "retry", sched)
	require.NoError(t, err, out)
	assert.Contains(t, out, "queued")

	// Errors: a clear message and a non-zero exit.
	out, err = hopperctl(t, c.base, apiKey, "submit", "chat.nope")
	require.Error(t, err)
	assert.Contains(t, out, "valid kinds")
	out, err = hopperctl(t, c.base, apiKey, "cancel", id)
	require.Error(t, err)
	assert.Contains(t, out, "HTTP 409")
	out, err = hopperctl(t, c.base, apiKey, "frobnicate")
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 2, exit.ExitCode())
	assert.Contains(t, out, "unknown command")

	// queues (any user) and workers (admin) as tables.
	out, err = hopperctl(t, c.base, apiKey, "queues")
	require.NoError(t, err, out)
	assert.Contains(t, out, "maintenance")
	assert.Contains(t, out, "CONSUMERS")
	out, err = hopperctl(t, c.base, admin, "workers")
	require.NoError(t, err, out)
	assert.Contains(t, out, "maintenance-worker")
	out, err = hopperctl(t, c.base, apiKey, "workers")
	require.Error(t, err, "workers is admin-only")
	assert.Contains(t, out, "HTTP 403")

	// users keys lists the user's keys without secrets.
	userID := user["id"].(string)
	out, err = hopperctl(t, c.base, admin, "users", "keys", userID)
	require.NoError(t, err, out)
	assert.Contains(t, out, "PREFIX")
	assert.Contains(t, out, key["id"].(string))
	assert.Contains(t, out, key["prefix"].(string))
	assert.NotContains(t, out, apiKey, "no secret in the list")

	// keys revoke: the key stops working.
	out, err = hopperctl(t, c.base, admin, "keys", "revoke", key["id"].(string))
	require.NoError(t, err, out)
	out, err = hopperctl(t, c.base, apiKey, "list")
	require.Error(t, err)
	assert.Contains(t, out, "HTTP 401")
	out, err = hopperctl(t, c.base, admin, "-o", "json", "users", "keys", userID)
	require.NoError(t, err, out)
	var keys map[string][]map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &keys))
	require.Len(t, keys["keys"], 1)
	assert.NotNil(t, keys["keys"][0]["revoked_at"], "the list shows the revocation")

	// users deactivate: every key of the user stops at once.
	out, err = hopperctl(t, c.base, admin, "-o", "json", "keys", "create", userID)
	require.NoError(t, err, out)
	require.NoError(t, json.Unmarshal([]byte(out), &key))
	second := key["key"].(string)
	out, err = hopperctl(t, c.base, second, "list")
	require.NoError(t, err, out)
	out, err = hopperctl(t, c.base, admin, "users", "deactivate", userID)
	require.NoError(t, err, out)
	assert.Contains(t, out, "inactive")
	out, err = hopperctl(t, c.base, second, "submit", "system.noop")
	require.Error(t, err)
	assert.Contains(t, out, "HTTP 401")
	out, err = hopperctl(t, c.base, apiKey, "users", "deactivate", userID)
	require.Error(t, err, "a user cannot deactivate")
	assert.Contains(t, out, "HTTP 401")
}

// TestCLIKinds: hopperctl kinds lists the catalogue — the built-in kinds
// and one a worker service published — with queue, service, live workers,
// attempts and timeout, and shows one kind with its payload schema; an
// unknown name fails listing the kinds.
func TestCLIKinds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, _ := stackWithGateway(t, e, nil)
	startWorker(t, e, nil)
	key := newUserKey(t, c, e)

	// What a worker service on the SDK publishes at start.
	st, err := store.Open(t.Context(), e["HOPPER_DATABASE_URL"], store.Options{MaxOpenConns: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.PublishKinds(t.Context(), []jobs.Kind{{
		Name: "acme.resize", Queue: "acme", Service: "acme-worker", Description: "resize an image",
		DefaultPriority: jobs.PriorityHigh, MaxAttempts: 5, Timeout: 2 * time.Minute, MaxTimeout: 10 * time.Minute,
		BackoffBase: time.Second, BackoffCap: time.Minute, Version: "v1",
		Schema: []byte(`{"type":"object","properties":{"url":{"type":"string"}},"required":["url"]}`),
	}}))

	var out string
	testkit.WaitFor(t, 30*time.Second, func() bool {
		out, err = hopperctl(t, c.base, key, "kinds")
		return err == nil && strings.Contains(out, "acme.resize")
	}, "the gateway's catalogue shows the published kind (last: %v %s)", err, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Equal(t, []string{"NAME", "QUEUE", "SERVICE", "WORKERS", "ATTEMPTS", "TIMEOUT"}, strings.Fields(lines[0]))
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	assert.Equal(t, []string{"acme.resize", "acme", "acme-worker", "0", "5", "2m0s"}, rows["acme.resize"])
	noop := rows["system.noop"]
	require.Len(t, noop, 6, out)
	assert.Equal(t, "maintenance", noop[1])
	assert.NotEqual(t, "0", noop[3], "the maintenance worker runs system.noop")

	out, err = hopperctl(t, c.base, key, "kinds", "acme.resize")
	require.NoError(t, err, out)
	for _, want := range []string{"resize an image", "acme-worker", "priority:    5 (default)", "timeout:     2m0s (at most 10m0s)",
		"schema:", `"required": [`, `"url"`} {
		assert.Contains(t, out, want)
	}
	out, err = hopperctl(t, c.base, key, "-o", "json", "kinds", "acme.resize")
	require.NoError(t, err, out)
	var view map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &view))
	assert.Equal(t, "acme.resize", view["name"])
	assert.NotNil(t, view["payload_schema"])

	out, err = hopperctl(t, c.base, key, "kinds", "acme.nope")
	require.Error(t, err)
	assert.Contains(t, out, "HTTP 404")
	assert.Contains(t, out, "acme.resize", "the error lists the kinds")
}

// TestCLIPushKinds: hopperctl push-kinds creates a push kind (its secret
// shown once), lists and shows it, rotates its secret (two then sign),
// refuses a target the SSRF guard does not allow, and deletes it.
func TestCLIPushKinds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e["HOPPER_PUSH_ALLOW_HOSTS"] = "127.0.0.1"
	c, _ := stackWithGateway(t, e, nil)
	admin := e["HOPPER_ADMIN_TOKEN"]
	name := testkit.UniqueName("cli") + ".hook"

	out, err := hopperctl(t, c.base, admin, "push-kinds", "create", name, "-url", "http://127.0.0.1:9/hook",
		"-timeout", "30", "-attempts", "4", "-concurrency", "2", "-rate", "5", "-schema", `{"type":"object"}`)
	require.NoError(t, err, out)
	assert.Contains(t, out, "signing secret (shown once): pushsec_")
	assert.Equal(t, []string{"NAME", "URL", "TIMEOUT", "ATTEMPTS", "CONCURRENCY", "RATE/S", "SECRETS"}, strings.Fields(strings.Split(out, "\n")[0]))
	assert.Equal(t, []string{name, "http://127.0.0.1:9/hook", "30s", "4", "2", "5", "1"}, strings.Fields(strings.Split(out, "\n")[1]))

	out, err = hopperctl(t, c.base, admin, "push-kinds", "list")
	require.NoError(t, err, out)
	assert.Contains(t, out, name)
	out, err = hopperctl(t, c.base, admin, "-o", "json", "push-kinds", "get", name)
	require.NoError(t, err, out)
	var pk map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &pk))
	assert.Equal(t, "http://127.0.0.1:9/hook", pk["url"])
	assert.Len(t, pk["secrets"], 1)
	assert.Nil(t, pk["secret"], "the secret is shown at creation only")

	// A push kind is a catalogue kind: users see it.
	key := newUserKey(t, c, e)
	out, err = hopperctl(t, c.base, key, "kinds", name)
	require.NoError(t, err, out)
	assert.Contains(t, out, "push")

	out, err = hopperctl(t, c.base, admin, "-o", "json", "push-kinds", "rotate-secret", name, "-overlap", "60")
	require.NoError(t, err, out)
	var rot map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &rot))
	assert.True(t, strings.HasPrefix(rot["secret"].(string), "pushsec_"), out)
	out, err = hopperctl(t, c.base, admin, "push-kinds", "get", name)
	require.NoError(t, err, out)
	assert.Equal(t, "2", strings.Fields(strings.Split(out, "\n")[1])[6], "old and new secret sign during the overlap:\n%s", out)

	out, err = hopperctl(t, c.base, admin, "push-kinds", "create", testkit.UniqueName("cli")+".meta", "-url", "http://169.254.169.254/latest")
	require.Error(t, err, out)
	assert.Contains(t, out, "HTTP 422")
	out, err = hopperctl(t, c.base, key, "push-kinds", "list")
	require.Error(t, err, "admin only")
	assert.Contains(t, out, "HTTP 403")

	out, err = hopperctl(t, c.base, admin, "push-kinds", "delete", name)
	require.NoError(t, err, out)
	out, err = hopperctl(t, c.base, admin, "push-kinds", "get", name)
	require.Error(t, err, out)
	assert.Contains(t, out, "HTTP 404")
}

// TestCLIWorkflow: hopperctl workflow submits a YAML file and watches it
// step by step to the end, shows it as a table, lists it, follows a
// failure to a non-zero exit and retries the failed step, cancels a
// running one, and refuses a malformed file with a clear message.
func TestCLIWorkflow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "200ms"
	c, key := stackWithGateway(t, e, nil)
	startWorker(t, e, env{"HOPPER_CONCURRENCY": "4"})
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}

	diamond := write("diamond.yaml", `
name: cli diamond
steps:
  - {name: a, kind: system.sleep, payload: {ms: 300}}
  - name: fan
    kind: system.noop
    depends_on: [a]
    for_each: [1, 2, 3]
  - {name: c, kind: system.sleep, payload: {ms: 100}, depends_on: [a]}
  - {name: d, kind: system.noop, depends_on: [fan, c]}
`)
	out, err := hopperctl(t, c.base, key, "workflow", "submit", diamond, "-watch")
	require.NoError(t, err, out)
	id := strings.Fields(out)[0]
	for _, want := range []string{"a                    running   0/1", "fan                  succeeded 3/3",
		"d                    succeeded 1/1", "workflow " + id + " succeeded"} {
		assert.Contains(t, out, want)
	}
	out, err = hopperctl(t, c.base, key, "workflow", "get", id)
	require.NoError(t, err, out)
	assert.Contains(t, out, "cli diamond")
	assert.Regexp(t, `fan\s+system.noop\s+succeeded\s+3/3\s+3\s+a`, out)
	assert.Regexp(t, `d\s+system.noop\s+succeeded\s+1/1\s+1\s+fan,c`, out)
	assert.Contains(t, out, "timeline:")
	out, err = hopperctl(t, c.base, key, "workflow", "list", "-state", "succeeded")
	require.NoError(t, err, out)
	assert.Contains(t, out, id)

	// A failing step: watch exits non-zero; retry-step queues it again.
	failing := write("failing.json", `{"steps": [
		{"name": "boom", "kind": "system.sleep", "payload": {"ms": 1, "fail": "permanent"}},
		{"name": "after", "kind": "system.noop", "depends_on": ["boom"]}]}`)
	out, err = hopperctl(t, c.base, key, "-o", "json", "workflow", "submit", failing)
	require.NoError(t, err, out)
	var acc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &acc))
	failed := acc["id"].(string)
	out, err = hopperctl(t, c.base, key, "workflow", "watch", failed)
	require.Error(t, err)
	assert.Contains(t, out, "boom                 failed    0/1 1 failed  1 of 1 jobs failed")
	assert.Contains(t, out, "after                cancelled 0/0  workflow stopped: a step failed")
	assert.Contains(t, out, "ended failed")
	out, err = hopperctl(t, c.base, key, "workflow", "retry-step", failed, "boom")
	require.NoError(t, err, out)
	assert.Contains(t, out, "step boom queued again (1 jobs)")

	// Cancel a running workflow.
	long := write("long.yaml", "steps:\n  - {name: wait, kind: system.sleep, payload: {ms: 30000}}\n")
	out, err = hopperctl(t, c.base, key, "workflow", "submit", long)
	require.NoError(t, err, out)
	running := strings.Fields(out)[0]
	out, err = hopperctl(t, c.base, key, "workflow", "cancel", running)
	require.NoError(t, err, out)
	assert.Contains(t, out, running)
	out, err = hopperctl(t, c.base, key, "workflow", "watch", running)
	require.Error(t, err)
	assert.Contains(t, out, "ended cancelled")

	// A malformed file and a refused graph.
	out, err = hopperctl(t, c.base, key, "workflow", "submit", write("bad.yaml", "steps: [\n"))
	require.Error(t, err)
	assert.Contains(t, out, "bad.yaml")
	out, err = hopperctl(t, c.base, key, "workflow", "submit", write("cycle.yaml", `
steps:
  - {name: x, kind: system.noop, depends_on: [y]}
  - {name: y, kind: system.noop, depends_on: [x]}
`))
	require.Error(t, err)
	assert.Contains(t, out, "HTTP 422")
	assert.Contains(t, out, "cycle")
}
