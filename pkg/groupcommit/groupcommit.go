// Package groupcommit coalesces concurrent calls into batched writes, as
// Postgres coalesces concurrent commits into one WAL flush.
//
// A caller of Do queues its input. When fewer than the allowed number of
// flushes are running, the caller becomes a flusher: it takes everything
// queued (up to MaxBatch) and writes it in one call of Flush, and goes on
// while more is queued. So an idle system writes each call at once, with
// no added delay, and a busy one writes many calls per statement: the
// batch size follows the load. There is no background goroutine to start
// or stop; a Batcher is ready when made.
package groupcommit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Result is one input's outcome of a flush.
type Result[Out any] struct {
	Value Out
	Err   error
}

// FlushFunc writes a batch and returns one Result per input, in order.
type FlushFunc[In, Out any] func(ctx context.Context, ins []In) []Result[Out]

// Options tune a Batcher.
type Options struct {
	// MaxBatch bounds the inputs of one flush (default 100).
	MaxBatch int
	// Flushers bounds the flushes running at once (default 2), besides
	// one urgent flush (DoUrgent). The next batch gathers while a flush
	// runs; more flushers overlap batches, at the cost of smaller ones.
	Flushers int
	// Timeout bounds one flush (default 15s). A flush runs on a context
	// detached from the callers' cancellation, since it writes for all of
	// them: one caller hanging up must not fail the others' writes.
	Timeout time.Duration
}

// Batcher coalesces concurrent Do calls into calls of its FlushFunc. It
// is safe for concurrent use.
type Batcher[In, Out any] struct {
	flush FlushFunc[In, Out]
	opts  Options

	mu       sync.Mutex
	pending  []*call[In, Out] // urgent calls first, then the rest, each in arrival order
	urgent   int              // urgent calls at the front of pending
	flushing int              // regular flushes running
	// urgentFlushing: an urgent flush is running beyond Flushers.
	urgentFlushing bool
}

type call[In, Out any] struct {
	in   In
	res  Result[Out]
	done chan struct{}
}

// New returns a Batcher writing with flush.
func New[In, Out any](flush FlushFunc[In, Out], opts Options) *Batcher[In, Out] {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 100
	}
	if opts.Flushers <= 0 {
		opts.Flushers = 2
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	return &Batcher[In, Out]{flush: flush, opts: opts}
}

// Do writes in with the next batch and returns its result. It waits for
// the write even when ctx ends first: the write may land, and its caller
// must learn that (a claimed job, a stored row) rather than guess.
func (b *Batcher[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	return b.do(ctx, in, false)
}

// DoUrgent is Do for a call that must not wait behind the flushes already
// running, such as a high-priority job's claim: it goes ahead of the
// queued calls and, when every flusher is busy, writes the urgent calls
// queued in a flush of its own (one such flush at a time, beyond
// Flushers).
func (b *Batcher[In, Out]) DoUrgent(ctx context.Context, in In) (Out, error) {
	return b.do(ctx, in, true)
}

func (b *Batcher[In, Out]) do(ctx context.Context, in In, urgent bool) (Out, error) {
	c := &call[In, Out]{in: in, done: make(chan struct{})}
	b.mu.Lock()
	if urgent {
		b.pending = slices.Insert(b.pending, b.urgent, c)
		b.urgent++
	} else {
		b.pending = append(b.pending, c)
	}
	lead := b.flushing < b.opts.Flushers
	leadUrgent := !lead && urgent && !b.urgentFlushing
	switch {
	case lead:
		b.flushing++
	case leadUrgent:
		b.urgentFlushing = true
	}
	b.mu.Unlock()
	switch {
	case lead:
		b.lead(context.WithoutCancel(ctx), c)
	case leadUrgent:
		b.leadUrgent(context.WithoutCancel(ctx), c)
	}
	<-c.done
	return c.res.Value, c.res.Err
}

// lead flushes batches while calls are queued. Once its own call is done
// it hands what is still queued to a new goroutine, so a caller never
// waits on other callers' writes longer than its own batch; with nothing
// queued it just returns, sparing a goroutine per flush.
func (b *Batcher[In, Out]) lead(ctx context.Context, own *call[In, Out]) {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.flushing--
			b.mu.Unlock()
			return
		}
		if own != nil && isDone(own) {
			// More is queued: hand it over rather than keep our caller.
			b.mu.Unlock()
			go b.lead(ctx, nil)
			return
		}
		batch := b.takeLocked(len(b.pending))
		b.mu.Unlock()

		b.write(ctx, batch)
	}
}

// leadUrgent writes the urgent calls queued, beside the running flushes,
// until none is left (a regular flusher may take them meanwhile); like
// lead, it hands the rest over once its own call is done.
func (b *Batcher[In, Out]) leadUrgent(ctx context.Context, own *call[In, Out]) {
	for {
		b.mu.Lock()
		if b.urgent == 0 {
			b.urgentFlushing = false
			b.mu.Unlock()
			return
		}
		if own != nil && isDone(own) {
			b.mu.Unlock()
			go b.leadUrgent(ctx, nil)
			return
		}
		batch := b.takeLocked(b.urgent)
		b.mu.Unlock()
		b.write(ctx, batch)
	}
}

// takeLocked removes up to n calls (at most MaxBatch) from the front of
// the queue; b.mu is held.
func (b *Batcher[In, Out]) takeLocked(n int) []*call[In, Out] {
	n = min(n, b.opts.MaxBatch)
	batch := make([]*call[In, Out], n)
	copy(batch, b.pending)
	b.pending = append(b.pending[:0], b.pending[n:]...)
	b.urgent -= min(n, b.urgent)
	return batch
}

// write runs one flush and hands each call its result.
func (b *Batcher[In, Out]) write(ctx context.Context, batch []*call[In, Out]) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	ins := make([]In, len(batch))
	for i, c := range batch {
		ins[i] = c.in
	}
	results := b.flush(ctx, ins)
	for i, c := range batch {
		if len(results) != len(batch) {
			c.res.Err = fmt.Errorf("group commit: flush returned %d results for %d inputs", len(results), len(batch))
		} else {
			c.res = results[i]
		}
		close(c.done)
	}
}

func isDone[In, Out any](c *call[In, Out]) bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}
