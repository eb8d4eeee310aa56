package dispatch_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/testkit"
)

// queueTaker returns a function that takes every message waiting in
// queue and returns the job ids their envelopes name, in queue order.
func queueTaker(t *testing.T, queue string) func() []uuid.UUID {
	t.Helper()
	conn, err := amqp.Dial(testkit.AMQPURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	return func() []uuid.UUID {
		var ids []uuid.UUID
		for {
			m, ok, err := ch.Get(queue, true)
			require.NoError(t, err)
			if !ok {
				return ids
			}
			env, err := broker.DecodeEnvelope(m.Body)
			require.NoError(t, err)
			ids = append(ids, uuid.MustParse(env.JobID))
		}
	}
}

// runPublisher runs pub until the test ends and waits until it is ready.
func runPublisher(t *testing.T, pub *broker.Publisher) {
	t.Helper()
	ctx, stop := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = pub.Run(ctx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	require.NoError(t, pub.WaitReady(t.Context()))
}
