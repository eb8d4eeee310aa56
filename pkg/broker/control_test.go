package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/testkit"
)

func TestControlSignalReachesEveryListener(t *testing.T) {
	t.Parallel()
	topo := broker.NewTopology(testkit.Prefix(t), broker.QueueTypeClassic)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	pub := broker.NewPublisher(testkit.AMQPURL(), topo, broker.PublisherOptions{AppID: "test"})
	go func() { _ = pub.Run(ctx) }()
	require.NoError(t, pub.WaitReady(ctx))

	// Nobody listens yet: not an error.
	require.NoError(t, pub.PublishControl(ctx, broker.ControlMessage{Type: broker.ControlCancel, JobID: "nobody"}))

	listeners := []*broker.ControlListener{
		broker.NewControlListener(testkit.AMQPURL(), topo, broker.ControlListenerOptions{Name: "a"}),
		broker.NewControlListener(testkit.AMQPURL(), topo, broker.ControlListenerOptions{Name: "b"}),
	}
	for _, l := range listeners {
		go func() { _ = l.Run(ctx) }()
	}
	testkit.WaitFor(t, testkit.Deadline, func() bool { return listeners[0].Ready() && listeners[1].Ready() }, "listeners ready")

	want := broker.ControlMessage{Type: broker.ControlCancel, JobID: "job-1"}
	require.NoError(t, pub.PublishControl(ctx, want))
	for _, l := range listeners {
		select {
		case got := <-l.Signals():
			require.Equal(t, want, got)
		case <-time.After(10 * time.Second):
			t.Fatal("signal not received")
		}
	}

	cancel()
	for _, l := range listeners {
		testkit.WaitFor(t, testkit.Deadline, func() bool {
			select {
			case _, open := <-l.Signals():
				return !open
			default:
				return false
			}
		}, "Signals closed after Run ends")
	}
}
