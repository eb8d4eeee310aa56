package broker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/testkit"
)

// queueCounts is a queue's ready messages and consumers.
func queueCounts(t *testing.T, name string) (ready, consumers int) {
	t.Helper()
	q, err := channel(t).QueueDeclarePassive(name, true, false, false, false, nil)
	require.NoError(t, err)
	return q.Messages, q.Consumers
}

func waitCounts(t *testing.T, name string, ready, consumers int) {
	t.Helper()
	var r, c int
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		r, c = queueCounts(t, name)
		return r == ready && c == consumers
	}, "%s to hold %d ready with %d consumers (last: %d, %d)", name, ready, consumers, r, c)
}

// TestPauseResume: pausing a queue cancels its consumer only; deliveries
// the client buffered go back to the queue, one already handed out can
// still be acked, and resume brings the rest.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{})
	const n = 6
	for i := range n {
		require.NoError(t, p.Publish(publishCtx(t), broker.Message{JobID: fmt.Sprintf("m-%d", i), Kind: "system.noop"}))
	}
	c := startConsumer(t, topo, broker.ConsumerOptions{Queues: []string{"maintenance", "chat"}, Prefetch: 3, Tag: "pr"})
	maint := topo.QueueName("maintenance")

	held := receive(t, c) // in flight: taken by a "worker", not acked yet
	require.Equal(t, "maintenance", held.Queue)
	require.NoError(t, c.Pause("maintenance"))
	assert.Equal(t, []string{"maintenance"}, c.Paused())
	waitCounts(t, maint, n-1, 0)
	assert.True(t, c.Ready(), "the connection stays")
	require.NoError(t, held.Ack(false), "an in-flight delivery is still acked on the same channel")

	// Other queues keep flowing; nothing comes from the paused one.
	require.NoError(t, p.Publish(publishCtx(t), broker.Message{JobID: "chat-1", Kind: "chat.message"}))
	d := receive(t, c)
	assert.Equal(t, "chat-1", d.MessageId)
	require.NoError(t, d.Ack(false))
	require.NoError(t, p.Publish(publishCtx(t), broker.Message{JobID: "late", Kind: "system.noop"}))
	waitCounts(t, maint, n, 0)

	require.NoError(t, c.Pause("maintenance"), "pausing twice is a no-op")
	require.NoError(t, c.Resume("maintenance"))
	assert.Empty(t, c.Paused())
	for range n {
		d := receive(t, c)
		assert.Equal(t, "maintenance", d.Queue)
		require.NoError(t, d.Ack(false))
	}
	waitCounts(t, maint, 0, 1)
	require.NoError(t, c.Resume("maintenance"), "resuming twice is a no-op")
	waitCounts(t, maint, 0, 1)
}

// TestPausedQueuesReadAtStart: a queue the source names paused is not
// consumed from the first session on.
func TestPausedQueuesReadAtStart(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	declareTopology(t, topo)
	tests := []struct {
		name   string
		source func(context.Context) ([]string, error)
		// consumers per queue once ready
		chat, maintenance int
	}{
		{"maintenance paused", func(context.Context) ([]string, error) { return []string{"maintenance", "other"}, nil }, 1, 0},
		{"nothing paused", func(context.Context) ([]string, error) { return nil, nil }, 1, 1},
		{"source down: nothing known", func(context.Context) ([]string, error) { return nil, errors.New("db down") }, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := broker.NewConsumer(testkit.AMQPURL(), topo, broker.ConsumerOptions{
				Queues: []string{"chat", "maintenance"}, Logger: testLogger(t), PausedQueues: tc.source,
			})
			cancel := runInBackground(t, "Consumer", c.Run)
			testkit.WaitFor(t, testkit.Deadline, c.Ready, "consumer ready")
			_, chat := queueCounts(t, topo.QueueName("chat"))
			_, maint := queueCounts(t, topo.QueueName("maintenance"))
			assert.Equal(t, tc.chat, chat, "chat consumers")
			assert.Equal(t, tc.maintenance, maint, "maintenance consumers")
			cancel()
			waitCounts(t, topo.QueueName("chat"), 0, 0)
		})
	}
}

func TestSetPaused(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	c := startConsumer(t, topo, broker.ConsumerOptions{Queues: []string{"chat", "document", "maintenance"}})
	steps := []struct {
		set, want []string
	}{
		{[]string{"chat", "document"}, []string{"chat", "document"}},
		{[]string{"document", "unknown"}, []string{"document"}},
		{nil, []string{}},
		{[]string{"maintenance"}, []string{"maintenance"}},
	}
	for _, st := range steps {
		require.NoError(t, c.SetPaused(st.set))
		assert.Equal(t, st.want, c.Paused())
		for _, q := range []string{"chat", "document", "maintenance"} {
			want := 1
			for _, p := range st.want {
				if p == q {
					want = 0
				}
			}
			waitCounts(t, topo.QueueName(q), 0, want)
		}
	}
}

// TestPauseBeforeRun: a pause recorded before Run holds from the start.
func TestPauseBeforeRun(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	declareTopology(t, topo)
	c := broker.NewConsumer(testkit.AMQPURL(), topo, broker.ConsumerOptions{Queues: []string{"chat", "document"}, Logger: testLogger(t)})
	require.NoError(t, c.Pause("document"))
	runInBackground(t, "Consumer", c.Run)
	testkit.WaitFor(t, testkit.Deadline, c.Ready, "consumer ready")
	waitCounts(t, topo.QueueName("document"), 0, 0)
	waitCounts(t, topo.QueueName("chat"), 0, 1)
}
