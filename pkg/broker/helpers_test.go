package broker_test

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/testkit"
)

// stopTimeout is how long Run may take to return after its ctx ends.
const stopTimeout = 5 * time.Second

func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
}

// runInBackground runs run until the test ends and checks it returns nil
// promptly once its ctx is cancelled.
func runInBackground(t *testing.T, name string, run func(context.Context) error) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s.Run returned %v, want nil", name, err)
			}
		case <-time.After(stopTimeout):
			t.Errorf("%s.Run did not return within %s of cancel", name, stopTimeout)
		}
	})
	return cancel
}

func startPublisher(t *testing.T, topo broker.Topology, opts broker.PublisherOptions) *broker.Publisher {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	p := broker.NewPublisher(testkit.AMQPURL(), topo, opts)
	runInBackground(t, "Publisher", p.Run)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Deadline)
	defer cancel()
	require.NoError(t, p.WaitReady(ctx))
	require.True(t, p.Ready())
	return p
}

func startConsumer(t *testing.T, topo broker.Topology, opts broker.ConsumerOptions) *broker.Consumer {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	c := broker.NewConsumer(testkit.AMQPURL(), topo, opts)
	runInBackground(t, "Consumer", c.Run)
	testkit.WaitFor(t, testkit.Deadline, c.Ready, "consumer ready")
	return c
}

// receive returns the next delivery or fails the test.
func receive(t *testing.T, c *broker.Consumer) broker.Delivery {
	t.Helper()
	select {
	case d, ok := <-c.Deliveries():
		require.True(t, ok, "deliveries closed")
		return d
	case <-time.After(testkit.Deadline):
		t.Fatal("timed out waiting for a delivery")
		return broker.Delivery{}
	}
}

// channel opens a plain channel for inspecting the broker.
func channel(t *testing.T) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(testkit.AMQPURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	return ch
}

// declareTopology declares topo on a fresh connection.
func declareTopology(t *testing.T, topo broker.Topology) {
	t.Helper()
	require.NoError(t, topo.Declare(channel(t)))
}

// queueDepth is the number of ready messages in a queue.
func queueDepth(t *testing.T, name string) int {
	t.Helper()
	q, err := channel(t).QueueDeclarePassive(name, true, false, false, false, nil)
	require.NoError(t, err)
	return q.Messages
}

func publishCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Deadline)
	t.Cleanup(cancel)
	return ctx
}
