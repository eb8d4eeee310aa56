package broker

import (
	"context"

	amqp "github.com/rabbitmq/amqp091-go"
)

// forwarder moves one consumer's deliveries to the shared stream, tagging
// each with its queue.
type forwarder struct {
	queue string
	in    <-chan amqp.Delivery
	out   chan<- Delivery
}

// Run forwards until in closes or ctx ends. A delivery it holds when ctx
// ends is dropped unacked; the broker redelivers it once the channel
// closes.
func (f *forwarder) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d, ok := <-f.in:
			if !ok {
				return nil
			}
			select {
			case f.out <- Delivery{Delivery: d, Queue: f.queue}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}
