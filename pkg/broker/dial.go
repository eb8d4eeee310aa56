package broker

import (
	"context"
	"fmt"
	"net"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// handshakeTimeout bounds TCP connect plus the AMQP handshake; the library
// clears the deadline once the connection is open and heartbeats take over.
const handshakeTimeout = 15 * time.Second

// dial opens a connection named name (shown in the management UI). It
// gives up when ctx ends, even mid-handshake, because the library's own
// dialing is not context-aware.
func dial(ctx context.Context, url, name string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	var stop func() bool
	cfg := amqp.Config{
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: handshakeTimeout}
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if err := conn.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
				_ = conn.Close()
				return nil, err
			}
			// Cancelling ctx expires the deadline, which aborts a stuck
			// handshake; stop() disarms this once dial returns.
			stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
			return conn, nil
		},
	}
	conn, err := amqp.DialConfig(url, cfg)
	if stop != nil && !stop() && err == nil {
		// ctx ended during the handshake and the deadline may have been
		// expired on a connection that is now open: do not hand it out.
		_ = conn.Close()
		return nil, fmt.Errorf("broker: dial: %w", ctx.Err())
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("broker: dial: %w", ctx.Err())
		}
		return nil, fmt.Errorf("broker: dial: %w", err)
	}
	return conn, nil
}
