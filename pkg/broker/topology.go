package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Queue types accepted by Topology.QueueType.
const (
	QueueTypeClassic = "classic"
	QueueTypeQuorum  = "quorum"
)

// MaxPriority is the highest message priority the queues honour. RabbitMQ
// advises few levels: every level costs memory and CPU in classic queues.
const MaxPriority = 5

// QueueSpec is one priority queue and the routing-key patterns bound to it.
type QueueSpec struct {
	// Name is the short name ("chat"); the declared name is prefix.Name.
	Name string
	// Bindings are topic patterns on the jobs exchange ("chat.#").
	Bindings []string
}

// Topology names and declares the AMQP objects of one environment. Every
// name carries Prefix so environments and tests sharing a broker never
// collide.
type Topology struct {
	Prefix string
	// QueueType is "classic" (the default when empty) or "quorum".
	QueueType string
	Queues    []QueueSpec
}

// NewTopology returns the objects every service declares under prefix —
// the jobs exchange, the dead-letter exchange and queue, the control
// exchange — and queues. Which job queues exist, and which routing keys
// they bind, is the services' to say (Bind): the broker knows no kinds.
func NewTopology(prefix, queueType string, queues ...QueueSpec) Topology {
	return Topology{Prefix: prefix, QueueType: queueType, Queues: queues}
}

// Bind binds routingKey (a kind name or a topic pattern) to the queue
// short-named queue, adding the queue if the topology lacks it.
func (t *Topology) Bind(queue, routingKey string) {
	i := slices.IndexFunc(t.Queues, func(q QueueSpec) bool { return q.Name == queue })
	if i < 0 {
		t.Queues = append(t.Queues, QueueSpec{Name: queue})
		i = len(t.Queues) - 1
	}
	if !slices.Contains(t.Queues[i].Bindings, routingKey) {
		t.Queues[i].Bindings = append(t.Queues[i].Bindings, routingKey)
	}
}

func (t Topology) name(short string) string {
	return strings.TrimSuffix(t.Prefix, ".") + "." + short
}

// Exchange is the durable topic exchange jobs are published to; the
// routing key is the job kind.
func (t Topology) Exchange() string { return t.name("jobs") }

// QueueName is the full name of the queue with the given short name.
func (t Topology) QueueName(short string) string { return t.name(short) }

// DeadLetterExchange is the fanout exchange rejected deliveries go to.
func (t Topology) DeadLetterExchange() string { return t.name("dlx") }

// DeadQueue collects what the dead-letter exchange receives.
func (t Topology) DeadQueue() string { return t.name("dead") }

// ControlExchange is the fanout exchange for control signals (cancel a
// running job); each worker instance binds its own exclusive queue.
func (t Topology) ControlExchange() string { return t.name("control") }

func (t Topology) queueType() (string, error) {
	switch t.QueueType {
	case "", QueueTypeClassic:
		return QueueTypeClassic, nil
	case QueueTypeQuorum:
		return QueueTypeQuorum, nil
	default:
		return "", fmt.Errorf("broker: unknown queue type %q (want classic or quorum)", t.QueueType)
	}
}

// QueueArgs are the arguments every priority queue is declared with. The
// queue type is always explicit, so a broker whose default queue type
// differs cannot silently change what we get.
func (t Topology) QueueArgs() (amqp.Table, error) {
	qt, err := t.queueType()
	if err != nil {
		return nil, err
	}
	args := amqp.Table{
		"x-queue-type":           qt,
		"x-dead-letter-exchange": t.DeadLetterExchange(),
	}
	// Quorum queues reject x-max-priority on RabbitMQ 3.x and have built-in
	// two-level priorities (>4 ahead of the rest) on 4.x, so the argument
	// only makes sense for classic queues.
	if qt == QueueTypeClassic {
		args["x-max-priority"] = int32(MaxPriority)
	}
	return args, nil
}

// DeadQueueArgs are the arguments of the dead queue. It has no dead-letter
// exchange of its own: what lands there stays for an operator to inspect.
func (t Topology) DeadQueueArgs() (amqp.Table, error) {
	qt, err := t.queueType()
	if err != nil {
		return nil, err
	}
	return amqp.Table{"x-queue-type": qt}, nil
}

// Declare creates the exchanges, queues and bindings. It is idempotent:
// redeclaring identical objects is a no-op on the broker. A declaration
// that conflicts with an existing object (different arguments) fails and,
// as AMQP does, closes ch.
func (t Topology) Declare(ch *amqp.Channel) error {
	if strings.Trim(t.Prefix, ".") == "" {
		return fmt.Errorf("broker: topology needs a name prefix")
	}
	qargs, err := t.QueueArgs()
	if err != nil {
		return err
	}
	dargs, err := t.DeadQueueArgs()
	if err != nil {
		return err
	}
	exchanges := []struct{ name, kind string }{
		{t.Exchange(), amqp.ExchangeTopic},
		{t.DeadLetterExchange(), amqp.ExchangeFanout},
		{t.ControlExchange(), amqp.ExchangeFanout},
	}
	for _, x := range exchanges {
		if err := ch.ExchangeDeclare(x.name, x.kind, true, false, false, false, nil); err != nil {
			return fmt.Errorf("broker: declare exchange %s: %w", x.name, err)
		}
	}
	if _, err := ch.QueueDeclare(t.DeadQueue(), true, false, false, false, dargs); err != nil {
		return fmt.Errorf("broker: declare queue %s: %w", t.DeadQueue(), err)
	}
	// The routing key is ignored by a fanout exchange.
	if err := ch.QueueBind(t.DeadQueue(), "", t.DeadLetterExchange(), false, nil); err != nil {
		return fmt.Errorf("broker: bind %s to %s: %w", t.DeadQueue(), t.DeadLetterExchange(), err)
	}
	for _, q := range t.Queues {
		name := t.QueueName(q.Name)
		if _, err := ch.QueueDeclare(name, true, false, false, false, qargs); err != nil {
			return fmt.Errorf("broker: declare queue %s: %w", name, err)
		}
		for _, key := range q.Bindings {
			if err := ch.QueueBind(name, key, t.Exchange(), false, nil); err != nil {
				return fmt.Errorf("broker: bind %s to %s with %q: %w", name, t.Exchange(), key, err)
			}
		}
	}
	return nil
}

// DeclareOnce declares t over a short connection of its own to the broker
// at url, then closes it: for a binding decided at run time (a kind
// declared after the services started), which a running publisher's or
// consumer's topology does not hold. Bindings of durable queues are
// durable: they outlive the connection and broker restarts.
func DeclareOnce(ctx context.Context, url, name string, t Topology) error {
	conn, err := dial(ctx, url, name)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("broker: open channel: %w", err)
	}
	return t.Declare(ch)
}
