package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

	// keys revoke: the key stops working.
	out, err = hopperctl(t, c.base, admin, "keys", "revoke", key["id"].(string))
	require.NoError(t, err, out)
	out, err = hopperctl(t, c.base, apiKey, "list")
	require.Error(t, err)
	assert.Contains(t, out, "HTTP 401")
}
