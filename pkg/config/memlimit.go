package config

import (
	"os"
	"runtime/debug"
)

// memoryLimitShare is the part of the container's limit the Go heap may
// use before the collector works hard: the rest is the runtime's own
// memory, goroutine stacks and what cgo or the kernel count against the
// container.
const memoryLimitShare = 0.9

// ApplyMemoryLimit sets the Go runtime's soft memory limit to about 90% of
// MemoryLimitMiB (the container's limit), so the collector runs harder
// before the kernel's OOM killer would end the process, and returns the
// limit set in bytes; 0 when MemoryLimitMiB is 0, or when GOMEMLIMIT is in
// the environment (an operator's explicit limit wins; the runtime has
// applied it already). Every service calls it at start, before its work.
func (c Config) ApplyMemoryLimit() int64 {
	if c.MemoryLimitMiB <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := int64(float64(c.MemoryLimitMiB) * memoryLimitShare * (1 << 20))
	debug.SetMemoryLimit(limit)
	return limit
}
