package broker

import (
	"context"
	"errors"

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
// closes. When ctx ends because the queue was paused (errPaused), the
// channel stays open, so the delivery is handed back to the queue at once.
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
				if errors.Is(context.Cause(ctx), errPaused) {
					_ = d.Nack(false, true)
				}
				return ctx.Err()
			}
		}
	}
}
