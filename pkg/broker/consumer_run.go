package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
)

// Run connects, declares the topology, sets the prefetch and consumes the
// queues until ctx ends, forwarding deliveries to Deliveries(). On
// connection or channel loss it reconnects with capped exponential backoff
// and declares the topology again. When ctx ends it closes the connection,
// which cancels the consumers and returns unacked deliveries to their
// queues, closes Deliveries() and returns nil.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("broker: consumer Run called twice (it is not restartable: Deliveries closes when it returns)")
	}
	// Run is not restartable once it closed the stream.
	defer close(c.out)

	return reconnectLoop(ctx, c.log, "consumer", c.runSession)
}

func (c *Consumer) connectionName() string {
	if c.tag != "" {
		return c.tag + " consumer"
	}
	return "hopper consumer"
}

// consumerTag names the consumer of queue q; empty lets the library pick a
// unique one.
func (c *Consumer) consumerTag(q string) string {
	if c.tag == "" {
		return ""
	}
	return c.tag + "." + q
}

// runSession serves one connection. established reports whether it got as
// far as consuming, which resets the reconnect backoff.
func (c *Consumer) runSession(ctx context.Context) (established bool, err error) {
	conn, err := dial(ctx, c.url, c.connectionName())
	if err != nil {
		return false, err
	}
	c.conn.Store(conn)
	defer func() {
		c.conn.Store(nil)
		_ = conn.Close() // ErrClosed when already gone: fine
	}()
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))

	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("broker: open consumer channel: %w", err)
	}
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := c.topo.Declare(ch); err != nil {
		return false, err
	}
	// global=false: RabbitMQ applies the limit to each consumer on the
	// channel, so every queue gets its own small window.
	if err := ch.Qos(c.prefetch, 0, false); err != nil {
		return false, fmt.Errorf("broker: set prefetch %d: %w", c.prefetch, err)
	}

	sessCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Forwarders end when their delivery stream closes (connection gone,
	// or the broker cancelled the consumer, e.g. the queue was deleted)
	// or when the session ends; either way the session must end too.
	ended := make(chan string, len(c.queues))
	defer func() {
		// Detached first: Pause and Resume must not touch a dying channel,
		// nor start forwarders the wait below would miss.
		c.detach()
		cancel()
		c.ready.Store(false)
		_ = conn.Close()
		wg.Wait()
	}()
	// Consumes every queue not paused (consumer_pause.go).
	if err := c.attach(sessCtx, ch, &wg, ended); err != nil {
		return false, err
	}
	c.ready.Store(true)
	c.log.Info("consumer ready", zap.Int("prefetch", c.prefetch))
	if c.sessions.Add(1) > 1 && c.onReconnect != nil {
		c.onReconnect()
	}

	select {
	case <-ctx.Done():
		return true, ctx.Err()
	case e := <-connClosed:
		return true, closeCause("connection", e)
	case e := <-chClosed:
		return true, closeCause("channel", e)
	case q := <-ended:
		return true, fmt.Errorf("broker: consumer of queue %s cancelled", c.topo.QueueName(q))
	}
}
