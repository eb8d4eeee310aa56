package dispatch

import (
	"context"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
)

// PublishedMarker records confirmed publishes in batches, and late on
// purpose. A job is only looked at by the outbox while it is still queued
// after OutboxAge, so the mark matters only for jobs that wait that long;
// most are claimed within milliseconds, and marking them at once would
// make the mark's UPDATE and the worker's claim wait on each other's row
// locks. So ids are held for Delay (well under OutboxAge) and then marked
// in one statement that skips every job a worker has claimed since: a job
// claimed and then released must stay unmarked so the outbox publishes it
// again. A mark that is late or lost only means the outbox may publish the
// job again, and the claim drops the duplicate.
type PublishedMarker struct {
	store MarkStore
	log   *zap.Logger
	delay time.Duration
	every time.Duration
	ids   chan uuid.UUID
}

type pendingMark struct {
	id uuid.UUID
	at time.Time
}

// NewPublishedMarker marks ids once they are delay old, checking every
// interval. delay must stay below the dispatcher's OutboxAge.
func NewPublishedMarker(st MarkStore, log *zap.Logger, delay, interval time.Duration) *PublishedMarker {
	return &PublishedMarker{store: st, log: log, delay: delay, every: interval, ids: make(chan uuid.UUID, 4096)}
}

// Mark queues id to be marked published.
func (m *PublishedMarker) Mark(ctx context.Context, id uuid.UUID) {
	select {
	case m.ids <- id:
	case <-ctx.Done():
	}
}

// MarkAll queues ids to be marked published. Its error is ctx's, when it
// ended first; the rest then stay unmarked, which the claims tolerate.
func (m *PublishedMarker) MarkAll(ctx context.Context, ids ...uuid.UUID) error {
	for _, id := range ids {
		m.Mark(ctx, id)
	}
	return ctx.Err()
}

// Run marks due ids until ctx ends, then marks what is left.
func (m *PublishedMarker) Run(ctx context.Context) error {
	t := time.NewTicker(m.every)
	defer t.Stop()
	var pending []pendingMark
	for {
		select {
		case id := <-m.ids:
			pending = append(pending, pendingMark{id: id, at: time.Now()})
		case <-t.C:
			pending = m.flush(ctx, pending, time.Now().Add(-m.delay))
		case <-ctx.Done():
			for {
				select {
				case id := <-m.ids:
					pending = append(pending, pendingMark{id: id})
				default:
					final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
					m.flush(final, pending, time.Now())
					cancel()
					return nil
				}
			}
		}
	}
}

// flush marks the pending ids confirmed before cutoff and returns the rest
// (ids arrive in time order, so the due ones are a prefix).
func (m *PublishedMarker) flush(ctx context.Context, pending []pendingMark, cutoff time.Time) []pendingMark {
	n := 0
	for n < len(pending) && !pending[n].at.After(cutoff) {
		n++
	}
	if n == 0 {
		return pending
	}
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = pending[i].id
	}
	if err := m.store.MarkPublishedUnclaimed(ctx, ids...); err != nil {
		m.log.Warn("mark published failed; the outbox may publish these jobs again", zap.Int("jobs", n), zap.Error(err))
	}
	return append(pending[:0], pending[n:]...)
}
