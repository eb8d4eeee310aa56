package broker_test

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/testkit"
)

func startControlListener(t *testing.T, topo broker.Topology, name string) *broker.ControlListener {
	t.Helper()
	l := broker.NewControlListener(testkit.AMQPURL(), topo, broker.ControlListenerOptions{Name: name, Logger: testLogger(t)})
	runInBackground(t, "ControlListener", l.Run)
	require.NoError(t, l.WaitReady(publishCtx(t)))
	require.True(t, l.Ready())
	return l
}

// signal returns the listener's next signal or fails the test.
func signal(t *testing.T, l *broker.ControlListener) broker.ControlMessage {
	t.Helper()
	select {
	case m, ok := <-l.Signals():
		require.True(t, ok, "signals closed")
		return m
	case <-time.After(testkit.Deadline):
		t.Fatal("timed out waiting for a control signal")
		return broker.ControlMessage{}
	}
}

func TestControlSignalReachesEveryListener(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{AppID: "gateway-test"})
	a := startControlListener(t, topo, "worker-a")
	b := startControlListener(t, topo, "worker-b")

	sent := []broker.ControlMessage{
		{Type: broker.ControlCancel, JobID: "job-1"},
		{Type: "pause", Queue: "chat"},
	}
	for _, m := range sent {
		require.NoError(t, p.PublishControl(publishCtx(t), m))
	}
	for _, l := range []*broker.ControlListener{a, b} {
		for _, want := range sent {
			assert.Equal(t, want, signal(t, l))
		}
	}
}

// TestControlMessageProperties: someone browsing sees at once what a
// signal is and who sent it.
func TestControlMessageProperties(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{AppID: "gateway-test"})

	ch := channel(t)
	q, err := ch.QueueDeclare("", false, true, true, false, amqp.Table{"x-queue-type": broker.QueueTypeClassic})
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(q.Name, "", topo.ControlExchange(), false, nil))
	before := time.Now().Add(-time.Second)
	require.NoError(t, p.PublishControl(publishCtx(t), broker.ControlMessage{Type: broker.ControlCancel, JobID: "job-9"}))

	d, ok, err := ch.Get(q.Name, true)
	require.NoError(t, err)
	require.True(t, ok, "signal in the bound queue once confirmed")
	assert.Equal(t, topo.ControlExchange(), d.Exchange)
	assert.Equal(t, "application/json", d.ContentType)
	assert.Equal(t, broker.ControlCancel, d.Type)
	assert.Equal(t, "job-9", d.MessageId)
	assert.Equal(t, "gateway-test", d.AppId)
	assert.Equal(t, amqp.Transient, d.DeliveryMode)
	assert.False(t, d.Timestamp.Before(before.Truncate(time.Second)), "timestamp %v", d.Timestamp)
	assert.JSONEq(t, `{"type":"cancel","job_id":"job-9"}`, string(d.Body))
}

func TestPublishControlWithoutListener(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{})
	assert.NoError(t, p.PublishControl(publishCtx(t), broker.ControlMessage{Type: broker.ControlCancel, JobID: "nobody-runs-it"}),
		"unroutable signal: nobody to tell")
	assert.NoError(t, p.PublishControl(publishCtx(t), broker.ControlMessage{Type: "pause", Queue: "chat"}))
}

func TestPublishControlErrors(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	idle := broker.NewPublisher(testkit.AMQPURL(), topo, broker.PublisherOptions{})
	err := idle.PublishControl(publishCtx(t), broker.ControlMessage{Type: broker.ControlCancel, JobID: "x"})
	assert.ErrorIs(t, err, broker.ErrNotConnected)

	p := startPublisher(t, topo, broker.PublisherOptions{})
	assert.Error(t, p.PublishControl(publishCtx(t), broker.ControlMessage{JobID: "x"}), "no type")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, p.PublishControl(ctx, broker.ControlMessage{Type: broker.ControlCancel, JobID: "x"}), context.Canceled)
}

// TestControlListenerDropsUndecodable: garbage on the control exchange is
// logged and dropped; the listener keeps going.
func TestControlListenerDropsUndecodable(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	p := startPublisher(t, topo, broker.PublisherOptions{})
	l := startControlListener(t, topo, "worker-c")

	// Published raw: our Publisher cannot produce malformed signals.
	ch := channel(t)
	for _, body := range []string{"not json", `{"job_id":"no-type"}`} {
		require.NoError(t, ch.PublishWithContext(publishCtx(t), topo.ControlExchange(), "", false, false,
			amqp.Publishing{Body: []byte(body)}))
	}
	want := broker.ControlMessage{Type: broker.ControlCancel, JobID: "after-garbage"}
	require.NoError(t, p.PublishControl(publishCtx(t), want))
	assert.Equal(t, want, signal(t, l), "the first signal through is the valid one")
	assert.True(t, l.Ready())
}

func TestControlListenerStops(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	l := broker.NewControlListener(testkit.AMQPURL(), topo, broker.ControlListenerOptions{Logger: testLogger(t)})
	assert.False(t, l.Ready())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	require.NoError(t, l.WaitReady(publishCtx(t)))

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(stopTimeout):
		t.Fatal("Run did not return after cancel")
	}
	assert.False(t, l.Ready())
	_, open := <-l.Signals()
	assert.False(t, open, "Signals closed when Run returns")
	assert.Error(t, l.Run(context.Background()), "not restartable")
}
