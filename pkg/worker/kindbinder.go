package worker

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/jobs"
)

// kindBinder binds the catalogue's kinds of the queues a service runs by
// queue (Service.QueueHandlers) to those queues as they appear: a kind
// published after the service started (an admin declaring a push kind)
// is routed to it within a tick, without a restart. Bindings are durable
// on the broker, so each is declared once per process.
type kindBinder struct {
	kinds   func() []jobs.Kind
	queues  []string
	topo    broker.Topology // the empty topology: prefix and queue type
	declare func(ctx context.Context, t broker.Topology) error
	every   time.Duration
	log     *zap.Logger
	// onBound, when set, is told after new kinds were bound (the registry
	// then lists them in the instance's row at once).
	onBound func()

	mu    sync.Mutex
	bound map[string]bool
}

// Bound returns the kinds bound so far that the catalogue still holds:
// the kinds this instance runs by queue.
func (b *kindBinder) Bound() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, k := range b.kinds() {
		if b.bound[k.Name] && slices.Contains(b.queues, k.Queue) {
			out = append(out, k.Name)
		}
	}
	return out
}

// Run binds at once, then every b.every until ctx ends.
func (b *kindBinder) Run(ctx context.Context) error {
	t := time.NewTicker(b.every)
	defer t.Stop()
	for {
		b.bind(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// bind declares the bindings of kinds not bound yet; a failure is logged
// and retried at the next tick.
func (b *kindBinder) bind(ctx context.Context) {
	topo := b.topo
	var names []string
	b.mu.Lock()
	for _, k := range b.kinds() {
		if slices.Contains(b.queues, k.Queue) && !b.bound[k.Name] {
			topo.Bind(k.Queue, k.Name)
			names = append(names, k.Name)
		}
	}
	b.mu.Unlock()
	if len(names) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := b.declare(ctx, topo); err != nil {
		b.log.Warn("kinds not bound to their queue yet; retrying", zap.Strings("kinds", names), zap.Error(err))
		return
	}
	b.mu.Lock()
	for _, n := range names {
		b.bound[n] = true
	}
	b.mu.Unlock()
	b.log.Info("kinds bound to their queue", zap.Strings("kinds", names))
	if b.onBound != nil {
		b.onBound()
	}
}
