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

// start runs the heartbeat from one interval on, in a goroutine of its
// own, and returns the function that stops it and waits for it. A job
// done before its first beat, as most are, never starts that goroutine:
// no scheduling hop is added to a short job's path.
func (h *heartbeat) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	t := time.AfterFunc(h.every, func() {
		defer close(done)
		_ = h.reporter.flush(ctx, false)
		_ = h.Run(ctx)
	})
	return func() {
		cancel()
		if t.Stop() {
			return // never started
		}
		<-done
	}
}
