package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// These tests reach inside a ControlListener for its connection and its
// server-named queue.

func newRunningControlListener(t *testing.T, topo Topology) *ControlListener {
	l := NewControlListener(testkit.AMQPURL(), topo, ControlListenerOptions{Name: "control-test", Logger: internalLogger(t)})
	run(t, "ControlListener", l.Run)
	require.NoError(t, l.WaitReady(ctxFor(t)))
	return l
}

func nextSignal(t *testing.T, l *ControlListener) ControlMessage {
	t.Helper()
	select {
	case m, ok := <-l.Signals():
		require.True(t, ok, "signals closed")
		return m
	case <-time.After(testkit.Deadline):
		t.Fatal("timed out waiting for a control signal")
		return ControlMessage{}
	}
}

func (l *ControlListener) queueName(t *testing.T) string {
	t.Helper()
	q := l.queue.Load()
	require.NotNil(t, q, "listener declared a queue")
	return *q
}

// queueGone reports whether the broker no longer has queue name. A passive
// declare of another connection's exclusive queue fails with 405 while it
// exists and 404 once it is gone; either closes the channel, so each check
// opens its own.
func queueGone(t *testing.T, conn *amqp.Connection, name string) bool {
	t.Helper()
	ch, err := conn.Channel()
	require.NoError(t, err)
	defer func() { _ = ch.Close() }()
	_, err = ch.QueueDeclarePassive(name, false, true, true, false, nil)
	var aerr *amqp.Error
	return errors.As(err, &aerr) && aerr.Code == amqp.NotFound
}

func sideConn(t *testing.T) *amqp.Connection {
	conn, err := amqp.Dial(testkit.AMQPURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestControlListenerReconnects(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := newRunningPublisher(t, topo, 0)
	l := newRunningControlListener(t, topo)
	side := sideConn(t)

	send := func(id string) {
		t.Helper()
		want := ControlMessage{Type: ControlCancel, JobID: id}
		require.NoError(t, p.PublishControl(ctxFor(t), want))
		assert.Equal(t, want, nextSignal(t, l))
	}
	send("before")

	// Connection loss: the exclusive queue dies with it, the listener comes
	// back on a fresh one.
	oldQueue := l.queueName(t)
	old := l.conn.Load()
	require.NotNil(t, old)
	require.NoError(t, old.Close())
	waitNewConn(t, &l.conn, old, l.Ready)
	assert.NotEqual(t, oldQueue, l.queueName(t), "a fresh queue")
	testkit.WaitFor(t, testkit.Deadline, func() bool { return queueGone(t, side, oldQueue) }, "old queue %s deleted", oldQueue)
	send("after-connection-loss")

	// A channel error: the broker closes the listener's channel (404 on a
	// passive declare of a missing queue), and the listener starts over.
	oldQueue = l.queueName(t)
	old = l.conn.Load()
	ch := l.ch.Load()
	require.NotNil(t, ch)
	_, err := ch.QueueDeclarePassive(topo.QueueName("missing"), true, false, false, false, nil)
	require.Error(t, err)
	waitNewConn(t, &l.conn, old, l.Ready)
	assert.NotEqual(t, oldQueue, l.queueName(t))
	testkit.WaitFor(t, testkit.Deadline, func() bool { return queueGone(t, side, oldQueue) }, "old queue %s deleted", oldQueue)
	send("after-channel-error")
}

func TestControlQueueDeletedAfterStop(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	l := NewControlListener(testkit.AMQPURL(), topo, ControlListenerOptions{Logger: internalLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	require.NoError(t, l.WaitReady(ctxFor(t)))
	name := l.queueName(t)
	side := sideConn(t)
	require.False(t, queueGone(t, side, name), "queue exists while running")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	testkit.WaitFor(t, testkit.Deadline, func() bool { return queueGone(t, side, name) }, "queue %s deleted", name)
}
