package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
)

// Run connects, declares the topology and serves publishes until ctx ends.
// When the connection or channel is lost it fails in-flight publishes with
// ErrConnectionLost, then reconnects with capped exponential backoff and
// declares the topology again. It returns nil once ctx ends, after giving
// in-flight publishes a moment to be confirmed and closing the connection.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("broker: publisher is already running")
	}
	defer p.running.Store(false)

	return reconnectLoop(ctx, p.log, "publisher", p.runSession)
}

// runSession serves one connection. established reports whether it got as
// far as accepting publishes, which resets the reconnect backoff.
func (p *Publisher) runSession(ctx context.Context) (established bool, err error) {
	conn, err := dial(ctx, p.url, p.appID+" publisher")
	if err != nil {
		return false, err
	}
	p.conn.Store(conn)
	defer func() {
		p.conn.Store(nil)
		_ = conn.Close() // ErrClosed when already gone: fine
	}()
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))

	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("broker: open publisher channel: %w", err)
	}
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := p.topo.Declare(ch); err != nil {
		return false, err
	}
	if err := ch.Confirm(false); err != nil {
		return false, fmt.Errorf("broker: enable publisher confirms: %w", err)
	}
	// Sized to the window, so the library never blocks handing over a
	// confirmation even if the confirm loop is briefly busy.
	confirmations := ch.NotifyPublish(make(chan amqp.Confirmation, p.window))
	// Unbuffered on purpose: see confirmer.
	returns := ch.NotifyReturn(make(chan amqp.Return))

	sess := newPubSession(ch)
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		(&confirmer{sess: sess, confirmations: confirmations, returns: returns, log: p.log}).serve()
	}()
	// Whatever ends the session: stop handing it out, close the connection
	// (which closes the confirmation stream) and wait until the confirm
	// loop has answered every caller.
	defer func() {
		p.setSession(nil)
		_ = conn.Close()
		<-pumpDone
	}()

	p.setSession(sess)
	p.log.Info("publisher ready", zap.String("exchange", p.topo.Exchange()))
	if p.sessions.Add(1) > 1 && p.onReconnect != nil {
		p.onReconnect()
	}

	select {
	case <-ctx.Done():
		p.setSession(nil)
		p.drain(sess, pumpDone)
		return true, ctx.Err()
	case e := <-connClosed:
		return true, closeCause("connection", e)
	case e := <-chClosed:
		return true, closeCause("channel", e)
	case <-pumpDone:
		return true, errors.New("broker: publisher confirm stream ended")
	}
}

// drain waits, for a bounded time, until in-flight publishes are confirmed,
// so a clean shutdown does not turn confirmed messages into errors (and
// needless republishes).
func (p *Publisher) drain(sess *pubSession, pumpDone <-chan struct{}) {
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-sess.beginDrain():
	case <-pumpDone:
	case <-t.C:
		p.log.Warn("publisher shutdown: unconfirmed publishes abandoned", zap.Duration("waited", drainTimeout))
	}
}

// closeCause turns a NotifyClose value into an error; the library sends
// nil (by closing the channel) for a graceful close.
func closeCause(what string, e *amqp.Error) error {
	if e == nil {
		return fmt.Errorf("broker: %s closed", what)
	}
	return fmt.Errorf("broker: %s closed: %w", what, e)
}
