package worker

import (
	"context"
	"time"
)

// heartbeat renews one running job's lease until its context ends, and
// flushes throttled progress on the way. A worker that dies stops renewing,
// and the dispatcher's reaper takes the job back when the lease expires.
type heartbeat struct {
	reporter *progressReporter
	every    time.Duration
}

// Run renews the lease every h.every until ctx ends. Errors are reported
// through the reporter's signal (lease lost ends the attempt); transient
// database errors are retried at the next tick.
func (h *heartbeat) Run(ctx context.Context) error {
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = h.reporter.flush(ctx, false)
		}
	}
}
