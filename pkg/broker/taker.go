package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrNothingTaken: no delivery arrived within the wait.
var ErrNothingTaken = errors.New("broker: no delivery within the wait")

// Taker takes one delivery at a time from a set of queues on behalf of
// someone who cannot consume AMQP himself: the gateway's pull protocol,
// for external workers speaking HTTP. Each Take is a consumer of its own
// with prefetch 1, so RabbitMQ hands out its highest-priority ready
// message, exactly as it does to a Go worker's consumer, and the rest
// stay in the queue in priority order. All takes share one connection,
// redialled when it is lost.
type Taker struct {
	url  string
	topo Topology

	mu   sync.Mutex
	conn *amqp.Connection
}

// NewTaker returns a Taker for the broker at url; it connects at the
// first Take.
func NewTaker(url string, topo Topology) *Taker {
	return &Taker{url: url, topo: topo}
}

// Taken is a delivery Take handed out. Settle it exactly once with Ack
// (after the job was claimed), Requeue or Reject; until then it counts
// as unacknowledged in the broker, and a lost connection returns it to
// its queue.
type Taken struct {
	Delivery
	ch *amqp.Channel
}

// Ack acknowledges the delivery and closes its channel.
func (t *Taken) Ack() error {
	err := t.Delivery.Ack(false)
	_ = t.ch.Close()
	return err
}

// Requeue returns the delivery to its queue and closes its channel.
func (t *Taken) Requeue() error {
	err := t.Delivery.Nack(false, true)
	_ = t.ch.Close()
	return err
}

// Reject dead-letters the delivery and closes its channel.
func (t *Taken) Reject() error {
	err := t.Delivery.Nack(false, false)
	_ = t.ch.Close()
	return err
}

// Take waits up to wait for one delivery from any of queues (short
// names) and returns it; ErrNothingTaken when none came. Across queues
// RabbitMQ decides which ready message goes first; within a queue it is
// the highest priority. A queue that does not exist yet is declared (with
// no bindings: a kind's first registration binds it).
func (t *Taker) Take(ctx context.Context, queues []string, wait time.Duration) (*Taken, error) {
	conn, err := t.connection(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		t.drop(conn)
		return nil, fmt.Errorf("broker: open take channel: %w", err)
	}
	taken := false
	defer func() {
		if !taken {
			// Closing returns whatever the channel holds unacked.
			_ = ch.Close()
		}
	}()
	// global: one unacknowledged delivery for the whole channel, whichever
	// of its consumers it goes to.
	if err := ch.Qos(1, 0, true); err != nil {
		return nil, fmt.Errorf("broker: take prefetch: %w", err)
	}
	qargs, err := t.topo.QueueArgs()
	if err != nil {
		return nil, err
	}
	got := make(chan Delivery, 1)
	tags := make([]string, 0, len(queues))
	for i, q := range queues {
		name := t.topo.QueueName(q)
		if _, err := ch.QueueDeclare(name, true, false, false, false, qargs); err != nil {
			return nil, fmt.Errorf("broker: declare queue %s: %w", name, err)
		}
		tag := fmt.Sprintf("take.%d", i)
		ds, err := ch.Consume(name, tag, false, false, false, false, nil)
		if err != nil {
			return nil, fmt.Errorf("broker: consume %s: %w", name, err)
		}
		tags = append(tags, tag)
		go func() {
			for d := range ds {
				// With prefetch 1 per channel a second delivery cannot
				// come before the first is settled.
				select {
				case got <- Delivery{Delivery: d, Queue: q}:
				default:
					_ = d.Nack(false, true)
				}
			}
		}()
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case d := <-got:
		for _, tag := range tags {
			_ = ch.Cancel(tag, false)
		}
		taken = true
		return &Taken{Delivery: d, ch: ch}, nil
	case <-timer.C:
		return nil, ErrNothingTaken
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// connection returns the live connection, dialling one if needed.
func (t *Taker) connection(ctx context.Context) (*amqp.Connection, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn != nil && !t.conn.IsClosed() {
		return t.conn, nil
	}
	conn, err := dial(ctx, t.url, "hopper gateway pull")
	if err != nil {
		return nil, err
	}
	t.conn = conn
	return conn, nil
}

// drop forgets conn after a failure, so the next Take dials again.
func (t *Taker) drop(conn *amqp.Connection) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == conn {
		_ = conn.Close()
		t.conn = nil
	}
}

// Close closes the connection; takes in progress fail and their
// deliveries return to their queues.
func (t *Taker) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn = nil
	return err
}

// DeclareBindings declares queue (a short name) and binds routing keys to
// it, as a worker does at start for the kinds it runs.
func (t *Taker) DeclareBindings(ctx context.Context, queue string, keys ...string) error {
	conn, err := t.connection(ctx)
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		t.drop(conn)
		return fmt.Errorf("broker: open channel: %w", err)
	}
	defer ch.Close()
	topo := NewTopology(t.topo.Prefix, t.topo.QueueType)
	for _, k := range keys {
		topo.Bind(queue, k)
	}
	return topo.Declare(ch)
}
