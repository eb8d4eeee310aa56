package e2e

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
	"github.com/hopperq/hopper/tools/deploycheck"
)

// TestHealthcheckCommand: `<binary> healthcheck`, the container image's
// HEALTHCHECK, exits 0 while the service serves and 1 when it does not.
func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := freeAddr(t)
	gw := start(t, "gateway", e, env{"HOPPER_HTTP_ADDR": api})
	waitReady(t, "http://"+api+"/readyz", gw)
	metrics := freeAddr(t)
	w := start(t, "maintenance-worker", e, env{"HOPPER_METRICS_ADDR": metrics})
	waitReady(t, "http://"+metrics+"/readyz", w)

	probe := func(service string, extra env) int {
		cmd := exec.Command(filepath.Join(binaries(t), service), "healthcheck")
		cmd.Env = nil
		for k, v := range e {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		for k, v := range extra {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode()
		}
		require.NoError(t, err, "%s", out)
		return 0
	}
	assert.Equal(t, 0, probe("gateway", env{"HOPPER_HTTP_ADDR": api}))
	assert.Equal(t, 0, probe("maintenance-worker", env{"HOPPER_METRICS_ADDR": metrics}))
	nobody := freeAddr(t)
	assert.Equal(t, 1, probe("gateway", env{"HOPPER_HTTP_ADDR": nobody}))
	assert.Equal(t, 1, probe("maintenance-worker", env{"HOPPER_METRICS_ADDR": nobody}))
}

// TestManifestDrain runs the real worker with the drain settings of the
// production manifests (HOPPER_SHUTDOWN_GRACE, terminationGracePeriodSeconds):
// on SIGTERM it finishes what can finish, releases the rest and exits
// before Kubernetes would SIGKILL it.
func TestManifestDrain(t *testing.T) {
	t.Parallel()
	set, errs := deploycheck.Load(filepath.Join("..", "..", "deployments", "k8s", "overlays", "prod"))
	require.Empty(t, errs)
	grace, period, err := set.WorkerDrain("maintenance-worker")
	require.NoError(t, err)
	t.Logf("manifests: HOPPER_SHUTDOWN_GRACE=%s terminationGracePeriodSeconds=%s", grace, period)

	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "200ms"
	c, key := stackWithGateway(t, e, nil)
	w := startWorker(t, e, env{"HOPPER_SHUTDOWN_GRACE": grace.String(), "HOPPER_CONCURRENCY": "2"})

	// One job ends inside the grace period, one cannot.
	short := c.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": (grace / 5).Milliseconds()}})
	long := c.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": (grace + period).Milliseconds()}})
	c.waitState(key, short, "running", testkit.Deadline)
	c.waitState(key, long, "running", testkit.Deadline)

	asked := time.Now()
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-w.done:
	case <-time.After(period + 10*time.Second):
		t.Fatalf("worker still running %s after SIGTERM", time.Since(asked))
	}
	took := time.Since(asked)
	t.Logf("worker drained in %s (grace %s, Kubernetes kills at %s)", took, grace, period)
	assert.Less(t, took, period, "the drain fits terminationGracePeriodSeconds")
	assert.Equal(t, 0, w.cmd.ProcessState.ExitCode())

	c.waitState(key, short, "succeeded", time.Second)
	job := c.waitState(key, long, "queued", time.Second)
	assert.Equal(t, float64(0), job["attempts"], "the released job is not charged an attempt")
}
