package dispatch

import (
	"context"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/store"
)

// PublishedMarker records confirmed publishes in batches: one UPDATE per
// flush instead of one per job, as River's batch completer does for
// completions. A mark that is late or lost only means the outbox may
// publish that job again, and the claim drops the duplicate.
type PublishedMarker struct {
	store *store.Store
	log   *zap.Logger
	every time.Duration
	max   int
	ids   chan uuid.UUID
}

// NewPublishedMarker flushes every interval or when max ids wait.
func NewPublishedMarker(st *store.Store, log *zap.Logger, interval time.Duration, max int) *PublishedMarker {
	return &PublishedMarker{store: st, log: log, every: interval, max: max, ids: make(chan uuid.UUID, 4*max)}
}

// Mark queues id to be marked published. It never blocks the caller for
// long: when the buffer is full it waits for the next flush to drain it.
func (m *PublishedMarker) Mark(ctx context.Context, id uuid.UUID) {
	select {
	case m.ids <- id:
	case <-ctx.Done():
	}
}

// Run flushes until ctx ends, then flushes what is left.
func (m *PublishedMarker) Run(ctx context.Context) error {
	t := time.NewTicker(m.every)
	defer t.Stop()
	batch := make([]uuid.UUID, 0, m.max)
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		if err := m.store.MarkPublished(ctx, batch...); err != nil {
			m.log.Warn("mark published failed; the outbox may publish these jobs again", zap.Int("jobs", len(batch)), zap.Error(err))
		}
		batch = batch[:0]
	}
	for {
		select {
		case id := <-m.ids:
			batch = append(batch, id)
			if len(batch) >= m.max {
				flush(ctx)
			}
		case <-t.C:
			flush(ctx)
		case <-ctx.Done():
			for {
				select {
				case id := <-m.ids:
					batch = append(batch, id)
				default:
					final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
					flush(final)
					cancel()
					return nil
				}
			}
		}
	}
}
