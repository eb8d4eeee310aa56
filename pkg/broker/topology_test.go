package broker_test

import (
	"errors"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/testkit"
)

func TestTopologyNames(t *testing.T) {
	t.Parallel()
	topo := broker.NewTopology("hopper", "")
	assert.Empty(t, topo.Queues, "job queues are the services' to declare")
	topo.Bind("chat", "chat.message")
	topo.Bind("chat", "qa.#")
	topo.Bind("chat", "qa.#")
	topo.Bind("document", "document.ingest")
	assert.Equal(t, "hopper.jobs", topo.Exchange())
	assert.Equal(t, "hopper.chat", topo.QueueName("chat"))
	assert.Equal(t, "hopper.dlx", topo.DeadLetterExchange())
	assert.Equal(t, "hopper.dead", topo.DeadQueue())
	assert.Equal(t, "hopper.control", topo.ControlExchange())
	assert.Equal(t, []broker.QueueSpec{
		{Name: "chat", Bindings: []string{"chat.message", "qa.#"}},
		{Name: "document", Bindings: []string{"document.ingest"}},
	}, topo.Queues, "each binding once")
	// Names agree with the test kit, which cleans them up.
	assert.Equal(t, testkit.QueueName("hopper", "chat"), topo.QueueName("chat"))
}

func TestQueueArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		queueType string
		want      amqp.Table
		wantDead  amqp.Table
	}{
		{"", amqp.Table{"x-queue-type": "classic", "x-max-priority": int32(5), "x-dead-letter-exchange": "p.dlx"}, amqp.Table{"x-queue-type": "classic"}},
		{"classic", amqp.Table{"x-queue-type": "classic", "x-max-priority": int32(5), "x-dead-letter-exchange": "p.dlx"}, amqp.Table{"x-queue-type": "classic"}},
		{"quorum", amqp.Table{"x-queue-type": "quorum", "x-dead-letter-exchange": "p.dlx"}, amqp.Table{"x-queue-type": "quorum"}},
	}
	for _, tt := range tests {
		t.Run("type="+tt.queueType, func(t *testing.T) {
			topo := broker.NewTopology("p", tt.queueType)
			got, err := topo.QueueArgs()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			dead, err := topo.DeadQueueArgs()
			require.NoError(t, err)
			assert.Equal(t, tt.wantDead, dead)
		})
	}
	_, err := broker.NewTopology("p", "stream").QueueArgs()
	assert.Error(t, err)
}

// isPreconditionFailed reports whether err is the broker refusing a
// declaration that differs from the existing object.
func isPreconditionFailed(err error) bool {
	var amqpErr *amqp.Error
	return errors.As(err, &amqpErr) && amqpErr.Code == amqp.PreconditionFailed
}

func TestDeclare(t *testing.T) {
	t.Parallel()
	for _, queueType := range []string{"classic", "quorum"} {
		t.Run(queueType, func(t *testing.T) {
			t.Parallel()
			// The queue the mutations below redeclare must exist first:
			// otherwise the first of them (map order) creates it.
			topo := broker.NewTopology(testkit.Prefix(t), queueType, broker.QueueSpec{Name: "chat", Bindings: []string{"chat.message"}})
			// Twice, on separate channels: idempotent.
			declareTopology(t, topo)
			declareTopology(t, topo)

			ch := channel(t)
			for _, x := range []struct{ name, kind string }{
				{topo.Exchange(), amqp.ExchangeTopic},
				{topo.DeadLetterExchange(), amqp.ExchangeFanout},
				{topo.ControlExchange(), amqp.ExchangeFanout},
			} {
				require.NoError(t, ch.ExchangeDeclarePassive(x.name, x.kind, true, false, false, false, nil), x.name)
			}
			args, err := topo.QueueArgs()
			require.NoError(t, err)
			for _, q := range topo.Queues {
				_, err := ch.QueueDeclarePassive(topo.QueueName(q.Name), true, false, false, false, nil)
				require.NoError(t, err, q.Name)
			}
			_, err = ch.QueueDeclarePassive(topo.DeadQueue(), true, false, false, false, nil)
			require.NoError(t, err)

			// A passive declare does not compare arguments, so prove they
			// are really set: the same arguments redeclare fine, any
			// change is refused as inequivalent.
			other := "classic"
			if queueType == "classic" {
				other = "quorum"
			}
			mutations := map[string]func(amqp.Table){
				"same":                   func(amqp.Table) {},
				"x-queue-type":           func(a amqp.Table) { a["x-queue-type"] = other },
				"x-dead-letter-exchange": func(a amqp.Table) { a["x-dead-letter-exchange"] = "elsewhere" },
			}
			if queueType == "classic" {
				mutations["x-max-priority"] = func(a amqp.Table) { a["x-max-priority"] = int32(10) }
			}
			for name, mutate := range mutations {
				a := amqp.Table{}
				for k, v := range args {
					a[k] = v
				}
				mutate(a)
				ch := channel(t)
				_, err := ch.QueueDeclare(topo.QueueName("chat"), true, false, false, false, a)
				if name == "same" {
					assert.NoError(t, err)
				} else {
					assert.Truef(t, isPreconditionFailed(err), "changing %s: got %v, want PRECONDITION_FAILED", name, err)
				}
			}
			_, err = channel(t).QueueDeclare(topo.DeadQueue(), true, false, false, false, amqp.Table{"x-queue-type": other})
			assert.Truef(t, isPreconditionFailed(err), "dead queue type: got %v, want PRECONDITION_FAILED", err)
		})
	}
}

func TestDeclareConflictingTopologyFails(t *testing.T) {
	t.Parallel()
	prefix := testkit.Prefix(t)
	declareTopology(t, broker.NewTopology(prefix, "classic"))
	err := broker.NewTopology(prefix, "quorum").Declare(channel(t))
	assert.Truef(t, isPreconditionFailed(err), "got %v, want PRECONDITION_FAILED", err)
}
