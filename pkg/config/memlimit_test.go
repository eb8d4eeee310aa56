package config_test

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/config"
)

// TestMemoryLimitFromContainerLimit: HOPPER_MEMORY_LIMIT_MIB (the
// container's limit, from the Deployment's resourceFieldRef) sets the Go
// runtime's memory limit to 90% of it; unset, the runtime's stays.
func TestMemoryLimitFromContainerLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "") // an explicit GOMEMLIMIT would win
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))

	cfg, err := config.Load(config.ChatWorker, env(map[string]string{"HOPPER_MEMORY_LIMIT_MIB": "384"}))
	require.NoError(t, err)
	assert.Equal(t, 384, cfg.MemoryLimitMiB)
	set := cfg.ApplyMemoryLimit()
	assert.InDelta(t, 0.9*384*(1<<20), float64(set), 1<<20)
	assert.Equal(t, set, debug.SetMemoryLimit(-1), "the runtime's limit")

	debug.SetMemoryLimit(math.MaxInt64)
	cfg, err = config.Load(config.ChatWorker, env(map[string]string{}))
	require.NoError(t, err)
	assert.Zero(t, cfg.ApplyMemoryLimit())
	assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "unset: no limit")

	_, err = config.Load(config.Gateway, env(map[string]string{"HOPPER_MEMORY_LIMIT_MIB": "lots"}))
	assert.ErrorContains(t, err, "HOPPER_MEMORY_LIMIT_MIB")
}
