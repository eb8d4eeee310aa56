package broker

import (
	"context"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/clock"
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

// reconnectLoop runs session until ctx ends, waiting a capped exponential
// backoff between sessions; a session that got established resets the
// backoff. It is the shared body of every connection-owning Run loop.
func reconnectLoop(ctx context.Context, log *zap.Logger, what string, session func(context.Context) (bool, error)) error {
	bo := newBackoff()
	for {
		established, err := session(ctx)
		if ctx.Err() != nil {
			log.Info(what + " stopped")
			return nil
		}
		if established {
			bo.reset()
		}
		d := bo.delay()
		log.Warn(what+" disconnected; reconnecting", zap.Error(err), zap.Duration("retry_in", d))
		if clock.Sleep(ctx, d) != nil {
			log.Info(what + " stopped")
			return nil
		}
	}
}
