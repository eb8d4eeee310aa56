package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
)

// ControlListenerOptions tune a ControlListener.
type ControlListenerOptions struct {
	// Name identifies the instance (e.g. its worker id) in the connection
	// name shown by the management UI.
	Name   string
	Logger *zap.Logger
}

// ControlListener receives control signals on a server-named, exclusive,
// auto-delete queue bound to the control exchange: one per instance, gone
// with its connection, so a signal published once reaches every instance
// alive at that moment.
type ControlListener struct {
	url   string
	topo  Topology
	name  string
	log   *zap.Logger
	out   chan ControlMessage
	ready atomic.Bool
	// firstReady is closed the first time the listener is bound.
	firstReady chan struct{}
	once       sync.Once
}

// NewControlListener returns a listener for the broker at url; it does not
// connect until Run.
func NewControlListener(url string, topo Topology, opts ControlListenerOptions) *ControlListener {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &ControlListener{url: url, topo: topo, name: opts.Name,
		log: log.With(zap.String("component", "broker.control")), out: make(chan ControlMessage, 16),
		firstReady: make(chan struct{})}
}

// Signals delivers decoded control messages; it is closed when Run returns.
func (l *ControlListener) Signals() <-chan ControlMessage { return l.out }

// Ready reports whether the listener is bound and consuming.
func (l *ControlListener) Ready() bool { return l.ready.Load() }

// WaitReady blocks until the listener is bound for the first time or ctx
// ends. A worker waits for it before consuming, so no job it runs can miss
// a cancel signal.
func (l *ControlListener) WaitReady(ctx context.Context) error {
	select {
	case <-l.firstReady:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker: wait for control listener: %w", ctx.Err())
	}
}

// Run listens until ctx ends, reconnecting (with a fresh queue) after
// connection or channel loss. It returns nil when ctx ends.
func (l *ControlListener) Run(ctx context.Context) error {
	defer close(l.out)
	bo := newBackoff()
	for {
		established, err := l.runSession(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if established {
			bo.reset()
		}
		d := bo.delay()
		l.log.Warn("control listener disconnected; reconnecting", zap.Error(err), zap.Duration("retry_in", d))
		if !sleep(ctx, d) {
			return nil
		}
	}
}

func (l *ControlListener) runSession(ctx context.Context) (bool, error) {
	conn, err := dial(ctx, l.url, l.name+" control")
	if err != nil {
		return false, err
	}
	defer func() {
		l.ready.Store(false)
		_ = conn.Close()
	}()
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("broker: open control channel: %w", err)
	}
	if err := l.topo.Declare(ch); err != nil {
		return false, err
	}
	// Exclusive queues must be classic, whatever HOPPER_QUEUE_TYPE says.
	q, err := ch.QueueDeclare("", false, true, true, false, amqp.Table{"x-queue-type": QueueTypeClassic})
	if err != nil {
		return false, fmt.Errorf("broker: declare control queue: %w", err)
	}
	if err := ch.QueueBind(q.Name, "", l.topo.ControlExchange(), false, nil); err != nil {
		return false, fmt.Errorf("broker: bind control queue: %w", err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		return false, fmt.Errorf("broker: consume control queue: %w", err)
	}
	l.ready.Store(true)
	l.once.Do(func() { close(l.firstReady) })
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case d, ok := <-deliveries:
			if !ok {
				return true, fmt.Errorf("broker: control delivery stream closed")
			}
			var m ControlMessage
			if err := json.Unmarshal(d.Body, &m); err != nil || m.Type == "" {
				l.log.Warn("undecodable control message dropped", zap.ByteString("body", d.Body))
				continue
			}
			select {
			case l.out <- m:
			case <-ctx.Done():
				return true, ctx.Err()
			}
		}
	}
}
