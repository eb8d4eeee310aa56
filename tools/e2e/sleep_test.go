package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hopperq/hopper/pkg/testkit"
)

// TestSleepFinishesAtFullProgress: a finished system.sleep shows progress
// 100 with a message saying it slept the whole time, not the last step's
// "slept 540ms of 600ms".
func TestSleepFinishesAtFullProgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, alice := stackWithGateway(t, e, nil)
	addr := freeAddr(t)
	w := start(t, "maintenance-worker", e, env{"HOPPER_METRICS_ADDR": addr})
	waitReady(t, "http://"+addr+"/readyz", w)

	id := c.submit(alice, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 600}})
	job := c.waitState(alice, id, "succeeded", testkit.Deadline)
	assert.Equal(t, float64(100), job["progress"], job)
	assert.Equal(t, "slept 600ms", job["status_message"], job)
}
