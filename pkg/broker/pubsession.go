package broker

import (
	"context"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// returnKey identifies a returned message well enough to match it with its
// confirmation: the broker sends basic.return before the basic.ack of the
// same message, and both carry the same message id and routing key.
type returnKey struct {
	messageID  string
	routingKey string
}

// pendingPublish is one publish waiting for its confirmation.
type pendingPublish struct {
	res     chan error // buffered: the answer never blocks the confirm loop
	key     returnKey
	release func() // frees the caller's window slot, exactly once
}

// pubSession is the publishing state of one AMQP channel in confirm mode.
// Delivery tags restart at 1 on every channel, so everything keyed by tag
// lives and dies with the channel.
type pubSession struct {
	ch *amqp.Channel

	// publishing serialises GetNextPublishSeqNo with the publish that
	// consumes that number, so the tag we record is the tag the broker
	// confirms. A one-slot channel rather than a mutex so waiters can give
	// up when their ctx ends.
	publishing chan struct{}

	// mu guards the fields below; the confirm loop takes it only briefly,
	// never while the network is written.
	mu       sync.Mutex
	pending  map[uint64]*pendingPublish
	returned map[returnKey]int
	// closing: no new publishes (shutdown); closed: the channel is gone.
	closing, closed bool
	drained         chan struct{} // closed once closing and nothing pending
	drainedDone     bool
}

func newPubSession(ch *amqp.Channel) *pubSession {
	return &pubSession{
		ch:         ch,
		publishing: make(chan struct{}, 1),
		pending:    make(map[uint64]*pendingPublish),
		returned:   make(map[returnKey]int),
		drained:    make(chan struct{}),
	}
}

// publish sends pub with mandatory set and registers it for its
// confirmation, which arrives on the returned channel. On error nothing is
// pending and release has been called.
func (s *pubSession) publish(ctx context.Context, exchange, key string, pub amqp.Publishing, release func()) (<-chan error, error) {
	select {
	case s.publishing <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	defer func() { <-s.publishing }()

	pp := &pendingPublish{
		res:     make(chan error, 1),
		key:     returnKey{messageID: pub.MessageId, routingKey: key},
		release: release,
	}
	tag := s.ch.GetNextPublishSeqNo()
	s.mu.Lock()
	if s.closing || s.closed {
		s.mu.Unlock()
		release()
		return nil, ErrNotConnected
	}
	s.pending[tag] = pp
	s.mu.Unlock()

	if err := s.ch.PublishWithContext(ctx, exchange, key, true, false, pub); err != nil {
		s.mu.Lock()
		// If the channel died meanwhile, fail() already answered and
		// released this entry; only undo what is still ours.
		if s.pending[tag] == pp {
			delete(s.pending, tag)
			release()
			s.checkDrainedLocked()
		}
		s.mu.Unlock()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	return pp.res, nil
}

// markReturned records a basic.return; the confirmation that follows it
// turns into ErrUnroutable.
func (s *pubSession) markReturned(r amqp.Return) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.returned[returnKey{messageID: r.MessageId, routingKey: r.RoutingKey}]++
}

// confirm answers the publish with the confirmation's delivery tag.
func (s *pubSession) confirm(c amqp.Confirmation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pp, ok := s.pending[c.DeliveryTag]
	if !ok {
		return
	}
	delete(s.pending, c.DeliveryTag)
	wasReturned := s.returned[pp.key] > 0
	if wasReturned {
		if s.returned[pp.key]--; s.returned[pp.key] == 0 {
			delete(s.returned, pp.key)
		}
	}
	var err error
	switch {
	case !c.Ack:
		err = ErrNacked
	case wasReturned:
		err = ErrUnroutable
	}
	pp.res <- err
	pp.release()
	s.checkDrainedLocked()
}

// fail answers every pending publish with err and refuses new ones; the
// channel is gone, so their confirmations will never come.
func (s *pubSession) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for tag, pp := range s.pending {
		pp.res <- err
		pp.release()
		delete(s.pending, tag)
	}
	clear(s.returned)
	if !s.drainedDone {
		close(s.drained)
		s.drainedDone = true
	}
}

// beginDrain refuses new publishes and returns a channel closed once every
// in-flight publish has been answered.
func (s *pubSession) beginDrain() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	s.checkDrainedLocked()
	return s.drained
}

func (s *pubSession) checkDrainedLocked() {
	if (s.closing || s.closed) && len(s.pending) == 0 && !s.drainedDone {
		close(s.drained)
		s.drainedDone = true
	}
}
