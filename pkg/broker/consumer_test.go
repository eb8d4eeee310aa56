package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/testkit"
)

// TestConsumePriority: with a backlog and prefetch 1, high-priority
// messages overtake the low ones published before them.
func TestConsumePriority(t *testing.T) {
	t.Parallel()
	const low, high = 50, 10
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{})
	for i := range low {
		require.NoError(t, p.Publish(publishCtx(t), broker.Message{JobID: fmt.Sprintf("low-%d", i), Kind: "document.ingest", Priority: 1}))
	}
	for i := range high {
		require.NoError(t, p.Publish(publishCtx(t), broker.Message{JobID: fmt.Sprintf("high-%d", i), Kind: "document.ingest", Priority: 5}))
	}
	require.Equal(t, low+high, queueDepth(t, topo.QueueName("document")))

	c := startConsumer(t, topo, broker.ConsumerOptions{Queues: []string{"document"}, Prefetch: 1})
	for i := range low + high {
		d := receive(t, c)
		require.NoError(t, d.Ack(false))
		if i < high {
			assert.Equalf(t, uint8(5), d.Priority, "delivery %d is %s", i, d.MessageId)
		} else {
			assert.Equalf(t, uint8(1), d.Priority, "delivery %d is %s", i, d.MessageId)
		}
	}
}

// TestPoisonMessageDeadLetters: a body that is not an envelope, rejected
// without requeue, lands in the dead queue.
func TestPoisonMessageDeadLetters(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	declareTopology(t, topo)
	c := startConsumer(t, topo, broker.ConsumerOptions{Queues: []string{"chat"}})

	// Published raw: our Publisher cannot produce a malformed envelope.
	ch := channel(t)
	require.NoError(t, ch.PublishWithContext(publishCtx(t), topo.Exchange(), "chat.message", false, false,
		amqp.Publishing{MessageId: "poison", Body: []byte("not an envelope")}))

	d := receive(t, c)
	_, err := broker.DecodeEnvelope(d.Body)
	require.Error(t, err)
	require.NoError(t, d.Nack(false, false))

	var dead amqp.Delivery
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		var ok bool
		dead, ok, err = ch.Get(topo.DeadQueue(), true)
		require.NoError(t, err)
		return ok
	}, "poison message in %s", topo.DeadQueue())
	assert.Equal(t, "poison", dead.MessageId)
	assert.Equal(t, []byte("not an envelope"), dead.Body)
	assert.Contains(t, dead.Headers, "x-death", "dead-lettered by the broker")
	assert.Equal(t, 0, queueDepth(t, topo.QueueName("chat")))
}

func TestConsumerStops(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{})
	c := broker.NewConsumer(testkit.AMQPURL(), topo, broker.ConsumerOptions{Queues: []string{"maintenance"}, Logger: testLogger(t)})
	assert.False(t, c.Ready())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	testkit.WaitFor(t, testkit.Deadline, c.Ready, "consumer ready")

	// One delivery taken but never acked: after Run stops it goes back to
	// the queue for someone else.
	require.NoError(t, p.Publish(publishCtx(t), broker.Message{JobID: "unacked", Kind: "system.noop"}))
	d := receive(t, c)
	assert.Equal(t, "unacked", d.MessageId)

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(stopTimeout):
		t.Fatal("Run did not return after cancel")
	}
	assert.False(t, c.Ready())
	_, open := <-c.Deliveries()
	assert.False(t, open, "Deliveries closed when Run returns")
	assert.Error(t, d.Ack(false), "ack after the connection closed fails")
	testkit.WaitFor(t, testkit.Deadline, func() bool { return queueDepth(t, topo.QueueName("maintenance")) == 1 }, "unacked delivery requeued")
}
