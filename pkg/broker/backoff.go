package broker

import (
	"context"
	"math/rand/v2"
	"time"
)

// Reconnect delays: quick enough that a broker restart costs a moment, capped
// so a long outage does not turn into a connection storm.
const (
	minReconnectDelay = 100 * time.Millisecond
	maxReconnectDelay = 5 * time.Second
)

// backoff yields capped exponential delays with jitter, so a fleet of
// services that lost the broker together does not reconnect in lockstep.
type backoff struct {
	min, max time.Duration
	next     time.Duration
}

func newBackoff() *backoff {
	return &backoff{min: minReconnectDelay, max: maxReconnectDelay}
}

// delay returns the next wait and doubles the one after it.
func (b *backoff) delay() time.Duration {
	if b.next < b.min {
		b.next = b.min
	}
	d := b.next
	b.next = min(2*b.next, b.max)
	// Up to 20% jitter on top of the base delay.
	return d + rand.N(d/5+1)
}

// reset starts over after a connection that worked.
func (b *backoff) reset() { b.next = 0 }

// sleep waits d or until ctx ends; it reports whether the full wait elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
