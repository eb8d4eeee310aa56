package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/clock"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// Jobs a service enqueued in its own transaction (jobstore.EnqueueTx,
// hopper.EnqueueTx) have no publisher waiting on them: their transaction
// NOTIFYs their ids at commit, and the leader publishes them at once
// instead of after OutboxAge. Every replica listens, so a new leader is
// already listening when it takes over; only the leader publishes what
// it hears, so one publish per job is the rule and the outbox's, after a
// lost notification, the exception.

// Reconnect delays of the listener: a database restart costs a moment,
// a long outage no connection storm. Meanwhile the outbox publishes.
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 5 * time.Second
)

// listenEnqueued receives enqueued-job notifications until ctx ends,
// reconnecting on failure, and passes the leader's to out. It closes
// started after its first attempt to listen, whatever its outcome.
func (d *Dispatcher) listenEnqueued(ctx context.Context, started chan<- struct{}, out chan<- []uuid.UUID) {
	first := sync.OnceFunc(func() { close(started) })
	defer first()
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		l, err := d.opts.Store.ListenEnqueued(ctx)
		first()
		if err == nil {
			backoff = 0
			err = d.receiveEnqueued(ctx, l, out)
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = l.Close(closeCtx)
			cancel()
		}
		if ctx.Err() != nil {
			return
		}
		backoff = min(max(2*backoff, listenMinBackoff), listenMaxBackoff)
		d.log.Warn("enqueued-job notifications interrupted; the outbox publishes those jobs meanwhile",
			zap.Duration("retry_in", backoff), zap.Error(err))
		_ = clock.Sleep(ctx, backoff)
	}
}

// receiveEnqueued passes each notification's ids to out while this
// replica leads, until the connection fails or ctx ends.
func (d *Dispatcher) receiveEnqueued(ctx context.Context, l *jobstore.EnqueuedListener, out chan<- []uuid.UUID) error {
	for {
		ids, err := l.Next(ctx)
		if err != nil {
			return err
		}
		if len(ids) == 0 || !d.leading.Load() {
			continue
		}
		select {
		case out <- ids:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// publishEnqueued publishes the jobs the notifications name, gathering
// what arrived meanwhile into one read and one round of publishes, until
// ctx ends. Confirmed jobs are marked late and only if still unclaimed
// (PublishedMarker): most are claimed at once, and marking those would
// only contend with the claims for their rows.
func (d *Dispatcher) publishEnqueued(ctx context.Context, in <-chan []uuid.UUID) {
	for {
		var ids []uuid.UUID
		select {
		case <-ctx.Done():
			return
		case ids = <-in:
		}
	gather:
		for len(ids) < d.opts.Batch {
			select {
			case more := <-in:
				ids = append(ids, more...)
			default:
				break gather
			}
		}
		list, err := d.opts.Store.UnpublishedOf(ctx, ids)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("enqueued jobs not read; the outbox publishes them", zap.Int("jobs", len(ids)), zap.Error(err))
			}
			continue
		}
		if len(list) == 0 || !d.opts.Publisher.Ready() {
			continue // the outbox publishes them once the broker is back
		}
		d.enqueuedPublisher.Publish(ctx, list)()
	}
}
