package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/testkit"
)

// These tests reach inside to simulate losing the connection: closing the
// live *amqp.Connection under a running Publisher or Consumer.

func internalLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
}

func run(t *testing.T, name string, fn func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, name)
		case <-time.After(5 * time.Second):
			t.Errorf("%s.Run did not return after cancel", name)
		}
	})
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Deadline)
	t.Cleanup(cancel)
	return ctx
}

func newRunningPublisher(t *testing.T, topo Topology, window int) *Publisher {
	p := NewPublisher(testkit.AMQPURL(), topo, PublisherOptions{AppID: "reconnect-test", Window: window, Logger: internalLogger(t)})
	run(t, "Publisher", p.Run)
	require.NoError(t, p.WaitReady(ctxFor(t)))
	return p
}

func newRunningConsumer(t *testing.T, topo Topology, opts ConsumerOptions) *Consumer {
	opts.Logger = internalLogger(t)
	c := NewConsumer(testkit.AMQPURL(), topo, opts)
	run(t, "Consumer", c.Run)
	testkit.WaitFor(t, testkit.Deadline, c.Ready, "consumer ready")
	return c
}

func next(t *testing.T, c *Consumer) Delivery {
	t.Helper()
	select {
	case d := <-c.Deliveries():
		return d
	case <-time.After(testkit.Deadline):
		t.Fatal("timed out waiting for a delivery")
		return Delivery{}
	}
}

// sideChannel is a plain channel for changing the broker behind our back.
func sideChannel(t *testing.T) *amqp.Channel {
	conn, err := amqp.Dial(testkit.AMQPURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	return ch
}

// waitNewConn waits until the live connection is a new, open one.
func waitNewConn(t *testing.T, live *atomic.Pointer[amqp.Connection], old *amqp.Connection, ready func() bool) {
	t.Helper()
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		cur := live.Load()
		return cur != nil && cur != old && !cur.IsClosed() && ready()
	}, "reconnected")
}

func TestPublisherReconnects(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := newRunningPublisher(t, topo, 0)
	require.NoError(t, p.Publish(ctxFor(t), Message{JobID: "before", Kind: "chat.message"}))

	// Remove the topology behind its back, then drop the connection: the
	// publisher must come back and declare it again, or the next publish
	// would be unroutable (or fail on the missing exchange).
	side := sideChannel(t)
	_, err := side.QueueDelete(topo.QueueName("chat"), false, false, false)
	require.NoError(t, err)
	require.NoError(t, side.ExchangeDelete(topo.Exchange(), false, false))

	old := p.conn.Load()
	require.NotNil(t, old)
	require.NoError(t, old.Close())
	waitNewConn(t, &p.conn, old, p.Ready)

	require.NoError(t, p.Publish(ctxFor(t), Message{JobID: "after", Kind: "chat.message"}))
	q, err := side.QueueDeclarePassive(topo.QueueName("chat"), true, false, false, false, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, q.Messages, "only the message published after the reconnect")
}

func TestPublisherRecoversFromChannelError(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := newRunningPublisher(t, topo, 0)
	old := p.conn.Load()

	// Publishing to a missing exchange makes the broker close the channel
	// (404): the publish in flight is lost and the publisher recovers.
	side := sideChannel(t)
	require.NoError(t, side.ExchangeDelete(topo.Exchange(), false, false))
	err := p.Publish(ctxFor(t), Message{JobID: "doomed", Kind: "chat.message"})
	assert.ErrorIs(t, err, ErrConnectionLost)

	waitNewConn(t, &p.conn, old, p.Ready)
	require.NoError(t, p.Publish(ctxFor(t), Message{JobID: "ok", Kind: "chat.message"}))
}

// TestPublishersNeverHangOnConnectionLoss drops the connection while many
// publishes are in flight: every caller must get an answer, either success
// or one of the connection errors.
func TestPublishersNeverHangOnConnectionLoss(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := newRunningPublisher(t, topo, 16)

	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		ok, lost, notUp int
	)
	stop := make(chan struct{})
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := p.Publish(ctxFor(t), Message{JobID: fmt.Sprintf("w%d-%d", w, i), Kind: "chat.message"})
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrConnectionLost):
					lost++
				case errors.Is(err, ErrNotConnected):
					notUp++
				default:
					t.Errorf("unexpected error: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	testkit.WaitFor(t, testkit.Deadline, func() bool { mu.Lock(); defer mu.Unlock(); return ok > 200 }, "publishing under way")
	old := p.conn.Load()
	require.NoError(t, old.Close())
	waitNewConn(t, &p.conn, old, p.Ready)
	mu.Lock()
	okAtReconnect := ok
	mu.Unlock()
	testkit.WaitFor(t, testkit.Deadline, func() bool { mu.Lock(); defer mu.Unlock(); return ok > okAtReconnect+200 }, "publishing after reconnect")
	close(stop)

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publishers still blocked after the connection was lost")
	}
	t.Logf("ok=%d lost=%d not-connected=%d", ok, lost, notUp)
	assert.Empty(t, p.slots, "every window slot released")
}

func TestConsumerReconnects(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := newRunningPublisher(t, topo, 0)
	c := newRunningConsumer(t, topo, ConsumerOptions{Queues: []string{"chat", "document"}, Prefetch: 2, Tag: "rc"})

	require.NoError(t, p.Publish(ctxFor(t), Message{JobID: "one", Kind: "chat.message"}))
	d := next(t, c)
	assert.Equal(t, "one", d.MessageId)
	require.NoError(t, d.Ack(false))

	// Connection loss.
	old := c.conn.Load()
	require.NoError(t, old.Close())
	waitNewConn(t, &c.conn, old, c.Ready)
	require.NoError(t, p.Publish(ctxFor(t), Message{JobID: "two", Kind: "document.ingest"}))
	d = next(t, c)
	assert.Equal(t, "two", d.MessageId)
	assert.Equal(t, "document", d.Queue)
	require.NoError(t, d.Ack(false))

	// A server-side channel error: acking the same delivery twice is a
	// PRECONDITION_FAILED that closes the channel.
	require.NoError(t, p.Publish(ctxFor(t), Message{JobID: "three", Kind: "chat.message"}))
	d = next(t, c)
	old = c.conn.Load()
	require.NoError(t, d.Ack(false))
	_ = d.Ack(false)
	waitNewConn(t, &c.conn, old, c.Ready)
	require.NoError(t, p.Publish(ctxFor(t), Message{JobID: "four", Kind: "chat.message"}))
	d = next(t, c)
	assert.Equal(t, "four", d.MessageId)
	require.NoError(t, d.Ack(false))

	// The queue deleted under the consumer: the broker cancels it; the
	// consumer reconnects and declares the queue again.
	old = c.conn.Load()
	_, err := sideChannel(t).QueueDelete(topo.QueueName("chat"), false, false, false)
	require.NoError(t, err)
	waitNewConn(t, &c.conn, old, c.Ready)
	require.NoError(t, p.Publish(ctxFor(t), Message{JobID: "five", Kind: "chat.message"}))
	d = next(t, c)
	assert.Equal(t, "five", d.MessageId)
	require.NoError(t, d.Ack(false))
}

func TestPublishWaitsForWindowSlot(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := newRunningPublisher(t, topo, 1)
	p.slots <- struct{}{} // the only slot, as if a publish were in flight

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := p.Publish(ctx, Message{JobID: "waits", Kind: "chat.message"})
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	<-p.slots
	assert.NoError(t, p.Publish(ctxFor(t), Message{JobID: "goes", Kind: "chat.message"}))
}

func TestPubSessionAnswers(t *testing.T) {
	t.Parallel()
	s := newPubSession(nil)
	released := 0
	add := func(tag uint64, id, key string) chan error {
		pp := &pendingPublish{res: make(chan error, 1), key: returnKey{id, key}, release: func() { released++ }}
		s.pending[tag] = pp
		return pp.res
	}
	acked := add(1, "a", "chat.x")
	returned := add(2, "b", "nowhere.x")
	nacked := add(3, "c", "chat.x")
	sameIDRoutable := add(4, "b", "chat.x")
	lost := add(5, "d", "chat.x")

	s.markReturned(amqp.Return{MessageId: "b", RoutingKey: "nowhere.x"})
	s.confirm(amqp.Confirmation{DeliveryTag: 1, Ack: true})
	s.confirm(amqp.Confirmation{DeliveryTag: 2, Ack: true})
	s.confirm(amqp.Confirmation{DeliveryTag: 3, Ack: false})
	s.confirm(amqp.Confirmation{DeliveryTag: 4, Ack: true})
	s.confirm(amqp.Confirmation{DeliveryTag: 99, Ack: true}) // unknown: ignored
	drained := s.beginDrain()
	select {
	case <-drained:
		t.Fatal("drained with a publish pending")
	default:
	}
	s.fail(ErrConnectionLost)

	assert.NoError(t, <-acked)
	assert.ErrorIs(t, <-returned, ErrUnroutable)
	assert.ErrorIs(t, <-nacked, ErrNacked)
	assert.NoError(t, <-sameIDRoutable)
	assert.ErrorIs(t, <-lost, ErrConnectionLost)
	assert.Equal(t, 5, released)
	assert.Empty(t, s.pending)
	assert.Empty(t, s.returned)
	<-drained
}
