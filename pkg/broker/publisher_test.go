package broker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/testkit"
)

func TestPublishRoutesByKind(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{AppID: "gateway-test"})
	c := startConsumer(t, topo, broker.ConsumerOptions{Prefetch: 10, Tag: "routes"})
	ts := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

	tests := []struct {
		kind, queue string
		traceparent string
	}{
		{kind: "chat.x", queue: "chat", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{kind: "qa.y", queue: "chat"},
		{kind: "document.z", queue: "document"},
		{kind: "system.noop", queue: "maintenance"},
		{kind: "maintenance.email", queue: "maintenance"},
	}
	for i, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			m := broker.Message{
				JobID:       fmt.Sprintf("job-%d", i),
				Attempt:     i + 1,
				Kind:        tt.kind,
				Priority:    uint8(i % 6),
				Owner:       "user-7",
				Traceparent: tt.traceparent,
				Timestamp:   ts,
			}
			require.NoError(t, p.Publish(publishCtx(t), m))

			d := receive(t, c)
			require.NoError(t, d.Ack(false))
			assert.Equal(t, tt.queue, d.Queue)
			assert.Equal(t, topo.Exchange(), d.Exchange)
			assert.Equal(t, tt.kind, d.RoutingKey)
			assert.Equal(t, "application/json", d.ContentType)
			assert.Equal(t, m.JobID, d.MessageId)
			assert.Equal(t, tt.kind, d.Type)
			assert.Equal(t, m.Priority, d.Priority)
			assert.Equal(t, amqp.Persistent, d.DeliveryMode)
			assert.Equal(t, "gateway-test", d.AppId)
			assert.True(t, ts.Equal(d.Timestamp), "timestamp %v", d.Timestamp)
			assert.Equal(t, "user-7", d.Headers["owner"])
			assert.EqualValues(t, m.Attempt, d.Headers["attempt"])
			if tt.traceparent != "" {
				assert.Equal(t, tt.traceparent, d.Headers["traceparent"])
			} else {
				assert.NotContains(t, d.Headers, "traceparent")
			}
			env, err := broker.DecodeEnvelope(d.Body)
			require.NoError(t, err)
			assert.Equal(t, broker.Envelope{JobID: m.JobID, Attempt: m.Attempt}, env)
		})
	}
}

func TestPublishDefaultsTimestamp(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{})
	c := startConsumer(t, topo, broker.ConsumerOptions{Queues: []string{"chat"}})
	before := time.Now().Add(-time.Second)
	require.NoError(t, p.Publish(publishCtx(t), broker.Message{JobID: "j", Kind: "chat.message"}))
	d := receive(t, c)
	require.NoError(t, d.Ack(false))
	assert.False(t, d.Timestamp.Before(before.Truncate(time.Second)), "timestamp %v", d.Timestamp)
	assert.Equal(t, "hopper", d.AppId)
}

func TestPublishRejectsInvalidMessage(t *testing.T) {
	t.Parallel()
	p := broker.NewPublisher(testkit.AMQPURL(), testTopology("unused", ""), broker.PublisherOptions{})
	for name, m := range map[string]broker.Message{
		"no job id":    {Kind: "chat.message"},
		"no kind":      {JobID: "j"},
		"priority > 5": {JobID: "j", Kind: "chat.message", Priority: 6},
	} {
		err := p.Publish(context.Background(), m)
		assert.Error(t, err, name)
		assert.NotErrorIs(t, err, broker.ErrNotConnected, name)
	}
}

func TestPublishUnroutable(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{})
	err := p.Publish(publishCtx(t), broker.Message{JobID: "lost", Kind: "nowhere.kind"})
	assert.ErrorIs(t, err, broker.ErrUnroutable)
	// The channel survives a return: the next publish is fine.
	assert.NoError(t, p.Publish(publishCtx(t), broker.Message{JobID: "found", Kind: "chat.message"}))
}

// TestPublishConcurrent publishes from many goroutines through a small
// window, mixing in unroutable kinds, and checks that every caller gets the
// answer for its own message and every routable message arrives once.
func TestPublishConcurrent(t *testing.T) {
	t.Parallel()
	const (
		workers   = 8
		perWorker = 63 // 504 messages
	)
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{Window: 32})

	var wg sync.WaitGroup
	var mu sync.Mutex
	wantIDs := map[string]bool{}
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				id := fmt.Sprintf("w%d-%d", w, i)
				kind := "chat.message"
				unroutable := i%7 == 3
				if unroutable {
					kind = "nowhere.kind"
				}
				err := p.Publish(publishCtx(t), broker.Message{JobID: id, Kind: kind, Priority: uint8(i % 6)})
				switch {
				case unroutable && !errors.Is(err, broker.ErrUnroutable):
					errs <- fmt.Errorf("%s: got %v, want ErrUnroutable", id, err)
				case !unroutable && err != nil:
					errs <- fmt.Errorf("%s: %w", id, err)
				case !unroutable:
					mu.Lock()
					wantIDs[id] = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.Len(t, wantIDs, workers*(perWorker-perWorker/7))

	c := startConsumer(t, topo, broker.ConsumerOptions{Queues: []string{"chat"}, Prefetch: 50})
	seen := map[string]int{}
	for len(seen) < len(wantIDs) {
		d := receive(t, c)
		require.NoError(t, d.Ack(false))
		require.True(t, wantIDs[d.MessageId], "unexpected message %s", d.MessageId)
		seen[d.MessageId]++
		require.Equal(t, 1, seen[d.MessageId], "message %s delivered twice", d.MessageId)
	}
	// Nothing left over: no duplicates waiting either.
	testkit.WaitFor(t, testkit.Deadline, func() bool { return queueDepth(t, topo.QueueName("chat")) == 0 }, "chat queue empty")
	select {
	case d := <-c.Deliveries():
		t.Fatalf("extra delivery %s", d.MessageId)
	default:
	}
}

func TestPublishNotConnected(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")

	t.Run("run not started", func(t *testing.T) {
		p := broker.NewPublisher(testkit.AMQPURL(), topo, broker.PublisherOptions{})
		assert.False(t, p.Ready())
		err := p.Publish(context.Background(), broker.Message{JobID: "j", Kind: "chat.message"})
		assert.ErrorIs(t, err, broker.ErrNotConnected)
	})

	t.Run("broker unreachable", func(t *testing.T) {
		// Port 1 refuses connections: Run keeps retrying, Publish fails
		// fast, WaitReady honours its ctx and Run stops when told.
		p := broker.NewPublisher("amqp://guest:guest@127.0.0.1:1/", topo, broker.PublisherOptions{Logger: testLogger(t)})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()

		err := p.Publish(context.Background(), broker.Message{JobID: "j", Kind: "chat.message"})
		assert.ErrorIs(t, err, broker.ErrNotConnected)
		waitCtx, waitCancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer waitCancel()
		assert.ErrorIs(t, p.WaitReady(waitCtx), context.DeadlineExceeded)
		assert.False(t, p.Ready())

		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(stopTimeout):
			t.Fatal("Run did not return after cancel")
		}
	})
}

func TestPublishCancelledContext(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := p.Publish(ctx, broker.Message{JobID: "j", Kind: "chat.message"})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), time.Second)
	assert.Equal(t, 0, queueDepth(t, topo.QueueName("chat")), "a cancelled publish must not be sent")
}

// TestPublishSmallWindow: with a window of one, concurrent callers take
// turns and all succeed.
func TestPublishSmallWindow(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{Window: 1})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := p.Publish(publishCtx(t), broker.Message{JobID: fmt.Sprint(i), Kind: "document.ingest"})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, 20, queueDepth(t, topo.QueueName("document")))
}
