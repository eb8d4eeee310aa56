package dispatch

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// releaser admits held jobs between the leader's passes. A capped owner's
// next job may go as soon as one of its jobs ends, but the leader hears of
// ends only through Wake, the job notifier's poll (every 50 ms, whenever
// the timeline grew). Releasing once per wake made every one of a capped
// owner's jobs wait for the next poll after its predecessor ended: each
// slot idled ~25-50 ms per job, so 50 jobs at a cap of 4 took 13 rounds of
// it (p99 0.7 s alone, 2.7 s on a loaded box), and a 2 ms flood ran at 75
// jobs/s. So a wake opens a window: while jobs keep changing (a wake
// within the last window), the leader releases every `every`, whatever
// the poll; a quiet system costs nothing. A release whose owners have no
// room is one cheap statement (a loose index scan of the held jobs).
// Releases run in the leader's one goroutine, never beside a pass:
// PromoteDue and ReleaseHeld both take owners' fairness locks, and two
// multi-owner lockers side by side could deadlock.
type releaser struct {
	d      *Dispatcher
	every  time.Duration
	window time.Duration
	// last is when the last release ran; until is when the window of the
	// last wake closes.
	last, until time.Time
}

func newReleaser(d *Dispatcher) *releaser {
	return &releaser{d: d, every: d.opts.ReleaseEvery, window: d.opts.ReleaseWindow}
}

// wait waits for the next pass (tick), releasing held jobs meanwhile as
// described above. It reports false when ctx ended.
func (r *releaser) wait(ctx context.Context, tick <-chan time.Time) bool {
	r.last = time.Now() // the pass just released
	timer := time.NewTimer(r.every)
	defer timer.Stop()
	armed := true
	if !r.open(r.last) {
		timer.Stop() // Go 1.23 timers: nothing stale is received after Stop
		armed = false
	}
	arm := func() {
		if !armed {
			timer.Reset(time.Until(r.last.Add(r.every)))
			armed = true
		}
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick:
			return true
		case <-r.d.opts.Wake:
			r.until = time.Now().Add(r.window)
			arm()
		case <-timer.C:
			armed = false
			r.last = time.Now()
			if err := r.d.release(ctx); err != nil && ctx.Err() == nil {
				r.d.log.Warn("fairness release failed", zap.Error(err))
			}
			if r.open(time.Now()) {
				arm()
			}
		}
	}
}

// open reports whether the window of the last wake is still open at now.
func (r *releaser) open(now time.Time) bool { return now.Before(r.until) }
