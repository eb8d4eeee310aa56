package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
)

// errPaused is the cause a paused queue's forwarder is stopped with; it
// then hands the delivery it holds back to the queue.
var errPaused = errors.New("broker: queue paused")

// pausedSourceTimeout bounds ConsumerOptions.PausedQueues at the start of a
// session, so a slow database delays consuming only a little.
const pausedSourceTimeout = 5 * time.Second

// pauseState is the set of paused queues and the live session whose
// consumers Pause and Resume cancel and restart. mu serialises them with
// the session's start and end.
type pauseState struct {
	// source, when set, is the authority on which queues are paused; it is
	// read at the start of every session (ConsumerOptions.PausedQueues).
	source func(ctx context.Context) ([]string, error)

	mu     sync.Mutex
	paused map[string]bool
	sess   *consumerSession
}

// consumerSession is one connection's channel and the per-queue consumers
// active on it.
type consumerSession struct {
	ch  *amqp.Channel
	ctx context.Context
	wg  *sync.WaitGroup
	// ended learns of a queue whose consumer stopped for a reason other
	// than a pause (the broker cancelled it, the connection went away).
	ended  chan<- string
	active map[string]*queueConsumer
}

// queueConsumer is one queue's consumer on the session's channel.
type queueConsumer struct {
	tag  string
	stop context.CancelCauseFunc
}

// Pause stops consuming queue (a short name): the queue's consumer is
// cancelled (basic.cancel) while the connection, the other queues and the
// deliveries already handed out stay as they are; deliveries the client
// still buffers go back to the queue. The pause is remembered across
// reconnects until Resume. Pausing a queue this consumer does not consume,
// or one already paused, only records it. It is safe to call from any
// goroutine; an error means the broker did not confirm the cancel, and the
// session is then lost anyway (the next one honours the pause).
func (c *Consumer) Pause(queue string) error {
	c.pause.mu.Lock()
	defer c.pause.mu.Unlock()
	c.setPausedLocked(queue, true)
	return c.stopQueueLocked(queue)
}

// Resume consumes queue again after Pause. It is safe to call from any
// goroutine; an error means the consumer could not be started, which
// also ends the session (the next one consumes the queue).
func (c *Consumer) Resume(queue string) error {
	c.pause.mu.Lock()
	defer c.pause.mu.Unlock()
	c.setPausedLocked(queue, false)
	return c.startQueueLocked(queue)
}

// SetPaused makes queues exactly the paused set, pausing and resuming
// consumed queues as needed (reconciling with a source of truth).
func (c *Consumer) SetPaused(queues []string) error {
	c.pause.mu.Lock()
	defer c.pause.mu.Unlock()
	c.pause.paused = map[string]bool{}
	for _, q := range queues {
		c.pause.paused[q] = true
	}
	var errs []error
	for _, q := range c.queues {
		if c.pause.paused[q] {
			errs = append(errs, c.stopQueueLocked(q))
		} else {
			errs = append(errs, c.startQueueLocked(q))
		}
	}
	return errors.Join(errs...)
}

// Paused lists the consumed queues that are paused, sorted.
func (c *Consumer) Paused() []string {
	c.pause.mu.Lock()
	defer c.pause.mu.Unlock()
	out := []string{}
	for _, q := range c.queues {
		if c.pause.paused[q] {
			out = append(out, q)
		}
	}
	slices.Sort(out)
	return out
}

// IsPaused reports whether queue (a short name) is paused.
func (c *Consumer) IsPaused(queue string) bool {
	c.pause.mu.Lock()
	defer c.pause.mu.Unlock()
	return c.pause.paused[queue]
}

func (c *Consumer) setPausedLocked(queue string, paused bool) {
	if c.pause.paused == nil {
		c.pause.paused = map[string]bool{}
	}
	if paused {
		c.pause.paused[queue] = true
	} else {
		delete(c.pause.paused, queue)
	}
}

// attach makes ch the live session and consumes every queue not paused.
// The paused set is first refreshed from the source, so a pause decided
// while this instance was away is honoured before a single delivery.
func (c *Consumer) attach(ctx context.Context, ch *amqp.Channel, wg *sync.WaitGroup, ended chan<- string) error {
	c.refreshPaused(ctx)
	c.pause.mu.Lock()
	defer c.pause.mu.Unlock()
	s := &consumerSession{ch: ch, ctx: ctx, wg: wg, ended: ended, active: map[string]*queueConsumer{}}
	c.pause.sess = s
	for _, q := range c.queues {
		if c.pause.paused[q] {
			c.log.Info("queue paused; not consuming it", zap.String("queue", q))
			continue
		}
		if err := c.consumeLocked(s, q); err != nil {
			return err
		}
	}
	return nil
}

// detach forgets the session; Pause and Resume then only record.
func (c *Consumer) detach() {
	c.pause.mu.Lock()
	c.pause.sess = nil
	c.pause.mu.Unlock()
}

// refreshPaused replaces the paused set with the source's answer. When the
// source fails, the last known set stays.
func (c *Consumer) refreshPaused(ctx context.Context) {
	if c.pause.source == nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, pausedSourceTimeout)
	defer cancel()
	paused, err := c.pause.source(rctx)
	if err != nil {
		c.log.Warn("could not read paused queues; keeping the last known ones", zap.Error(err))
		return
	}
	c.pause.mu.Lock()
	defer c.pause.mu.Unlock()
	c.pause.paused = map[string]bool{}
	for _, q := range paused {
		c.pause.paused[q] = true
	}
}

func (c *Consumer) consumes(queue string) bool { return slices.Contains(c.queues, queue) }

// queueTag names queue's consumer; one consumer per queue makes it unique
// on its channel.
func (c *Consumer) queueTag(queue string) string {
	if t := c.consumerTag(queue); t != "" {
		return t
	}
	return "hopper." + queue
}

// startQueueLocked consumes queue on the live session unless it is paused,
// not ours, or already consumed.
func (c *Consumer) startQueueLocked(queue string) error {
	s := c.pause.sess
	if s == nil || !c.consumes(queue) || c.pause.paused[queue] || s.active[queue] != nil {
		return nil
	}
	if err := c.consumeLocked(s, queue); err != nil {
		return err
	}
	c.log.Info("queue resumed; consuming it again", zap.String("queue", queue))
	return nil
}

// stopQueueLocked cancels queue's consumer on the live session, if any.
func (c *Consumer) stopQueueLocked(queue string) error {
	s := c.pause.sess
	if s == nil {
		return nil
	}
	qc := s.active[queue]
	if qc == nil {
		return nil
	}
	delete(s.active, queue)
	// Stop forwarding first, so no delivery reaches a worker slot once
	// Pause returns; what arrives until the broker confirms the cancel is
	// handed back to the queue.
	qc.stop(errPaused)
	if err := s.ch.Cancel(qc.tag, false); err != nil {
		return fmt.Errorf("broker: cancel consumer of %s: %w", c.topo.QueueName(queue), err)
	}
	c.log.Info("queue paused; consumer cancelled", zap.String("queue", queue))
	return nil
}

// consumeLocked starts queue's consumer and its forwarder on session s.
func (c *Consumer) consumeLocked(s *consumerSession, queue string) error {
	name := c.topo.QueueName(queue)
	tag := c.queueTag(queue)
	deliveries, err := s.ch.Consume(name, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("broker: consume %s: %w", name, err)
	}
	qctx, stop := context.WithCancelCause(s.ctx)
	s.active[queue] = &queueConsumer{tag: tag, stop: stop}
	f := &forwarder{queue: queue, in: deliveries, out: c.out}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer stop(nil)
		_ = f.Run(qctx)
		if errors.Is(context.Cause(qctx), errPaused) {
			// The channel stays open, so nothing else would return what
			// the library still buffers; deliveries closes once the
			// broker confirmed the cancel (or the channel is gone).
			for d := range deliveries {
				_ = d.Nack(false, true)
			}
			return
		}
		select {
		case s.ended <- queue:
		default: // the session is ending already
		}
	}()
	return nil
}
